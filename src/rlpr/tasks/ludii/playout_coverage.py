"""How many library games our engine plays, and whether its playouts agree with Ludii's.

For every game of the library: compile, build with the engine (or report the ludeme it lacks), play
100 random playouts (one worker process per game, killed at ``--cap`` seconds), and compare with
``ludii-reference.tsv``: completion, drawishness and balance within 0.15, mean turns within 25%.
The first 100 playouts are timed (the reward's 5 s budget, counted in CPU time so that a loaded
machine does not inflate it; wall time is kept beside it); when they are cheap, more are played
(``STATS_PLAYOUTS``, 400, in all) so that our own sampling error is small. The reference has 100 playouts,
so its rates carry about 0.05 of noise and a balance about 0.1: besides the plain tolerance check
(``agrees``), a game is ``consistent`` when every difference is also within 2.5 standard errors of
the two samples combined (what an exact engine would show).

Prints a table per category and the totals the issue asks for::

    python -m rlpr.tasks.ludii.playout_coverage [--data DIR] [--cap 60] [--json out.json] [--only SUBSTR]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import multiprocessing as mp
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rlpr.tasks.ludii.compiler import LudiiCompileError, compile_game
from rlpr.tasks.ludii.engine.core import Unsupported
from rlpr.tasks.ludii.engine.game import build_game
from rlpr.tasks.ludii.engine.playout import run_playouts
from rlpr.tasks.ludii.expand import expand_file
from rlpr.tasks.ludii.paths import category, game_files, relative_name, require_data_dir
from rlpr.tasks.ludii.reader import LudiiSyntaxError
from rlpr.tasks.ludii.reward import BUDGET_S, N_PLAYOUTS, playout_metrics

RATE_TOLERANCE = 0.15
TURNS_TOLERANCE = 0.25
Z_LIMIT = 2.5
STATS_PLAYOUTS = 400


@dataclass
class GameResult:
    """What happened to one game."""

    path: str
    status: str  # invalid, unsupported, error, timeout, played
    detail: str = ""
    n_playouts: int = 0  # playouts behind the statistics
    seconds: float = 0.0  # wall time of the first 100 playouts
    cpu_seconds: float = 0.0  # their CPU time: what one core needs, whatever else runs
    mean_turns: float | None = None
    sd_turns: float | None = None
    completion: float | None = None
    drawishness: float | None = None
    balance: float | None = None
    wins: list[int] = field(default_factory=list)
    compared: bool = False
    agrees: bool | None = None
    consistent: bool | None = None
    differences: list[str] = field(default_factory=list)

    @property
    def within_budget(self) -> bool:
        return self.status == "played" and self.n_playouts >= N_PLAYOUTS and self.cpu_seconds <= BUDGET_S


def load_reference_stats(
    data_dir: Path | str | None = None, name: str = "ludii-reference.tsv"
) -> dict[str, dict]:
    """Rows of the reference table keyed by path, all columns as strings; {} if absent."""
    table = require_data_dir(data_dir).parent / name
    if not table.is_file():
        return {}
    with table.open(newline="", encoding="utf-8") as fh:
        return {row["path"]: row for row in csv.DictReader(fh, delimiter="\t")}


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def _wins(ref: dict) -> list[int]:
    try:
        return [int(x) for x in (ref.get("wins_by_player") or "").split(",") if x != ""]
    except ValueError:
        return []


def _balance_se(wins: list[int]) -> float:
    """Standard error of the largest pairwise win-rate gap (from the two extreme players)."""
    n = sum(wins)
    if n == 0 or len(wins) < 3:
        return 0.0
    rates = [w / n for w in wins[1:]]
    hi, lo = max(rates), min(rates)
    return math.sqrt(max(hi + lo - (hi - lo) ** 2, 0.0) / n)


def compare(result: GameResult, ref: dict | None) -> None:
    """Fill ``agrees``, ``consistent`` and ``differences`` from the reference row."""
    if result.status != "played" or ref is None or _float(ref.get("completion")) is None:
        return
    if "deduction_puzzle" in (ref.get("note") or ""):
        return
    result.compared = True
    n_ref = _float(ref.get("n_playouts")) or 100.0
    n_ours = max(result.n_playouts, 1)
    diffs, significant = [], []
    for key in ("completion", "drawishness", "balance"):
        ours, theirs = getattr(result, key), _float(ref.get(key))
        if ours is None or theirs is None:
            continue
        if key == "balance":
            se = math.hypot(_balance_se(_wins(ref)), _balance_se(result.wins))
        else:
            se = math.sqrt(theirs * (1 - theirs) / n_ref + ours * (1 - ours) / n_ours)
        if abs(ours - theirs) > RATE_TOLERANCE:
            diffs.append(f"{key} {ours:.2f} vs {theirs:.2f}")
            if abs(ours - theirs) > Z_LIMIT * se:
                significant.append(key)
    ours_t, theirs_t = result.mean_turns, _float(ref.get("mean_turns"))
    if ours_t is not None and theirs_t:
        if abs(ours_t - theirs_t) > TURNS_TOLERANCE * theirs_t:
            diffs.append(f"turns {ours_t:.1f} vs {theirs_t:.1f}")
            sd = result.sd_turns or 0.0
            se = sd * math.sqrt(1 / n_ref + 1 / n_ours)
            if abs(ours_t - theirs_t) > Z_LIMIT * se:
                significant.append("turns")
    result.differences = diffs
    result.agrees = not diffs
    result.consistent = not significant


def measure_game(
    path: str, data_dir: str, n: int = N_PLAYOUTS, seed: int = 0, stats_n: int = STATS_PLAYOUTS
) -> GameResult:
    """Compile, build and play one game in this process: ``n`` timed playouts, then more (up to
    ``stats_n`` in all) when the first ones took under a second."""
    root = Path(data_dir)
    rel = relative_name(Path(path), root)
    try:
        typed = compile_game(expand_file(path, root, rel))
    except (LudiiSyntaxError, LudiiCompileError) as exc:
        return GameResult(rel, "invalid", str(exc))
    try:
        game = build_game(typed)
    except Unsupported as exc:
        return GameResult(rel, "unsupported", str(exc))
    except Exception as exc:
        return GameResult(rel, "error", f"build: {type(exc).__name__}: {exc}")
    stats = run_playouts(game, n, seed=seed)
    outcomes = list(stats.outcomes)
    if stats.n == n and stats.cpu_seconds < 1.0 and stats_n > n:
        more = run_playouts(game, stats_n - n, seed=seed + 1)
        if more.error is None:
            outcomes += more.outcomes
    m = playout_metrics(outcomes, game.n_players)
    turns = [o.turns for o in outcomes]
    sd = math.sqrt(sum((t - m.mean_turns) ** 2 for t in turns) / max(len(turns) - 1, 1)) if turns else None
    status = "played" if stats.n == n else "error"
    return GameResult(
        rel,
        status,
        stats.error or "",
        n_playouts=len(outcomes),
        seconds=stats.seconds,
        cpu_seconds=stats.cpu_seconds,
        mean_turns=m.mean_turns,
        sd_turns=sd,
        completion=m.completion,
        drawishness=m.drawishness,
        balance=m.balance,
        wins=m.wins_by_player,
    )


def _worker(conn, path: str, data_dir: str, n: int, seed: int) -> None:
    try:
        conn.send(measure_game(path, data_dir, n, seed))
    except BaseException as exc:
        conn.send(GameResult(path, "error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def measure_all(
    data_dir: Path | str | None = None,
    cap_s: float = 60.0,
    workers: int = 1,
    only: str | None = None,
    n: int = N_PLAYOUTS,
    seed: int = 0,
    progress: bool = False,
) -> list[GameResult]:
    """Measure every library game (optionally those whose path contains ``only``)."""
    root = require_data_dir(data_dir)
    reference = load_reference_stats(root)
    paths = [p for p in game_files(root) if only is None or only in relative_name(p, root)]
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    results: dict[int, GameResult] = {}
    pending = list(range(len(paths)))
    running: dict[int, tuple] = {}
    while pending or running:
        while pending and len(running) < max(1, workers):
            i = pending.pop(0)
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_worker, args=(child, str(paths[i]), str(root), n, seed), daemon=True)
            proc.start()
            child.close()
            running[i] = (proc, parent, time.monotonic())
        for i, (proc, parent, started) in list(running.items()):
            rel = relative_name(paths[i], root)
            if parent.poll():
                try:
                    res = parent.recv()
                except EOFError:
                    res = GameResult(rel, "error", "worker died")
                proc.join(1.0)
            elif time.monotonic() - started > cap_s:
                proc.kill()
                proc.join(1.0)
                res = GameResult(rel, "timeout", f"over {cap_s:.0f} s", seconds=cap_s)
            elif not proc.is_alive():
                res = GameResult(rel, "error", f"worker exit {proc.exitcode}")
            else:
                continue
            del running[i]
            compare(res, reference.get(rel))
            results[i] = res
            if progress:
                print(_line(res), flush=True)
        time.sleep(0.01)
    return [results[i] for i in sorted(results)]


def _line(r: GameResult) -> str:
    if r.status == "played":
        agree = "agree" if r.agrees else ("DIFFER " + "; ".join(r.differences) if r.compared else "no-ref")
        if r.compared and not r.agrees and r.consistent:
            agree += " (within sampling error)"
        return (
            f"{r.path}: {r.n_playouts} playouts, first 100 in {r.cpu_seconds:.2f} cpu-s "
            f"({r.seconds:.2f} s wall), "
            f"turns {r.mean_turns:.1f}, wins {r.wins}, {agree}"
        )
    return f"{r.path}: {r.status} {r.detail}"


@dataclass
class Row:
    games: int = 0
    played: int = 0
    compared: int = 0
    agree: int = 0
    consistent: int = 0
    fast: int = 0


def summarize(results: list[GameResult]) -> tuple[dict[str, Row], Row]:
    rows: dict[str, Row] = defaultdict(Row)
    for r in results:
        row = rows[category(r.path)]
        row.games += 1
        if r.status == "played":
            row.played += 1
            row.fast += r.within_budget
            if r.compared:
                row.compared += 1
                row.agree += bool(r.agrees)
                row.consistent += bool(r.consistent)
    total = Row()
    for row in rows.values():
        for k in vars(total):
            setattr(total, k, getattr(total, k) + getattr(row, k))
    return rows, total


def _pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:5.1f}%" if b else "    -"


def format_report(results: list[GameResult]) -> str:
    rows, total = summarize(results)
    head = f"{'category':32} {'games':>5} {'played':>6} {'compared':>8} {'agree':>5} {'consistent':>10} {'<=5s':>5}"
    lines = [head, "-" * len(head)]

    def fmt(name: str, r: Row) -> str:
        return f"{name:32} {r.games:5d} {r.played:6d} {r.compared:8d} {r.agree:5d} {r.consistent:10d} {r.fast:5d}"

    for name in sorted(rows):
        lines.append(fmt(name, rows[name]))
    lines.append("-" * len(head))
    t = total
    lines.append(fmt("total", t))
    lines.append("")
    lines.append(f"played: {t.played}/{t.games} ({_pct(t.played, t.games).strip()} of the library)")
    lines.append(f"agree with the reference: {t.agree}/{t.compared} ({_pct(t.agree, t.compared).strip()})")
    lines.append(
        f"consistent within sampling error: {t.consistent}/{t.compared} "
        f"({_pct(t.consistent, t.compared).strip()})"
    )
    lines.append(
        f"100 playouts within {BUDGET_S:.0f} s of one core (CPU time): {t.fast}/{t.played} "
        f"({_pct(t.fast, t.played).strip()})"
    )
    statuses = Counter(r.status for r in results)
    lines.append("statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    missing = Counter(r.detail.split(":")[0] for r in results if r.status == "unsupported")
    lines.append("most wanted ludemes: " + ", ".join(f"{k} ({v})" for k, v in missing.most_common(25)))
    for r in results:
        if r.status == "played" and r.compared and not r.agrees:
            tag = "differs" if not r.consistent else "differs (noise?)"
            lines.append(f"{tag}: " + _line(r))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--cap", type=float, default=60.0, help="seconds allowed per game")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--only", default=None, help="only games whose path contains this")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write per-game results here")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    results = measure_all(
        args.data, args.cap, args.workers, args.only, seed=args.seed, progress=args.progress
    )
    print(format_report(results))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
