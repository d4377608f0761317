"""`rlpr ludii check FILE.lud [--json]`: the verdict on one game description, its playouts and reward.

The verdict is one of ``invalid`` (the reader, expander or compiler rejects it: the error names
file:line:col), ``unsupported`` (a valid game our engine cannot play yet: the missing ludeme is
named) or ``compiles``. A game that compiles and is supported is then scored exactly as the
fill-in-the-middle reward scores a completion (``reward.evaluate_text``: 100 random playouts within
5 s of CPU time), and its playout statistics are printed beside the reward.

Exit codes: 0 when the game compiles (supported or not), 1 when it is invalid, 2 for a user error
(a missing file: one line on stderr, printed by ``rlpr.cli``).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from rlpr.tasks.ludii.compiler import LudiiCompileError, compile_game
from rlpr.tasks.ludii.expand import expand_file
from rlpr.tasks.ludii.reader import LudiiSyntaxError
from rlpr.tasks.ludii.reward import BUDGET_S, N_PLAYOUTS, REWARD_INVALID, evaluate_text


@dataclass
class CheckReport:
    """What ``rlpr ludii check`` says of one file; the statistics are None where nothing was played."""

    path: str
    verdict: str  # invalid, unsupported or compiles
    read: bool  # read and expanded (syntax, options, defines)
    compiles: bool
    supported: bool | None  # None when it does not compile: the question does not arise
    plays: bool  # played to the reward's satisfaction (status "ok": mean length >= 2 turns, in budget)
    status: str  # the reward's status: invalid, unsupported, unplayable, timeout or ok
    error: str | None
    n_playouts: int = 0
    balance: float | None = None
    completion: float | None = None
    drawishness: float | None = None
    mean_turns: float | None = None
    playouts_per_s: float | None = None  # finished playouts per wall second of the whole evaluation
    reward: float | None = None  # None for an unsupported game: it has no reward, it is not invalid

    def to_json(self) -> dict:
        """The report as JSON-safe values (NaN becomes null)."""
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in asdict(self).items()}


def check_game(
    path: Path | str,
    data_dir: Path | str | None = None,
    n_playouts: int = N_PLAYOUTS,
    seed: int = 0,
    budget_s: float = BUDGET_S,
) -> CheckReport:
    """Read, compile, build and play the game in ``path``; raises FileNotFoundError if it is no file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    # Compile from the file first so that errors name it (the reward reads text and names "<text>").
    try:
        tree = expand_file(path, data_dir, str(path))
    except (LudiiSyntaxError, RecursionError) as exc:
        return _invalid(path, read=False, error=str(exc))
    try:
        compile_game(tree)
    except (LudiiCompileError, RecursionError) as exc:
        return _invalid(path, read=True, error=str(exc))
    result = evaluate_text(path.read_text(encoding="utf-8"), data_dir, n_playouts, seed, budget_s)
    if result.status == "invalid":  # cannot differ from the file's verdict; kept honest if it does
        return _invalid(path, read=True, error=result.detail)
    supported = result.status != "unsupported"
    report = CheckReport(
        str(path),
        "compiles" if supported else "unsupported",
        read=True,
        compiles=True,
        supported=supported,
        plays=result.status == "ok",
        status=result.status,
        error=result.detail or None,
        reward=result.reward if supported else None,
    )
    m = result.metrics
    if m is not None and m.n_playouts:
        report.n_playouts = m.n_playouts
        report.balance, report.completion, report.drawishness = m.balance, m.completion, m.drawishness
        report.mean_turns = m.mean_turns
        report.playouts_per_s = m.n_playouts / result.seconds if result.seconds > 0 else None
    return report


def _invalid(path: Path, read: bool, error: str) -> CheckReport:
    return CheckReport(
        str(path), "invalid", read, False, None, False, "invalid", error, reward=REWARD_INVALID
    )


def format_report(r: CheckReport) -> str:
    """The human-readable report: verdict line, error, playout statistics, reward."""
    lines = [f"{r.path}: {r.verdict}"]
    if r.error:
        lines.append(f"  {'error' if r.verdict == 'invalid' else 'detail'}: {r.error}")
    if r.n_playouts:
        lines += [
            f"  playouts     {r.n_playouts} ({r.playouts_per_s or 0:.1f}/s), mean {r.mean_turns:.1f} turns",
            f"  balance      {r.balance:.3f}",
            f"  completion   {r.completion:.3f}",
            f"  drawishness  {r.drawishness:.3f}",
        ]
    if r.reward is None:
        lines.append("  reward       none (unsupported by our engine; not counted as invalid)")
    else:
        lines.append(f"  reward       {r.reward:.4f} ({r.status})")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """Run ``ludii check`` for parsed arguments; returns the exit code."""
    report = check_game(args.file, n_playouts=args.playouts, seed=args.seed)
    print(json.dumps(report.to_json()) if args.json else format_report(report))
    return 1 if report.verdict == "invalid" else 0


__all__ = ["CheckReport", "check_game", "format_report", "main"]
