"""CodeContests' output checker: tokens, case, whitespace and the float tolerance."""

import pytest

from rlpr.tasks.code.checker import outputs_match, tokenize


@pytest.mark.parametrize(
    "observed, expected",
    [
        ("6\n", "6\n"),
        ("6", "6\n"),  # missing trailing newline
        ("  6  \n\n\n", "6\n"),  # extra whitespace and blank lines
        ("1 2 3\n", "1\n2\n3\n"),  # line structure does not matter
        ("1\t2\r\n3\v", "1 2 3"),
        ("YES\n", "yes\n"),  # case-insensitive
        ("First", "FIRST"),
        ("3.1415926", "3.14159265358"),  # |diff| < 1e-5
        ("3.141592654", "3.141592653589793"),
        ("0.1", "0.100001"),
        ("1.000009", "1"),
        ("1e5", "100000"),  # numbers compare by value
        ("2.0", "2"),
        ("-0.0", "0"),
        ("+5", "5"),
        (".5", "0.5"),
        ("", ""),
        ("\n", ""),
    ],
)
def test_accepted(observed, expected):
    assert outputs_match(observed, expected)


@pytest.mark.parametrize(
    "observed, expected",
    [
        ("5", "6"),
        ("", "6"),  # no output
        ("6 6", "6"),  # extra token
        ("6", "6 6"),  # missing token
        ("1.000011", "1"),  # |diff| = 1.1e-5 is not < 1e-5
        ("3.14158", "3.1416"),
        ("3.14", "3.14159"),
        ("1000000.1", "1000000.0"),  # the tolerance is absolute, not relative
        ("Yes!", "yes"),
        ("abc", "abd"),
        ("1,5", "1.5"),
        ("10000000000000001", "10000000000000000"),  # integers compare exactly, even beyond 2**53
        ("nan", "0"),
        ("1_000", "1000"),  # Python-only number syntax is a word
        ("0x10", "16"),
    ],
)
def test_rejected(observed, expected):
    assert not outputs_match(observed, expected)


def test_tokenize_splits_on_ascii_whitespace_and_lowercases():
    assert tokenize("  Hello\tWORLD \r\n 42\v\n") == ["hello", "world", "42"]
    assert tokenize("") == []
