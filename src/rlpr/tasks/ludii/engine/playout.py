"""Random playouts and their statistics.

A playout starts from the game's initial state and applies moves chosen uniformly among the legal
ones (Ludii's random playout) until the game is over or the turn limit (500 turns per player) or
move limit ends it as a draw. ``Outcome`` records the ranking, the winner (0: none), the number of
turns (mover changes, as Ludii's ``Trial.numTurns``) and moves.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from rlpr.tasks.ludii.engine.core import Ctx
from rlpr.tasks.ludii.engine.game import EngineGame


@dataclass
class Outcome:
    """How one playout ended."""

    winner: int
    ranking: list[float]
    turns: int
    moves: int
    end_type: str  # "result" or "limit"

    def utilities(self) -> list[float]:
        """Ludii's utilities from ranks: 1 for first place to -1 for last (index 0 unused)."""
        n = len(self.ranking) - 1
        if n == 1:
            return [0.0, 1.0 if self.ranking[1] == 1.0 else -1.0]
        return [0.0] + [1.0 - 2.0 * (r - 1.0) / (n - 1.0) if r > 0 else 0.0 for r in self.ranking[1:]]


class OutOfTime(Exception):
    """A playout passed its deadline."""


def playout(
    game: EngineGame, rng: random.Random, deadline: float | None = None, clock=time.process_time
) -> Outcome:
    """One random playout from the initial state; raises ``OutOfTime`` once ``clock()`` passes
    ``deadline`` (checked every 64 moves)."""
    state = game.initial.copy()
    ctx = Ctx(game, state, rng)
    sample = game.sample_move
    apply = game.apply
    k = 0
    while not state.over:
        apply(ctx, sample(ctx, rng))
        k += 1
        if deadline is not None and not k & 63 and clock() > deadline:
            raise OutOfTime
    return Outcome(state.winner, list(state.ranking), state.num_turns, state.num_moves, state.end_type)


@dataclass
class Stats:
    """Aggregate of finished playouts."""

    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0  # wall clock
    cpu_seconds: float = 0.0  # this process's CPU time (what one core needs, whatever the load)
    error: str | None = None
    timed_out: bool = False

    @property
    def n(self) -> int:
        return len(self.outcomes)


def run_playouts(
    game: EngineGame, n: int = 100, seed: int = 0, budget_s: float | None = None, cpu_clock: bool = True
) -> Stats:
    """Up to ``n`` playouts; stops early at an exception (kept in ``error``) or when ``budget_s`` runs
    out (``timed_out``), counted in CPU time by default (wall time with ``cpu_clock=False``)."""
    rng = random.Random(seed)
    stats = Stats()
    start = time.perf_counter()
    cpu_start = time.process_time()
    clock = time.process_time if cpu_clock else time.perf_counter
    deadline = None if budget_s is None else clock() + budget_s
    for _ in range(n):
        try:
            stats.outcomes.append(playout(game, rng, deadline, clock))
        except OutOfTime:
            stats.timed_out = True
            break
        except Exception as exc:  # an evaluation error ends the playouts (DESIGN.md section 1)
            stats.error = f"{type(exc).__name__}: {exc}"
            break
        if deadline is not None and clock() > deadline:
            stats.timed_out = len(stats.outcomes) < n
            break
    stats.seconds = time.perf_counter() - start
    stats.cpu_seconds = time.process_time() - cpu_start
    return stats
