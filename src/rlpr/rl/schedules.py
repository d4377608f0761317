"""Coefficient schedules: a regulariser's weight as a function of the training step."""

from __future__ import annotations

import math

SCHEDULES = ("constant", "linear", "cosine")


def coefficient(base: float, schedule: str, step: int, total_steps: int, decay_steps: int = 0) -> float:
    """The weight at 0-based `step`: `base` throughout (constant), or decayed from `base` to 0 over
    `decay_steps` steps (all `total_steps` when 0), linearly or along a half cosine, and 0 after that."""
    if schedule == "constant" or base == 0.0:
        return base
    horizon = decay_steps if decay_steps > 0 else total_steps
    done = min(step / max(horizon, 1), 1.0)
    if schedule == "linear":
        return base * (1.0 - done)
    if schedule == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * done))
    raise ValueError(f"coef_schedule: expected one of {', '.join(SCHEDULES)}, got {schedule!r}")
