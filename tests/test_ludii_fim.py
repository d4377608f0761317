"""Ludii fill-in-the-middle examples: the prompt format, name masking, the game-level split, the
length and playability filters, and the scores of completions (unsupported kept apart from invalid)."""

from __future__ import annotations

import math

import pytest

from rlpr.tasks.ludii.expand import expand_text
from rlpr.tasks.ludii.fim import (
    FimConfig,
    FimExample,
    FimScore,
    build_dataset,
    format_prompt,
    game_examples,
    mask_names,
    parse_prompt,
    piece_names,
    score_completion,
    score_completions,
    split_games,
    summarize,
)
from rlpr.tasks.ludii.fim import _letters as letters
from rlpr.tasks.ludii.reward import cut_middle
from rlpr.tasks.ludii.tree import Call, to_text, walk

# Pieces named per owner ("Ball1", "Ball2") and a string that names no piece ("Ballroom").
OWNED = """(game "Wander"
    (players 2)
    (equipment {
        (board (square 3))
        (piece "Ball" Each (move Step Orthogonal (to if:(is Empty (to)))))
        (regions "Ballroom" P1 {0 1})
    })
    (rules
        (start { (place "Ball1" 0) (place "Ball2" 8) })
        (play (forEach Piece))
        (end (if (is In (last To) (sites "Ballroom")) (result Mover Win)))
    )
)"""

SMALL_GAMES = ("Tic-Tac-Toe.lud", "Three Men's Morris.lud", "Knightthrough.lud", "Kalah.lud")


def test_prompt_format_round_trips():
    prompt = format_prompt('(game "Game" ', " (rules))")
    assert prompt == '### PRE: (game "Game"  ### SUF:  (rules)) ### MID:'
    assert parse_prompt(prompt) == ('(game "Game" ', " (rules))")
    ex = FimExample("g.lud", "(a ", "(b)", " c)")
    assert ex.text == "### PRE: (a  ### SUF:  c) ### MID: (b)" and ex.completion == " (b)"
    with pytest.raises(ValueError, match="### MID:"):
        parse_prompt("### PRE: (a ### SUF: b)")
    with pytest.raises(ValueError, match="SUF"):
        parse_prompt("### PRE: (a b) ### MID:")


def test_game_and_piece_names_are_masked_consistently(tic_tac_toe):
    assert [letters(i) for i in (0, 1, 25, 26, 27)] == ["A", "B", "Z", "AA", "AB"]
    game = expand_text(tic_tac_toe)
    assert piece_names(game) == ["Disc", "Cross"]
    text = to_text(mask_names(game))
    assert text.startswith('(game "Game" ') and "Tic-Tac-Toe" not in text
    assert '(piece "PieceA" P1) (piece "PieceB" P2)' in text
    owned = to_text(mask_names(expand_text(OWNED)))
    assert '(place "PieceA1" 0) (place "PieceA2" 8)' in owned
    assert '"Ballroom"' in owned and '"Ball"' not in owned


def test_one_example_per_subexpression_reassembling_the_masked_game(tic_tac_toe):
    game = expand_text(tic_tac_toe)
    masked = to_text(mask_names(game))
    examples = game_examples("t.lud", game)
    calls = sum(isinstance(n, Call) for n in walk(game)) - 1  # every call but the root
    assert len(examples) == calls == 15
    for ex in examples:
        assert ex.prefix + ex.middle + ex.suffix == masked
        assert cut_middle(ex.middle) == ex.middle  # a middle is one balanced sub-expression
        assert parse_prompt(ex.prompt) == (ex.prefix, ex.suffix)
    assert examples[0].middle == "(players 2)"
    assert {"(square 3)", '(piece "PieceA" P1)', "(sites Empty)"} <= {e.middle for e in examples}


def test_split_is_by_game_seeded_and_stable():
    names = [f"g{i}.lud" for i in range(40)]
    split = split_games(names, seed=0, validation_fraction=0.1)
    assert len(split["validation"]) == 4 and len(split["train"]) == 36
    assert not set(split["train"]) & set(split["validation"])
    assert split == split_games(reversed(names), seed=0, validation_fraction=0.1)
    assert split != split_games(names, seed=1, validation_fraction=0.1)
    # a game keeps its side when another game joins (hash per game, not a shuffle of the list)
    grown = split_games([*names, "new.lud"], seed=0, validation_fraction=0.1)
    assert set(split["validation"]) <= set(grown["validation"])
    assert len(split_games(["a", "b"], 0, 0.1)["validation"]) == 1  # never an empty validation set
    assert split_games(["a"], 0, 0.1) == {"train": ["a"], "validation": []}


def test_dataset_keeps_playable_games_and_counts_the_rest(ludii_dir):
    config = FimConfig(games=(*SMALL_GAMES, "Bagh Bandi.lud"), max_chars=None, validation_fraction=0.25)
    data = build_dataset(config, ludii_dir)
    assert data.skipped == {"unsupported": ["board/hunt/Bagh Bandi.lud"]}
    assert len(data.games["train"]) == 3 and len(data.games["validation"]) == 1
    for split in ("train", "validation"):
        assert {e.game for e in data.split(split)} == set(data.games[split])
    assert data.counts()["skipped_unsupported"] == 1
    assert data.counts()["train_examples"] + data.counts()["validation_examples"] > 100
    ratio = build_dataset(
        FimConfig(games=SMALL_GAMES, max_chars=None, only_playable=False, min_middle_ratio=0.2), ludii_dir
    )
    assert ratio.short_middles > 0
    assert all(len(e.middle) >= 0.2 * len(e.prompt) for e in ratio.train + ratio.validation)


def test_dataset_skips_long_games_by_characters_or_tokens(ludii_dir):
    games = ("Tic-Tac-Toe.lud", "Three Men's Morris.lud")
    by_chars = build_dataset(FimConfig(games=games, max_chars=400, only_playable=False), ludii_dir)
    assert by_chars.skipped == {"too_long": ["board/space/line/Three Men's Morris.lud"]}
    assert all(len(e.text) <= 400 for e in by_chars.train + by_chars.validation)
    by_tokens = build_dataset(
        FimConfig(games=games, max_chars=None, max_tokens=400, only_playable=False),
        ludii_dir,
        count_tokens=len,  # one token a character: the same cut as max_chars
    )
    assert by_tokens.skipped == by_chars.skipped
    with pytest.raises(ValueError, match="count_tokens"):
        build_dataset(FimConfig(games=games, max_tokens=100), ludii_dir)
    with pytest.raises(ValueError, match="no library game named Nonesuch.lud"):
        build_dataset(FimConfig(games=("Nonesuch.lud",)), ludii_dir)


def test_scores_keep_unsupported_apart_from_invalid(tic_tac_toe):
    game = expand_text(tic_tac_toe)
    board = next(e for e in game_examples("t.lud", game) if e.middle == "(board (square 3))")
    pair = (board.prefix, board.suffix)
    cases = {
        "true": " (board (square 3)) (piece",  # cut at the first balanced bracket
        "garbage": " board square",
        "invalid": " (board (square))",
        "unsupported": " (board (square 3) use:Edge)",
    }
    scores = dict(zip(cases, score_completions([pair] * 4, list(cases.values()), n_playouts=20)))
    true = scores["true"]
    assert true.status == "ok" and true.compiles and true.plays and 0.5 < true.reward <= 1.0
    assert scores["garbage"] == FimScore(0.0, "reassembly", "no balanced middle")
    assert scores["invalid"].status == "invalid" and scores["invalid"].reward == 0.0
    unsupported = scores["unsupported"]
    assert unsupported.compiles and unsupported.unsupported and not unsupported.plays
    assert math.isnan(unsupported.reward)
    summary = summarize(list(scores.values()))
    assert summary["compile_rate"] == 0.5 and summary["invalid_rate"] == 0.5
    assert summary["unsupported_rate"] == 0.25 and summary["play_rate"] == 0.25
    assert summary["reward_mean"] == pytest.approx(true.reward / 3)  # the unsupported one is not averaged
    assert score_completion(*pair, " (board (square 3))", n_playouts=20).reward == true.reward


def test_ludii_task_prompts_and_rewards(ludii_dir):
    from rlpr.tasks import make_task

    task = make_task(
        "ludii", {"games": ["Tic-Tac-Toe.lud", "Kalah.lud"], "min_middle_ratio": 0.0, "n_playouts": 20}
    )
    train, validation = task.prompts("train"), task.prompts("validation")
    assert train and validation and not set(train) & set(validation)
    with pytest.raises(Exception, match="train and validation"):
        task.prompts("test")
    data = task.dataset()
    board = next(e for e in data.train + data.validation if e.middle == "(board (square 3))")
    responses = [" (board (square 3))", " nothing", " (board (square 3) use:Edge)"]
    rewards = task.reward([board.prompt] * 3, responses)
    assert rewards[0] > 0.5 and rewards[1] == 0.0 and rewards[2] == task.config.unsupported_reward
    metrics = task.metrics([board.prompt] * 3, responses, rewards)
    assert metrics["compile_rate"] == pytest.approx(2 / 3) and metrics["unsupported_rate"] == pytest.approx(
        1 / 3
    )
    assert metrics["played_reward_mean"] == pytest.approx(rewards[0] / 2)
