"""Ludeme grammar and compiler: agreement with Ludii 1.0.8 on the library, typed trees, error reports,
and rejection of corrupted games."""

from __future__ import annotations

import random

import pytest

from rlpr.tasks.ludii.compiler import (
    LudiiCompileError,
    TypedCall,
    TypedConst,
    check_file,
    check_text,
    compile_game,
    support,
    typed_calls,
)
from rlpr.tasks.ludii.corrupt import KINDS, Evidence, corruptions
from rlpr.tasks.ludii.coverage import expected_compiles
from rlpr.tasks.ludii.expand import expand_text
from rlpr.tasks.ludii.grammar import GrammarError, default_grammar, parse_grammar
from rlpr.tasks.ludii.paths import load_reference, relative_name


def compiled(text: str) -> TypedCall:
    return compile_game(expand_text(text, name="t.lud"))


def error_of(text: str) -> LudiiCompileError:
    with pytest.raises(LudiiCompileError) as info:
        compiled(text)
    return info.value


# --- the grammar ---------------------------------------------------------------------------------


def test_grammar_loads_and_parses_its_notation():
    grammar = default_grammar()
    assert len(grammar) > 400
    assert {"Step", "Slide", "Hop", "Add"} <= grammar.variants("move")
    [sig] = parse_grammar(
        "moves (move Step [<from>] [<direction>] <to> [stack:<Boolean>] [<then>])"
    ).signatures("move")
    assert sig.kind == "move Step" and sig.returns == "moves"
    assert [p.name for p in sig.params] == ["from", "direction", "to", "stack", "then"]
    assert [p.optional for p in sig.params] == [True, True, False, True, True]
    [one] = parse_grammar("int (f (<int> | key:{<region|int>}) [lab=<string>])").signatures("f")
    assert str(one) == "int (f (<int> | key:{<region|int>}) [<string>])" and one.params[1].name == "lab"
    assert len(parse_grammar("int (count A|B [<int>])").signatures("count")) == 2
    with pytest.raises(GrammarError, match="unknown type"):
        parse_grammar("int (f <nosuchtype>)")


# --- the library ---------------------------------------------------------------------------------


def test_compiler_agrees_with_ludii_on_every_library_game(ludii_dir, ludii_library):
    games, errors = ludii_library
    reference = load_reference(ludii_dir)
    assert errors == {} and len(reference) == 397
    disagree = {}
    for name, game in games.items():
        try:
            compile_game(game)
            ours = True
        except LudiiCompileError as exc:
            ours, why = False, str(exc)
        if ours != expected_compiles(reference[name].compiles):
            disagree[name] = why if not ours else "accepted"
    assert disagree == {}


def test_the_match_is_rejected_like_the_reference_unless_allowed(ludii_dir, ludii_game_path):
    path = ludii_game_path("Tavli.lud")
    verdict = check_file(path, ludii_dir, relative_name(path, ludii_dir))
    assert not verdict.ok and "match" in verdict.error
    allowed = check_file(path, ludii_dir, allow_match=True)
    assert allowed.ok and allowed.typed.kind == "match"


# --- typed trees ---------------------------------------------------------------------------------


def test_typed_tree_names_ludemes_keywords_and_arguments(tic_tac_toe):
    typed = compiled(tic_tac_toe)
    assert typed.kind == "game" and typed.returns == "game"
    kinds = [c.kind for c in typed_calls(typed)]
    assert kinds[:4] == ["game", "players", "equipment", "board"]
    assert {"move Add", "sites Empty", "is Line", "result", "square"} <= set(kinds)
    move = next(c for c in typed_calls(typed) if c.kind == "move Add")
    assert move.returns == "decision" and move.args["pieceRef"] is None
    assert move.present()["to"].kind == "to"
    line = next(c for c in typed_calls(typed) if c.kind == "is Line")
    assert isinstance(line.args["int"], TypedConst) and line.args["int"].value == 3
    result = next(c for c in typed_calls(typed) if c.kind == "result")
    assert [(a.type, a.value) for a in result.present().values()] == [
        ("RoleType", "Mover"),
        ("ResultType", "Win"),
    ]
    assert (move.pos.line, move.pos.col) == (9, 15)


def test_support_is_checked_against_the_engine_ludemes(tic_tac_toe):
    verdict = check_text(tic_tac_toe)
    assert verdict.ok and verdict.status == "valid" and verdict.supported is True
    assert support(verdict.typed, frozenset()) == (None, ())
    assert support(verdict.typed, frozenset({"game"})) == (
        False,
        tuple(sorted({c.kind for c in typed_calls(verdict.typed)} - {"game"})),
    )
    everything = frozenset(c.kind for c in typed_calls(verdict.typed))
    assert support(verdict.typed, everything) == (True, ())


def test_first_letter_of_keywords_and_enums_is_case_insensitive(tic_tac_toe):
    assert compiled(tic_tac_toe.replace("(move Add", "(move add").replace("Mover Win", "mover win"))


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "old, new, line, col, ludeme, argument, message",
    [
        (
            "(is Line 3)",
            '(is Line "3")',
            10,
            27,
            "is Line",
            "int",
            'argument 2 "3" does not fit [<SiteType>] or <int>',
        ),
        (
            "(is Line 3)",
            "(is Line)",
            10,
            18,
            "is Line",
            "int",
            "(is Line ...) is missing its argument int <int>",
        ),
        ("(sites Empty)", "(sites Empyt)", 9, 36, None, None, "unknown name 'Empyt'"),
        (
            "(players 2)",
            "(players (count Players))",
            2,
            5,
            "players",
            None,
            "matches none of its forms: (players {<player>})",
        ),
        ("(move Add", "(mvoe Add", 9, 15, "mvoe", None, "unknown ludeme '(mvoe'"),
        (
            "(result Mover Win)",
            "(result Mover Win Loss)",
            10,
            48,
            "result",
            None,
            "has no slot left for argument 3 Loss",
        ),
        (
            "(to (sites Empty))",
            "(to (is Empty (to)))",
            9,
            29,
            "to",
            None,
            "argument 1 (is Empty (to)) does not fit",
        ),
        (
            '(piece "Disc" P1)',
            '(piece "Disc" P1 (result P1 Win))',
            5,
            26,
            "piece",
            None,
            "argument 3 (result",
        ),
    ],
)
def test_a_corrupted_game_is_rejected_naming_line_column_ludeme_and_argument(
    old, new, line, col, ludeme, argument, message, tic_tac_toe
):
    err = error_of(tic_tac_toe.replace(old, new, 1))
    assert message in err.message
    assert err.pos == f"t.lud:{line}:{col}"
    assert str(err).startswith(f"t.lud:{line}:{col}: ")
    if ludeme is not None:
        assert err.ludeme == ludeme
    if argument is not None:
        assert err.argument == argument


def test_errors_inside_defines_point_at_the_use_and_the_define(tic_tac_toe):
    src = '(define "Win" (result Mover Winn))\n' + tic_tac_toe.replace("(result Mover Win)", '("Win")')
    err = error_of(src)
    assert "unknown name 'Winn'" in err.message
    assert err.pos.startswith("t.lud:11:") and "define text at t.lud:1:" in err.pos


def test_player_count_is_limited_like_ludii(tic_tac_toe):
    assert "0 to 16 players, not 17" in error_of(tic_tac_toe.replace("(players 2)", "(players 17)")).message
    assert compiled(tic_tac_toe.replace("(players 2)", "(players 16)"))


def test_then_takes_effects_not_decisions(tic_tac_toe):
    bad = tic_tac_toe.replace("(to (sites Empty))", "(to (sites Empty)) (then (move Pass))")
    assert "gives decision" in error_of(bad).message
    assert compiled(tic_tac_toe.replace("(to (sites Empty))", "(to (sites Empty)) (then (moveAgain))"))


def test_syntax_errors_are_invalid_verdicts(tic_tac_toe):
    verdict = check_text(tic_tac_toe[:-3], name="t.lud")
    assert verdict.status == "invalid" and "never closed" in verdict.error and verdict.typed is None


# --- corrupted games -----------------------------------------------------------------------------


def test_corrupted_games_are_rejected(ludii_dir, ludii_library):
    games, _ = ludii_library
    evidence = Evidence.from_games(games.values())
    names = sorted(games)
    chosen = {n: games[n] for n in random.Random(7).sample(names, 50) if n != "board/race/escape/Tavli.lud"}
    made = corruptions(chosen, per_game=1, seed=11, evidence=evidence)
    assert {c.kind for c in made} == set(KINDS) and len(made) >= 200
    assert len({c.text for c in made}) == len(made)
    rejected = {kind: [0, 0] for kind in KINDS}
    for c in made:
        rejected[c.kind][0] += 1
        rejected[c.kind][1] += not check_text(c.text, ludii_dir, c.game).ok
    total = sum(r[1] for r in rejected.values()) / sum(r[0] for r in rejected.values())
    assert total >= 0.95, rejected
    for kind in ("rename", "wrong_type", "swap_nesting", "truncate"):
        assert rejected[kind][1] == rejected[kind][0], (kind, rejected[kind])


def test_corruptions_are_seeded(ludii_library):
    games, _ = ludii_library
    some = {n: games[n] for n in sorted(games)[:5]}
    ev = Evidence.from_games(games.values())
    assert corruptions(some, seed=3, evidence=ev) == corruptions(some, seed=3, evidence=ev)
    assert corruptions(some, seed=3, evidence=ev) != corruptions(some, seed=4, evidence=ev)
