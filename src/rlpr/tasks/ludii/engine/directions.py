"""Direction arguments: absolute directions, and relative ones (Forward, FL, Leftwards...) turned
into absolute compass directions from the facing of the piece on the site (its owner's direction,
north by default), among the compass directions the board supports for the relation (``of:``).
"""

from __future__ import annotations

from rlpr.tasks.ludii.engine.core import Compiler, Unsupported, const
from rlpr.tasks.ludii.typed import TypedArray, TypedCall, TypedConst

COMPASS_ANGLE = {
    "E": 0.0, "ENE": 22.5, "NE": 45.0, "NNE": 67.5, "N": 90.0, "NNW": 112.5, "NW": 135.0, "WNW": 157.5,
    "W": 180.0, "WSW": 202.5, "SW": 225.0, "SSW": 247.5, "S": 270.0, "SSE": 292.5, "SE": 315.0, "ESE": 337.5,
}  # fmt: skip

# relative direction -> turn in degrees (counter-clockwise) from the facing
_TURN = {
    "Forward": 0.0, "Backward": 180.0, "Leftward": 90.0, "Rightward": -90.0,
    "FL": 45.0, "FLL": 67.5, "FLLL": 90.0, "FR": -45.0, "FRR": -67.5, "FRRR": -90.0,
    "BL": 135.0, "BLL": 112.5, "BLLL": 90.0, "BR": -135.0, "BRR": -112.5, "BRRR": -90.0,
}  # fmt: skip


def _diff(a: float, b: float) -> float:
    d = (a - b) % 360.0
    return d - 360.0 if d > 180.0 else d


def relative(rel: str, facing: str, supported: list[str]) -> list[str]:
    """Absolute directions for a relative direction, given the facing and the supported directions."""
    f = COMPASS_ANGLE[facing]
    if rel in _TURN:
        target = f + _TURN[rel]
        for d in supported:
            if abs(_diff(COMPASS_ANGLE[d], target)) < 1e-6:
                return [d]
        return []
    out = []
    for d in supported:
        delta = _diff(COMPASS_ANGLE[d], f)
        if rel == "Forwards" and abs(delta) < 90 - 1e-6:
            out.append(d)
        elif rel == "Backwards" and abs(delta) > 90 + 1e-6:
            out.append(d)
        elif rel == "Leftwards" and 1e-6 < delta < 180 - 1e-6:
            out.append(d)
        elif rel == "Rightwards" and -180 + 1e-6 < delta < -1e-6:
            out.append(d)
    if rel not in ("Forwards", "Backwards", "Leftwards", "Rightwards"):
        raise Unsupported(f"RelativeDirection {rel}")
    return out


def direction_fn(c: Compiler, node, default: str = "Adjacent"):
    """A closure ``(ctx, site) -> [absolute directions]`` for a ``<direction>`` argument."""
    if node is None:
        return _fixed([default])
    if isinstance(node, TypedConst):
        if node.type == "AbsoluteDirection":
            return _fixed([node.value])
        if node.type == "RelativeDirection":
            return _relative_fn(c, [node.value], "Adjacent")
        raise Unsupported(f"direction {node.value}")
    if isinstance(node, TypedCall) and node.kind == "directions":
        a = node.args
        absd = a.get("AbsoluteDirection")
        if absd is None:
            absd = a.get("AbsoluteDirections")
        if absd is not None:
            return _fixed([i.value for i in absd.items] if isinstance(absd, TypedArray) else [absd.value])
        rel = a.get("RelativeDirection")
        if rel is None:
            rel = a.get("RelativeDirections")
        if const(a.get("bySite")):
            raise Unsupported("directions", "bySite:")
        rels = (
            ["Forward"]
            if rel is None
            else ([i.value for i in rel.items] if isinstance(rel, TypedArray) else [rel.value])
        )
        return _relative_fn(c, rels, const(a.get("of")) or "Adjacent")
    if isinstance(node, TypedCall) and node.kind == "difference" and node.returns == "direction":
        return _difference_fn(c, node)
    raise Unsupported(getattr(node, "kind", "?"), "direction")


def _fixed(v: list[str]):
    """The closure for directions that depend on nothing; ``fn.fixed`` is the list (for generators
    that precompute per-site neighbourhoods)."""

    def fn(ctx, site):
        return v

    fn.fixed = v  # type: ignore[attr-defined]
    return fn


def last_move_direction(c: Compiler, which: str, relation: str = "Adjacent"):
    """Closure ``ctx -> [direction]``: the direction of the last move (``SameDirection``) or back
    along it (``OppositeDirection``), found on the radials as Ludii does."""
    board = c.game.board
    supported = board.supported_directions(relation)

    def fn(ctx):
        last = ctx.s.last_move
        if (
            last is None
            or last.frm < 0
            or last.to < 0
            or last.frm >= board.n_board
            or last.to >= board.n_board
        ):
            return []
        a, b = (last.frm, last.to) if which == "SameDirection" else (last.to, last.frm)
        for d in supported:
            for r in board.radials(a, d):
                if b in r.steps[1:]:
                    return [d]
        return []

    return fn


def _difference_fn(c: Compiler, node):
    """``(difference Orthogonal OppositeDirection)``: the first directions without the second."""
    first, second = node.args.get("AbsoluteDirection"), node.args.get("RelativeDirection")
    board = c.game.board
    name = first.value
    base = (
        board.supported_directions(name)
        if name in ("Orthogonal", "Diagonal", "Adjacent", "All", "OffDiagonal")
        else [name]
    )
    if second.value not in ("SameDirection", "OppositeDirection"):
        raise Unsupported("difference", f"minus {second.value}")
    minus = last_move_direction(c, second.value)

    def fn(ctx, site):
        out = minus(ctx)
        return [d for d in base if d not in out]

    return fn


def _relative_fn(c: Compiler, rels: list[str], relation: str):
    if any(r in ("SameDirection", "OppositeDirection") for r in rels):
        if len(rels) != 1:
            raise Unsupported("directions", "SameDirection/OppositeDirection with others")
        last = last_move_direction(c, rels[0], relation)
        return lambda ctx, site: last(ctx)
    game = c.game
    supported = game.board.supported_directions(relation)
    cache: dict[str, tuple[str, ...]] = {}

    by_what: dict[int, tuple[str, ...]] = {}  # component -> its directions (a tuple, hashable)

    def fn(ctx, site):
        what = ctx.s.what[site] if 0 <= site < len(ctx.s.what) else 0
        if what == 0:
            return []
        v = by_what.get(what)
        if v is None:
            facing = game.components[what].facing or "N"
            v = cache.get(facing)
            if v is None:
                lst: list[str] = []
                for r in rels:
                    for d in relative(r, facing, supported):
                        if d not in lst:
                            lst.append(d)
                v = cache[facing] = tuple(lst)
            by_what[what] = v
        return v

    return fn
