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


def morris_board(rings: int, join_corners: bool) -> Graph:
    """Ludii 1.0.8 ``Morris``: nested squares on the integer grid (ring 0 outermost, from 0 to
    2 * rings), each with corner and mid-side points, mid-sides joined to the next ring inward
    (and corners with ``joinCorners``); renumbered by position. No faces: a vertex board."""
    g = Graph()
    for ring in range(rings):
        base = 8 * ring
        lo, hi = ring, 2 * rings - ring
        mid = 0.5 * (lo + hi)
        for x, y in ((lo, lo), (lo, hi), (hi, hi), (hi, lo), (lo, mid), (mid, hi), (hi, mid), (mid, lo)):
            g.add_vertex(x, y)
        for n in range(4):
            g.find_or_add_edge(base + n, base + n + 4)
            g.find_or_add_edge(base + n + 4, base + (n + 1) % 4)
            if ring > 0:
                g.find_or_add_edge(base + n + 4, base + n - 4)
                if join_corners:
                    g.find_or_add_edge(base + n, base + n - 8)
    g.reorder()
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


# --- adding and removing elements (Ludii ``add`` / ``remove``; no renumbering by position) ----------


def _face_has_edge(face: list[int], a: int, b: int) -> bool:
    n = len(face)
    for i in range(n):
        p, q = face[i], face[(i + 1) % n]
        if (p == a and q == b) or (p == b and q == a):
            return True
    return False


def add_elements(
    g: Graph,
    vertices: list[list[float]] | None = None,
    edges: list[list[int]] | None = None,
    cells: list[list[int]] | None = None,
    connect: bool = False,
) -> Graph:
    """Ludii 1.0.8 ``(add graph vertices:{{x y}} edges:{{a b}} cells:{{a b c}})``: new vertices at
    positions (duplicates skipped), edges and faces by vertex index; faces are not recomputed."""
    new: list[int] = []
    for p in vertices or []:
        x, y, z = p[0], p[1], p[2] if len(p) > 2 else 0.0
        if g.find_vertex(x, y, z) < 0:
            new.append(g.add_vertex(x, y, z))
    n = len(g.pts)
    for e in edges or []:
        a, b = int(e[0]), int(e[1])
        if a < n and b < n:
            g.find_or_add_edge(a, b)
    for f in cells or []:
        ids = [int(v) for v in f]
        if len(ids) < 3 or any(v >= n for v in ids):
            continue
        for i in range(len(ids)):
            g.find_or_add_edge(ids[i], ids[(i + 1) % len(ids)])
        if _cycle_key(ids) not in {_cycle_key(x) for x in g.faces}:
            g.faces.append(ids)
    if connect:
        threshold = 1.1 * g.average_edge_length()
        for a in new:
            for b in range(len(g.pts)):
                if a != b and math.dist(g.pts[a][:2], g.pts[b][:2]) < threshold:
                    g.find_or_add_edge(a, b)
    return g


def remove_face(g: Graph, fid: int, trim: bool) -> None:
    """Ludii ``Graph.removeFace``: drop the face; with ``trim``, its edges no other face uses."""
    if not 0 <= fid < len(g.faces):
        return
    face = g.faces.pop(fid)
    if not trim:
        return
    n = len(face)
    orphans = []
    for i in range(n):
        a, b = face[i], face[(i + 1) % n]
        if not any(_face_has_edge(f, a, b) for f in g.faces):
            e = g.find_edge(a, b)
            if e >= 0:
                orphans.append(e)
    for e in sorted(set(orphans), reverse=True):
        del g.edges[e]


def remove_edge(g: Graph, a: int, b: int) -> None:
    """Ludii ``Graph.removeEdge(a, b)``: the edge and every face using it."""
    e = g.find_edge(a, b)
    if e < 0:
        return
    g.faces = [f for f in g.faces if not _face_has_edge(f, a, b)]
    del g.edges[e]


def remove_vertex(g: Graph, vid: int) -> None:
    """Ludii ``Graph.removeVertex``: the vertex, its edges and faces; later indices shift down."""
    if not 0 <= vid < len(g.pts):
        return
    g.faces = [[v - (v > vid) for v in f] for f in g.faces if vid not in f]
    g.edges = [(a - (a > vid), b - (b > vid)) for a, b in g.edges if vid not in (a, b)]
    del g.pts[vid]
    g.pivots = {v - (v > vid): p - (p > vid) for v, p in g.pivots.items() if vid not in (v, p)}


def remove_elements(
    g: Graph,
    cells: list | None = None,
    edges: list | None = None,
    vertices: list | None = None,
    trim: bool = True,
) -> Graph:
    """Ludii ``(remove graph cells:... edges:... vertices:...)``, each given by index or position:
    faces first (by index from the highest), then edges, then vertices (by index from the highest)."""

    def vertex_at(p) -> int:
        return g.find_vertex(p[0], p[1], p[2] if len(p) > 2 else 0.0)

    if cells:
        if isinstance(cells[0], list):
            for pts in cells:
                ids = [vertex_at(p) for p in pts]
                key = _cycle_key(ids) if -1 not in ids else None
                for fid, f in enumerate(g.faces):
                    if key is not None and _cycle_key(f) == key:
                        remove_face(g, fid, trim)
                        break
        else:
            for fid in sorted((int(c) for c in cells), reverse=True):
                remove_face(g, fid, trim)
    for e in edges or []:
        if isinstance(e[0], list):
            a, b = vertex_at(e[0]), vertex_at(e[1])
            if a >= 0 and b >= 0:
                remove_edge(g, a, b)
        else:
            remove_edge(g, int(e[0]), int(e[1]))
    if vertices:
        if isinstance(vertices[0], list):
            for p in vertices:
                v = vertex_at(p)
                if v >= 0:
                    remove_vertex(g, v)
        else:
            for v in sorted((int(x) for x in vertices), reverse=True):
                remove_vertex(g, v)
    return g


def graph_from_vertex_list(pts: list[tuple[float, float]], unit: float = 1.0) -> Graph:
    """Ludii ``createGraphFromVertexList``: vertices joined when one unit apart, faces found."""
    g = Graph()
    for x, y in pts:
        g.add_vertex(x, y)
    for a in range(len(pts)):
        for b in range(a + 1, len(pts)):
            if abs(math.dist(pts[a], pts[b]) - unit) < 0.01:
                g.edges.append((a, b))
    g.make_faces()
    return g


def triangle_on_tri(n: int, cells: bool) -> Graph:
    """Ludii ``(tri n)``: a triangle of the triangular tiling, ``n`` cells (or vertices) a side."""
    size = n + (1 if cells else 0)
    hy = math.sqrt(3) / 2
    pts = [(c - 0.5 * r, hy * r) for r in range(size) for c in range(size) if r <= c]
    g = graph_from_vertex_list(pts)
    g.reorder()
    return g


def _find_near(g: Graph, x: float, y: float, tol: float) -> int:
    for i, (px, py, _) in enumerate(g.pts):
        if math.hypot(px - x, py - y) < tol:
            return i
    return -1


def circle(cells_per_ring: list[int], stagger: bool, cells: bool) -> Graph:
    """Ludii ``(circle {n1 n2 ...})``: rings of cells around a centre vertex (the pivot of all
    vertices); vertices in order of creation, no renumbering."""
    g = Graph([(0.0, 0.0, 0.0)])
    rings = len(cells_per_ring)
    samples: list[list[tuple[float, float, float]]] = [[] for _ in range(rings + 1)]

    def add(x: float, y: float) -> int:
        v = _find_near(g, x, y, 0.01)
        return v if v >= 0 else g.add_vertex(x, y)

    def spokes(ring: int):
        n = cells_per_ring[ring]
        r_in, r_out = max(0.0, ring - 0.5), ring + 0.5
        offset = math.pi * 2 / n / 2 if stagger and ring % 2 == 1 else 0.0
        for step in range(n):
            theta = math.pi / 2 + offset - 2 * math.pi * step / n
            yield theta, r_in, r_out

    for ring in range(rings):
        if cells_per_ring[ring] < 2:
            continue
        for theta, r_in, r_out in spokes(ring):
            ix, iy = r_in * math.cos(theta), r_in * math.sin(theta)
            ox, oy = r_out * math.cos(theta), r_out * math.sin(theta)
            samples[ring].append((ix, iy, theta))
            samples[ring + 1].append((ox, oy, theta))
            add(ix, iy)
            add(ox, oy)
    for ring in range(rings + 1):
        lst = sorted(samples[ring], key=lambda s: s[2])
        for n in range(len(lst) - 1, 0, -1):
            a, b = lst[n], lst[(n + len(lst) - 1) % len(lst)]
            if math.hypot(a[0] - b[0], a[1] - b[1]) < 0.1:
                del lst[n]
        samples[ring] = lst
    for ring in range(rings + 1):
        lst = samples[ring]
        if len(lst) > 1:
            for n in range(len(lst)):
                a, b = lst[n], lst[(n + 1) % len(lst)]
                va, vb = add(a[0], a[1]), add(b[0], b[1])
                if va != vb:
                    g.find_or_add_edge(va, vb)
    for ring in range(rings):
        if cells_per_ring[ring] < 2:
            continue
        for theta, r_in, r_out in spokes(ring):
            va = add(r_in * math.cos(theta), r_in * math.sin(theta))
            vb = add(r_out * math.cos(theta), r_out * math.sin(theta))
            if va != vb:
                g.find_or_add_edge(va, vb)
    g.pivots = {v: 0 for v in range(len(g.pts))}
    if cells:
        g.make_faces()
    return g
