import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network

import pytest
import torch

# One thread: the tests' tiny models gain nothing from a second one, and on a busy 2-core machine two
# threads wait on each other at every operation (rollouts measured at 20 s with two, 1.6 s with one).
# It also keeps sampled numbers independent of the machine's core count.
torch.set_num_threads(1)


@pytest.fixture
def tiny():
    """A tiny random Llama and its byte-level tokenizer."""
    from rlpr import models

    return models.load_model("tiny", seed=0), models.load_tokenizer("tiny")


# --- Ludii: the game library lives outside the repository (RLPR_LUDII_DIR or ../shared/data/ludii) -------

LUDII_MISSING = "Ludii library not found: set RLPR_LUDII_DIR or add ../shared/data/ludii"


@pytest.fixture(scope="session")
def ludii_dir():
    """The Ludii data directory (``lud/``, ``def/``); skips the test when there is none."""
    from rlpr.tasks.ludii.paths import find_data_dir

    path = find_data_dir()
    if path is None:
        pytest.skip(LUDII_MISSING)
    return path


@pytest.fixture(scope="session")
def ludii_library(ludii_dir):
    """``(games, errors)``: expanded trees of every library game by path under lud/, and read errors.

    Cached for the session (the trees are immutable; do not modify the dicts)."""
    from rlpr.tasks.ludii.coverage import library_games

    return library_games(str(ludii_dir))


@pytest.fixture(scope="session")
def ludii_game_path(ludii_dir):
    """A function: a game's file name (``"Tavli.lud"``) or path under lud/ -> its Path; skips if absent."""
    from rlpr.tasks.ludii.paths import game_files

    files = game_files(ludii_dir)

    def find(name: str):
        for path in files:
            if path.name == name or path.relative_to(ludii_dir / "lud").as_posix() == name:
                return path
        pytest.skip(f"{name} not in the Ludii library at {ludii_dir}")

    return find


TIC_TAC_TOE = """(game "Tic-Tac-Toe"
    (players 2)
    (equipment {
        (board (square 3))
        (piece "Disc" P1)
        (piece "Cross" P2)
    })
    (rules
        (play (move Add (to (sites Empty))))
        (end (if (is Line 3) (result Mover Win)))
    )
)"""


@pytest.fixture
def tic_tac_toe() -> str:
    """Tic-Tac-Toe as the library writes it, without its metadata (the tests' small valid game; error
    positions in the compiler's tests are counted in this text)."""
    return TIC_TAC_TOE


WANDER = """(game "Wander"
    (players 2)
    (equipment {
        (board (square 3))
        (piece "Ball" Each (move Step Orthogonal (to if:(is Empty (to)))))
    })
    (rules
        (start { (place "Ball1" 0) (place "Ball2" 8) })
        (play (forEach Piece))
        (end (if (= (count Pieces Mover) 0) (result Mover Loss)))
    )
)"""


@pytest.fixture
def wander() -> str:
    """Each player steps one piece around a 3x3 board; nothing ever ends the game but the turn limit
    (500 turns per player): the tests' endless game."""
    return WANDER
