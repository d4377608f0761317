"""Sentiment alignment (Padula & Soemers 2024): continue a movie-review opening; reward = VADER compound score.

The reward scores prompt + response with the VADER lexicon, in [-1, 1]. Prompts are review openings of
2-7 words: the list written for this project (shipped), or IMDB reviews over 200 characters cut to
their first 2-7 words when `source: imdb` (needs `datasets` and network access).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from importlib import resources

from rlpr.config import ConfigError

SPLITS = ("train", "validation", "test")


@dataclass
class SentimentConfig:
    source: str = "builtin"  # builtin | imdb
    seed: int = 0  # fixes the split of the builtin prompts and the cut of IMDB reviews
    validation_share: float = 0.15
    test_share: float = 0.15
    min_words: int = 2
    max_words: int = 7


def builtin_openings() -> list[str]:
    text = (resources.files("rlpr") / "data" / "sentiment_prompts.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


def imdb_openings(config: SentimentConfig, split: str) -> list[str]:
    try:
        import datasets
    except ImportError:
        raise RuntimeError("task_config.source=imdb needs the datasets package: pip install 'rlpr[data]'") from None
    reviews = datasets.load_dataset("imdb", split="test" if split == "test" else "train")["text"]
    rng = random.Random(config.seed)
    openings = [" ".join(r.split()[: rng.randint(config.min_words, config.max_words)]) for r in reviews if len(r) > 200]
    if split == "test":
        return openings
    cut = int(len(openings) * (1 - config.validation_share))
    return openings[:cut] if split == "train" else openings[cut:]


class SentimentTask:
    name = "sentiment"

    def __init__(self, config: SentimentConfig):
        if config.source not in ("builtin", "imdb"):
            raise ConfigError(f"task_config.source: expected builtin or imdb, got {config.source!r}")
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.config = config
        self.analyzer = SentimentIntensityAnalyzer()
        self._splits: dict[str, list[str]] = {}

    def prompts(self, split: str) -> list[str]:
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
        if split not in self._splits:
            if self.config.source == "imdb":
                self._splits[split] = imdb_openings(self.config, split)
            else:
                self._splits.update(self._split_builtin())
        return list(self._splits[split])

    def _split_builtin(self) -> dict[str, list[str]]:
        openings = builtin_openings()
        random.Random(self.config.seed).shuffle(openings)
        n_val = int(len(openings) * self.config.validation_share)
        n_test = int(len(openings) * self.config.test_share)
        return {
            "validation": openings[:n_val],
            "test": openings[n_val : n_val + n_test],
            "train": openings[n_val + n_test :],
        }

    def reward(self, prompts: list[str], responses: list[str]) -> list[float]:
        return [self.analyzer.polarity_scores(p + r)["compound"] for p, r in zip(prompts, responses, strict=True)]

    def metrics(self, prompts: list[str], responses: list[str], rewards: list[float]) -> dict[str, float]:
        n = max(len(rewards), 1)
        return {
            "positive_share": sum(r >= 0.05 for r in rewards) / n,
            "negative_share": sum(r <= -0.05 for r in rewards) / n,
        }
