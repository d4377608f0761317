"""The syntax tree of a Ludii description: atoms, ``(calls ...)`` and ``{arrays}``, with positions.

A node is immutable. Every node may carry a ``key`` (the ``key:`` of a named argument, kept in its
place in the argument list because Ludii matches arguments in order) and a ``site``: when the node
was written inside a define, ``pos`` is where it was written (possibly a ``def/`` file) and ``site``
is where that define was used in the game file.

``to_text`` prints a tree back to canonical text (single spaces, no comments); ``fim_splits`` cuts the
canonical text of a game around each parenthesised sub-expression, as the fill-in-the-middle task needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Union


@dataclass(frozen=True, slots=True)
class Pos:
    """A place in a source file: 1-based line and column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


#: Atom kinds after expansion; raw trees also hold "param" (#n), "tilde" (~) and "range" (..).
ATOM_KINDS = ("int", "float", "string", "name")


@dataclass(frozen=True, slots=True)
class Atom:
    """A terminal: ``kind`` is int, float, string or name; ``text`` is the token (strings unquoted)."""

    kind: str
    text: str
    pos: Pos
    key: str | None = None
    site: Pos | None = None

    @property
    def value(self) -> int | float | str:
        """The Python value: int, float, or the text."""
        if self.kind == "int":
            return int(self.text)
        if self.kind == "float":
            return float(self.text)
        return self.text


@dataclass(frozen=True, slots=True)
class Call:
    """``(head arg ...)``: a ludeme (or, before expansion, a define call whose head is ``"Name"``)."""

    head: str
    args: tuple[Node, ...]
    pos: Pos
    end: Pos | None = None
    key: str | None = None
    site: Pos | None = None

    @property
    def positional(self) -> tuple[Node, ...]:
        """Arguments without a ``key:``."""
        return tuple(a for a in self.args if a.key is None)

    @property
    def named(self) -> dict[str, Node]:
        """Arguments with a ``key:``, by key."""
        return {a.key: a for a in self.args if a.key is not None}


@dataclass(frozen=True, slots=True)
class Array:
    """``{item ...}``."""

    items: tuple[Node, ...]
    pos: Pos
    end: Pos | None = None
    key: str | None = None
    site: Pos | None = None


Node = Union[Atom, Call, Array]  # noqa: UP007 (a runtime alias)


def where(node: Node) -> str:
    """Where to point a reader at: the game-file site of a define-made node, else its position."""
    if node.site is not None and node.site != node.pos:
        return f"{node.site} (define text at {node.pos})"
    return str(node.pos)


def with_key(node: Node, key: str | None) -> Node:
    """``node`` with another ``key``."""
    return replace(node, key=key)


def children(node: Node) -> tuple[Node, ...]:
    """Direct sub-nodes of a call or array; () for an atom."""
    if isinstance(node, Call):
        return node.args
    if isinstance(node, Array):
        return node.items
    return ()


def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree, pre-order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


# --- printing ------------------------------------------------------------------------------------


def quote(text: str) -> str:
    """A string atom's text as a Ludii string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _atom_text(atom: Atom) -> str:
    return quote(atom.text) if atom.kind == "string" else atom.text


def to_text(node: Node) -> str:
    """Canonical one-line text: ``(head a b key:c)``, ``{a b}``, single spaces."""
    parts: list[str] = []
    _emit(node, parts, None, 0)
    return "".join(parts)


def _emit(node: Node, out: list[str], marks: list[list] | None, depth: int) -> None:
    mark = None
    if marks is not None and isinstance(node, Call):
        mark = [node, depth, len(out), 0]
        marks.append(mark)
    if node.key is not None:
        out.append(node.key + ":")
    if isinstance(node, Atom):
        out.append(_atom_text(node))
    elif isinstance(node, Call):
        out.append("(" + node.head)
        for arg in node.args:
            out.append(" ")
            _emit(arg, out, marks, depth + 1)
        out.append(")")
    else:
        out.append("{")
        for i, item in enumerate(node.items):
            if i:
                out.append(" ")
            _emit(item, out, marks, depth + 1)
        out.append("}")
    if mark is not None:
        mark[3] = len(out)


def to_pretty(node: Node, width: int = 100, indent: str = "    ") -> str:
    """Indented text: a call or array that fits in ``width`` stays on one line."""
    lines: list[str] = []
    _pretty(node, 0, width, indent, lines)
    return "\n".join(lines)


def _pretty(node: Node, depth: int, width: int, indent: str, lines: list[str]) -> None:
    pad = indent * depth
    flat = to_text(node)
    if isinstance(node, Atom) or len(pad) + len(flat) <= width:
        lines.append(pad + flat)
        return
    key = node.key + ":" if node.key is not None else ""
    if isinstance(node, Call):
        head_atoms = []
        rest = list(node.args)
        while rest and isinstance(rest[0], Atom) and rest[0].key is None:
            head_atoms.append(_atom_text(rest.pop(0)))
        lines.append(pad + key + "(" + " ".join([node.head, *head_atoms]))
        for arg in rest:
            _pretty(arg, depth + 1, width, indent, lines)
        lines.append(pad + ")")
    else:
        lines.append(pad + key + "{")
        for item in node.items:
            _pretty(item, depth + 1, width, indent, lines)
        lines.append(pad + "}")


# --- fill-in-the-middle --------------------------------------------------------------------------


def fim_splits(root: Node, min_depth: int = 1) -> Iterator[tuple[str, str, str, Call]]:
    """``(prefix, middle, suffix, node)`` of the canonical text, one per call at depth >= min_depth.

    Calls come in pre-order (root depth 0; an array counts as a level). ``prefix + middle + suffix ==
    to_text(root)``; ``middle`` is the call's text without its key (``key:`` stays in the prefix).
    """
    parts: list[str] = []
    marks: list[list] = []
    _emit(root, parts, marks, 0)
    offsets = [0]
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    text = "".join(parts)
    for node, depth, start_part, end_part in marks:
        if depth < min_depth:
            continue
        start = offsets[start_part] + (len(node.key) + 1 if node.key is not None else 0)
        end = offsets[end_part]
        yield text[:start], text[start:end], text[end:], node
