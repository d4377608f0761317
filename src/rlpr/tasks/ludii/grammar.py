"""Ludeme signatures as data: the types, the enums, and a parser for the signature notation.

Each signature is one line of ``signatures.py``, in the notation of Ludii's language reference::

    moves (move Step [<from>] [<direction>] <to> [stack:<Boolean>] [<then>])

``moves`` is what the ludeme gives; ``Step`` (a capitalised word right after the name) is its type
keyword; ``<t>`` is a required argument of type t, ``[...]`` an optional one, ``key:<t>`` a named one,
``{<t>}`` an array and ``{{<t>}}`` an array of arrays, ``(head A|B ...)`` one signature per keyword, ``<a|b>`` a union of types, and ``(x | y)`` /
``[x | y]`` exactly / at most one of several alternatives filling one slot (Ludii's ``@Or``). A
positional argument may carry a label for the typed tree: ``site=<int>``. Arguments are matched in
order, as Ludii does, skipping optional slots.

Types are Ludii's Java types under short names: function types (``int``, ``boolean``, ``region``,
``moves``...) accept literals and ludemes; the capitalised literal types (``Integer``, ``Boolean``,
``Float``) accept only literals; enums (``RoleType``...) accept their constants, whose first letter
is case-insensitive as in Ludii.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from dataclasses import dataclass, field

# --- types ---------------------------------------------------------------------------------------

#: type -> its direct supertypes (a ludeme returning a type fits wherever a supertype is expected).
TYPES: dict[str, tuple[str, ...]] = {
    # functions and literals
    "int": (),
    "Integer": (),
    "dim": (),
    "float": (),
    "Float": (),
    "boolean": (),
    "Boolean": (),
    "string": (),
    "region": (),
    "ints": (),
    "range": (),
    "graph": (),
    "poly": (),
    # moves: decisions are (move ...), everything else is a non-decision
    "moves": (),
    "decision": ("moves",),
    "nonDecision": ("moves",),
    "then": (),
    "from": (),
    "to": (),
    "between": (),
    "pieceRef": (),
    "playerRef": (),
    "direction": (),
    # game structure
    "game": (),
    "match": (),
    "players": (),
    "player": (),
    "mode": (),
    "equipment": (),
    "rules": (),
    "meta": (),
    "metaRule": (),
    "start": (),
    "startRule": (),
    "play": (),
    "end": (),
    "endRule": (),
    "result": (),
    "phase": (),
    "nextPhase": (),
    "games": (),
    "subgame": (),
    # equipment
    "item": (),
    "container": ("item",),
    "board": ("container",),
    "component": ("item",),
    "track": (),
    "pair": (),
    "hint": (),
    "path": (),
    "regionsItem": ("item",),
    "mapItem": ("item",),
    "score": (),
    "amount": (),
}

#: Enum types, their constants, and their supertypes.
ENUMS: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {}


def add_enum(name: str, constants: str, parents: tuple[str, ...] = ()) -> None:
    """Declare an enum type; ``constants`` is a space-separated list."""
    ENUMS[name] = (frozenset(constants.split()), parents)
    TYPES.setdefault(name, parents)


#: Names that Ludii reads as integers anywhere an int is expected.
INT_CONSTANTS = {"Off": -1, "End": -2, "Undefined": -1, "Infinity": 1000000000}

#: Literal types and which atom kinds they accept.
LITERALS = {
    "int": ("int",),
    "Integer": ("int",),
    "dim": ("int",),
    "float": ("int", "float"),
    "Float": ("int", "float"),
    "string": ("string",),
}
BOOLEAN_TYPES = ("boolean", "Boolean")


@functools.cache
def ancestors(name: str) -> frozenset[str]:
    """``name`` and every supertype of it."""
    seen = {name}
    stack = [name]
    while stack:
        for parent in TYPES.get(stack.pop(), ()):
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return frozenset(seen)


def fits(actual: str, expected: str) -> bool:
    """Whether a value of type ``actual`` may stand where ``expected`` is wanted."""
    return expected in ancestors(actual)


@functools.lru_cache(maxsize=4096)
def enum_types_of(name: str) -> tuple[str, ...]:
    """The enum types having ``name`` as a constant (first letter case-insensitive)."""
    canon = name[:1].upper() + name[1:]
    return tuple(t for t, (consts, _) in ENUMS.items() if canon in consts)


# --- signatures ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TypeRef:
    """A type with an array depth: ``<int>`` is (int, 0), ``{<int>}`` (int, 1)."""

    names: tuple[str, ...]  # a union
    dims: int = 0

    def __str__(self) -> str:
        inner = "<" + "|".join(self.names) + ">"
        return "{" * self.dims + inner + "}" * self.dims


@dataclass(frozen=True)
class Alt:
    """One way to fill a slot: an optional key and a type."""

    key: str | None
    type: TypeRef

    def __str__(self) -> str:
        return (f"{self.key}:" if self.key else "") + str(self.type)


@dataclass(frozen=True)
class Param:
    """A slot of a signature: its label, its alternatives, whether it may be left out."""

    name: str
    alts: tuple[Alt, ...]
    optional: bool

    def __str__(self) -> str:
        body = " | ".join(str(a) for a in self.alts)
        return f"[{body}]" if self.optional else (f"({body})" if len(self.alts) > 1 else body)


@dataclass(frozen=True)
class Signature:
    """One ludeme signature: ``(head Variant params...)`` giving ``returns``."""

    head: str
    variant: str | None
    returns: str
    params: tuple[Param, ...]
    line: int = 0

    @property
    def kind(self) -> str:
        """``head`` or ``head Variant``: how the ludeme is named in messages."""
        return f"{self.head} {self.variant}" if self.variant else self.head

    def __str__(self) -> str:
        parts = [self.head] + ([self.variant] if self.variant else []) + [str(p) for p in self.params]
        return f"{self.returns} (" + " ".join(parts) + ")"


class GrammarError(ValueError):
    """A malformed signature line."""


_TOKEN = re.compile(
    r"\s*(\{+|\}+|\[|\]|\(|\)|\||[A-Za-z_][A-Za-z0-9_]*=|[A-Za-z_][A-Za-z0-9_]*:|<[^>]+>|[^\s\[\](){}|<>]+)"
)


_HEAD = re.compile(r"\s*([^\s()\[\]{}]+)")


def _tokens(text: str) -> list[str]:
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = (_HEAD if len(out) == 2 else _TOKEN).match(text, pos)
        if m is None:
            raise GrammarError(f"cannot read signature at {text[pos:]!r}")
        tok = m.group(1)
        if tok[0] in "{}" and len(tok) > 1:
            out.extend(tok)
        else:
            out.append(tok)
        pos = m.end()
    return out


def _type(tokens: list[str], i: int) -> tuple[TypeRef, int]:
    dims = 0
    while tokens[i] == "{":
        dims += 1
        i += 1
    tok = tokens[i]
    if not (tok.startswith("<") and tok.endswith(">")):
        raise GrammarError(f"expected <type>, found {tok!r}")
    names = tuple(n.strip() for n in tok[1:-1].split("|"))
    for name in names:
        if name not in TYPES:
            raise GrammarError(f"unknown type {name!r}")
    i += 1
    for _ in range(dims):
        if tokens[i] != "}":
            raise GrammarError(f"expected '}}' after {tok}")
        i += 1
    return TypeRef(names, dims), i


def _alt(tokens: list[str], i: int) -> tuple[Alt, str | None, int]:
    key = label = None
    if tokens[i].endswith(":"):
        key = tokens[i][:-1]
        i += 1
    elif tokens[i].endswith("="):
        label = tokens[i][:-1]
        i += 1
    typ, i = _type(tokens, i)
    return Alt(key, typ), label, i


def parse_signature(line: str, number: int = 0) -> list[Signature]:
    """One DSL line -> its signatures (one per type keyword of ``(head A|B ...)``)."""
    tokens = _tokens(line)
    if len(tokens) < 3 or tokens[1] != "(" or tokens[-1] != ")":
        raise GrammarError(f"expected 'type (head ...)', got {line!r}")
    returns, head = tokens[0], tokens[2]
    if returns not in TYPES:
        raise GrammarError(f"unknown return type {returns!r} in {line!r}")
    i = 3
    variants: list[str] = []
    while i < len(tokens) - 1 and re.fullmatch(r"[A-Z][A-Za-z0-9_]*", tokens[i]):
        variants.append(tokens[i])
        i += 1
        if tokens[i] == "|" and re.fullmatch(r"[A-Z][A-Za-z0-9_]*", tokens[i + 1]):
            i += 1
    params: list[Param] = []
    counts: dict[str, int] = defaultdict(int)
    end = len(tokens) - 1
    while i < end:
        tok = tokens[i]
        if tok in ("[", "("):
            closer = "]" if tok == "[" else ")"
            i += 1
            alts, label = [], None
            while True:
                alt, lab, i = _alt(tokens, i)
                alts.append(alt)
                label = label or lab
                if tokens[i] == "|":
                    i += 1
                    continue
                if tokens[i] != closer:
                    raise GrammarError(f"expected {closer!r} in {line!r}")
                i += 1
                break
            optional = tok == "["
        else:
            alt, label, i = _alt(tokens, i)
            alts, optional = [alt], False
        name = label or _default_name(alts)
        counts[name] += 1
        if counts[name] > 1:
            name = f"{name}{counts[name]}"
        params.append(Param(name, tuple(alts), optional))
    return [Signature(head, v, returns, tuple(params), number) for v in (variants or [None])]


def _default_name(alts: list[Alt]) -> str:
    first = alts[0]
    return first.key if first.key else first.type.names[0] + ("s" if first.type.dims else "")


@dataclass
class Grammar:
    """All signatures, by head; ``cache`` is scratch space for the compiler's lookups."""

    by_head: dict[str, list[Signature]]
    cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._variants = {h: {s.variant for s in sigs if s.variant} for h, sigs in self.by_head.items()}

    def signatures(self, head: str) -> list[Signature]:
        return self.by_head.get(head, [])

    def variants(self, head: str) -> set[str]:
        return self._variants.get(head, set())

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_head.values())


def parse_grammar(text: str) -> Grammar:
    """Signatures from DSL text: one per line, ``#`` comments, a trailing ``\\`` continues a line."""
    by_head: dict[str, list[Signature]] = defaultdict(list)
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full, pending = pending + line, ""
        try:
            sigs = parse_signature(full, start)
        except GrammarError as exc:
            raise GrammarError(f"signatures line {start}: {exc}") from None
        for sig in sigs:
            by_head[sig.head].append(sig)
    return Grammar(dict(by_head))


@functools.lru_cache(maxsize=1)
def default_grammar() -> Grammar:
    """The grammar of ``signatures.py`` (parsed once)."""
    from rlpr.tasks.ludii import signatures

    signatures.declare_enums()
    return parse_grammar(signatures.SIGNATURES)
