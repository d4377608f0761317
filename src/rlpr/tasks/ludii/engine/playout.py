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


def playout(game: EngineGame, rng: random.Random) -> Outcome:
    """One random playout from the initial state."""
    state = game.initial.copy()
    ctx = Ctx(game, state, rng)
    sample = game.sample_move
    apply = game.apply
    while not state.over:
        apply(ctx, sample(ctx, rng))
    return Outcome(state.winner, list(state.ranking), state.num_turns, state.num_moves, state.end_type)


@dataclass
class Stats:
    """Aggregate of finished playouts."""

    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    timed_out: bool = False

    @property
    def n(self) -> int:
        return len(self.outcomes)


def run_playouts(game: EngineGame, n: int = 100, seed: int = 0, budget_s: float | None = None) -> Stats:
    """Up to ``n`` playouts; stops early at an exception (kept in ``error``) or when ``budget_s`` runs out."""
    rng = random.Random(seed)
    stats = Stats()
    start = time.perf_counter()
    for _ in range(n):
        if budget_s is not None and time.perf_counter() - start > budget_s:
            stats.timed_out = True
            break
        try:
            stats.outcomes.append(playout(game, rng))
        except Exception as exc:  # an evaluation error ends the playouts (DESIGN.md section 1)
            stats.error = f"{type(exc).__name__}: {exc}"
            break
    stats.seconds = time.perf_counter() - start
    return stats
