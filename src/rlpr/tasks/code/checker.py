"""CodeContests' output checker: does a program's stdout match the expected output?

The rule follows `OutputsMatch` in DeepMind's code_contests execution code (tester_sandboxer.cc):

- both texts are split into tokens on the ASCII whitespace characters space, newline, tab, carriage
  return and vertical tab (runs of them count once, so extra spaces, blank lines and trailing newlines
  do not matter) and every token is lower-cased (so "YES" matches "yes");
- the outputs match if the token lists are equal; otherwise they must have the same length and match
  token by token;
- two tokens match if they are equal strings, or if both are numbers whose values differ by strictly
  less than 1e-5 (an absolute tolerance; there is no relative one: 1000000.1 does not match 1000000.0).

One deliberate difference: CodeContests compares every numeric pair as doubles, so integers beyond 2**53
that differ in the last digits can match there; we compare two integer tokens exactly (what its code
intends, "Both integers - require equality"), which agrees with it for every integer below 2**53.
"""

from __future__ import annotations

import re

FLOAT_TOLERANCE = 1e-5

_SEPARATORS = re.compile(r"[ \n\t\r\v]+")
_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?")
_SPECIAL = re.compile(r"[+-]?(?:inf|infinity|nan)")


def tokenize(text: str) -> list[str]:
    """Whitespace-separated, lower-cased tokens of `text`, as the checker sees it."""
    return [token.lower() for token in _SEPARATORS.split(text) if token]


def _number(token: str) -> float | int | None:
    """The value of a numeric token (int for integers), or None for a word."""
    if _INTEGER.fullmatch(token):
        return int(token)
    if _DECIMAL.fullmatch(token) or _SPECIAL.fullmatch(token):
        return float(token)
    return None


def tokens_match(observed: str, expected: str) -> bool:
    """Whether two lower-cased tokens match: equal strings, or numbers within the tolerance."""
    if observed == expected:
        return True
    a, b = _number(observed), _number(expected)
    if a is None or b is None:
        return False
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return abs(a - b) < FLOAT_TOLERANCE


def outputs_match(observed: str, expected: str) -> bool:
    """Whether a program's output `observed` is accepted for the test's `expected` output."""
    got, want = tokenize(observed), tokenize(expected)
    if len(got) != len(want):
        return False
    return all(tokens_match(a, b) for a, b in zip(got, want))
