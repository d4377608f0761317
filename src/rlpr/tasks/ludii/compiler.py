"""Check an expanded game against the ludeme grammar and build its typed tree.

``compile_game(tree)`` returns a ``TypedCall`` (each ludeme with its signature and its arguments by
parameter name) or raises ``LudiiCompileError`` naming the ludeme, the argument and file:line:col.
Like Ludii, arguments are matched to a signature's slots in order, skipping optional slots; a call
is tried against every signature of its name whose result fits the expected type. When none fits,
the reported error is the deepest failure found (the most specific one).

Two failure kinds are kept apart: *invalid* (not a Ludii game: the reader, expander or grammar
rejects it) and *unsupported* (valid, but the engine cannot play it yet). ``SUPPORTED_LUDEMES`` is
the engine's hook (while it is empty every valid game's support is reported as unknown, None).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from rlpr.tasks.ludii.expand import expand_file, expand_text
from rlpr.tasks.ludii.grammar import (
    BOOLEAN_TYPES,
    INT_CONSTANTS,
    LITERALS,
    Grammar,
    Param,
    Signature,
    TypeRef,
    default_grammar,
    enum_types_of,
    fits,
)
from rlpr.tasks.ludii.reader import LudiiSyntaxError
from rlpr.tasks.ludii.tree import Array, Atom, Call, Node, to_text, where
from rlpr.tasks.ludii.typed import Typed, TypedArray, TypedCall, TypedConst, typed_calls

#: Ludemes (``head`` or ``head Variant``) the playout engine (``rlpr.tasks.ludii.engine``) implements,
#: kept equal to ``engine.registered_kinds()`` by a test. A necessary condition only: the engine may
#: still report a game unsupported for an option of a supported ludeme (``build_game`` says which).
SUPPORTED_LUDEMES: frozenset[str] = frozenset(
    {
        "!=",
        "%",
        "*",
        "+",
        "-",
        "/",
        "<",
        "<=",
        "=",
        ">",
        ">=",
        "^",
        "abs",
        "add",
        "addScore",
        "all Passed",
        "and",
        "apply",
        "between",
        "board",
        "byScore",
        "can Move",
        "centrePoint",
        "circle",
        "column",
        "coord",
        "count",
        "count Columns",
        "count Moves",
        "count MovesThisTurn",
        "count Pieces",
        "count Pips",
        "count Players",
        "count Rows",
        "count Sites",
        "count Turns",
        "counter",
        "custodial",
        "dice",
        "difference",
        "directions",
        "div",
        "do",
        "end",
        "equals",
        "equipment",
        "exact",
        "expand",
        "forEach",
        "forEach Piece",
        "forEach Player",
        "forEach Site",
        "forEach Value",
        "from",
        "fromTo",
        "game",
        "ge",
        "graph",
        "gt",
        "hand",
        "handSite",
        "hex",
        "hop",
        "id",
        "if",
        "intersection",
        "is Active",
        "is Connected",
        "is Empty",
        "is Enemy",
        "is Even",
        "is Friend",
        "is Full",
        "is In",
        "is Line",
        "is Mover",
        "is Next",
        "is Occupied",
        "is Odd",
        "is Pending",
        "is Prev",
        "is Related",
        "is Threatened",
        "is Triggered",
        "is Visited",
        "last From",
        "last To",
        "le",
        "leap",
        "level",
        "lt",
        "mancalaBoard",
        "map",
        "mapEntry",
        "max",
        "max Moves",
        "merge",
        "meta",
        "min",
        "mod",
        "mode",
        "morris",
        "move",
        "move Add",
        "move Hop",
        "move Leap",
        "move Pass",
        "move Promote",
        "move Remove",
        "move Select",
        "move Slide",
        "move Step",
        "moveAgain",
        "mover",
        "mul",
        "next",
        "nextPhase",
        "no Moves",
        "no Pieces",
        "not",
        "notEqual",
        "or",
        "pair",
        "pass",
        "phase",
        "piece",
        "place",
        "play",
        "player",
        "players",
        "pow",
        "prev",
        "priority",
        "promote",
        "range",
        "rectangle",
        "regions",
        "remove",
        "result",
        "roll",
        "rotate",
        "row",
        "rules",
        "scale",
        "score",
        "select",
        "set Count",
        "set Counter",
        "set NextPlayer",
        "set Pending",
        "set Score",
        "set State",
        "set Value",
        "set Var",
        "shift",
        "site",
        "sites",
        "sites Around",
        "sites Between",
        "sites Board",
        "sites Bottom",
        "sites Centre",
        "sites Column",
        "sites ConcaveCorners",
        "sites ConvexCorners",
        "sites Corners",
        "sites Direction",
        "sites Empty",
        "sites Group",
        "sites Hand",
        "sites Inner",
        "sites LastFrom",
        "sites LastTo",
        "sites Left",
        "sites Major",
        "sites Minor",
        "sites Occupied",
        "sites Outer",
        "sites Pending",
        "sites Perimeter",
        "sites Phase",
        "sites Right",
        "sites Row",
        "sites Side",
        "sites ToClear",
        "sites Top",
        "sites Track",
        "slide",
        "sow",
        "square",
        "start",
        "state",
        "step",
        "sub",
        "swap",
        "then",
        "to",
        "track",
        "trackSite Move",
        "tri",
        "trigger",
        "union",
        "value",
        "value Player",
        "var",
        "wedge",
        "what",
        "who",
        "xor",
    }
)

ROOT = TypeRef(("game", "match"))

#: Ludii 1.0.8 (the reference build) does not compile the library's one match, Tavli: a match compiles
#: its sub-games by name, from other files, when it is created. We follow the reference by default.
MATCH_NOT_COMPILED = (
    "a (match ...) of sub-games does not compile in Ludii 1.0.8 (allow_match=True to check it)"
)


class LudiiCompileError(ValueError):
    """A description that is not a valid game: where, which ludeme, which argument, and why."""

    def __init__(self, message: str, pos: str, ludeme: str | None = None, argument: str | None = None):
        self.message, self.pos, self.ludeme, self.argument = message, pos, ludeme, argument
        super().__init__(f"{pos}: {message}")


# --- failures ------------------------------------------------------------------------------------


@dataclass(order=True)
class _Failure:
    """A failed match; ``message`` is built only when the failure is reported."""

    depth: int
    progress: int
    message: Callable[[], str] = field(compare=False)
    node: Node = field(compare=False)
    ludeme: str | None = field(compare=False, default=None)
    argument: str | None = field(compare=False, default=None)

    def error(self) -> LudiiCompileError:
        return LudiiCompileError(self.message(), where(self.node), self.ludeme, self.argument)


def _best(failures: list[_Failure]) -> _Failure:
    return max(failures)


def _describe(node: Node) -> str:
    text = to_text(node)
    return text if len(text) <= 40 else text[:37] + "..."


# --- checking ------------------------------------------------------------------------------------


class _Checker:
    def __init__(self, grammar: Grammar):
        self.grammar = grammar
        self.cache: dict[tuple[int, TypeRef], Typed | _Failure] = {}
        self.candidates: dict = grammar.cache.setdefault("candidates", {})

    def check(self, node: Node, expected: TypeRef, depth: int) -> Typed | _Failure:
        key = (id(node), expected)
        if key not in self.cache:
            self.cache[key] = self._check(node, expected, depth)
        return self.cache[key]

    def _check(self, node: Node, expected: TypeRef, depth: int) -> Typed | _Failure:
        if expected.dims:
            if not isinstance(node, Array):
                return _Failure(
                    depth - 1, 0, lambda: f"expected an array {expected}, found {_describe(node)}", node
                )
            inner = TypeRef(expected.names, expected.dims - 1)
            items: list[Typed] = []
            for item in node.items:
                got = self.check(item, inner, depth + 1)
                if isinstance(got, _Failure):
                    return got
                items.append(got)
            return TypedArray(expected, items, node)
        if isinstance(node, Array):
            return _Failure(
                depth - 1, 0, lambda: f"expected {expected}, found an array {_describe(node)}", node
            )
        if isinstance(node, Atom):
            return self._atom(node, expected, depth)
        return self._call(node, expected, depth)

    def _atom(self, atom: Atom, expected: TypeRef, depth: int) -> Typed | _Failure:
        for name in expected.names:
            got = _atom_as(atom, name)
            if got is not None:
                return got
        if atom.kind == "name" and not _known_name(atom.text):
            return _Failure(depth, 0, lambda: f"unknown name '{atom.text}' (expected {expected})", atom)
        what = {"int": "the number", "float": "the number", "string": "the string"}.get(atom.kind, "the name")
        return _Failure(
            depth - 1, 0, lambda: f"{what} {to_text(replace(atom, key=None))} is not {expected}", atom
        )

    def _call(self, call: Call, expected: TypeRef, depth: int) -> Typed | _Failure:
        head = call.head
        first = call.args[0] if call.args else None
        keyword = (
            first.text if isinstance(first, Atom) and first.kind == "name" and first.key is None else None
        )
        keyword = keyword[:1].upper() + keyword[1:] if keyword else None
        found = self._candidates(head, keyword, expected)
        if isinstance(found, _Failure):
            return replace(found, depth=found.depth + depth, node=call)
        failures = []
        for sig in found:
            args = call.args[1:] if sig.variant else call.args
            got = self._match(call, sig, args, depth)
            if not isinstance(got, _Failure):
                return got
            failures.append(got)
        best = _best(failures)
        if len(found) > 1 and best.depth <= depth:  # no form gets inside an argument: list the forms
            forms = "; ".join(str(s).split(" ", 1)[1] for s in found[:4])
            return _Failure(
                depth, best.progress, lambda: f"({head} ...) matches none of its forms: {forms}", call, head
            )
        return best

    def _candidates(self, head: str, keyword: str | None, expected: TypeRef) -> list[Signature] | _Failure:
        """Signatures of ``head`` that ``keyword`` (the first argument, if a name) and ``expected`` allow;
        a failure (at relative depth) when there are none. Cached: it depends on nothing else."""
        key = (head, keyword, expected)
        if key in self.candidates:
            return self.candidates[key]
        sigs = self.grammar.signatures(head)
        variants = self.grammar.variants(head)
        result: list[Signature] | _Failure
        if head[:1].isupper():
            result = _Failure(0, 0, lambda: f"ludeme names are lowercase: '({head}'", None, head)
        elif not sigs:
            result = _Failure(0, 0, lambda: f"unknown ludeme '({head}'", None, head)
        else:
            # a type keyword selects its signatures first; plain ones stay possible (it may be an enum value)
            candidates = [s for s in sigs if s.variant is not None and s.variant == keyword]
            candidates += [s for s in sigs if s.variant is None]
            fitting = [s for s in candidates if any(fits(s.returns, n) for n in expected.names)]
            if not candidates:
                shown = f"'{keyword}'" if keyword else "no type keyword"
                result = _Failure(
                    0, 0, lambda: f"({head} ...) needs one of {sorted(variants)}, found {shown}", None, head
                )
            elif not fitting:
                gives = "/".join(sorted({s.returns for s in candidates}))
                result = _Failure(
                    -1, 0, lambda: f"({head} ...) gives {gives}, but {expected} is expected here", None, head
                )
            else:
                result = fitting
        self.candidates[key] = result
        return result

    def _match(self, call: Call, sig: Signature, args: tuple[Node, ...], depth: int) -> TypedCall | _Failure:
        params = sig.params
        n, m = len(args), len(params)
        offset = 1 if sig.variant else 0
        slot: dict[tuple[int, int], Typed | _Failure] = {}

        def fit(i: int, j: int) -> Typed | _Failure:
            if (i, j) not in slot:
                slot[(i, j)] = self._fill(args[i], params[j], sig, depth)
            return slot[(i, j)]

        memo: dict[tuple[int, int], bool] = {}
        choice: dict[tuple[int, int], bool] = {}
        reached: list[tuple[int, int]] = []

        def solve(i: int, j: int) -> bool:
            if (i, j) in memo:
                return memo[(i, j)]
            reached.append((i, j))
            ok = False
            if i == n:
                ok = all(p.optional for p in params[j:])
            elif j < m:
                if not isinstance(fit(i, j), _Failure) and solve(i + 1, j + 1):
                    ok, choice[(i, j)] = True, True
                elif params[j].optional and solve(i, j + 1):
                    ok, choice[(i, j)] = True, False
            memo[(i, j)] = ok
            return ok

        if solve(0, 0):
            values: dict[str, Typed | None] = {p.name: None for p in params}
            i = j = 0
            while i < n:
                if choice[(i, j)]:
                    values[params[j].name] = fit(i, j)  # type: ignore[assignment]
                    i += 1
                j += 1
            return TypedCall(sig, values, call)
        return self._diagnose(call, sig, args, reached, slot, offset, depth)

    def _diagnose(self, call, sig, args, reached, slot, offset, depth) -> _Failure:
        """Explain why no assignment of ``args`` to ``sig`` works, at the furthest argument reached."""
        params = sig.params
        furthest = max(i for i, _ in reached)
        kind = sig.kind
        if furthest == len(args):
            js = [j for i, j in reached if i == furthest]
            missing = [params[j] for j in range(min(js), len(params)) if not params[j].optional]
            label = missing[0] if missing else params[-1]
            return _Failure(
                depth,
                furthest + offset,
                lambda: f"({kind} ...) is missing its argument {label.name} {label}",
                call,
                kind,
                label.name,
            )
        arg = args[furthest]
        tried = [slot[(furthest, j)] for i, j in reached if i == furthest and (furthest, j) in slot]
        failed = [f for f in tried if isinstance(f, _Failure)]
        inside = [f for f in failed if f.depth > depth]
        if inside:  # the argument itself is broken somewhere inside
            return _best(inside)
        if len(failed) == 1 and failed[0].depth == depth:  # one slot, and the argument does not fit it
            return failed[0]
        label = arg.key + ":" if arg.key else ""
        js = sorted({j for i, j in reached if i == furthest and j < len(params)})
        if not js:
            return _Failure(
                depth,
                furthest + offset,
                lambda: (
                    f"({kind} ...) has no slot left for argument {furthest + offset + 1} {label}{_describe(arg)}"
                ),
                arg,
                kind,
                label.rstrip(":") or None,
            )
        expected = " or ".join(str(params[j]) for j in js[:4])
        required = [j for j in js if not params[j].optional]
        return _Failure(
            depth,
            furthest + offset,
            lambda: f"({kind} ...) argument {furthest + offset + 1} {_describe(arg)} does not fit {expected}",
            arg,
            kind,
            params[(required or js)[0]].name,
        )

    def _fill(self, arg: Node, param: Param, sig: Signature, depth: int) -> Typed | _Failure:
        failures = []
        for alt in param.alts:
            if alt.key != arg.key:
                continue
            got = self.check(arg, alt.type, depth + 1)
            if not isinstance(got, _Failure):
                return got
            failures.append(got)
        if not failures:
            return _Failure(
                depth - 1,
                0,
                lambda: f"({sig.kind} ...) has no argument named '{arg.key}' here",
                arg,
                sig.kind,
                arg.key,
            )
        return _best(failures)


def _known_name(text: str) -> bool:
    return text in INT_CONSTANTS or text in ("true", "false") or bool(enum_types_of(text))


def _atom_as(atom: Atom, name: str) -> TypedConst | None:
    kinds = LITERALS.get(name)
    if kinds and atom.kind in kinds:
        return TypedConst(name, atom.value, atom)
    if atom.kind != "name":
        return None
    text = atom.text
    if name in BOOLEAN_TYPES and text.lower() in ("true", "false"):
        return TypedConst(name, text.lower() == "true", atom)
    if name in ("int", "Integer", "dim") and text in INT_CONSTANTS:
        return TypedConst(name, INT_CONSTANTS[text], atom)
    for enum in enum_types_of(text):
        if fits(enum, name):
            return TypedConst(enum, text[:1].upper() + text[1:], atom)
    return None


# --- entry points --------------------------------------------------------------------------------


def compile_game(tree: Call, grammar: Grammar | None = None, allow_match: bool = False) -> TypedCall:
    """The typed tree of an expanded ``(game ...)``; raises LudiiCompileError.

    A ``(match ...)`` is rejected (see ``MATCH_NOT_COMPILED``) unless ``allow_match``.
    """
    if tree.head == "match" and not allow_match:
        raise LudiiCompileError(MATCH_NOT_COMPILED, where(tree), "match")
    got = _Checker(grammar or default_grammar()).check(tree, ROOT, 0)
    if isinstance(got, _Failure):
        raise got.error()
    assert isinstance(got, TypedCall)
    _check_values(got)
    return got


MAX_PLAYERS = 16  # Ludii's Players throws LimitPlayerException above this


def _check_values(root: TypedCall) -> None:
    """Constraints a constructor enforces on values rather than types (only those we know of)."""
    for call in typed_calls(root):
        if call.kind != "players":
            continue
        arg = next(iter(call.present().values()), None)
        count = (
            arg.value if isinstance(arg, TypedConst) else len(arg.items) if isinstance(arg, TypedArray) else 0
        )
        if not 0 <= int(count) <= MAX_PLAYERS:
            raise LudiiCompileError(
                f"(players ...) must give 0 to {MAX_PLAYERS} players, not {count}",
                where(call.node),
                "players",
                next(iter(call.present()), None),
            )


@dataclass
class Verdict:
    """What the compiler says of a description: ``status`` is "valid" or "invalid"; ``supported`` is
    None (unknown) until the engine declares what it supports."""

    status: str
    error: str | None = None
    typed: TypedCall | None = None
    supported: bool | None = None
    missing: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "valid"


def support(
    typed: TypedCall, supported: frozenset[str] = SUPPORTED_LUDEMES
) -> tuple[bool | None, tuple[str, ...]]:
    """(supported?, ludemes the engine lacks); (None, ()) while the engine declares nothing."""
    if not supported:
        return None, ()
    missing = sorted({c.kind for c in typed_calls(typed)} - supported)
    return not missing, tuple(missing)


def _verdict(make_tree, grammar: Grammar | None, allow_match: bool = False) -> Verdict:
    try:
        typed = compile_game(make_tree(), grammar, allow_match)
    except (LudiiSyntaxError, LudiiCompileError) as exc:
        return Verdict("invalid", str(exc))
    ok, missing = support(typed)
    return Verdict("valid", None, typed, ok, missing)


def check_file(
    path: Path | str,
    data_dir: Path | str | None = None,
    name: str | None = None,
    grammar: Grammar | None = None,
    allow_match: bool = False,
) -> Verdict:
    """Read, expand and compile a .lud file."""
    return _verdict(lambda: expand_file(path, data_dir, name), grammar, allow_match)


def check_text(
    text: str,
    data_dir: Path | str | None = None,
    name: str = "<text>",
    grammar: Grammar | None = None,
    allow_match: bool = False,
) -> Verdict:
    """Read, expand and compile a description given as text."""
    return _verdict(lambda: expand_text(text, data_dir, name), grammar, allow_match)


__all__ = [
    "LudiiCompileError",
    "SUPPORTED_LUDEMES",
    "TypedArray",
    "TypedCall",
    "TypedConst",
    "Verdict",
    "check_file",
    "check_text",
    "compile_game",
    "support",
    "typed_calls",
]
