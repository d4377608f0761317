"""The Ludii fill-in-the-middle reward: the formula on hand-computed playout outcomes, reassembly, and
the invalid (0), unplayable (0.05), timeout (0.01) and unsupported cases."""

from __future__ import annotations

import math

import pytest

from rlpr.tasks.ludii.engine.playout import Outcome
from rlpr.tasks.ludii.reward import (
    PlayoutMetrics,
    cut_middle,
    evaluate_many,
    evaluate_text,
    fim_reward,
    playout_metrics,
    reassemble,
    reward_from_metrics,
)


def win(p: int, n: int = 2, turns: int = 10) -> Outcome:
    """Player ``p`` first; the others share the remaining places (rank (n + 2) / 2)."""
    ranking = [0.0] + [1.0 if q == p else (n + 2) / 2 for q in range(1, n + 1)]
    return Outcome(p, ranking, turns, turns, "result")


def draw(n: int = 2, turns: int = 10, end: str = "result") -> Outcome:
    return Outcome(0, [0.0] + [(1.0 + n) / 2] * n, turns, turns, end)


def test_utilities_of_ranks():
    assert win(1).utilities()[1:] == [1.0, -1.0]
    assert draw().utilities()[1:] == [0.0, 0.0]
    # three players, two share first place: not every utility is 0
    shared = Outcome(0, [0.0, 1.5, 1.5, 3.0], 5, 5, "result")
    assert shared.utilities()[1:] == [0.5, 0.5, -1.0]


def test_metrics_on_hand_computed_outcomes():
    outcomes = [win(1)] * 5 + [win(2)] * 3 + [draw(turns=20)] * 2
    m = playout_metrics(outcomes, 2)
    assert m.n_playouts == 10 and m.wins_by_player == [2, 5, 3]
    assert m.completion == pytest.approx(0.8)
    assert m.balance == pytest.approx(1 - (0.5 - 0.3))
    assert m.drawishness == pytest.approx(0.8)
    assert m.mean_turns == pytest.approx(12.0)
    assert reward_from_metrics(m) == pytest.approx((3 * 0.8 ** (1 / 3)) / 3)


def test_turn_limit_draws_and_partial_draws():
    # turn-limit ends count as draws; a shared first place among three players is no winner, but
    # not a full draw either
    shared = Outcome(0, [0.0, 1.5, 1.5, 3.0], 5, 5, "result")
    outcomes = [win(1, 3), win(2, 3), shared, draw(3, end="limit")]
    m = playout_metrics(outcomes, 3)
    assert m.completion == pytest.approx(0.5)
    assert m.drawishness == pytest.approx(0.75)
    assert m.balance == pytest.approx(1 - 0.25)  # rates 1/4, 1/4, 0


def test_one_player_balance_is_zero():
    solved = Outcome(1, [0.0, 1.0], 4, 4, "result")
    m = playout_metrics([solved] * 3, 1)
    assert m.balance == 0.0 and m.completion == 1.0 and m.drawishness == 1.0
    assert reward_from_metrics(m) == pytest.approx(2 / 3)


def test_unplayable_and_nan_cases():
    short = playout_metrics([win(1, turns=1)] * 4, 2)
    assert reward_from_metrics(short) == 0.05
    assert reward_from_metrics(playout_metrics([], 2)) == 0.05
    nan = PlayoutMetrics(10, 2, 5.0, math.nan, 1.0, 1.0)
    assert reward_from_metrics(nan) == 0.0


def test_cut_middle_and_reassemble():
    assert cut_middle("  (board (square 3)) junk )") == "(board (square 3))"
    assert cut_middle('(piece "A)(" P1) more') == '(piece "A)(" P1)'
    assert cut_middle("{(a) (b)} rest") is None  # a middle opens with "("
    assert cut_middle("(unclosed (x)") is None
    assert reassemble("(a ", "(b) trailing", " c)") == "(a (b) c)"
    assert reassemble("(a ", "b)", " c)") is None


def test_fim_reward_reassembly_failure_is_zero(tic_tac_toe):
    i = tic_tac_toe.index("(board")
    j = tic_tac_toe.index("(piece")
    result = fim_reward(tic_tac_toe[:i], "no brackets here", tic_tac_toe[j:])
    assert result.reward == 0.0 and result.status == "reassembly"


def test_fim_reward_of_the_true_middle(tic_tac_toe):
    i = tic_tac_toe.index("(board")
    j = tic_tac_toe.index("(piece")
    result = fim_reward(tic_tac_toe[:i], "(board (square 3)) (whatever", tic_tac_toe[j:], seed=1)
    assert result.status == "ok"
    m = result.metrics
    assert m.n_playouts == 100
    expected = (m.balance ** (1 / 3) + m.completion ** (1 / 3) + m.drawishness ** (1 / 3)) / 3
    assert result.reward == pytest.approx(expected)
    assert 0.75 < result.reward < 1.0


def test_invalid_game_is_zero(tic_tac_toe):
    result = evaluate_text(tic_tac_toe.replace("(square 3)", "(square)"))
    assert result.reward == 0.0 and result.status == "invalid"
    assert evaluate_text("(game").status == "invalid"


def test_unsupported_game_is_reported_apart(tic_tac_toe):
    result = evaluate_text(tic_tac_toe.replace("(square 3))", "(square 3) use:Edge)"))
    assert result.status == "unsupported" and math.isnan(result.reward)


def test_one_turn_game_is_unplayable(tic_tac_toe):
    # the first move wins: one turn per playout, not playable
    one_move = tic_tac_toe.replace("(is Line 3)", "(is Occupied 4)").replace(
        "(to (sites Empty))", "(to (sites {4}))"
    )
    result = evaluate_text(one_move)
    assert result.status == "unplayable" and result.reward == 0.05
    assert result.metrics.mean_turns == 1.0


def test_over_budget_is_a_timeout(tic_tac_toe):
    result = evaluate_text(tic_tac_toe, budget_s=1e-6)
    assert result.status == "timeout" and result.reward == 0.01


def test_evaluate_many_keeps_order_and_kills_slow_games(tic_tac_toe, wander):
    # Wall-time kill at 5 s: room for Tic-Tac-Toe on busy cores (it failed at 1 s under a load of 5),
    # while Wander's 1000 playouts of 1000 turns take far longer.
    results = evaluate_many(
        [tic_tac_toe, "(game", wander], workers=2, timeout_s=5.0, budget_s=600.0, n_playouts=1000
    )
    assert [r.status for r in results] == ["ok", "invalid", "timeout"]
    assert [r.reward for r in results][1:] == [0.0, 0.01]


def test_the_budget_stops_a_long_playout_midway(wander):
    result = evaluate_text(wander, budget_s=0.05)
    assert result.status == "timeout" and result.reward == 0.01
    assert result.seconds < 5.0
