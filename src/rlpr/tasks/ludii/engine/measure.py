"""Graph measurements as Ludii's ``MeasureGraph``: perimeter, inner/outer, extremes, corners, sides,
phases, centre, and the row/column clustering that gives coordinate labels ("A1").

``measure(graph)`` returns, per site type ("Vertex", "Edge", "Cell"), each element's position, its
neighbours (used for phases), a set of property names per element ("perimeter", "outer", "inner",
"left", "right", "top", "bottom", "corner", "convex", "concave", "major", "minor", "centre",
"side N"...), its phase, row, column and label.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from rlpr.tasks.ludii.engine.graph import Graph

SITE_TYPES = ("Vertex", "Edge", "Cell")


@dataclass
class Elements:
    """The elements of one site type and what was measured about them."""

    pos: list[tuple[float, float, float]]
    props: list[set[str]] = field(default_factory=list)
    phase: list[int] = field(default_factory=list)
    row: list[int] = field(default_factory=list)
    col: list[int] = field(default_factory=list)
    layer: list[int] = field(default_factory=list)
    label: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.pos)
        self.props = [set() for _ in range(n)]
        self.phase = [-1] * n
        self.row = [0] * n
        self.col = [0] * n
        self.layer = [0] * n
        self.label = [""] * n


@dataclass
class Incidence:
    """Who touches whom in the graph (lists in Ludii's orders)."""

    vertex_edges: list[list[int]]  # sorted by angle
    vertex_faces: list[list[int]]
    face_edges: list[list[int]]
    edge_faces: list[list[int]]


def incidence(g: Graph) -> Incidence:
    vedges = g.vertex_edges()
    vfaces: list[list[int]] = [[] for _ in g.pts]
    fedges: list[list[int]] = []
    efaces: list[list[int]] = [[] for _ in g.edges]
    edge_of = {}
    for e, (a, b) in enumerate(g.edges):
        edge_of[(a, b)] = e
        edge_of[(b, a)] = e
    for f, vs in enumerate(g.faces):
        es = []
        for i, v in enumerate(vs):
            vfaces[v].append(f)
            e = edge_of.get((v, vs[(i + 1) % len(vs)]), -1)
            es.append(e)
            if e >= 0:
                efaces[e].append(f)
        fedges.append(es)
    return Incidence(vedges, vfaces, fedges, efaces)


def _other(g: Graph, e: int, v: int) -> int:
    a, b = g.edges[e]
    return b if a == v else a


# --- geometry helpers ----------------------------------------------------------------------------


def distance_to_line(p, a, b) -> float:
    """Distance from point p to the infinite line through a and b (2D)."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = math.hypot(dx, dy)
    if length == 0:
        return math.hypot(p[0] - a[0], p[1] - a[1])
    return abs(dy * p[0] - dx * p[1] + b[0] * a[1] - b[1] * a[0]) / length


def point_in_polygon(p, poly) -> bool:
    inside = False
    n = len(poly)
    x, y = p[0], p[1]
    j = n - 1
    for i in range(n):
        xi, yi = poly[i][0], poly[i][1]
        xj, yj = poly[j][0], poly[j][1]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def clockwise3(a, b, c) -> bool:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]) < 0


# --- measurement ---------------------------------------------------------------------------------


def measure(g: Graph, inc: Incidence) -> dict[str, Elements]:
    els = {
        "Vertex": Elements(list(g.pts)),
        "Edge": Elements([g.edge_midpoint(e) for e in range(len(g.edges))]),
        "Cell": Elements([g.face_centroid(f) for f in range(len(g.faces))]),
    }
    perimeters = _perimeter(g, inc, els)
    _inner_outer(g, inc, els)
    _extremes(els)
    _major_minor(g, els)
    _corners(g, inc, els, perimeters)
    _sides(g, inc, els, perimeters)
    _phases(g, inc, els)
    for t in SITE_TYPES:
        _situation(els[t], t == "Edge")
    _centre(els)
    return els


def _perimeter(g: Graph, inc: Incidence, els: dict[str, Elements]) -> list[list[int]]:
    covered: set[int] = set()
    perims: list[list[int]] = []
    while True:
        start, min_x = -1, 1e6
        for v, p in enumerate(g.pts):
            if v not in covered and p[0] < min_x:
                start, min_x = v, p[0]
        if start < 0:
            break
        perim = _follow_perimeter(g, inc, start)
        covered.update(perim)
        poly = [g.pts[v] for v in perim]
        for v, p in enumerate(g.pts):
            if v not in covered and point_in_polygon(p, poly):
                covered.add(v)
        perims.append(perim)
    for pa in range(len(perims) - 1, -1, -1):
        pt = g.pts[perims[pa][0]]
        if any(
            pb != pa and point_in_polygon(pt, [g.pts[v] for v in perims[pb]]) for pb in range(len(perims))
        ):
            perims.pop(pa)
    vp = els["Vertex"].props
    for perim in perims:
        n = len(perim)
        for i in range(n):
            a, b = perim[i], perim[(i + 1) % n]
            vp[a].add("perimeter")
            vp[b].add("perimeter")
            e = g.find_edge(a, b)
            if e < 0:
                continue
            els["Edge"].props[e].add("perimeter")
            if inc.edge_faces[e]:
                els["Cell"].props[inc.edge_faces[e][0]].add("perimeter")
    return perims


def _follow_perimeter(g: Graph, inc: Incidence, start: int) -> list[int]:
    if not inc.vertex_edges[start]:
        return [start]
    best, best_angle = -1, 1e6
    for e in inc.vertex_edges[start]:
        o = _other(g, e, start)
        angle = math.atan2(g.pts[o][0] - g.pts[start][0], -(g.pts[o][1] - g.pts[start][1]))
        if angle < best_angle:
            best, best_angle = e, angle
    perim: list[int] = []
    vertex, edge = start, best
    for _ in range(10 * len(g.pts) + 10):
        perim.append(vertex)
        prev = vertex
        vertex = _other(g, edge, vertex)
        lst = inc.vertex_edges[vertex]
        i = lst.index(edge)
        for n in range(1, len(lst)):
            edge = lst[(i + n) % len(lst)]
            if _other(g, edge, vertex) != prev:
                break
        if vertex == start:
            break
    return perim


def _inner_outer(g: Graph, inc: Incidence, els: dict[str, Elements]) -> None:
    for t in SITE_TYPES:
        for props in els[t].props:
            if "perimeter" in props:
                props.add("outer")
    vp = els["Vertex"].props
    for f, vs in enumerate(g.faces):
        if any("perimeter" in vp[v] for v in vs):
            els["Cell"].props[f].update(("outer", "perimeter"))
    for e, (a, b) in enumerate(g.edges):
        if "perimeter" in vp[a] and "perimeter" in vp[b] and len(inc.edge_faces[e]) < 2:
            els["Edge"].props[e].update(("outer", "perimeter"))
    for t in SITE_TYPES:
        for props in els[t].props:
            if "outer" not in props:
                props.add("inner")


def _extremes(els: dict[str, Elements]) -> None:
    for t in SITE_TYPES:
        pos = els[t].pos
        if not pos:
            continue
        min_x = min(p[0] for p in pos)
        min_y = min(p[1] for p in pos)
        max_x = max(p[0] for p in pos)
        max_y = max(p[1] for p in pos)
        for p, props in zip(pos, els[t].props):
            if p[0] - min_x < 0.01:
                props.add("left")
            if p[1] - min_y < 0.01:
                props.add("bottom")
            if max_x - p[0] < 0.01:
                props.add("right")
            if max_y - p[1] < 0.01:
                props.add("top")


def _major_minor(g: Graph, els: dict[str, Elements]) -> None:
    most = max((len(f) for f in g.faces), default=0)
    for f, vs in enumerate(g.faces):
        els["Cell"].props[f].add("major" if len(vs) == most else "minor")


def _corners(g: Graph, inc: Incidence, els: dict[str, Elements], perims: list[list[int]]) -> None:
    vp = els["Vertex"].props
    for perim in perims:
        _corners_from_perimeter(g, perim, vp)
    ep, cp = els["Edge"].props, els["Cell"].props
    for v, props in enumerate(vp):
        if "corner" not in props:
            continue
        concave = "concave" in props
        kind = "concave" if concave else "convex"
        single = False
        for e in inc.vertex_edges[v]:
            o = _other(g, e, v)
            if "corner" in vp[o]:
                ep[e].update(("corner", kind))
                if inc.edge_faces[e]:
                    cp[inc.edge_faces[e][0]].update(("corner", kind))
                single = True
        if single:
            continue
        for e in inc.vertex_edges[v]:
            if "perimeter" not in ep[e]:
                continue
            ep[e].update(("corner", kind))
            if concave:
                for f in inc.vertex_faces[v]:
                    if sum("perimeter" in vp[u] for u in g.faces[f]) == 1:
                        cp[f].update(("corner", "concave"))
            elif inc.edge_faces[e]:
                cp[inc.edge_faces[e][0]].update(("corner", "convex"))


def _corners_from_perimeter(g: Graph, perim: list[int], vp: list[set[str]]) -> None:
    tol = 0.001
    num = len(perim)
    if num < 6:
        for v in perim:
            vp[v].update(("corner", "convex"))
        return
    poly = [g.pts[v] for v in perim]
    scores = [0.0] * num
    for n in range(num):
        pt = poly[n]
        score = 0.0
        for k in range(1, 4):
            a = poly[(n - k) % num]
            b = poly[(n + k) % num]
            dist = distance_to_line(pt, a, b)
            if clockwise3(a, pt, b):
                dist = -dist
            score += dist / k
        scores[n] = score
    scores = [(4 * scores[n] + scores[(n + 1) % num] + scores[(n - 1) % num]) / 6 for n in range(num)]
    keep = [True] * num
    for n in range(num):
        if (
            scores[n] < 0.320
            or scores[n] < scores[(n - 1) % num] - tol
            or scores[n] < scores[(n + 1) % num] - tol
        ):
            keep[n] = False
    kept = list(keep)
    for n in range(num):  # Java iterates a live bitset: later bits set here may be visited too
        if not kept[n]:
            continue
        if scores[(n - 1) % num] >= 0.95 * scores[n]:
            kept[(n - 1) % num] = True
        if scores[(n + 1) % num] >= 0.95 * scores[n]:
            kept[(n + 1) % num] = True
    for n in range(num):
        if kept[n]:
            vp[perim[n]].update(("corner", "convex"))
    for n in range(num):
        if (
            scores[n] > -0.25
            or scores[n] > scores[(n - 1) % num] + tol
            or scores[n] > scores[(n + 1) % num] + tol
        ):
            continue
        vp[perim[n]].update(("corner", "concave"))


_SIDE_OF_DIRN = {0: "E", 4: "N", 8: "W", 12: "S"}


def _discrete_direction(a, b, num: int) -> int:
    angle = math.atan2(b[1] - a[1], b[0] - a[0])
    arc = 2 * math.pi / num
    while angle < 0:
        angle += 2 * math.pi
    while angle > 2 * math.pi:
        angle -= 2 * math.pi
    return (int((angle + arc / 2) / arc) + num) % num


def _sides(g: Graph, inc: Incidence, els: dict[str, Elements], perims: list[list[int]]) -> None:
    vp = els["Vertex"].props
    if g.pts:
        mid = (sum(p[0] for p in g.pts) / len(g.pts), sum(p[1] for p in g.pts) / len(g.pts))
    else:
        mid = (0.0, 0.0)
    for perim in perims:
        num = len(perim)
        for start in range(num):
            if "corner" not in vp[perim[start]]:
                continue
            to = start
            while True:
                to += 1
                if "corner" in vp[perim[to % num]]:
                    break
            run = to - start
            xs = [g.pts[perim[(start + r) % num]] for r in range(run + 1)]
            avg = (sum(p[0] for p in xs) / len(xs), sum(p[1] for p in xs) / len(xs))
            d = _discrete_direction(mid, avg, 16)
            if d in _SIDE_OF_DIRN:
                side = _SIDE_OF_DIRN[d]
            elif 0 < d < 4:
                side = "NE"
            elif d < 8:
                side = "NW"
            elif d < 12:
                side = "SW"
            else:
                side = "SE"
            for r in range(run + 1):
                vp[perim[(start + r) % num]].add("side " + side)
    ep, cp = els["Edge"].props, els["Cell"].props
    for v, props in enumerate(vp):
        sides = {p for p in props if p.startswith("side ")}
        if not sides:
            continue
        if "corner" in props:
            for s in sides:
                for e in inc.vertex_edges[v]:
                    if s in vp[_other(g, e, v)]:
                        ep[e].add(s)
                for f in inc.vertex_faces[v]:
                    cp[f].add(s)
        for e in inc.vertex_edges[v]:
            ep[e].update(sides)
        for f in inc.vertex_faces[v]:
            cp[f].update(sides)


def _phases(g: Graph, inc: Incidence, els: dict[str, Elements]) -> None:
    nbors = {
        "Vertex": [[_other(g, e, v) for e in inc.vertex_edges[v]] for v in range(len(g.pts))],
        "Cell": [
            [o for e in inc.face_edges[f] if e >= 0 for o in inc.edge_faces[e] if o != f]
            for f in range(len(g.faces))
        ],
    }
    for t, nb in nbors.items():
        phase = els[t].phase
        while True:
            start = next((i for i, p in enumerate(phase) if p < 0), -1)
            if start < 0:
                break
            phase[start] = 0
            queue = deque([start])
            visited: set[int] = set()
            while queue:
                ge = queue.popleft()
                if ge in visited:
                    continue
                known = {phase[n] for n in nb[ge] if phase[n] >= 0}
                p = 0
                while p in known and p < 4:
                    p += 1
                phase[ge] = p
                visited.add(ge)
                for n in nb[ge]:
                    if n in visited:
                        continue
                    if len({phase[m] for m in nb[n] if phase[m] >= 0}) > 1:
                        queue.appendleft(n)
                    else:
                        queue.append(n)


def _bounds(pos):
    xs = [p[0] for p in pos]
    ys = [p[1] for p in pos]
    return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


def _cluster(pos, kind: str, unit: float, theta: float, out: list[int]) -> float:
    bx, by, bw, bh = _bounds(pos)
    if kind == "row":
        a = (bx + bw / 2, by - bh)
    else:
        a = (bx - bw, by + bh / 2)
    b = (a[0] + bw * math.cos(theta), a[1] + bw * math.sin(theta))
    if kind == "layer":
        scores = [p[2] for p in pos]
    else:
        scores = [distance_to_line(p, a, b) for p in pos]
    rank = sorted(range(len(pos)), key=lambda i: scores[i])
    margin = 0.6 * unit
    buckets: list[list[int]] = []
    means: list[float] = []
    for i in rank:
        if not buckets or abs(scores[i] - means[-1]) > margin:
            buckets.append([])
            means.append(0.0)
        buckets[-1].append(i)
        means[-1] = sum(scores[j] for j in buckets[-1]) / len(buckets[-1])
    error = 0.0
    for bid, bucket in enumerate(buckets):
        for i in bucket:
            out[i] = bid
        acc = (means[bid] - scores[bucket[-1]]) ** 2
        error += acc / len(bucket)
    return error + 0.01 * len(buckets)


def _situation(el: Elements, is_edge: bool) -> None:
    pos = el.pos
    if not pos:
        return
    _, _, bw, bh = _bounds(pos)
    unit = (bw + bh) / 2 / math.sqrt(len(pos))
    tmp = [0] * len(pos)
    if is_edge:
        _cluster(pos, "row", unit, 0.0, el.row)
        _cluster(pos, "col", unit, math.pi / 2, el.col)
    else:
        best_err, best_theta = 1000.0, 0.0
        for angle in range(0, 61, 15):
            theta = angle / 180 * math.pi
            err = _cluster(pos, "row", unit, theta, tmp)
            if err < best_err:
                best_err, best_theta = err, theta
                if err < 0.01:
                    break
        _cluster(pos, "row", unit, best_theta, el.row)
        best_err, best_col = 1000.0, 0.0
        for angle in range(90, 121, 15):
            theta = best_theta + angle / 180 * math.pi
            err = _cluster(pos, "col", unit, theta, tmp)
            if err < best_err:
                best_err, best_col = err, theta
                if err < 0.01:
                    break
        _cluster(pos, "col", unit, best_col, el.col)
    _cluster(pos, "layer", unit, 0.0, el.layer)
    layered = len(set(el.layer)) > 1
    for i in range(len(pos)):
        column = el.col[i]
        label = chr(ord("A") + column % 26)
        while column >= 26:
            column //= 26
            label = chr(ord("A") + column % 26 - 1) + label
        label += str(el.row[i] + 1)
        if layered:
            label += "/" + str(el.layer[i])
        el.label[i] = label
    if len(set(el.label)) < len(el.label):
        _exact_rows_and_columns(el)


def _exact_rows_and_columns(el: Elements) -> None:
    """Ludii ``Topology.computeRows/Columns/Coordinates`` when the clustered coordinates clash: a row
    per distinct y (a column per distinct x) of the ground-level elements, labels from them."""
    for axis, out in ((1, el.row), (0, el.col)):
        centres: list[float] = []
        for p in el.pos:
            if p[2] == 0 and all(abs(p[axis] - c) >= 0.001 for c in centres):
                centres.append(p[axis])
        centres.sort()
        for i, p in enumerate(el.pos):
            for j, c in enumerate(centres):
                if abs(p[axis] - c) < 0.001:
                    out[i] = j
    for i in range(len(el.pos)):
        col = el.col[i]
        prefix = chr(ord("A") + col // 26 - 1) if col >= 26 else ""
        el.label[i] = prefix + chr(ord("A") + col % 26) + str(el.row[i] + 1)


def _centre(els: dict[str, Elements]) -> None:
    vpos = els["Vertex"].pos
    if not vpos:
        return
    bx, by, bw, bh = _bounds(vpos)
    for t in SITE_TYPES:
        el = els[t]
        if not el.pos:
            continue
        perim = [p for p, pr in zip(el.pos, el.props) if "perimeter" in pr] if len(el.pos) < 100 else []
        corners = [p for p, pr in zip(el.pos, el.props) if "corner" in pr]
        dists = []
        for p in el.pos:
            acc = 0.0
            for q in perim:
                acc += (p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2
            for q in corners:
                acc += (p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2
            dists.append(acc)
        best = min(dists)
        for i, d in enumerate(dists):
            if abs(d - best) < 0.0001:
                el.props[i].add("centre")
