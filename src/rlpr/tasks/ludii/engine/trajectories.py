"""Steps and radials between graph elements, as Ludii's ``Trajectories``.

A *step* links an element to a neighbouring element (of any site type) and carries the directions it
belongs to: relation directions (Orthogonal, Diagonal, OffDiagonal, Adjacent, All) from the graph
structure, and one compass direction (8 or, when two steps would share one, 16 directions) from its
angle. A *radial* follows steps in one direction from an element as straight as possible (bends under
0.25 rad), and knows its opposite radial (the straight continuation on the other side), which lines
(``is Line``) use. Orders follow Ludii: steps and radials sorted clockwise from north.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rlpr.tasks.ludii.engine.graph import Graph
from rlpr.tasks.ludii.engine.measure import Incidence, distance_to_line

#: AbsoluteDirection in Ludii's enum order (the order radials are created in matters for opposites).
ABS_DIRECTIONS = (
    "All Angled Adjacent Axial Orthogonal Diagonal OffDiagonal SameLayer Upward Downward Rotational "
    "N E S W NE SE NW SW NNW WNW WSW SSW SSE ESE ENE NNE CW CCW In Out "
    "U UN UNE UE USE US USW UW UNW D DN DNE DE DSE DS DSW DW DNW"
).split()
COMPASS = ("N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW")
SPECIFIC = frozenset(COMPASS) | frozenset(
    "U UN UNE UE USE US USW UW UNW D DN DNE DE DSE DS DSW DW DNW".split()
)
_TAN_BEND = math.tan(0.25)
_TAN_OPPOSITE = math.tan(0.1)

Element = tuple[str, int]  # (site type, index)


@dataclass
class Step:
    src: Element
    dst: Element
    dirs: set[str] = field(default_factory=set)


@dataclass(eq=False)
class Radial:
    """Elements from the origin (included) along one direction; ``opposite`` is the radial going the
    other way from the same origin, if any."""

    steps: tuple[int, ...]
    direction: str
    opposite: Radial | None = None


def abs_tan_diff(a, b, c) -> float:
    """|tan| of the turn at b on the path a -> b -> c; infinite when it turns back (Ludii
    ``MathRoutines.absTanAngleDifferencePosX``)."""
    v1x, v1y = b[0] - a[0], b[1] - a[1]
    v2x, v2y = c[0] - b[0], c[1] - b[1]
    x = v1x * v2x + v1y * v2y
    y = v1x * v2y - v1y * v2x
    if x <= 0:
        return math.inf
    return abs(y / x)


def _compass8(angle: float) -> str:
    off = 2 * math.pi / 16
    names = ("E", "NE", "N", "NW", "W", "SW", "S", "SE")
    for i, name in enumerate(names):
        if angle < off + i * 2 * math.pi / 8:
            return name
    return "E"


def _compass16(angle: float) -> str:
    off = 2 * math.pi / 32
    names = (
        "E",
        "ENE",
        "NE",
        "NNE",
        "N",
        "NNW",
        "NW",
        "WNW",
        "W",
        "WSW",
        "SW",
        "SSW",
        "S",
        "SSE",
        "SE",
        "ESE",
    )
    for i, name in enumerate(names):
        if angle < off + i * 2 * math.pi / 16:
            return name
    return "E"


def _compass(pa, pb, unit: float, sixteen: bool) -> str:
    dz = pb[2] - pa[2]
    elevation = -1 if dz < -0.1 * unit else (1 if dz > 0.1 * unit else 0)
    if elevation and math.hypot(pb[0] - pa[0], pb[1] - pa[1]) < 0.1 * unit:
        return "D" if elevation < 0 else "U"
    angle = math.atan2(pb[1] - pa[1], pb[0] - pa[0])
    while angle < 0:
        angle += 2 * math.pi
    while angle > 2 * math.pi:
        angle -= 2 * math.pi
    name = _compass16(angle) if sixteen else _compass8(angle)
    if elevation == 0:
        return name
    prefix = "D" if elevation < 0 else "U"
    return prefix + {
        "NNE": "NE",
        "ENE": "NE",
        "NNW": "NW",
        "WNW": "NW",
        "WSW": "SW",
        "SSW": "SW",
        "SSE": "SE",
        "ESE": "SE",
    }.get(name, name)


class Trajectories:
    """Steps (by element and direction) and radials of a graph."""

    def __init__(self, g: Graph, inc: Incidence, pos: dict[str, list[tuple[float, float, float]]]):
        self.pos = pos
        self.steps: dict[Element, list[Step]] = {}
        self.in_dir: dict[Element, dict[str, list[Step]]] = {}
        unit = g.average_edge_length()
        for t in ("Vertex", "Cell", "Edge"):
            for i in range(len(pos[t])):
                self.steps[(t, i)] = self._steps_from(g, inc, t, i)
        for el, steps in self.steps.items():
            by_dir: dict[str, list[Step]] = {}
            for s in steps:
                for d in s.dirs:
                    by_dir.setdefault(d, []).append(s)
            used: set[str] = set()
            collision = False
            for s in steps:
                d = _compass(self._pt(s.src), self._pt(s.dst), unit, False)
                if d in used:
                    collision = True
                    break
                used.add(d)
            for s in steps:
                d = _compass(self._pt(s.src), self._pt(s.dst), unit, collision)
                s.dirs.add(d)
                by_dir.setdefault(d, []).append(s)
                if d in SPECIFIC and not d.startswith(("U", "D")):
                    s.dirs.add("SameLayer")
                    by_dir.setdefault("SameLayer", []).append(s)
            for lst in by_dir.values():
                self._sort(lst)
            self.in_dir[el] = by_dir
        self._type_of = "Cell"
        self._radials: dict[Element, dict[str, list[Radial]]] = {}
        self._distinct: dict[Element, dict[str, list[Radial]]] = {}

    def _pt(self, el: Element) -> tuple[float, float, float]:
        return self.pos[el[0]][el[1]]

    def _sort(self, lst: list[Step]) -> None:
        def score(s: Step) -> float:
            a, b = self._pt(s.src), self._pt(s.dst)
            sc = math.pi / 2 - math.atan2(b[1] - a[1], b[0] - a[0]) + 0.0001
            while sc < 0:
                sc += 2 * math.pi
            return sc

        lst.sort(key=score)

    # --- steps from the graph structure ------------------------------------------------------

    def _steps_from(self, g: Graph, inc: Incidence, t: str, i: int) -> list[Step]:
        out: list[Step] = []
        seen: dict[Element, Step] = {}
        src = (t, i)

        def add(dst: Element, dirs: tuple[str, ...]) -> None:
            if dst in seen:
                seen[dst].dirs.update(dirs)
                return
            s = Step(src, dst, set(dirs))
            seen[dst] = s
            out.append(s)

        oaa = ("Orthogonal", "Adjacent", "All")
        if t == "Vertex":
            for e in inc.vertex_edges[i]:
                a, b = g.edges[e]
                add(("Vertex", b if a == i else a), oaa)
            for f in inc.vertex_faces[i]:
                vs = g.faces[f]
                if len(vs) < 4:
                    continue
                centre = self.pos["Cell"][f]
                best, best_d = -1, 1e6
                for to in vs:
                    if to == i:
                        continue
                    d = distance_to_line(centre, g.pts[i], g.pts[to])
                    if d < best_d:
                        best, best_d = to, d
                add(("Vertex", best), ("Diagonal", "All"))
            for e in inc.vertex_edges[i]:
                add(("Edge", e), oaa)
            for f in inc.vertex_faces[i]:
                add(("Cell", f), oaa)
        elif t == "Cell":
            used = {i}
            centre = self.pos["Cell"][i]
            for e in inc.face_edges[i]:
                if e < 0:
                    continue
                for o in inc.edge_faces[e]:
                    if o != i:
                        used.add(o)
                        add(("Cell", o), oaa)
            for v in g.faces[i]:
                best, best_d = -1, 1e6
                for o in inc.vertex_faces[v]:
                    if o in used:
                        continue
                    d = distance_to_line(g.pts[v], centre, self.pos["Cell"][o])
                    if d < best_d:
                        best, best_d = o, d
                if best >= 0:
                    used.add(best)
                    add(("Cell", best), ("Diagonal", "Adjacent", "All"))
            for v in g.faces[i]:
                for o in inc.vertex_faces[v]:
                    if o not in used:
                        used.add(o)
                        add(("Cell", o), ("OffDiagonal", "Adjacent", "All"))
            face_edges = set(inc.face_edges[i])
            for v in g.faces[i]:
                if len(inc.vertex_edges[v]) != 3:
                    continue
                ov = -1
                for e in inc.vertex_edges[v]:
                    if e not in face_edges:
                        a, b = g.edges[e]
                        ov = b if a == v else a
                        break
                if ov < 0:
                    continue
                for o in inc.vertex_faces[ov]:
                    if o in used:
                        continue
                    oc = self.pos["Cell"][o]
                    dist_ab = math.hypot(oc[0] - centre[0], oc[1] - centre[1])
                    err = (
                        distance_to_line(g.pts[v], centre, oc) + distance_to_line(g.pts[ov], centre, oc)
                    ) / dist_ab
                    if err > 0.1:
                        continue
                    used.add(o)
                    add(("Cell", o), ("Diagonal", "All"))
            for v in g.faces[i]:
                add(("Vertex", v), oaa)
            for e in inc.face_edges[i]:
                if e >= 0:
                    add(("Edge", e), oaa)
        else:  # edges: their end points and faces (enough for direction collisions)
            a, b = g.edges[i]
            add(("Vertex", a), oaa)
            add(("Vertex", b), oaa)
            for f in inc.edge_faces[i]:
                add(("Cell", f), oaa)
        return out

    # --- queries -----------------------------------------------------------------------------

    def step_sites(self, t: str, i: int, dirn: str) -> list[int]:
        """Sites of type ``t`` one step from site ``i`` in direction ``dirn`` (clockwise from N)."""
        return [s.dst[1] for s in self.in_dir[(t, i)].get(dirn, ()) if s.dst[0] == t]

    def radials(self, t: str, i: int, dirn: str) -> list[Radial]:
        if (t, i) not in self._radials:
            self._make_radials(t, i)
        return self._radials[(t, i)].get(dirn, [])

    def distinct_radials(self, t: str, i: int, dirn: str) -> list[Radial]:
        if (t, i) not in self._radials:
            self._make_radials(t, i)
        return self._distinct[(t, i)].get(dirn, [])

    def _make_radials(self, t: str, i: int) -> None:
        self._type_of = t
        created: list[Radial] = []
        by_dir: dict[str, list[Radial]] = {}
        for dirn in ABS_DIRECTIONS:
            for s in self.in_dir[(t, i)].get(dirn, ()):
                if s.dst[0] != t:
                    continue
                path = [i]
                self._follow(path, t, dirn, s.dst[1])
                radial = Radial(tuple(path), dirn)
                if any(r.direction == dirn and r.steps == radial.steps for r in created):
                    continue
                for r in created:
                    if (
                        dirn in ("CW", "CCW", "In", "Out")
                        and {dirn, r.direction} in ({"CW", "CCW"}, {"In", "Out"})
                    ) or (
                        self._opposite_angle(radial, r)
                        and ((dirn in SPECIFIC and r.direction in SPECIFIC) or dirn == r.direction)
                    ):
                        if radial.opposite is None:
                            radial.opposite = r
                        if r.opposite is None:
                            r.opposite = radial
                created.append(radial)
                by_dir.setdefault(dirn, []).append(radial)
        distinct: dict[str, list[Radial]] = {}
        for dirn, lst in by_dir.items():
            out: list[Radial] = []
            for r in lst:
                if not any(e.opposite is not None and e.opposite.steps == r.steps for e in out if e is not r):
                    out.append(r)
            distinct[dirn] = out
        for lst in list(by_dir.values()) + list(distinct.values()):
            lst.sort(key=self._radial_score)
        self._radials[(t, i)] = by_dir
        self._distinct[(t, i)] = distinct

    def _radial_score(self, r: Radial) -> float:
        t = self._type_of
        a, b = self.pos[t][r.steps[0]], self.pos[t][r.steps[1]]
        sc = math.pi / 2 - math.atan2(b[1] - a[1], b[0] - a[0]) + 0.0001
        while sc < 0:
            sc += 2 * math.pi
        return sc

    def _opposite_angle(self, r1: Radial, r2: Radial) -> bool:
        t = self._type_of
        pa, pb, pc = self.pos[t][r1.steps[1]], self.pos[t][r1.steps[0]], self.pos[t][r2.steps[1]]
        return abs_tan_diff(pa, pb, pc) < _TAN_OPPOSITE

    def _follow(self, path: list[int], t: str, dirn: str, current: int) -> None:
        while True:
            previous = path[-1]
            path.append(current)
            best, best_diff = -1, _TAN_BEND
            nxt = self.in_dir[(t, current)].get(dirn, ())
            if dirn in ("CW", "CCW", "In", "Out"):
                for s in nxt:
                    if s.dst[0] == t:
                        best = s.dst[1]
                        break
            else:
                pp, pc = self.pos[t][previous], self.pos[t][current]
                for s in nxt:
                    if s.dst[0] != t:
                        continue
                    diff = abs_tan_diff(pp, pc, self.pos[t][s.dst[1]])
                    if diff < best_diff:
                        best, best_diff = s.dst[1], diff
                        if diff == 0.0:
                            break
            if best < 0 or best in path:
                return
            current = best
