"""Expand defines and ranges: a read game file becomes the tree Ludii compiles.

A define is used as ``("Name" arg ...)`` or as a bare ``"Name"``; its body has ``#1``, ``#2`` ...
replaced by the arguments (a missing argument, or ``~``, drops the parameter, and a ``key:#n`` loses
its key with it). In-file defines are looked up first, then the shared ones in ``def/``; the result
is expanded again, so defines may use defines. As in Ludii, the string right after ``game``/``match``
is never taken for a define. Then ranges: ``3..6`` becomes ``3 4 5 6`` (``6..3`` counts down) and
``"A1".."B2"`` becomes ``"A1" "A2" "B1" "B2"``.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

from rlpr.tasks.ludii.paths import require_data_dir
from rlpr.tasks.ludii.reader import Define, LudiiSyntaxError, SourceFile, read_file, read_text
from rlpr.tasks.ludii.tree import Atom, Call, Node, Pos

MAX_DEPTH = 60  # nested define expansions before we call it recursive
MAX_RANGE = 1000
_PROTECTED = ("game", "match", "instance")


@functools.lru_cache(maxsize=8)
def library_defines(data_dir: str) -> dict[str, Define]:
    """Every define of the ``def/`` folder under ``data_dir`` (read once per directory)."""
    root = Path(data_dir) / "def"
    defines: dict[str, Define] = {}
    for path in sorted(root.rglob("*.def")):
        source = read_file(path, f"def/{path.relative_to(root).as_posix()}")
        for name, define in source.defines.items():
            defines.setdefault(name, define)
    return defines


class _Expander:
    def __init__(self, local: dict[str, Define], shared: dict[str, Define]):
        self.local = local
        self.shared = shared

    def lookup(self, name: str) -> Define | None:
        return self.local.get(name) or self.shared.get(name)

    def nodes(self, node: Node, depth: int, protect: bool = False) -> list[Node]:
        """``node`` expanded: zero, one or several nodes (a define body may hold several)."""
        if isinstance(node, Atom):
            if node.kind == "string" and not protect:
                define = self.lookup(node.text)
                if define is not None:
                    return self.use(define, (), node, depth)
            if node.kind == "param":
                raise LudiiSyntaxError(f"parameter {node.text} used outside a define", node.pos)
            if node.kind == "tilde":
                raise LudiiSyntaxError("'~' is only a define argument placeholder", node.pos)
            return [node]
        if isinstance(node, Call):
            if node.head.startswith("#"):
                raise LudiiSyntaxError(f"parameter {node.head} used outside a define", node.pos)
            if node.head.startswith('"'):
                name = node.head[1:-1]
                define = self.lookup(name)
                if define is None:
                    raise LudiiSyntaxError(f'unknown define "{name}"', node.pos)
                return self.use(define, node.args, node, depth)
            args = self.sequence(node.args, depth, node.head in _PROTECTED)
            return [replace(node, args=tuple(args))]
        return [replace(node, items=tuple(self.sequence(node.items, depth)))]

    def sequence(self, items: tuple[Node, ...], depth: int, protect_first: bool = False) -> list[Node]:
        out: list[Node] = []
        for i, item in enumerate(items):
            out.extend(self.nodes(item, depth, protect_first and i == 0))
        return expand_ranges(out)

    def use(self, define: Define, args: tuple[Node, ...], call: Node, depth: int) -> list[Node]:
        if depth >= MAX_DEPTH:
            raise LudiiSyntaxError(f'define "{define.name}" expands too deeply (recursive?)', call.pos)
        site = call.site or call.pos
        body = [n for b in define.body for n in _substitute(b, args, site)]
        out = [n for b in body for n in self.nodes(b, depth + 1)]
        if call.key is not None:
            if len(out) != 1:
                raise LudiiSyntaxError(
                    f'define "{define.name}" used as {call.key}: must give one expression, gives {len(out)}',
                    call.pos,
                )
            if out[0].key not in (None, call.key):
                raise LudiiSyntaxError(f"two names '{call.key}:{out[0].key}:' for one argument", call.pos)
            out = [replace(out[0], key=call.key)]
        return out


def _substitute(node: Node, args: tuple[Node, ...], site: Pos) -> list[Node]:
    """A define body node with its parameters replaced by ``args``; body nodes get ``site``."""
    if isinstance(node, Atom):
        if node.kind != "param":
            return [replace(node, site=site)]
        n = int(node.text[1:])
        if n > len(args) or (isinstance(args[n - 1], Atom) and args[n - 1].kind == "tilde"):
            return []
        arg = args[n - 1]
        if node.key is None:
            return [arg]
        if arg.key is not None and arg.key != node.key:
            raise LudiiSyntaxError(f"two names '{node.key}:{arg.key}:' for one argument", arg.pos)
        return [replace(arg, key=node.key)]
    if isinstance(node, Call):
        head = node.head
        if head.startswith("#"):
            n = int(head[1:])
            arg = args[n - 1] if n <= len(args) else None
            if not isinstance(arg, Atom) or arg.kind not in ("name", "string") or arg.key is not None:
                raise LudiiSyntaxError(
                    f"parameter {head} names a ludeme but its argument is not a name", node.pos
                )
            head = arg.text if arg.kind == "name" else f'"{arg.text}"'
        new_args = tuple(x for a in node.args for x in _substitute(a, args, site))
        return [replace(node, head=head, args=new_args, site=site)]
    new_items = tuple(x for a in node.items for x in _substitute(a, args, site))
    return [replace(node, items=new_items, site=site)]


def _coordinate(text: str) -> tuple[int, int] | None:
    if len(text) >= 2 and text[0].isalpha() and text[1:].isdigit():
        return ord(text[0].upper()) - ord("A"), int(text[1:])
    return None


def expand_ranges(items: list[Node]) -> list[Node]:
    """``a .. b`` in an argument list becomes the numbers (or board coordinates) from a to b."""
    if not any(isinstance(n, Atom) and n.kind == "range" for n in items):
        return items
    out: list[Node] = []
    i = 0
    while i < len(items):
        node = items[i]
        if not (isinstance(node, Atom) and node.kind == "range"):
            out.append(node)
            i += 1
            continue
        left = out.pop() if out else None
        right = items[i + 1] if i + 1 < len(items) else None
        if not (isinstance(left, Atom) and isinstance(right, Atom)) or left.kind != right.kind:
            raise LudiiSyntaxError("a range '..' needs two numbers or two coordinates", node.pos)
        if left.kind == "int":
            m, n = int(left.text), int(right.text)
            if abs(n - m) > MAX_RANGE:
                raise LudiiSyntaxError(f"range longer than {MAX_RANGE}", node.pos)
            step = 1 if n >= m else -1
            values = [m, *range(m + step, n, step), n] if m != n else [m, n]
            out.extend(
                replace(left, text=str(v), key=left.key if k == 0 else None) for k, v in enumerate(values)
            )
        elif left.kind == "string" and _coordinate(left.text) and _coordinate(right.text):
            (c0, r0), (c1, r1) = _coordinate(left.text), _coordinate(right.text)
            texts = [f"{chr(ord('A') + c)}{r}" for c in range(c0, c1 + 1) for r in range(r0, r1 + 1)]
            out.extend(replace(left, text=t, key=left.key if k == 0 else None) for k, t in enumerate(texts))
        else:
            raise LudiiSyntaxError("a range '..' needs two numbers or two coordinates", node.pos)
        i += 2
    return out


def expand_source(source: SourceFile, data_dir: Path | str | None = None) -> Call:
    """The define- and range-expanded ``(game ...)`` or ``(match ...)`` of a read file."""
    if source.game is None:
        raise LudiiSyntaxError("no (game ...) or (match ...) in the file", source.path)
    try:
        shared = library_defines(str(require_data_dir(data_dir)))
    except FileNotFoundError:
        shared = {}
    nodes = _Expander(source.defines, shared).nodes(source.game, 0)
    if len(nodes) != 1 or not isinstance(nodes[0], Call):
        raise LudiiSyntaxError("the game expands to something other than one call", source.game.pos)
    return nodes[0]


def expand_file(path: Path | str, data_dir: Path | str | None = None, name: str | None = None) -> Call:
    """Read and expand a game file: options applied, rulesets/metadata dropped, defines expanded."""
    return expand_source(read_file(path, name), data_dir)


def expand_text(text: str, data_dir: Path | str | None = None, name: str = "<text>") -> Call:
    """Read and expand a description given as text (e.g. a reassembled fill-in-the-middle game)."""
    return expand_source(read_text(text, name), data_dir)
