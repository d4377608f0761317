"""Ludii game synthesis as an RL task: fill in the middle of a masked game description.

Prompts are the fill-in-the-middle prompts of ``fim.build_dataset`` (split by game; by default only
games our engine plays, and, as in the paper's PPO, only examples whose middle is at least 1/5 of
the prompt). The reward is the paper's reward of the reassembled game (``fim.score_completions``).
A game our engine cannot play (``unsupported``) has no reward: it gets ``unsupported_reward``, the
floor of a game that compiles, and is counted apart in ``unsupported_rate``, never as invalid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rlpr.config import ConfigError
from rlpr.tasks.ludii.fim import (
    FimConfig,
    FimDataset,
    FimScore,
    build_dataset,
    parse_prompt,
    score_completions,
    summarize,
)
from rlpr.tasks.ludii.reward import BUDGET_S, N_PLAYOUTS, REWARD_UNPLAYABLE


@dataclass
class LudiiConfig:
    seed: int = 0  # fixes the game-level split
    validation_fraction: float = 0.1
    max_chars: int | None = 3072  # games whose examples are longer are skipped
    min_middle_ratio: float = 0.2  # the paper's PPO kept examples whose middle is >= 1/5 of the prompt
    games: list[str] = field(default_factory=list)  # only these games (file names or paths under lud/)
    only_playable: bool = True  # only games whose true middle our engine plays (a reward is defined)
    n_playouts: int = N_PLAYOUTS
    budget_s: float = BUDGET_S  # CPU seconds per game (compile, build, play)
    workers: int = 2  # processes scoring games (each killed after 6 x budget_s of wall time)
    unsupported_reward: float = REWARD_UNPLAYABLE
    data_dir: str | None = None  # default: RLPR_LUDII_DIR or ../shared/data/ludii


class LudiiTask:
    name = "ludii"

    def __init__(self, config: LudiiConfig):
        if config.workers < 1:
            raise ConfigError(f"task_config.workers: expected a positive number, got {config.workers}")
        self.config = config
        self._data: FimDataset | None = None
        self._scores: dict[tuple[str, str], FimScore] = {}  # the last batch, for metrics()

    def dataset(self) -> FimDataset:
        """The FIM dataset, built on first use (checking playability takes a while on the whole library)."""
        if self._data is None:
            c = self.config
            fim = FimConfig(
                seed=c.seed,
                validation_fraction=c.validation_fraction,
                max_chars=c.max_chars,
                only_playable=c.only_playable,
                min_middle_ratio=c.min_middle_ratio,
                games=tuple(c.games),
                workers=c.workers,
            )
            try:
                self._data = build_dataset(fim, c.data_dir)
            except ValueError as err:  # a games entry that names no game
                raise ConfigError(f"task_config.games: {err}") from None
        return self._data

    def prompts(self, split: str) -> list[str]:
        if split not in ("train", "validation"):
            raise ConfigError(f"the ludii task has train and validation splits (by game), not {split!r}")
        return [e.prompt for e in self.dataset().split(split)]

    def scores(self, prompts: list[str], responses: list[str]) -> list[FimScore]:
        """The FIM scores of responses to prompts (each prompt carries its prefix and suffix)."""
        pairs = [parse_prompt(p) for p in prompts]
        c = self.config
        scores = score_completions(
            pairs,
            responses,
            workers=c.workers,
            data_dir=c.data_dir,
            n_playouts=c.n_playouts,
            budget_s=c.budget_s,
        )
        self._scores = dict(zip(zip(prompts, responses), scores))
        return scores

    def reward(self, prompts: list[str], responses: list[str]) -> list[float]:
        return [
            self.config.unsupported_reward if s.unsupported or math.isnan(s.reward) else s.reward
            for s in self.scores(prompts, responses)
        ]

    def metrics(self, prompts: list[str], responses: list[str], rewards: list[float]) -> dict[str, float]:
        keys = list(zip(prompts, responses))
        if all(k in self._scores for k in keys):  # reward() just scored this batch: no second playouts
            scores = [self._scores[k] for k in keys]
        else:
            scores = self.scores(prompts, responses)
        out = summarize(scores)
        out["played_reward_mean"] = out.pop("reward_mean")  # mean over games our engine scored
        if math.isnan(out["played_reward_mean"]):
            out["played_reward_mean"] = 0.0  # a logged metric must be a number
        return out
