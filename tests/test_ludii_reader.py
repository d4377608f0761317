"""Reader and expander of Ludii descriptions: the whole library, Dots and Boxes, and syntax edge cases."""

from __future__ import annotations

import re

import pytest

from rlpr.tasks.ludii.expand import expand_file, expand_text
from rlpr.tasks.ludii.paths import game_files, relative_name
from rlpr.tasks.ludii.reader import LudiiSyntaxError, read_text
from rlpr.tasks.ludii.tree import Atom, Call, fim_splits, to_pretty, to_text, walk


def expand(text: str) -> Call:
    return expand_text(text, name="t.lud")


def text_of(text: str) -> str:
    return to_text(expand(text))


# --- the library ---------------------------------------------------------------------------------


def test_every_library_file_reads_and_expands(ludii_dir, ludii_library):
    games, errors = ludii_library
    assert errors == {}
    assert len(games) == len(game_files(ludii_dir)) == 397
    assert {g.head for g in games.values()} == {"game", "match"}
    for game in games.values():  # nothing raw is left after expansion
        for node in walk(game):
            assert not (isinstance(node, Atom) and node.kind in ("param", "tilde", "range"))
            assert not (isinstance(node, Call) and node.head[:1] in '"#')


def test_canonical_text_reads_back_to_the_same_tree(ludii_dir, ludii_library):
    games, _ = ludii_library
    for name in sorted(games)[::7]:
        text = to_text(games[name])
        assert to_text(expand_text(text, ludii_dir, name)) == text
        assert to_text(expand_text(to_pretty(games[name]), ludii_dir, name)) == text


def test_dots_and_boxes_options_are_applied_as_text(ludii_dir, ludii_game_path):
    path = ludii_game_path("Dots and Boxes.lud")
    game = expand_file(path, ludii_dir, relative_name(path, ludii_dir))
    text = to_text(game)
    # default items: Board "Square" (**), Size 8x8 (**), Dual "No" (empty fragments), End Rules Win (*)
    assert "(equipment {(board (square 8))})" in text
    assert "(result Mover Win)" in text
    assert "dual" not in text and "<" not in text.replace("(< ", "")
    # the in-file defines are expanded, including "NoSites" from def/
    assert "(sites Incident Cell of:Edge at:(last To))" in text
    assert "(= (count Sites in:(intersection" in text


# --- syntax --------------------------------------------------------------------------------------


def test_ranges_expand_to_numbers_and_coordinates():
    assert text_of("(game (sites {3..6}))") == "(game (sites {3 4 5 6}))"
    assert text_of("(game (sites {6..3}))") == "(game (sites {6 5 4 3}))"
    assert text_of('(game (sites {"A1".."B2"}))') == '(game (sites {"A1" "A2" "B1" "B2"}))'
    with pytest.raises(LudiiSyntaxError, match="range"):
        expand('(game {1.."A1"})')


def test_ranges_made_by_defines():
    src = '(define "Lo" 2) (define "Hi" 4) (game (track "T" {"Lo".."Hi" End}))'
    assert text_of(src) == '(game (track "T" {2 3 4 End}))'


def test_numbers_strings_names_and_named_arguments():
    game = expand('(game "My Game" (f -3 2.5 Mover true key:(g 1) other:"a b" x:-1))')
    f = game.args[1]
    assert [a.kind for a in f.args if isinstance(a, Atom)] == [
        "int",
        "float",
        "name",
        "name",
        "string",
        "int",
    ]
    assert f.named["key"].head == "g" and f.named["other"].value == "a b" and f.named["x"].value == -1
    assert [a.value for a in f.positional[:2]] == [-3, 2.5]
    assert to_text(f) == '(f -3 2.5 Mover true key:(g 1) other:"a b" x:-1)'


def test_strings_with_spaces_escapes_and_comment_markers():
    game = expand('(game "Say \\"hi\\" // not a comment" (f "a  b")) // a comment\n')
    assert game.args[0].value == 'Say "hi" // not a comment'
    assert game.args[1].args[0].value == "a  b"
    assert to_text(game) == '(game "Say \\"hi\\" // not a comment" (f "a  b"))'


def test_comments_are_ignored_anywhere():
    src = "// head\n(game // after a bracket\n  (f 1) // trailing\n  // whole line\n  (g 2))\n// tail"
    assert text_of(src) == "(game (f 1) (g 2))"


def test_nested_defines_with_parameters_and_tilde():
    src = """
    (define "Step" (move Step #1 (to if:(is Empty (to)))))
    (define "Both" (or ("Step" #1) ("Step" #2)))
    (define "Opt" (f #1 by:#2 #3))
    (game (play ("Both" Forward Backward)) ("Opt" 1 ~ 3) ("Opt" 1) "Step")
    """
    assert text_of(src) == (
        "(game (play (or (move Step Forward (to if:(is Empty (to)))) (move Step Backward (to if:(is Empty (to))))))"
        " (f 1 3) (f 1) (move Step (to if:(is Empty (to)))))"
    )


def test_define_argument_can_carry_a_name_and_a_parameter_can_be_a_head():
    src = '(define "Hop" (hop #1 #2)) (define "Of" (#1 of:#2)) (game ("Hop" ~ at:End) ("Of" row (to)))'
    assert text_of(src) == "(game (hop at:End) (row of:(to)))"


def test_in_file_defines_shadow_shared_ones_and_game_name_is_protected():
    src = '(define "HandEmpty" (mine)) (define "X" 1) (game "X" ("HandEmpty" Mover) "X")'
    assert text_of(src) == '(game "X" (mine) 1)'


def test_shared_defines_come_from_def(ludii_dir):
    assert text_of('(game ("HandEmpty" P1))') == "(game (= 0 (count in:(sites Hand P1))))"


def test_double_brackets_collapse():
    assert text_of("(game ((f 1)) (g ((h))))") == "(game (f 1) (g (h)))"


def test_options_default_item_is_the_first_with_most_stars():
    src = """
    (game (board (<Shape> <Size>)) (end <Rule:who> <Rule:what>))
    (option "Shape" <Shape> args:{<kind>} { (item "Sq" <square> "") (item "Hex" <hex> "")** (item "Tri" <tri> "")* })
    (option "Size" <Size> args:{<n>} { (item "3" <3> "") (item "4" <4> "") })
    (option "Rule" <Rule> args:{<who> <what>} { (item "W" <Mover> <Win> "Mover wins.")* })
    (metadata (info {(rules "ignored")}) (option "Inside" <X> args:{<x>} { (item "a" <1> "") }))
    (rulesets { (ruleset "Ruleset/A" { "Shape/Sq" })* })
    """
    assert text_of(src) == "(game (board (hex 3)) (end Mover Win))"


def test_option_values_may_be_unbalanced_fragments():
    src = """
    (game (board <D:begin> (square 5) <D:end>))
    (option "Dual" <D> args:{<begin> <end>} { (item "No" <> <> "")** (item "Yes" <(dual> <)> "") })
    """
    assert text_of(src) == "(game (board (square 5)))"
    assert (
        text_of(src.replace('"")**', '"")').replace('<)> "")', '<)> "")**'))
        == "(game (board (dual (square 5))))"
    )


def test_comparison_ludemes_are_not_option_placeholders():
    assert text_of("(game (< 1 2) (<= 1 2) (> 1 2))") == "(game (< 1 2) (<= 1 2) (> 1 2))"


def test_positions_and_define_sites():
    src = '(define "D"\n  (inner 1))\n(game\n  ("D") (outer 2))'
    game = expand(src)
    inner, outer = game.args
    assert (outer.pos.line, outer.pos.col) == (4, 9)
    assert (inner.pos.line, inner.pos.col) == (2, 3)  # written in the define...
    assert (inner.site.line, inner.site.col) == (4, 3)  # ...used here
    assert outer.site is None


@pytest.mark.parametrize(
    "src, line, col, message",
    [
        ("(game\n  (f 1)", 1, 1, "never closed"),
        ("(game (f 1)))", 1, 13, "unexpected ')'"),
        ("(game\n  (f 1})", 2, 7, "closes the '('"),
        ('(game\n  ("Nope" 1))', 2, 3, 'unknown define "Nope"'),
        ("(game (f #1))", 1, 10, "outside a define"),
        ("(game\n   <Missing>)", 2, 4, "placeholder <Missing>"),
        ('(game "open)', 1, 7, "unclosed string"),
        ("(game (f key:))", 1, 10, "has no value"),
    ],
)
def test_errors_name_file_line_and_column(src, line, col, message):
    with pytest.raises(LudiiSyntaxError, match=re.escape(message)) as info:
        expand(src)
    assert str(info.value).startswith(f"t.lud:{line}:{col}:")


def test_a_file_needs_a_game():
    with pytest.raises(LudiiSyntaxError, match="no \\(game"):
        expand('(define "X" 1)')
    with pytest.raises(LudiiSyntaxError, match="top level"):
        read_text("(game 1) (other 2)", "t.lud")


def test_fill_in_the_middle_splits_cover_every_subexpression():
    game = expand("(game (a 1 k:(b {(c)} 2)) (d))")
    splits = list(fim_splits(game))
    text = to_text(game)
    assert [mid for _, mid, _, _ in splits] == ["(a 1 k:(b {(c)} 2))", "(b {(c)} 2)", "(c)", "(d)"]
    for pre, mid, suf, node in splits:
        assert pre + mid + suf == text and mid == to_text(node).removeprefix(
            f"{node.key}:" if node.key else ""
        )
    assert splits[1][0].endswith("k:")
