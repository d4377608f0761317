"""The board: its graph built from the typed ``(board ...)`` ludeme, its measured topology, hands,
and the static regions and neighbourhoods the moves use.

Sites are numbered as in Ludii: board sites of the default site type (cells unless ``use:Vertex``)
first, then one site per hand. Neighbour and radial lists are computed on demand and cached.
"""

from __future__ import annotations

from rlpr.tasks.ludii.engine.core import Unsupported, const
from rlpr.tasks.ludii.engine.graph import (
    Graph,
    add_elements,
    circle,
    explicit_graph,
    hex_board,
    mancala_board,
    merge,
    morris_board,
    rectangle_on_square,
    remove_elements,
    triangle_on_tri,
    union,
    wedge,
)
from rlpr.tasks.ludii.engine.measure import Elements, incidence, measure
from rlpr.tasks.ludii.engine.tracks import Track, build_tracks
from rlpr.tasks.ludii.engine.trajectories import Radial, Trajectories
from rlpr.tasks.ludii.typed import TypedArray, TypedCall, TypedConst

RELATIONS = ("Adjacent", "Orthogonal", "Diagonal", "OffDiagonal", "All")


def _num(node) -> float:
    if isinstance(node, TypedConst):
        return float(node.value)
    raise Unsupported(getattr(node, "kind", "?"), "graph argument must be a constant")


def _dim(node) -> int:
    if isinstance(node, TypedConst):
        return int(node.value)
    if isinstance(node, TypedCall) and node.kind in ("+", "-", "*", "/"):
        a, b = _dim(node.args["dim"]), _dim(node.args["dim2"])
        return {"+": a + b, "-": a - b, "*": a * b, "/": a // b if b else 0}[node.kind]
    raise Unsupported(getattr(node, "kind", "?"), "dimension must be a constant")


def _floats(node) -> list:
    if isinstance(node, TypedArray):
        return [_floats(i) for i in node.items]
    return _num(node)  # type: ignore[return-value]


def build_graph(node: TypedCall, cells: bool) -> Graph:
    """The Graph of a typed graph ludeme (``cells``: the board is played on cells)."""
    kind = node.kind
    a = node.args
    if kind == "square":
        if a.get("poly") is not None or a.get("dims") is not None:
            raise Unsupported("square", "custom polygon")
        if const(a.get("SquareShapeType")) not in (None, "Square"):
            raise Unsupported("square", f"shape {const(a.get('SquareShapeType'))}")
        if const(a.get("pyramidal")):
            raise Unsupported("square", "pyramidal")
        n = _dim(a["dim"])
        return rectangle_on_square(n, n, const(a.get("diagonals")), cells)
    if kind == "rectangle":
        if const(a.get("pyramidal")):
            raise Unsupported("rectangle", "pyramidal")
        rows = _dim(a["dim"])
        cols = _dim(a["dim2"]) if a.get("dim2") is not None else rows
        return rectangle_on_square(rows, cols, const(a.get("diagonals")), cells)
    if kind == "hex":
        shape = const(a.get("HexShapeType")) or "Hexagon"
        dim2 = _dim(a["dim2"]) if a.get("dim2") is not None else None
        try:
            return hex_board(shape, _dim(a["dim"]), dim2)
        except NotImplementedError as exc:
            raise Unsupported("hex", str(exc)) from None
    if kind == "wedge":
        cols = _dim(a["dim2"]) if a.get("dim2") is not None else 3
        return wedge(_dim(a["dim"]), cols)
    if kind == "morris":
        if cells:
            raise Unsupported("morris", "a morris board has no cells (use:Vertex)")
        return morris_board(_dim(a["dim"]), bool(const(a.get("joinCorners"))))
    if kind == "graph":
        if a.get("cells") is not None:
            raise Unsupported("graph", "cells:")
        verts = _floats(a["vertices"]) if a.get("vertices") is not None else []
        edges = _floats(a["edges"]) if a.get("edges") is not None else []
        return explicit_graph(verts, edges)  # type: ignore[arg-type]
    if kind == "merge":
        if a.get("graphs") is not None:
            parts = [build_graph(g, cells) for g in a["graphs"].items]
        else:
            parts = [build_graph(a["graph"], cells), build_graph(a["graph2"], cells)]
        return merge(parts, bool(const(a.get("connect"))))
    if kind == "shift":
        g = build_graph(a["graph"], cells)
        g.translate(
            _num(a["float"]), _num(a["float2"]), _num(a["float3"]) if a.get("float3") is not None else 0.0
        )
        return g
    if kind == "scale":
        g = build_graph(a["graph"], cells)
        sx = _num(a["float"])
        sy = _num(a["float2"]) if a.get("float2") is not None else sx
        sz = _num(a["float3"]) if a.get("float3") is not None else 1.0
        g.scale(sx, sy, sz)
        return g
    if kind == "rotate":
        g = build_graph(a["graph"], cells)
        g.rotate(_num(a["float"]))
        return g
    if kind == "tri":
        shape = const(a.get("HexShapeType")) or "Triangle"
        if shape != "Triangle" or isinstance(a.get("dim"), TypedArray):
            raise Unsupported("tri", f"shape {shape}")
        return triangle_on_tri(_dim(a["dim"]), cells)
    if kind == "circle":
        return circle([int(i.value) for i in a["Integers"].items], bool(const(a.get("stagger"))), cells)
    if kind == "union":
        if a.get("graphs") is not None:
            parts = [build_graph(g, cells) for g in a["graphs"].items]
        else:
            parts = [build_graph(a["graph"], cells), build_graph(a["graph2"], cells)]
        return union(parts, bool(const(a.get("connect"))))
    if kind == "add":
        g = build_graph(a["graph"], cells)
        return add_elements(
            g,
            _floats(a["vertices"]) if a.get("vertices") is not None else None,  # type: ignore[arg-type]
            _floats(a["edges"]) if a.get("edges") is not None else None,  # type: ignore[arg-type]
            _floats(a["cells"]) if a.get("cells") is not None else None,  # type: ignore[arg-type]
            bool(const(a.get("connect"))),
        )
    if kind == "remove":
        g = build_graph(a["graph"], cells)
        trim = const(a.get("trimEdges"))
        return remove_elements(
            g,
            _floats(a["cells"]) if a.get("cells") is not None else None,  # type: ignore[arg-type]
            _floats(a["edges"]) if a.get("edges") is not None else None,  # type: ignore[arg-type]
            _floats(a["vertices"]) if a.get("vertices") is not None else None,  # type: ignore[arg-type]
            True if trim is None else bool(trim),
        )
    raise Unsupported(kind, "board graph")


class Board:
    """Topology of the board plus the hand containers; ``n_board`` board sites, ``n_sites`` in all."""

    def __init__(self, node: TypedCall, hands: list[tuple[int, int]], n_players: int):
        a = node.args
        if node.kind == "mancalaBoard":
            store = const(a.get("store")) or "Outer"
            n_stores = const(a.get("numStores"))
            if store == "Inner" or n_stores not in (None, 2):
                raise Unsupported("mancalaBoard", "inner or other than two stores")
            use = "Vertex"
            try:
                self.graph = mancala_board(int(a["Integer"].value), int(a["Integer2"].value), store != "None")
            except ValueError as exc:
                raise Unsupported("mancalaBoard", str(exc)) from None
        elif node.kind == "board":
            if a.get("values") is not None:
                raise Unsupported("board", "puzzle values")
            use = const(a.get("use")) or "Cell"
            if use == "Edge":
                raise Unsupported("board", "use:Edge")
            self.graph = build_graph(a["graph"], use == "Cell")
        else:
            raise Unsupported(node.kind, "board type")
        self.site_type = use
        inc = incidence(self.graph)
        self.elements: dict[str, Elements] = measure(self.graph, inc)
        self.traj = Trajectories(self.graph, inc, {t: self.elements[t].pos for t in self.elements})
        self.el = self.elements[use]
        self.n_board = len(self.el.pos)
        # hands: (owner, size) in equipment order, their sites after the board's
        self.hand_sites: dict[int, list[int]] = {}
        self.containers: list[tuple[str, list[int]]] = [("Board", list(range(self.n_board)))]
        site = self.n_board
        for owner, size in hands:
            sites = list(range(site, site + size))
            self.hand_sites[owner] = sites
            self.containers.append((f"Hand{owner}", sites))
            site += size
        self.n_sites = site
        self.n_players = n_players
        self._steps: dict[tuple[str, int], list[int]] = {}
        self._dirs_cache: dict[str, list[list[int]]] = {}
        self.labels = {label: i for i, label in enumerate(self.el.label)}
        self.tracks: list[Track] = build_tracks(a.get("track"), self, n_players)

    # --- neighbourhoods (default site type) -----------------------------------------------------

    def steps(self, dirn: str) -> list[list[int]]:
        """For each board site, the sites one step away in direction ``dirn``."""
        lst = self._dirs_cache.get(dirn)
        if lst is None:
            t = self.site_type
            lst = [self.traj.step_sites(t, i, dirn) for i in range(self.n_board)]
            self._dirs_cache[dirn] = lst
        return lst

    def radials(self, site: int, dirn: str) -> list[Radial]:
        return self.traj.radials(self.site_type, site, dirn)

    def distinct_radials(self, site: int, dirn: str) -> list[Radial]:
        return self.traj.distinct_radials(self.site_type, site, dirn)

    def supported_directions(self, relation: str = "All") -> list[str]:
        """Compass directions used by steps of that relation anywhere on the board."""
        seen: list[str] = []
        order = (
            "N",
            "NNE",
            "NE",
            "ENE",
            "E",
            "ESE",
            "SE",
            "SSE",
            "S",
            "SSW",
            "SW",
            "WSW",
            "W",
            "WNW",
            "NW",
            "NNW",
        )
        t = self.site_type
        found = set()
        for i in range(self.n_board):
            for s in self.traj.in_dir[(t, i)].get(relation, ()):
                if s.dst[0] != t:
                    continue
                for d in s.dirs:
                    if d in order:
                        found.add(d)
        for d in order:
            if d in found:
                seen.append(d)
        return seen

    def walk_targets(self, walks: list[list[str]], rotations: bool = True) -> list[list[int]]:
        """For each site, where the walks (``F``: step ahead, ``L``/``R``: turn one orthogonal
        direction, ``B``: turn back) end, starting in every orthogonal direction (Ludii ``(sites
        {{F F R F}})``, as knights use)."""
        dirs = self.supported_directions("Orthogonal")
        if not dirs:
            return [[] for _ in range(self.n_board)]
        steps = {d: self.steps(d) for d in dirs}
        starts = range(len(dirs)) if rotations else [dirs.index("N") if "N" in dirs else 0]
        out = []
        for site in range(self.n_board):
            found = set()
            for walk in walks:
                for k0 in starts:
                    k, cur = k0, site
                    for st in walk:
                        if st == "F":
                            nxt = steps[dirs[k]][cur]
                            if not nxt:
                                cur = -1
                                break
                            cur = nxt[0]
                        elif st == "R":
                            k = (k + 1) % len(dirs)
                        elif st == "L":
                            k = (k - 1) % len(dirs)
                        elif st == "B":
                            k = (k + len(dirs) // 2) % len(dirs)
                    if cur >= 0 and cur != site:
                        found.add(cur)
            out.append(sorted(found))
        return out

    # --- static regions -------------------------------------------------------------------------

    def with_prop(self, prop: str) -> list[int]:
        return [i for i, p in enumerate(self.el.props) if prop in p]

    def row(self, r: int) -> list[int]:
        return [i for i, x in enumerate(self.el.row) if x == r]

    def column(self, c: int) -> list[int]:
        return [i for i, x in enumerate(self.el.col) if x == c]

    def num_rows(self) -> int:
        return max(self.el.row) + 1 if self.el.row else 0

    def num_columns(self) -> int:
        return max(self.el.col) + 1 if self.el.col else 0

    def phase_sites(self, p: int) -> list[int]:
        return [i for i, x in enumerate(self.el.phase) if x == p]

    def container_sites(self, name: str) -> list[int]:
        """Sites of a container by name ("Board", "Hand1"; "Hand": every hand)."""
        out = [
            s
            for cname, sites in self.containers
            if cname == name or (name == "Hand" and cname.startswith("Hand"))
            for s in sites
        ]
        if not out and name not in ("Hand",):
            raise Unsupported("container", f"unknown container {name}")
        return out

    def coord(self, label: str) -> int:
        site = self.labels.get(label)
        if site is None:
            raise Unsupported("coord", f"unknown coordinate {label}")
        return site
