"""Benchmark `ludii`: random playouts per second of our Python engine, per library game it plays,
beside the reference Ludii figure (``playouts_per_s`` of ``ludii-reference.tsv``, Java, measured
elsewhere: a rough guide, not a side-by-side run, since the Java engine cannot be installed here).

For every library game the engine builds: 100 random playouts (500 turns per player) with the
reward's 5 s budget, one core, in this process, timed in CPU time (what one core needs whatever else
runs on the machine; wall time is shown beside it). The figures: games played, the share finishing
100 playouts within 5 s (the issue's target is 90%), the median playouts per second, and the
geometric mean of the time ratio (our time per playout / Ludii's; below 1 means we are faster).

Set ``RLPR_BENCH_LUDII_ONLY`` to a path fragment to time a subset (e.g. ``board/space/line``).
"""

from __future__ import annotations

import math
import os
import statistics
import time

from rlpr.bench import BenchResult
from rlpr.tasks.ludii.compiler import LudiiCompileError, compile_game
from rlpr.tasks.ludii.engine import Unsupported, build_game, run_playouts
from rlpr.tasks.ludii.expand import expand_file
from rlpr.tasks.ludii.paths import find_data_dir, game_files, relative_name
from rlpr.tasks.ludii.playout_coverage import load_reference_stats
from rlpr.tasks.ludii.reader import LudiiSyntaxError
from rlpr.tasks.ludii.reward import BUDGET_S, N_PLAYOUTS


def _time_game(path, root) -> tuple[int, float, float] | None:
    """(playouts finished, CPU seconds, wall seconds) within the budget, or None when the engine
    does not play the game."""
    try:
        game = build_game(compile_game(expand_file(path, root, relative_name(path, root))))
    except (LudiiSyntaxError, LudiiCompileError, Unsupported, RecursionError):
        return None
    except Exception:  # a game the engine fails to set up does not count as played
        return None
    stats = run_playouts(game, N_PLAYOUTS, seed=0, budget_s=BUDGET_S)
    if stats.error is not None:
        return None
    return stats.n, stats.cpu_seconds, stats.seconds


def run() -> BenchResult:
    root = find_data_dir()
    if root is None:
        return BenchResult("ludii: no library found", ["game"], [], notes=["set RLPR_LUDII_DIR"])
    only = os.environ.get("RLPR_BENCH_LUDII_ONLY")
    reference = load_reference_stats(root)
    rows, rates, ratios = [], [], []
    within = 0
    start = time.perf_counter()
    for path in game_files(root):
        rel = relative_name(path, root)
        if only and only not in rel:
            continue
        timed = _time_game(path, root)
        if timed is None:
            continue
        n, cpu, wall = timed
        ours = n / cpu if cpu > 0 else math.inf
        ok = n >= N_PLAYOUTS and cpu <= BUDGET_S
        within += ok
        ref = reference.get(rel, {}).get("playouts_per_s")
        theirs = float(ref) if ref not in (None, "") else None
        ratio = theirs / ours if theirs and ours > 0 and math.isfinite(ours) else None
        rates.append(ours)
        if ratio is not None:
            ratios.append(ratio)
        rows.append(
            [rel, n, round(cpu, 2), round(wall, 2), ours, "-" if theirs is None else theirs, ratio or "-", ok]
        )
    played = len(rows)
    share = within / played if played else 0.0
    geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios)) if ratios else math.nan
    median = statistics.median(rates) if rates else math.nan
    return BenchResult(
        title=f"ludii: {N_PLAYOUTS} random playouts per game, {BUDGET_S:.0f} s budget (CPU time), one core",
        columns=["game", "playouts", "cpu s", "wall s", "ours/s", "ludii/s", "time ratio", "within 5 s"],
        rows=rows,
        figures={
            "games_played": played,
            "share_within_budget": share,
            "median_playouts_per_s": median,
            "time_ratio_geomean": geo,
            "bench_seconds": time.perf_counter() - start,
        },
        notes=[
            f"games played: {played}; finishing {N_PLAYOUTS} playouts within {BUDGET_S:.0f} s of CPU time: "
            f"{within} ({share:.0%}); median {median:.1f} playouts per CPU second",
            f"time ratio (our time per playout / Ludii's, geometric mean): {geo:.1f}",
            "Ludii's playouts/s come from the reference table (Java, another machine), not this run.",
        ],
    )
