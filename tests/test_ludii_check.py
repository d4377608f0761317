"""`rlpr ludii check FILE.lud [--json]`: the verdict, the playout statistics and the reward of one file."""

from __future__ import annotations

import json

import pytest

from rlpr.cli import main

KEYS = {"read", "compiles", "supported", "plays", "error", "balance", "completion", "drawishness",
        "mean_turns", "playouts_per_s", "reward"}  # fmt: skip


def check(capsys, path, *flags: str) -> tuple[int, str, str]:
    code = main(["ludii", "check", str(path), "--playouts", "20", *flags])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_library_game_compiles_plays_and_has_a_reward(ludii_game_path, capsys):
    path = ludii_game_path("Tic-Tac-Toe.lud")
    code, out, _ = check(capsys, path)
    assert code == 0 and out.startswith(f"{path}: compiles\n")
    assert "playouts     20 (" in out and "drawishness" in out and "(ok)" in out
    code, out, _ = check(capsys, path, "--json")
    report = json.loads(out)
    assert code == 0 and KEYS <= set(report)
    assert report["read"] and report["compiles"] and report["supported"] and report["plays"]
    assert report["error"] is None and report["mean_turns"] >= 5 and report["playouts_per_s"] > 0
    expected = sum(report[k] ** (1 / 3) for k in ("balance", "completion", "drawishness")) / 3
    assert report["reward"] == pytest.approx(expected)


def test_a_broken_game_is_invalid_naming_file_line_and_column(tic_tac_toe, tmp_path, capsys):
    path = tmp_path / "broken.lud"
    path.write_text(tic_tac_toe.replace("(square 3)", "(square)"))
    code, out, _ = check(capsys, path)
    assert code == 1 and out.startswith(f"{path}: invalid\n  error: {path}:4:16: (square ...)")
    report = json.loads(check(capsys, path, "--json")[1])
    assert report["read"] and not report["compiles"] and report["reward"] == 0.0
    assert report["supported"] is None and report["balance"] is None
    path.write_text(tic_tac_toe[:40])
    report = json.loads(check(capsys, path, "--json")[1])
    assert not report["read"] and "never closed" in report["error"]


def test_an_unsupported_game_has_no_reward_and_is_not_invalid(tic_tac_toe, tmp_path, capsys):
    path = tmp_path / "edges.lud"
    path.write_text(tic_tac_toe.replace("(square 3))", "(square 3) use:Edge)"))
    code, out, _ = check(capsys, path)
    assert code == 0 and out.startswith(f"{path}: unsupported\n") and "reward       none" in out
    report = json.loads(check(capsys, path, "--json")[1])
    assert report["compiles"] and report["supported"] is False and report["reward"] is None


def test_a_missing_file_is_a_one_line_error(tmp_path, capsys):
    code, out, err = check(capsys, tmp_path / "nope.lud")
    assert code == 2 and out == "" and err == f"rlpr: error: {tmp_path / 'nope.lud'}: no such file\n"
