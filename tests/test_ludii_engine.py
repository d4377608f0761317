"""The Ludii playout engine: boards, legal moves, line detection, turn limits, and agreement of random
playouts with the reference Ludii statistics on a few library games."""

from __future__ import annotations

import random

import pytest

from rlpr.tasks.ludii.compiler import SUPPORTED_LUDEMES, compile_game
from rlpr.tasks.ludii.engine import Unsupported, build_game, registered_kinds, run_playouts
from rlpr.tasks.ludii.engine.core import Ctx, State
from rlpr.tasks.ludii.expand import expand_text
from rlpr.tasks.ludii.grammar import default_grammar
from rlpr.tasks.ludii.playout_coverage import compare, load_reference_stats, measure_game


def game_of(text: str):
    return build_game(compile_game(expand_text(text)))


def play_sites(game, sites: list[int]):
    """Apply the Add moves to ``sites`` in turn; return the final state."""
    state = game.initial.copy()
    ctx = Ctx(game, state, random.Random(0))
    for site in sites:
        assert not state.over
        (move,) = [m for m in game.legal_moves(ctx) if m.to == site]
        game.apply(ctx, move)
    return state


def test_supported_ludemes_are_the_engine_kinds():
    assert SUPPORTED_LUDEMES == {k for k in registered_kinds() if not k.startswith("#")}
    assert {"move Add", "move Step", "is Line", "sites Empty"} <= SUPPORTED_LUDEMES
    # every one is a ludeme the grammar declares (pieceRef and playerRef, parameter types, were listed once)
    declared = {sig.kind for sigs in default_grammar().by_head.values() for sig in sigs}
    assert SUPPORTED_LUDEMES <= declared, sorted(SUPPORTED_LUDEMES - declared)


def test_state_copy_covers_every_slot_and_shares_nothing_mutable():
    state = State(9, 2)
    state.var["x"] = 1
    twin = state.copy()
    for slot in State.__slots__:
        value = getattr(state, slot)
        assert getattr(twin, slot) == value, slot
        if isinstance(value, (list, dict)):
            assert getattr(twin, slot) is not value, slot


def test_board_sizes(tic_tac_toe):
    for board, sites in [("(square 3)", 9), ("(rectangle 3 5)", 15), ("(hex 3)", 19), ("(square 8)", 64)]:
        game = game_of(tic_tac_toe.replace("(square 3)", board))
        assert game.n_board == sites, board


def test_tic_tac_toe_random_playouts_are_legal_and_short(tic_tac_toe):
    """At most 9 placements; a full board without a line is a draw after both players pass, as in
    Ludii (so a draw lasts 11 turns, and the reference's mean of 7.57 turns agrees)."""
    game = game_of(tic_tac_toe)
    lines = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)]
    rng = random.Random(7)
    winners = {0: 0, 1: 0, 2: 0}
    for _ in range(200):
        state = game.initial.copy()
        ctx = Ctx(game, state, rng)
        placed = 0
        while not state.over:
            moves = game.legal_moves(ctx)
            empty = [i for i in range(9) if state.who[i] == 0]
            if empty:
                assert sorted(m.to for m in moves) == empty
            else:
                assert [m.is_pass for m in moves] == [True]
            mover = state.mover
            move = rng.choice(moves)
            game.apply(ctx, move)
            if move.is_pass:
                continue
            placed += 1
            assert state.who[move.to] == mover
            counts = [state.who.count(1), state.who.count(2)]
            assert counts[0] - counts[1] in (0, 1)
            has_line = any(state.who[a] == state.who[b] == state.who[c] == mover for a, b, c in lines)
            assert state.over == has_line
            assert state.winner == (mover if has_line else 0)
        assert placed <= 9
        assert state.num_moves == (placed if state.winner else 11)
        winners[state.winner] += 1
    # random Tic-Tac-Toe: first player ~58%, second ~29%, draws ~13%
    assert winners[1] > winners[2] > winners[0] > 0


@pytest.mark.parametrize(
    "line", [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)]
)
def test_line_of_three_is_found_in_all_eight_directions(line, tic_tac_toe):
    game = game_of(tic_tac_toe)
    others = [i for i in range(9) if i not in line]
    # the line's last piece at each of its three cells: the line runs away from it both ways,
    # so every compass direction is searched in one of these games
    for last in range(3):
        order = [line[i] for i in range(3) if i != last] + [line[last]]
        # the second player's two pieces never make a line with a third off-line cell
        p1, p2 = order, others[:1] + others[-1:]
        state = play_sites(game, [p1[0], p2[0], p1[1], p2[1], p1[2]])
        assert state.over and state.winner == 1, (line, last)
        # the same line, made by the second player
        p2_first = [x for x in others if x not in (others[0], others[-1])][:1]
        state = play_sites(game, [p2_first[0], p1[0], others[0], p1[1], others[-1], p1[2]])
        assert state.over and state.winner == 2, (line, last)


def test_no_line_no_win(tic_tac_toe):
    game = game_of(tic_tac_toe)
    state = play_sites(game, [0, 2, 1, 4, 3])  # first player holds 0, 1, 3: an L, not a line
    assert not state.over


def test_turn_limit_is_500_turns_per_player_and_a_draw(wander):
    game = game_of(wander)
    stats = run_playouts(game, 2, seed=3)
    assert stats.error is None and stats.n == 2
    for outcome in stats.outcomes:
        assert outcome.end_type == "limit" and outcome.winner == 0
        assert outcome.turns == 1000
        assert outcome.utilities()[1:] == [0.0, 0.0]


def test_unsupported_ludemes_are_reported_not_played(tic_tac_toe):
    text = tic_tac_toe.replace("(square 3))", "(square 3) use:Edge)")
    with pytest.raises(Unsupported):
        game_of(text)


# Fast library games that agree with the reference (100 playouts each in well under a second).
AGREEING = [
    "board/space/line/Tic-Tac-Toe.lud",
    "board/space/line/Three Men's Morris.lud",
    "board/space/connection/Hex.lud",
    "board/race/reach/Knightthrough.lud",
    "board/sow/two_rows/Kalah.lud",  # mancala board, track, sowing with captures
    "board/space/blocking/Dorvon Cag.lud",  # circle graph with edges removed, hands
]


@pytest.mark.parametrize("rel", AGREEING)
def test_library_game_agrees_with_reference(rel, ludii_dir, ludii_game_path):
    path = ludii_game_path(rel)
    reference = load_reference_stats(ludii_dir).get(rel)
    if reference is None:
        pytest.skip(f"{rel} not in the reference table")
    result = measure_game(str(path), str(ludii_dir), n=100, seed=0, stats_n=200)
    compare(result, reference)
    assert result.status == "played" and result.compared
    assert result.agrees, result.differences


KALAH_BOARD = """(game "Sowing"
    (players 2)
    (equipment {
        (mancalaBoard 2 6 (track "Track" "0,ESE,E,ENE,WNW,N,W" loop:true))
        (regions P1 (sites Bottom))
        (regions P2 (sites Top))
        (map {(pair P1 LastSite) (pair P2 FirstSite)})
        (piece "Seed" Shared)
    })
    (rules
        (start (set Count 4 to:(union (sites P1) (sites P2))))
        (play (move Select (from (sites Mover) if:(> (count at:(from)) 0)) (then (sow))))
        (end (if (no Moves Mover) (byScore {(score P1 (count at:(mapEntry P1))) (score P2 (count at:(mapEntry P2)))})))
    )
)"""


def test_mancala_board_track_and_sowing():
    game = game_of(KALAH_BOARD)
    assert game.n_board == 14  # two stores and two rows of six holes
    (track,) = game.board.tracks
    assert track.site == [0, 1, 2, 3, 4, 5, 6, 13, 12, 11, 10, 9, 8, 7] and track.looped
    state = play_sites(game, [3])  # four seeds from hole 3 to 4, 5, 6 and the store 13
    assert [state.count[i] for i in (3, 4, 5, 6, 13)] == [0, 5, 5, 5, 1]
    assert sum(state.count[:14]) == 48


DICE = """(game "Dice"
    (players 2)
    (equipment {
        (board (rectangle 1 20))
        (dice d:2 from:0 num:4)
        (piece "Disc" Each)
    })
    (rules
        (play (do (roll) next:(move Add (to (sites {(count Pips)})))))
        (end (if (is Full) (result Mover Win)))
    )
)"""


def test_dice_roll_before_the_moves():
    game = game_of(DICE)
    rng = random.Random(5)
    seen = set()
    for _ in range(40):
        state = game.initial.copy()
        ctx = Ctx(game, state, rng)
        move = game.sample_move(ctx, rng)
        game.apply(ctx, move)
        assert len(state.dice) == 4 and set(state.dice) <= {0, 1}
        if not move.is_pass:
            assert state.who[sum(state.dice)] == 1  # placed at the pips just rolled
        seen.add(sum(state.dice))
    assert len(seen) >= 3


OWNED_REGIONS = """(game "Owned"
    (players 2)
    (equipment {
        (board (square 3))
        (piece "Disc" Each)
        (regions P1 (sites Bottom))
        (regions P2 (sites Top))
        (regions "Marked" (sites Centre))
        (regions "Open" (sites Empty))
    })
    (rules
        (play (move Add (to (sites Empty) if:(or (is In (to) (sites Mover)) (is In (to) (sites Next))))))
        (end (if (is Full) (result Mover Win)))
    )
)"""


def test_sites_of_a_role_are_only_the_regions_that_player_owns():
    """Ludii ``SitesEquipmentRegion``: ``(sites Mover)`` / ``(sites Next)`` are the regions owned by that
    player; a region declared without a role is Neutral (owner 0) and belongs to neither (At-Tab
    wa-d-Dukk and Moo test ``(sites Next)`` beside such a region)."""
    for text in (OWNED_REGIONS.replace('        (regions "Open" (sites Empty))\n', ""), OWNED_REGIONS):
        game = game_of(text)  # fixed regions only, then one that depends on the state
        state = game.initial.copy()
        ctx = Ctx(game, state, random.Random(0))
        assert sorted(m.to for m in game.legal_moves(ctx)) == [0, 1, 2, 6, 7, 8]  # not 3, 4, 5
