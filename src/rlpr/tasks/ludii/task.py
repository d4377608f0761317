"""Ludii game synthesis as an RL task: fill in the middle of a masked game description.

Prompts are the fill-in-the-middle prompts of ``fim.build_dataset`` (split by game; by default only
games our engine plays, and, as in the paper's PPO, only examples whose middle is at least 1/5 of
the prompt). The reward is the paper's reward of the reassembled game (``fim.score_completions``).
A game our engine cannot play (``unsupported``) has no reward: it gets ``unsupported_reward``, the
floor of a game that compiles, and is counted apart in ``unsupported_rate``, never as invalid.
``exact_match`` is the share of completions whose middle (cut at its first balanced bracket) is the true one.

The supervised start (``rlpr sft ludii``, or ``model.name=sft`` in ``rlpr train ludii``) fine-tunes
``sft_model`` on the train examples (``sft.py``); as in the paper, on all of them by default, short
middles included (``sft_min_middle_ratio``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

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
from rlpr.tasks.ludii.reward import BUDGET_S, N_PLAYOUTS, REWARD_UNPLAYABLE, cut_middle
from rlpr.tasks.ludii.sft import LudiiSFTConfig, supervised_start


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
    # The supervised start: `sft_model` fine-tuned on `sft_examples` train examples (None: all of them)
    # whose middle is at least `sft_min_middle_ratio` of the prompt (the paper's SFT kept them all).
    sft_model: str = "smollm2-135m"
    sft_examples: int | None = None
    sft_epochs: int = 1
    sft_lr: float = 5e-5
    sft_batch_size: int = 8
    sft_min_middle_ratio: float = 0.0


def keep_long_middles(data: FimDataset, ratio: float) -> FimDataset:
    """``data`` without the examples whose middle is under ``ratio`` of the prompt (counted in
    ``short_middles``): what ``build_dataset`` does with ``min_middle_ratio``, without a second build."""
    if ratio <= 0:
        return data
    train = [e for e in data.train if len(e.middle) >= ratio * len(e.prompt)]
    validation = [e for e in data.validation if len(e.middle) >= ratio * len(e.prompt)]
    dropped = len(data.train) + len(data.validation) - len(train) - len(validation)
    return replace(data, train=train, validation=validation, short_middles=data.short_middles + dropped)


class LudiiTask:
    name = "ludii"

    def __init__(self, config: LudiiConfig):
        if config.workers < 1:
            raise ConfigError(f"task_config.workers: expected a positive number, got {config.workers}")
        self.config = config
        self._all: FimDataset | None = None  # every example (the SFT's)
        self._data: FimDataset | None = None  # those with long enough middles (prompts, RL and evaluation)
        self._middles: dict[str, set[str]] | None = None  # prompt -> true middles, for exact_match
        self._scores: dict[tuple[str, str], FimScore] = {}  # the last batch, for metrics()

    def full_dataset(self) -> FimDataset:
        """Every FIM example, short middles included; built once (checking playability takes a while on
        the whole library) and filtered for ``dataset`` and the SFT."""
        if self._all is None:
            c = self.config
            fim = FimConfig(
                seed=c.seed,
                validation_fraction=c.validation_fraction,
                max_chars=c.max_chars,
                only_playable=c.only_playable,
                min_middle_ratio=0.0,
                games=tuple(c.games),
                workers=c.workers,
            )
            try:
                self._all = build_dataset(fim, c.data_dir)
            except ValueError as err:  # a games entry that names no game
                raise ConfigError(f"task_config.games: {err}") from None
        return self._all

    def dataset(self) -> FimDataset:
        """The FIM examples whose middle is at least ``min_middle_ratio`` of the prompt."""
        if self._data is None:
            self._data = keep_long_middles(self.full_dataset(), self.config.min_middle_ratio)
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
        out["exact_match"] = self.exact_match(prompts, responses)
        return out

    def exact_match(self, prompts: list[str], responses: list[str]) -> float:
        """Share of responses whose middle, cut as the reward cuts it, is a true middle of the prompt's
        example (a prompt can have several: two games may differ in one sub-expression only)."""
        if self._middles is None:
            data = self.full_dataset()
            self._middles = {}
            for e in data.train + data.validation:
                self._middles.setdefault(e.prompt, set()).add(e.middle)
        hits = sum(cut_middle(r) in self._middles.get(p, ()) for p, r in zip(prompts, responses))
        return hits / max(len(responses), 1)

    # --- the supervised start -------------------------------------------------------------------------
    def sft_config(self, seed: int) -> LudiiSFTConfig:
        c = self.config
        return LudiiSFTConfig(c.sft_model, c.sft_examples, c.sft_epochs, c.sft_lr, c.sft_batch_size, seed)

    def supervised_start(self, out_dir: str, seed: int = 0) -> dict:
        """Fine-tune ``sft_model`` on the train examples; save it with its tokenizer and ``sft.json``
        (the SFT statistics, ``wall_s`` among them, and the dataset's counts) in ``out_dir``."""
        data = keep_long_middles(self.full_dataset(), self.config.sft_min_middle_ratio)
        return supervised_start(self.sft_config(seed), data, out_dir)

    def summary(self, start: dict, end: dict) -> dict:
        """Headline figures for summary.json: held-out rates at the end and at the start (the SFT model
        when the run starts from one); the unsupported rate beside the compile rate, never inside a
        verdict of invalid."""
        keys = ("compile_rate", "play_rate", "unsupported_rate", "exact_match", "reward_mean")
        return {k: end.get(f"eval_{k}") for k in keys} | {f"start_{k}": start.get(f"eval_{k}") for k in keys}
