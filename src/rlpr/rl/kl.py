"""KL coefficient: fixed, or adapted toward a target KL as in Ziegler et al. (2019), TRL's default."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class KLController:
    coef: float
    target: float | None = None  # None: fixed coefficient
    horizon: int = 10000

    def update(self, kl: float, n_samples: int) -> None:
        """After a step whose sequences had mean KL `kl`: move coef by at most 20% * n/horizon toward the target."""
        if self.target is None:
            return
        error = min(max(kl / self.target - 1.0, -0.2), 0.2)
        self.coef *= 1.0 + error * n_samples / self.horizon
