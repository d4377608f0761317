"""The Ludii fill-in-the-middle reward, as DESIGN.md section 1 computes it.

For a completion: cut the generated middle at its first balanced closing bracket and reassemble the
game (failure: 0); compile it (invalid: 0); build it with our engine (valid but not playable by us:
status "unsupported", reported apart, never scored as invalid); play 100 random playouts with 500
turns per player. Not playable (mean length under 2 turns, or an evaluation error before any
playout finished): 0.05. Otherwise ``(balance^(1/3) + completion^(1/3) + drawishness^(1/3)) / 3``;
a 5 s timeout gives 0.01 (5 s of CPU time); NaN gives 0. An exception during playouts ends them
early and the metrics use the finished ones.

- balance = 1 - the largest pairwise gap in win rate (draws count as no win; 0 for one player),
- completion = share of playouts with a winner,
- drawishness = 1 - share of playouts where every player's utility is 0 (turn-limit ends are draws).

``evaluate_many`` runs games in worker processes with a hard per-game timeout (the worker is killed).
"""

from __future__ import annotations

import math
import multiprocessing as mp
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rlpr.tasks.ludii.compiler import LudiiCompileError, compile_game
from rlpr.tasks.ludii.engine.core import Unsupported
from rlpr.tasks.ludii.engine.game import build_game
from rlpr.tasks.ludii.engine.playout import Outcome, run_playouts
from rlpr.tasks.ludii.expand import expand_text
from rlpr.tasks.ludii.reader import LudiiSyntaxError

N_PLAYOUTS = 100
BUDGET_S = 5.0
REWARD_INVALID = 0.0
REWARD_UNPLAYABLE = 0.05
REWARD_TIMEOUT = 0.01


@dataclass
class PlayoutMetrics:
    """What the reward measures over finished playouts."""

    n_playouts: int
    n_players: int
    mean_turns: float
    completion: float
    drawishness: float
    balance: float
    wins_by_player: list[int] = field(default_factory=list)  # index 0: no winner


def playout_metrics(outcomes: list[Outcome], n_players: int) -> PlayoutMetrics:
    """Balance, completion, drawishness and mean length of a list of playout outcomes."""
    n = len(outcomes)
    wins = [0] * (n_players + 1)
    all_zero = 0
    turns = 0
    for o in outcomes:
        wins[o.winner if 0 <= o.winner <= n_players else 0] += 1
        turns += o.turns
        if all(u == 0.0 for u in o.utilities()[1:]):
            all_zero += 1
    if n == 0:
        return PlayoutMetrics(0, n_players, math.nan, math.nan, math.nan, math.nan, wins)
    completion = (n - wins[0]) / n
    drawishness = 1.0 - all_zero / n
    if n_players < 2:
        balance = 0.0
    else:
        rates = [wins[p] / n for p in range(1, n_players + 1)]
        balance = 1.0 - (max(rates) - min(rates))
    return PlayoutMetrics(n, n_players, turns / n, completion, drawishness, balance, wins)


def reward_from_metrics(m: PlayoutMetrics) -> float:
    """``(balance^(1/3) + completion^(1/3) + drawishness^(1/3)) / 3``; 0.05 when not playable; NaN -> 0."""
    if m.n_playouts == 0 or not (m.mean_turns >= 2):
        return REWARD_UNPLAYABLE
    parts = (m.balance, m.completion, m.drawishness)
    if any(math.isnan(x) for x in parts):
        return 0.0
    value = sum(max(x, 0.0) ** (1.0 / 3.0) for x in parts) / 3.0
    return 0.0 if math.isnan(value) else value


# --- reassembly ------------------------------------------------------------------------------------


def cut_middle(generated: str) -> str | None:
    """The generated middle up to its first balanced closing bracket, or None if there is none.

    The middle must open with ``(`` (after whitespace); brackets inside strings do not count.
    """
    text = generated.lstrip()
    if not text.startswith("("):
        return None
    depth = 0
    in_string = False
    escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "({":
            depth += 1
        elif ch in ")}":
            depth -= 1
            if depth == 0:
                return text[: i + 1]
            if depth < 0:
                return None
    return None


def reassemble(prefix: str, generated: str, suffix: str) -> str | None:
    """``prefix + middle + suffix`` with the middle cut by ``cut_middle``; None when it fails."""
    middle = cut_middle(generated)
    return None if middle is None else prefix + middle + suffix


# --- evaluation ------------------------------------------------------------------------------------


@dataclass
class RewardResult:
    """The reward of one game and why: status is one of reassembly, invalid, unsupported, unplayable,
    timeout, ok."""

    reward: float
    status: str
    detail: str = ""
    metrics: PlayoutMetrics | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_text(
    text: str,
    data_dir: Path | str | None = None,
    n_playouts: int = N_PLAYOUTS,
    seed: int = 0,
    budget_s: float = BUDGET_S,
) -> RewardResult:
    """The reward of a full game description, in this process.

    ``budget_s`` counts CPU time (compiling, building and playing), so that workers sharing busy
    cores are not turned into timeouts; ``seconds`` in the result is wall time."""
    start = time.perf_counter()
    cpu_start = time.process_time()
    try:
        typed = compile_game(expand_text(text, data_dir))
    except (LudiiSyntaxError, LudiiCompileError) as exc:
        return RewardResult(REWARD_INVALID, "invalid", str(exc), seconds=time.perf_counter() - start)
    except RecursionError as exc:
        return RewardResult(
            REWARD_INVALID, "invalid", f"too deep: {exc}", seconds=time.perf_counter() - start
        )
    try:
        game = build_game(typed)
    except Unsupported as exc:
        return RewardResult(math.nan, "unsupported", str(exc), seconds=time.perf_counter() - start)
    except Exception as exc:  # a valid game our engine fails to set up: an evaluation error
        return RewardResult(
            REWARD_UNPLAYABLE,
            "unplayable",
            f"{type(exc).__name__}: {exc}",
            seconds=time.perf_counter() - start,
        )
    remaining = budget_s - (time.process_time() - cpu_start)
    stats = run_playouts(game, n_playouts, seed=seed, budget_s=max(remaining, 0.0))
    cpu = time.process_time() - cpu_start
    elapsed = time.perf_counter() - start
    m = playout_metrics(stats.outcomes, game.n_players)
    if stats.timed_out or cpu > budget_s:
        detail = f"{stats.n} playouts in {cpu:.1f} cpu-s"
        return RewardResult(REWARD_TIMEOUT, "timeout", detail, m, elapsed)
    if stats.n == 0 or not (m.mean_turns >= 2):
        why = stats.error or f"mean length {m.mean_turns:.2f} turns"
        return RewardResult(REWARD_UNPLAYABLE, "unplayable", why, m, elapsed)
    detail = stats.error or ""
    return RewardResult(reward_from_metrics(m), "ok", detail, m, elapsed)


def fim_reward(prefix: str, generated: str, suffix: str, **kw) -> RewardResult:
    """The reward of a fill-in-the-middle completion (0 when reassembly fails)."""
    text = reassemble(prefix, generated, suffix)
    if text is None:
        return RewardResult(REWARD_INVALID, "reassembly", "no balanced middle")
    return evaluate_text(text, **kw)


def _worker(conn, text: str, kw: dict) -> None:
    try:
        conn.send(evaluate_text(text, **kw))
    except BaseException as exc:  # report, never hang the parent
        conn.send(RewardResult(REWARD_UNPLAYABLE, "unplayable", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def evaluate_many(
    texts: list[str],
    workers: int = 2,
    timeout_s: float = 6 * BUDGET_S,
    **kw,
) -> list[RewardResult]:
    """Rewards of many descriptions, each in its own worker process, killed after ``timeout_s`` of
    wall time (a killed game scores as a timeout; the default leaves room for busy cores, since the
    5 s budget itself is CPU time)."""
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    results: list[RewardResult | None] = [None] * len(texts)
    pending = list(range(len(texts)))
    running: dict[int, tuple] = {}
    while pending or running:
        while pending and len(running) < max(1, workers):
            i = pending.pop(0)
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_worker, args=(child, texts[i], kw), daemon=True)
            proc.start()
            child.close()
            running[i] = (proc, parent, time.monotonic())
        for i, (proc, parent, started) in list(running.items()):
            if parent.poll():
                try:
                    results[i] = parent.recv()
                except EOFError:
                    results[i] = RewardResult(REWARD_UNPLAYABLE, "unplayable", "worker died")
                proc.join(1.0)
                del running[i]
            elif time.monotonic() - started > timeout_s:
                proc.kill()
                proc.join(1.0)
                results[i] = RewardResult(REWARD_TIMEOUT, "timeout", f"killed after {timeout_s:.0f} s")
                del running[i]
            elif not proc.is_alive() and not parent.poll():
                results[i] = RewardResult(REWARD_UNPLAYABLE, "unplayable", f"worker exit {proc.exitcode}")
                del running[i]
        time.sleep(0.005)
    return [r for r in results if r is not None]


__all__ = [
    "PlayoutMetrics",
    "RewardResult",
    "cut_middle",
    "evaluate_many",
    "evaluate_text",
    "fim_reward",
    "playout_metrics",
    "reassemble",
    "reward_from_metrics",
]
