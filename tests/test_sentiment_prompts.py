"""Tests for the shipped sentiment prompts (src/rlpr/data/sentiment_prompts.txt): movie-review openings
that the RL task continues, so they must be many, short, distinct and close to neutral."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

import rlpr

PROMPTS_FILE = Path(rlpr.__file__).parent / "data" / "sentiment_prompts.txt"


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return PROMPTS_FILE.read_text(encoding="utf-8").splitlines()


def test_many_unique_plain_lines(lines: list[str]) -> None:
    assert len(lines) >= 200
    assert len(set(lines)) == len(lines)
    assert len({" ".join(line.lower().split()) for line in lines}) == len(lines)
    assert all(line == line.strip() and line for line in lines)  # no blanks, no stray spaces
    assert not any(line.startswith("#") for line in lines)


def test_each_opening_has_2_to_7_words(lines: list[str]) -> None:
    bad = [line for line in lines if not 2 <= len(line.split()) <= 7]
    assert not bad


def test_openings_are_near_neutral(lines: list[str]) -> None:
    analyzer = SentimentIntensityAnalyzer()
    scores = [analyzer.polarity_scores(line)["compound"] for line in lines]
    assert abs(statistics.mean(scores)) <= 0.1
    strong = [line for line, s in zip(lines, scores) if abs(s) > 0.3]
    assert not strong
