"""pass@k, n@k and solve rates on hand-computed cases, and n@k against exhaustive enumeration."""

from __future__ import annotations

import itertools
import json
import random
from fractions import Fraction

import pytest

from rlpr.evaluation import n_at_k, parse_n_at_k, pass_at_k, solve_rate


def test_pass_at_k_hand_cases():
    assert pass_at_k(5, 1, 1) == pytest.approx(0.2)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # 1 - C(3,2)/C(5,2)
    assert pass_at_k(10, 3, 5) == pytest.approx(1 - 21 / 252)  # 1 - C(7,5)/C(10,5)
    assert pass_at_k(4, 0, 2) == 0.0
    assert pass_at_k(4, 3, 2) == 1.0  # fewer wrong samples than draws
    assert pass_at_k(200, 7, 1) == pytest.approx(7 / 200)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_n_at_k_hand_cases():
    results = [(True, True), (True, False), (False, False)]  # (public passed, private passed)
    # Draw 2 of 3: {TT, TF} submits one of the two (1/2); {TT, FF} submits TT (1); {TF, FF} submits TF (0).
    assert n_at_k(results, 1, 2) == pytest.approx((0.5 + 1 + 0) / 3)
    assert n_at_k(results, 2, 2) == pytest.approx(pass_at_k(3, 1, 2))  # n = k: nothing filtered away
    # The public tests mislead: the only correct program fails them, the wrong one passes and is preferred.
    assert n_at_k([(True, False), (False, True)], 1, 2) == 0.0
    assert n_at_k([(True, False), (False, True)], 2, 2) == 1.0


def test_multi_turn_1_at_3_is_the_share_of_solved_episodes():
    episodes = [(True, True), (False, False), (True, False), (False, True)]  # last program: public, private
    assert n_at_k(episodes, 1, 3, turns_per_sample=3) == pytest.approx(0.5)
    assert n_at_k(episodes * 9, 10, 100, turns_per_sample=3) == pytest.approx(1.0)  # 33 episodes drawn
    with pytest.raises(ValueError):
        n_at_k(episodes, 10, 100, turns_per_sample=3)  # needs 33 episodes


def _enumerated(results, n: int, m: int) -> Fraction:
    """Exact n@m by listing every draw of m samples and every way to submit n of them."""
    total = Fraction(0)
    draws = list(itertools.combinations(range(len(results)), m))
    for draw in draws:
        passing = [i for i in draw if results[i][0]]
        others = [i for i in draw if not results[i][0]]
        if len(passing) >= n:
            picks = [list(c) for c in itertools.combinations(passing, n)]
        else:
            picks = [passing + list(c) for c in itertools.combinations(others, n - len(passing))]
        total += Fraction(sum(any(results[i][1] for i in p) for p in picks), len(picks))
    return total / len(draws)


def test_n_at_k_matches_enumeration():
    rng = random.Random(0)
    for _ in range(40):
        size = rng.randint(1, 8)
        results = [(rng.random() < 0.5, rng.random() < 0.4) for _ in range(size)]
        m = rng.randint(1, size)
        n = rng.randint(1, m)
        assert n_at_k(results, n, m) == pytest.approx(float(_enumerated(results, n, m)), abs=1e-12)


def test_solve_rate_and_parsing():
    assert solve_rate([1.0, 0.0, 0.5, 0.5]) == 0.5
    assert solve_rate([]) == 0.0
    assert parse_n_at_k("10@100") == (10, 100)
    with pytest.raises(ValueError):
        parse_n_at_k("1at3")


def test_eval_rlef_command_end_to_end(tmp_path, capsys):
    """`rlpr eval rlef` with the tiny random model: garbage code, but every number in place."""
    from rlpr.cli import main

    out = tmp_path / "eval.json"
    code = main(["eval", "rlef", "--model", "tiny", "--dataset", "builtin", "--limit", "2", "--json", str(out),
                 "max_new_tokens=12", "batch_size=2", "workers=2"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "solve rate     1@3" in printed and "turn 1:" in printed
    results = json.loads(out.read_text())
    assert results["problems"] == 2 and results["episodes"] == 2 and results["dataset"] == "builtin"
    assert set(results["solve_rate"]) == {"1@3"}  # 10@100 needs 33 episodes per problem
    stats = results["per_turn"]
    assert stats["turns"] == sum(len(v[0]["public_passed"]) for v in results["per_problem"].values())
    assert stats["by_turn"][0]["episodes"] == 2
    assert results["config"]["temperature"] == 0.2 and results["config"]["top_p"] == 0.95
