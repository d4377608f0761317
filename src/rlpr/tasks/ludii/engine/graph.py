"""Board graphs as Ludii builds them: vertices with coordinates, edges, faces, and the graph operators.

A ``Graph`` is the geometric object behind a board: vertices (x, y, z), edges (vertex pairs) and faces
(cycles of vertices, found by walking the planar graph clockwise, as Ludii's ``Graph.makeFaces``).
Generators (square, rectangle, hex, tri, ...) and operators (shift, scale, rotate, merge, ...) follow
Ludii 1.x (``game.functions.graph``): after a generator, ``reorder`` numbers each element type by
``y * 100 + x`` of its position, which is how Ludii numbers board sites (0 = bottom left).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

TOLERANCE = 0.001  # vertices closer than this (L1) are the same vertex


@dataclass
class Graph:
    """A planar (or layered) graph; faces are vertex cycles in clockwise order."""

    pts: list[tuple[float, float, float]] = field(default_factory=list)
    edges: list[tuple[int, int]] = field(default_factory=list)
    faces: list[list[int]] = field(default_factory=list)
    pivots: dict[int, int] = field(default_factory=dict)  # vertex -> pivot vertex (circular boards)

    # --- vertices and edges --------------------------------------------------------------------

    def find_vertex(self, x: float, y: float, z: float = 0.0) -> int:
        for i, (px, py, pz) in enumerate(self.pts):
            if abs(px - x) + abs(py - y) + abs(pz - z) < TOLERANCE:
                return i
        return -1

    def add_vertex(self, x: float, y: float, z: float = 0.0) -> int:
        self.pts.append((float(x), float(y), float(z)))
        return len(self.pts) - 1

    def find_or_add_vertex(self, x: float, y: float, z: float = 0.0) -> int:
        v = self.find_vertex(x, y, z)
        return v if v >= 0 else self.add_vertex(x, y, z)

    def find_edge(self, a: int, b: int) -> int:
        for i, (p, q) in enumerate(self.edges):
            if (p == a and q == b) or (p == b and q == a):
                return i
        return -1

    def find_or_add_edge(self, a: int, b: int) -> int:
        if a == b or a < 0 or b < 0:
            return -1
        e = self.find_edge(a, b)
        if e >= 0:
            return e
        self.edges.append((a, b))
        return len(self.edges) - 1

    def vertex_edges(self) -> list[list[int]]:
        """Each vertex's edges sorted by angle (ascending atan2), as Ludii's ``Vertex.sortEdges``."""
        out: list[list[int]] = [[] for _ in self.pts]
        for e, (a, b) in enumerate(self.edges):
            out[a].append(e)
            out[b].append(e)
        for v, lst in enumerate(out):
            x, y, _ = self.pts[v]

            def key(e: int, v=v, x=x, y=y) -> float:
                a, b = self.edges[e]
                o = b if a == v else a
                return math.atan2(self.pts[o][1] - y, self.pts[o][0] - x)

            lst.sort(key=key)
        return out

    # --- faces ---------------------------------------------------------------------------------

    def make_faces(self) -> None:
        """Find the faces: closed clockwise walks turning right at each vertex (Ludii ``makeFaces``)."""
        self.faces = []
        seen: set[tuple[int, ...]] = set()
        vedges = self.vertex_edges()
        for start in range(len(self.pts)):
            for e0 in vedges[start]:
                ids = [start]
                vert, edge = start, e0
                closed = False
                while len(ids) <= 32:
                    lst = vedges[vert]
                    n = lst.index(edge)
                    nxt = -1
                    for m in range(1, len(lst)):
                        edge = lst[(n + m) % len(lst)]
                        a, b = self.edges[edge]
                        other = b if a == vert else a
                        if abs(self.pts[other][2] - self.pts[start][2]) < 0.0001:
                            nxt = other
                            break
                    if nxt < 0:
                        break
                    vert = nxt
                    if vert == start:
                        closed = True
                        break
                    if vert in ids:
                        break
                    ids.append(vert)
                if closed and len(ids) >= 3 and _clockwise([self.pts[i] for i in ids]):
                    key = _cycle_key(ids)
                    if key not in seen:
                        seen.add(key)
                        self.faces.append(ids)

    def face_centroid(self, f: int) -> tuple[float, float, float]:
        vs = self.faces[f]
        n = len(vs)
        return (
            sum(self.pts[v][0] for v in vs) / n,
            sum(self.pts[v][1] for v in vs) / n,
            sum(self.pts[v][2] for v in vs) / n,
        )

    def edge_midpoint(self, e: int) -> tuple[float, float, float]:
        a, b = self.edges[e]
        pa, pb = self.pts[a], self.pts[b]
        return ((pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2, (pa[2] + pb[2]) / 2)

    # --- numbering and transforms --------------------------------------------------------------

    def reorder(self) -> None:
        """Renumber vertices, edges and faces by ``y * 100 + x`` (stable), as Ludii ``Graph.reorder``."""
        order = sorted(range(len(self.pts)), key=lambda i: self.pts[i][1] * 100 + self.pts[i][0])
        new_id = {old: new for new, old in enumerate(order)}
        self.pts = [self.pts[i] for i in order]
        self.edges = [(new_id[a], new_id[b]) for a, b in self.edges]
        self.faces = [[new_id[v] for v in f] for f in self.faces]
        self.pivots = {new_id[v]: new_id[p] for v, p in self.pivots.items()}
        mids = [self.edge_midpoint(e) for e in range(len(self.edges))]
        eorder = sorted(range(len(self.edges)), key=lambda i: mids[i][1] * 100 + mids[i][0])
        self.edges = [self.edges[i] for i in eorder]
        cents = [self.face_centroid(f) for f in range(len(self.faces))]
        forder = sorted(range(len(self.faces)), key=lambda i: cents[i][1] * 100 + cents[i][0])
        self.faces = [self.faces[i] for i in forder]

    def translate(self, dx: float, dy: float, dz: float = 0.0) -> None:
        self.pts = [(x + dx, y + dy, z + dz) for x, y, z in self.pts]

    def scale(self, sx: float, sy: float, sz: float = 1.0) -> None:
        self.pts = [(x * sx, y * sy, z * sz) for x, y, z in self.pts]

    def bounds(self) -> tuple[float, float, float, float]:
        """(min x, min y, max x, max y) of the vertices."""
        if not self.pts:
            return (0.0, 0.0, 0.0, 0.0)
        xs = [p[0] for p in self.pts]
        ys = [p[1] for p in self.pts]
        return (min(xs), min(ys), max(xs), max(ys))

    def rotate(self, degrees: float) -> None:
        theta = math.radians(degrees)
        x0, y0, x1, y1 = self.bounds()
        px, py = (x0 + x1) / 2, (y0 + y1) / 2
        c, s = math.cos(theta), math.sin(theta)
        self.pts = [
            (px + (x - px) * c - (y - py) * s, py + (y - py) * c + (x - px) * s, z) for x, y, z in self.pts
        ]

    def skew(self, amount: float) -> None:
        _, y0, _, _ = self.bounds()
        self.pts = [(x + (y - y0) * amount, y, z) for x, y, z in self.pts]

    def copy(self) -> Graph:
        return Graph(list(self.pts), list(self.edges), [list(f) for f in self.faces], dict(self.pivots))

    def average_edge_length(self) -> float:
        if not self.edges:
            return 0.0
        total = 0.0
        for a, b in self.edges:
            pa, pb = self.pts[a], self.pts[b]
            total += math.dist(pa, pb)
        return total / len(self.edges)


def _clockwise(pts: list[tuple[float, float, float]]) -> bool:
    area = 0.0
    n = len(pts)
    for i in range(n):
        x1, y1, _ = pts[i]
        x2, y2, _ = pts[(i + 1) % n]
        area += (x2 - x1) * (y2 + y1)
    return area > 0


def _cycle_key(ids: list[int]) -> tuple[int, ...]:
    """The same key for a cycle whatever its start and direction."""
    n = len(ids)
    best = None
    for seq in (ids, ids[::-1]):
        for s in range(n):
            rot = tuple(seq[s:] + seq[:s])
            if best is None or rot < best:
                best = rot
    return best  # type: ignore[return-value]


# --- generators ----------------------------------------------------------------------------------


def rectangle_on_square(rows: int, cols: int, diagonals: str | None, cells: bool) -> Graph:
    """Ludii ``RectangleOnSquare``: a grid of rows x cols sites (vertices or cells)."""
    g = Graph()
    nr, nc = rows + (1 if cells else 0), cols + (1 if cells else 0)
    for r in range(nr):
        for c in range(nc):
            g.add_vertex(c, r)
    for r in range(nr):
        for c in range(nc):
            a = r * nc + c
            if r + 1 < nr:
                g.find_or_add_edge(a, a + nc)
            if c + 1 < nc:
                g.find_or_add_edge(a, a + 1)
    _square_diagonals(g, nr, nc, diagonals)
    g.make_faces()
    g.reorder()
    return g


def _square_diagonals(g: Graph, nr: int, nc: int, diagonals: str | None) -> None:
    """Ludii ``Square.handleDiagonals`` over the vertex grid (rows 0..nr-1, columns 0..nc-1)."""
    if diagonals is None:
        return

    def v(c: int, r: int) -> int:
        return r * nc + c if 0 <= r < nr and 0 <= c < nc else -1

    mid_r, mid_c = (nr - 1) // 2, (nc - 1) // 2
    for r in range(nr):
        for c in range(nc):
            a, b, cc, d = v(c, r), v(c, r + 1), v(c + 1, r + 1), v(c + 1, r)
            if min(a, b, cc, d) < 0:
                continue
            if diagonals == "Alternating":
                if (r + c) % 2 == 0:
                    g.find_or_add_edge(a, cc)
                else:
                    g.find_or_add_edge(b, d)
            elif diagonals == "Solid":
                x = g.find_or_add_vertex(c + 0.5, r + 0.5)
                for corner in (a, b, cc, d):
                    g.find_or_add_edge(corner, x)
            elif diagonals == "SolidNoSplit":
                g.find_or_add_edge(a, cc)
                g.find_or_add_edge(b, d)
            elif diagonals == "Concentric":
                if (r < mid_r and c < mid_c) or (r >= mid_r and c >= mid_c):
                    g.find_or_add_edge(b, d)
                else:
                    g.find_or_add_edge(a, cc)
            elif diagonals == "Radiating":
                pass
            else:
                raise NotImplementedError(f"square diagonals:{diagonals}")
    if diagonals == "Radiating":
        steps = ((1, 1), (1, -1), (-1, -1), (-1, 1))
        for n in range(max((nr - 1) // 2, (nc - 1) // 2) + 1):
            for dr, dc in steps:
                # Ludii passes (row, col) where findVertex expects (x, y): keep that order
                a = g.find_vertex(mid_r + n * dr, mid_c + n * dc)
                b = g.find_vertex(mid_r + (n + 1) * dr, mid_c + (n + 1) * dc)
                if a >= 0 and b >= 0:
                    g.find_or_add_edge(a, b)


_SQRT3 = math.sqrt(3)
# corners of a pointy-top hexagon of circumradius 1 around its centre
_HEX_REF = [(math.cos(math.radians(a)), math.sin(math.radians(a))) for a in (30, 90, 150, 210, 270, 330)]


def _graph_from_polygons(polys: list[list[tuple[float, float]]]) -> Graph:
    g = Graph()
    for poly in polys:
        ids = [g.find_or_add_vertex(x, y) for x, y in poly]
        for i in range(len(ids)):
            g.find_or_add_edge(ids[i], ids[(i + 1) % len(ids)])
    g.make_faces()
    g.reorder()
    return g


def hex_board(shape: str, a: int, b: int | None) -> Graph:
    """Ludii ``hex`` boards: Hexagon (pointy-top cells, ``HexagonOnHex``) and Diamond/Prism
    (flat-top cells, ``DiamondOnHex``), as faces of unit hexagons."""
    polys = []
    if shape == "Hexagon" and b is None:
        n = 2 * a - 1
        for row in range(n):
            for col in range(n):
                if col > n // 2 + row or row - col > n // 2:
                    continue
                cx, cy = _SQRT3 * (col - 0.5 * row), 1.5 * row
                polys.append([(cx + dx, cy + dy) for dx, dy in _HEX_REF])
    elif shape in ("Diamond", "Prism"):
        rows = a
        cols = b if (shape == "Prism" and b is not None) else a
        prism = shape == "Prism"
        max_r = rows + cols - 1 if prism else rows
        max_c = rows + cols - 1 if prism else cols
        for row in range(max_r):
            for col in range(max_c):
                if prism and abs(row - col) >= rows:
                    continue
                cx, cy = 1.5 * (col - row), _SQRT3 * (row + col) * 0.5
                polys.append([(cx + dy, cy + dx) for dx, dy in _HEX_REF])
    else:
        raise NotImplementedError(f"hex shape {shape}")
    return _graph_from_polygons(polys)


def explicit_graph(vertices: list[list[float]], edges: list[list[int]] | None) -> Graph:
    """Ludii ``(graph vertices:{...} edges:{...})``: no reordering, faces found from the edges."""
    g = Graph()
    for p in vertices:
        g.add_vertex(p[0], p[1], p[2] if len(p) > 2 else 0.0)
    for e in edges or []:
        g.find_or_add_edge(int(e[0]), int(e[1]))
    g.make_faces()
    return g


def merge(graphs: list[Graph], connect: bool = False) -> Graph:
    """Ludii ``merge``: the graphs concatenated, coincident vertices (within 0.01) merged into the
    earlier one, duplicate edges dropped, faces found again; no renumbering by position."""
    pts: list[tuple[float, float, float]] = []
    edges: list[tuple[int, int]] = []
    for other in graphs:
        off = len(pts)
        pts.extend(other.pts)
        edges.extend((a + off, b + off) for a, b in other.edges)
    alias = list(range(len(pts)))
    keep: list[int] = []
    for v, p in enumerate(pts):
        for k in keep:
            q = pts[k]
            if abs(p[0] - q[0]) + abs(p[1] - q[1]) + abs(p[2] - q[2]) < 0.01:
                alias[v] = k
                break
        else:
            keep.append(v)
    new_id = {old: i for i, old in enumerate(keep)}
    g = Graph([pts[k] for k in keep])
    for a, b in edges:
        g.find_or_add_edge(new_id[alias[a]], new_id[alias[b]])
    if connect:
        threshold = 1.1 * g.average_edge_length()
        for a in range(len(g.pts)):
            for b in range(len(g.pts)):
                if a != b and math.dist(g.pts[a][:2], g.pts[b][:2]) < threshold:
                    g.find_or_add_edge(a, b)
    g.make_faces()
    return g


def wedge(rows: int, columns: int = 3) -> Graph:
    """Ludii ``wedge``: an apex joined to ``columns`` lines fanning down ``rows - 1`` rows (no faces,
    no renumbering)."""
    g = Graph()
    mid = rows - 1
    for r in range(rows):
        if r == 0:
            g.add_vertex(mid, mid)
            continue
        left, right = mid - r, mid + r
        for c in range(columns):
            t = c / (columns - 1)
            g.add_vertex(left + t * (right - left), mid - r)
    for r in range(rows):
        if r == 0:
            for c in range(columns):
                g.find_or_add_edge(0, c + 1)
            continue
        start = r * columns - columns + 1
        for c in range(columns - 1):
            g.find_or_add_edge(start + c, start + c + 1)
        if r < rows - 1:
            for c in range(columns):
                g.find_or_add_edge(start + c, start + columns + c)
    return g


def concentric_square(rings: int, join_corners: bool, cells: bool) -> Graph:
    """Ludii's ``morris`` boards (``ConcentricRegular`` with four sides): nested squares with corner
    and mid-side points, mid-sides joined across rings (and corners if ``join_corners``)."""
    g = Graph()
    sides = 4
    arc = 2 * math.pi / sides
    ref = math.pi / 2 + arc / 2
    base = 0
    for ring in range(rings):
        radius = 1 + ring
        for side in range(sides):
            xa, ya = radius * math.cos(ref + arc * side), radius * math.sin(ref + arc * side)
            xc, yc = radius * math.cos(ref + arc * (side + 1)), radius * math.sin(ref + arc * (side + 1))
            g.find_or_add_vertex(xa, ya)
            g.find_or_add_vertex((xa + xc) / 2, (ya + yc) / 2)
        n = len(g.pts)
        for v in range(base, n):
            g.find_or_add_edge(v, v + 1 if v < n - 1 else base)
        base = n
    per_ring = sides * 2
    for ring in range(rings - 1):
        for side in range(sides):
            v = ring * per_ring + side * 2
            if join_corners:
                g.find_or_add_edge(v, v + per_ring)
            g.find_or_add_edge(v + 1, v + 1 + per_ring)
    g.reorder()
    if cells:
        g.make_faces()
    return g


def union(graphs: list[Graph], connect: bool = False) -> Graph:
    """Ludii ``Union``: the graphs' vertices and edges appended in order (no merging, no renumbering);
    with ``connect``, vertices closer than 1.1 x the average edge length are joined."""
    g = Graph()
    for other in graphs:
        off = len(g.pts)
        g.pts.extend(other.pts)
        g.edges.extend((a + off, b + off) for a, b in other.edges)
    if connect:
        threshold = 1.1 * g.average_edge_length()
        for a in range(len(g.pts)):
            for b in range(len(g.pts)):
                if a != b and math.dist(g.pts[a][:2], g.pts[b][:2]) < threshold:
                    g.find_or_add_edge(a, b)
    g.make_faces()
    return g


#: Ludii ``MancalaBoard``: the two stores' positions by number of rows, as (x, y) with x of the
#: right store relative to the number of columns.
_MANCALA_STORES = {
    2: ((-0.85, 0.5), (-0.15, 0.5)),
    3: ((-1.0, 1.0), (0.0, 1.0)),
    4: ((-0.9, 1.5), (-0.1, 1.5)),
    5: ((-1.0, 2.0), (0.0, 2.0)),
    6: ((-0.9, 2.5), (-0.1, 2.5)),
}


def _f32(x: float) -> float:
    """A float as Java's ``float`` holds it (Ludii's store coordinates are floats)."""
    return struct.unpack("f", struct.pack("f", x))[0]


def mancala_board(rows: int, columns: int, stores: bool) -> Graph:
    """Ludii ``(mancalaBoard rows columns)`` on vertices: site 0 the left store (if any), then the
    holes row by row from the bottom, then the right store; neighbours joined by ``union connect``."""
    if not 2 <= rows <= 6:
        raise ValueError("mancala boards have 2 to 6 rows")
    parts = []
    for r in range(rows):
        row = Graph()
        for c in range(columns):
            row.add_vertex(c, r)
        for c in range(columns - 1):
            row.edges.append((c, c + 1))
        parts.append(row)
    if stores:
        (lx, ly), (rx, ry) = _MANCALA_STORES[rows]
        left = Graph([(_f32(lx), _f32(ly), 0.0)])
        right = Graph([(_f32(columns + rx), _f32(ry), 0.0)])
        parts = [left, *parts, right]
    return union(parts, connect=True)
