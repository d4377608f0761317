"""Tracks: named sequences of board sites that sowing and race moves follow (Ludii ``Track``).

A track is given as site indices (``{6 12..7 End}``) or as a string of a start site and compass
steps (``"1,E,N,W"``: from site 1 as far as possible east, then north, then west; ``"N1"`` is one
step north). Each element knows its previous and next site and their indices on the track; a looped
track joins its ends, a directed one has no previous sites in its middle. Repeated consecutive sites
are one element with a bump count, as in Ludii.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rlpr.tasks.ludii.engine.core import Unsupported, const
from rlpr.tasks.ludii.typed import TypedArray, TypedCall, TypedConst

END = -2  # Ludii Constants.END: a track leaving the board


@dataclass
class Track:
    """One track; ``site[i]``, ``prev[i]``/``next[i]`` (sites, -1 when none) and their indices."""

    name: str
    owner: int
    looped: bool
    directed: bool
    site: list[int] = field(default_factory=list)
    prev: list[int] = field(default_factory=list)
    prev_index: list[int] = field(default_factory=list)
    next: list[int] = field(default_factory=list)
    next_index: list[int] = field(default_factory=list)
    bump: list[int] = field(default_factory=list)
    internal_loop: bool = False
    _first: dict[int, int] | None = field(default=None, init=False, repr=False, compare=False)

    def index_of(self, site: int) -> int:
        """The first index of ``site`` on the track (``len`` when absent, as Ludii's search loop)."""
        first = self._first
        if first is None:  # built once the track is complete (tracks do not change in play)
            first = {}
            for i, s in enumerate(self.site):
                first.setdefault(s, i)
            self._first = first
        return first.get(site, len(self.site))

    def __len__(self) -> int:
        return len(self.site)


def _is_number(text: str) -> bool:
    return all("0" <= ch <= "9" for ch in text)


def _sites_from_string(text: str, board) -> list[int]:
    """Ludii ``Track.buildTrack`` for a direction string."""
    steps = text.split(",")
    if not steps or not _is_number(steps[0]):
        raise Unsupported("track", f"track {text!r} does not start with a site")
    supported = set(board.supported_directions("All"))
    current = int(steps[0])
    out = [current]
    n = board.n_board
    for step in steps[1:]:
        if _is_number(step):
            current = int(step)
            out.append(current)
            continue
        if step == "End":
            out.append(END)
            continue
        if not 0 <= current < n:
            raise Unsupported("track", f"step {step} from no board site")
        direction = "".join(ch for ch in step if not ch.isdigit())
        size = int(step[len(direction) :]) if len(direction) != len(step) else None
        if direction not in supported:
            raise Unsupported("track", f"direction {direction} not on this board")
        for radial in board.radials(current, direction):
            last = len(radial.steps) if size is None else min(len(radial.steps), size + 1)
            for idx in range(1, last):
                current = radial.steps[idx]
                out.append(current)
    return out


def _int_items(node) -> list[int]:
    if isinstance(node, TypedArray):
        return [v for item in node.items for v in _int_items(item)]
    if isinstance(node, TypedConst):
        if node.value == "End":
            return [END]
        return [int(node.value)]
    raise Unsupported("track", "sites must be constants")


def build_track(node: TypedCall, board, n_players: int) -> Track:
    """The Track of a typed ``(track ...)`` ludeme on ``board``."""
    a = node.args
    name = const(a.get("string")) or "Track"
    spec = a.get("Integers")
    if isinstance(spec, TypedConst) and spec.type == "string":
        sites = _sites_from_string(spec.value, board)
    else:
        sites = _int_items(spec)
    owner_node = a.get("Integer")
    owner = 0
    if isinstance(owner_node, TypedConst):
        if owner_node.type == "RoleType":
            role = owner_node.value
            if role.startswith("P") and role[1:].isdigit():
                owner = int(role[1:])
            elif role not in ("Neutral", "Shared"):
                raise Unsupported("track", f"owner {role}")
        else:
            owner = int(owner_node.value)
    looped = bool(const(a.get("loop")))
    directed = bool(const(a.get("directed")))
    t = Track(name, owner, looped, directed)
    # consecutive repeats are bumps on one element
    elems: list[int] = []
    bumps: list[int] = []
    count = 0
    for i, s in enumerate(sites):
        if i == len(sites) - 1 or s != sites[i + 1]:
            elems.append(s)
            bumps.append(count)
            count = 0
        else:
            count += 1
    n = len(elems)
    if n < 2:
        raise Unsupported("track", "a track needs two sites")
    for i, s in enumerate(elems):
        if i == 0:
            prev, prev_i = (elems[-1], n - 1) if looped else (-1, -1)
            nxt, nxt_i = elems[1], 1
        elif i == n - 1:
            prev, prev_i = elems[i - 1], i - 1
            nxt, nxt_i = (elems[0], 0) if looped else (-1, -1)
        elif directed:
            prev, prev_i, nxt, nxt_i = -1, -1, elems[i + 1], i + 1
        else:
            prev, prev_i, nxt, nxt_i = elems[i - 1], i - 1, elems[i + 1], i + 1
        t.site.append(s)
        t.prev.append(prev)
        t.prev_index.append(prev_i)
        t.next.append(nxt)
        t.next_index.append(nxt_i)
        t.bump.append(bumps[i])
    t.internal_loop = not any(bumps) and len(set(elems)) != len(elems)
    return t


def build_tracks(node, board, n_players: int) -> list[Track]:
    """The tracks of a board ludeme's ``track`` argument (one or an array), in order."""
    if node is None:
        return []
    items = node.items if isinstance(node, TypedArray) else [node]
    return [build_track(it, board, n_players) for it in items]
