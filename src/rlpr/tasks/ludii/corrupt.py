"""Seeded corruptions of valid games, to measure how many invalid games the compiler rejects.

Five kinds: ``rename`` (a ludeme name gets a typo), ``wrong_type`` (an argument replaced by a value of
another type), ``missing_arg`` (a required argument deleted), ``swap_nesting`` (a ludeme and the
ludeme nested in it trade places) and ``truncate`` (the text cut off).

A corruption must not happen to be a valid game. Whether it is cannot be asked of Ludii here, and
asking our own grammar would be circular, so each kind is built from evidence in the library alone
(``Evidence``, gathered from all valid games) so that the result is invalid by construction:

- rename: the new name is no ludeme name used anywhere in the library;
- wrong_type: the new value's kind (number, string, boolean, name, array, or ``(head ...)``) never
  shares an argument slot, anywhere in the library, with any kind seen in the slot it goes to;
- missing_arg: the call has the fewest positional arguments any library use of that ludeme has (and
  one is deleted), or a named argument present in every library use of it is deleted;
- for wrong_type and missing_arg, a ludeme counts as evidence only with at least ``MIN_USES`` uses.

The library cannot tell an optional argument that every game happens to give from a required one, so
some missing_arg corruptions are still valid games; the coverage report lists the accepted ones.
- swap_nesting: the two ludemes never appear in a common slot anywhere in the library (so they are of
  unrelated types) and differ;
- truncate: the canonical text is cut strictly inside, so brackets are unbalanced.

A slot is (parent ludeme with its type keyword, argument key or positional index).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from rlpr.tasks.ludii.tree import Array, Atom, Call, Node, Pos, to_text, walk

KINDS = ("rename", "wrong_type", "missing_arg", "swap_nesting", "truncate")
MIN_USES = 10  # evidence about a ludeme counts only when the library uses it at least this often


@dataclass(frozen=True)
class Corruption:
    """A corrupted game: where it came from, how it was corrupted, and its text."""

    game: str
    kind: str
    text: str
    detail: str


def ludeme_kind(call: Call) -> str:
    """``head`` or ``head Keyword`` when the first argument is a capitalised name (grammar-free)."""
    first = call.args[0] if call.args else None
    if isinstance(first, Atom) and first.kind == "name" and first.key is None and first.text[:1].isupper():
        return f"{call.head} {first.text}"
    return call.head


def value_kind(node: Node) -> str:
    """The coarse kind of an argument: number, string, boolean, name, array or call:head."""
    if isinstance(node, Array):
        return "array"
    if isinstance(node, Call):
        return "call:" + node.head
    if node.kind in ("int", "float"):
        return "number"
    if node.kind == "name" and node.text.lower() in ("true", "false"):
        return "boolean"
    return node.kind


def _slots(call: Call) -> list[tuple[str, Node]]:
    """(slot id, argument) of a call: its key, or its index among positional arguments."""
    kind = ludeme_kind(call)
    skip = 1 if " " in kind else 0
    out, index = [], 0
    for arg in call.args[skip:]:
        if arg.key is not None:
            out.append((arg.key + ":", arg))
        else:
            out.append((str(index), arg))
            index += 1
    return out


@dataclass
class Evidence:
    """What valid games show: ludeme names, which kinds fill which slots, argument counts."""

    heads: set[str] = field(default_factory=set)
    uses: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    slot_kinds: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    kind_slots: dict[str, set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))
    min_positional: dict[str, int] = field(default_factory=dict)
    keys_always: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def from_games(cls, games: Iterable[Call]) -> Evidence:
        ev = cls()
        for game in games:
            for node in walk(game):
                if isinstance(node, Call):
                    ev._add_call(node)
                elif isinstance(node, Array):
                    for item in node.items:
                        ev._add_slot(("{}", "item"), item)
        return ev

    def _add_call(self, call: Call) -> None:
        self.heads.add(call.head)
        kind = ludeme_kind(call)
        self.uses[kind] += 1
        self.uses["call:" + call.head] += 1
        slots = _slots(call)
        for slot, arg in slots:
            self._add_slot((kind, slot), arg)
        positional = sum(1 for s, _ in slots if not s.endswith(":"))
        self.min_positional[kind] = min(self.min_positional.get(kind, positional), positional)
        keys = {s for s, _ in slots if s.endswith(":")}
        self.keys_always[kind] = self.keys_always.get(kind, keys) & keys

    def _add_slot(self, slot: tuple[str, str], arg: Node) -> None:
        k = value_kind(arg)
        self.slot_kinds[slot].add(k)
        self.kind_slots[k].add(slot)

    def compatible(self, a: str, b: str) -> bool:
        """Whether kinds ``a`` and ``b`` ever fill a common slot (or are the same)."""
        return a == b or bool(self.kind_slots.get(a, set()) & self.kind_slots.get(b, set()))

    def foreign(self, kind: str, slot: tuple[str, str]) -> bool:
        """Whether ``kind`` shares no slot with anything seen in ``slot`` (so it is surely wrong there)."""
        seen = self.slot_kinds.get(slot, set())
        return bool(seen) and not any(self.compatible(kind, s) for s in seen)


# --- tree surgery --------------------------------------------------------------------------------


def _replace_at(root: Node, path: tuple[int, ...], new: Node | None) -> Node:
    """``root`` with the node at ``path`` (child indices) replaced by ``new`` (None deletes it)."""
    if not path:
        assert new is not None
        return new
    kids = list(root.args if isinstance(root, Call) else root.items)  # type: ignore[union-attr]
    head, rest = path[0], path[1:]
    if rest:
        kids[head] = _replace_at(kids[head], rest, new)
    elif new is None:
        del kids[head]
    else:
        kids[head] = replace(new, key=kids[head].key) if new.key is None else new
    return replace(root, args=tuple(kids)) if isinstance(root, Call) else replace(root, items=tuple(kids))


def _paths(root: Node) -> list[tuple[tuple[int, ...], Node, Node | None]]:
    """(path, node, parent) for every node below the root, pre-order."""
    out = []
    stack: list[tuple[tuple[int, ...], Node, Node | None]] = [((), root, None)]
    while stack:
        path, node, parent = stack.pop()
        if path:
            out.append((path, node, parent))
        kids = node.args if isinstance(node, Call) else node.items if isinstance(node, Array) else ()
        for i in reversed(range(len(kids))):
            stack.append(((*path, i), kids[i], node))
    return out


def _slot_of(parent: Node, index: int) -> tuple[str, str]:
    if isinstance(parent, Array):
        return ("{}", "item")
    assert isinstance(parent, Call)
    arg = parent.args[index]
    for slot, a in _slots(parent):
        if a is arg:
            return (ludeme_kind(parent), slot)
    return (ludeme_kind(parent), "keyword")


_POS = Pos("<corrupt>", 1, 1)
_LITERALS = [
    Atom("int", "7", _POS),
    Atom("string", "Wrong", _POS),
    Atom("name", "true", _POS),
    Atom("name", "Mover", _POS),
    Atom("name", "Orthogonal", _POS),
]


def _typo(head: str, rng: random.Random, heads: set[str]) -> str | None:
    letters = "abcdefghijklmnopqrstuvwxyz"
    for _ in range(20):
        op = rng.randrange(3)
        i = rng.randrange(len(head))
        if op == 0:
            new = head[:i] + rng.choice(letters) + head[i:]
        elif op == 1 and len(head) > 2:
            new = head[:i] + head[i + 1 :]
        else:
            new = head[:i] + rng.choice(letters) + head[i + 1 :]
        if new and new[0].islower() and new not in heads:
            return new
    return None


def corrupt(game: Call, kind: str, rng: random.Random, ev: Evidence) -> tuple[Node | str, str] | None:
    """One corruption of ``kind`` of ``game``: (new tree or, for truncate, text; a description)."""
    nodes = _paths(game)
    if kind == "truncate":
        text = to_text(game)
        cut = rng.randrange(max(2, len(text) // 20), len(text) - 1)
        return text[:cut], f"cut at {cut}/{len(text)}"
    calls = [(p, n, par) for p, n, par in nodes if isinstance(n, Call)]
    rng.shuffle(calls)
    if kind == "rename":
        for path, node, _ in calls:
            new = _typo(node.head, rng, ev.heads)
            if new:
                return _replace_at(game, path, replace(node, head=new)), f"({node.head} -> ({new}"
        return None
    if kind == "missing_arg":
        for path, node, _ in calls:
            lk = ludeme_kind(node)
            slots = _slots(node)
            positional = [a for s, a in slots if not s.endswith(":")]
            always = ev.keys_always.get(lk, set())
            if ev.uses.get(lk, 0) < MIN_USES:
                continue
            choices = [a for s, a in slots if s in always]
            if positional and len(positional) == ev.min_positional.get(lk, -1):
                choices += positional
            if choices:
                victim = rng.choice(choices)
                i = next(k for k, a in enumerate(node.args) if a is victim)
                return _replace_at(game, (*path, i), None), f"({lk} ...) without {to_text(victim)[:40]}"
        return None
    if kind == "wrong_type":
        pool = (
            [n for _, n, _ in calls if ev.uses.get("call:" + n.head, 0) >= MIN_USES][:40]
            + _LITERALS
            + [Array((Atom("int", "1", _POS),), _POS)]
        )
        for path, node, parent in _shuffled(nodes, rng):
            if parent is None:
                continue
            slot = _slot_of(parent, path[-1])
            if slot[1] == "keyword":
                continue
            for cand in rng.sample(pool, len(pool)):
                if ev.foreign(value_kind(cand), slot):
                    new = replace(cand, key=node.key)
                    return _replace_at(
                        game, path, new
                    ), f"{slot}: {to_text(node)[:30]} -> {to_text(new)[:30]}"
        return None
    if kind == "swap_nesting":
        for path, node, _ in calls:
            for i, child in enumerate(node.args):
                if not isinstance(child, Call) or child.key is not None or child.head == node.head:
                    continue
                a, b = "call:" + node.head, "call:" + child.head
                if ev.compatible(a, b):
                    continue
                inner = replace(child, head=node.head)
                outer_args = list(node.args)
                outer_args[i] = inner
                outer = replace(node, head=child.head, args=tuple(outer_args))
                return _replace_at(game, path, outer), f"({node.head} ({child.head} ...)) swapped"
        return None
    raise ValueError(f"unknown corruption kind {kind!r}")


def _shuffled(nodes: list, rng: random.Random) -> list:
    out = list(nodes)
    rng.shuffle(out)
    return out


def corruptions(
    games: dict[str, Call],
    per_game: int = 1,
    seed: int = 0,
    kinds: tuple[str, ...] = KINDS,
    evidence: Evidence | None = None,
) -> list[Corruption]:
    """``per_game`` corruptions of each kind for each game (fewer where a kind finds no site)."""
    ev = evidence or Evidence.from_games(games.values())
    out = []
    for name in sorted(games):
        for kind in kinds:
            rng = random.Random(f"{seed}:{name}:{kind}")
            for _ in range(per_game):
                made = corrupt(games[name], kind, rng, ev)
                if made is None:
                    continue
                tree, detail = made
                text = tree if isinstance(tree, str) else to_text(tree)
                out.append(Corruption(name, kind, text, detail))
    return out
