"""A compiled game: players, equipment, start position, phases and end rules; legal moves and applying
a move with everything Ludii's ``Game.apply`` does after it (end rules, turn limit, phase changes,
next mover).

``build_game(typed)`` raises ``Unsupported`` naming the first ludeme the engine cannot play.
Results follow Ludii's ``End.applyResult``: a win ranks the player first, a loss last, a draw gives
the unranked players the average of the remaining ranks; the game is over once no player is active.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rlpr.tasks.ludii.engine import conditions as _conditions  # noqa: F401 (registers builders)
from rlpr.tasks.ludii.engine import dice as _dice  # noqa: F401 (registers builders)
from rlpr.tasks.ludii.engine import functions as _functions  # noqa: F401 (registers builders)
from rlpr.tasks.ludii.engine import moves as _moves  # noqa: F401 (registers builders)
from rlpr.tasks.ludii.engine import sowing as _sowing  # noqa: F401 (registers builders)
from rlpr.tasks.ludii.engine.board import Board
from rlpr.tasks.ludii.engine.core import (
    A_PASS,
    A_SELECT,
    UNDEFINED,
    Compiler,
    Ctx,
    Move,
    State,
    Unsupported,
    apply_actions,
    const,
    scan,
)
from rlpr.tasks.ludii.engine.functions import player_fn, role_fn, static_region
from rlpr.tasks.ludii.typed import TypedArray, TypedCall, TypedConst

TURN_LIMIT_PER_PLAYER = 500
MOVE_LIMIT = 10000


@dataclass
class Component:
    name: str
    base: str
    owner: int
    facing: str | None
    moves_node: TypedCall | None


@dataclass
class Phase:
    name: str
    owner: int | None  # None: every player
    play: object  # ctx -> list[Move]
    end: list = field(default_factory=list)
    nexts: list = field(default_factory=list)  # (who closure or None, cond or None, target index)


def _items(node) -> list:
    if node is None:
        return []
    if isinstance(node, TypedArray):
        return list(node.items)
    return [node]


class EngineGame:
    """Everything needed to play a game; built once per description."""

    def __init__(self, typed: TypedCall):
        if typed.kind != "game":
            raise Unsupported(typed.kind, "only (game ...) is played")
        self.name = const(typed.args["string"])
        a = typed.args
        if a.get("mode") is not None and const(a["mode"].args.get("ModeType")) not in (None, "Alternating"):
            raise Unsupported("mode", const(a["mode"].args.get("ModeType")))
        self.n_players, self.player_dirs = self._players(a.get("players"))
        self.compiler = Compiler(self)
        self.has_sequence_capture = False
        self.counts_on_board = False  # Ludii requiresCount: counters pile up on board sites
        self.requires_visited = False  # set by (is Visited ...)
        self.all_pass_draw = True  # Ludii requiresAllPass: off when the game tests (all Passed) itself
        self._piece_gens: list | None = None
        self._equipment(a.get("equipment"))
        rules = a.get("rules")
        if rules is None:
            raise Unsupported("game", "no rules")
        self.uses_swap = False
        self._meta(rules.args.get("meta"))
        self._phases(rules)
        self.add_to_empty = self._is_add_to_empty(rules)
        self.has_end = rules.args.get("end") is not None
        self.end_rules = [self._end_rule(r) for r in self._end_items(rules.args.get("end"))]
        self.start_rules = [self._start_rule(r) for r in self._start_items(rules.args.get("start"))]
        self._history_len = 2 * self.n_players + 4
        self.initial = self._initial_state()

    # --- players and equipment -----------------------------------------------------------------

    def _players(self, node) -> tuple[int, dict[int, str]]:
        if node is None:
            return 2, {}
        if node.args.get("Integer") is not None:
            if node.args.get("moves") is not None:
                raise Unsupported("players", "with moves")
            return int(node.args["Integer"].value), {}
        dirs = {}
        items = node.args["players"].items
        for i, p in enumerate(items, 1):
            if p.args.get("moves") is not None:
                raise Unsupported("player", "with moves")
            d = const(p.args.get("CompassDirection"))
            if d is not None:
                dirs[i] = d
        return len(items), dirs

    def _owner(self, role: str | None) -> list[int]:
        n = self.n_players
        if role is None or role == "Each":
            return list(range(1, n + 1)) if role == "Each" else [0]
        if role == "Neutral":
            return [0]
        if role == "Shared":
            return [n + 1]
        if role.startswith("P") and role[1:].isdigit():
            return [int(role[1:])]
        raise Unsupported(f"RoleType {role}", "as an owner")

    def _equipment(self, node) -> None:
        if node is None:
            raise Unsupported("equipment", "default equipment")
        items = node.args["items"].items
        self.components: list[Component | None] = [None]
        hands: list[tuple[int, int]] = []
        board_node = None
        self.region_nodes: list[tuple[str | None, int | None, object]] = []
        self.map_nodes: list[TypedCall] = []
        self.dice_faces: list[list[int]] = []  # faces of each die (one set of dice)
        self.dice_owner = self.n_players + 1  # Shared
        for it in items:
            kind = it.kind
            if kind in ("board", "mancalaBoard"):
                board_node = it
            elif kind == "piece":
                role = const(it.args.get("RoleType"))
                base = const(it.args["string"])
                facing = const(it.args.get("CompassDirection"))
                if it.args.get("flips") is not None or it.args.get("value") is not None:
                    raise Unsupported("piece", "flips:/value:")
                for owner in self._owner(role if role is not None else "Neutral"):
                    name = base + str(owner) if (self.n_players != 1 or owner == 0) else base
                    f = facing or self.player_dirs.get(owner)
                    self.components.append(Component(name, base, owner, f, it.args.get("moves")))
            elif kind == "hand":
                size = int(it.args["size"].value) if it.args.get("size") is not None else 1
                hands.extend((owner, size) for owner in self._owner(const(it.args["RoleType"])))
            elif kind == "regions":
                name = const(it.args.get("string"))
                role = const(it.args.get("RoleType"))
                owner = self._owner(role)[0] if role is not None else None
                self.region_nodes.append((name, owner, it.args["region"]))
            elif kind == "map":
                self.map_nodes.append(it)
            elif kind == "dice":
                self._dice(it)
            else:
                raise Unsupported(kind, "equipment item")
        if board_node is None:
            raise Unsupported("equipment", "no board")
        self.board = Board(board_node, hands, self.n_players)
        self.n_board = self.board.n_board
        self._regions_cache: dict = {}
        self._maps: dict[str | None, dict[int, int]] = {}
        for m in self.map_nodes:
            self._maps[const(m.args.get("string"))] = self._map(m)

    def _dice(self, node: TypedCall) -> None:
        """``(dice d:6 from:1 num:2)``: the faces of each die (one set of dice per game)."""
        a = node.args
        if self.dice_faces:
            raise Unsupported("dice", "two sets of dice")
        if a.get("biased") is not None:
            raise Unsupported("dice", "biased:")
        num = int(a["num"].value) if a.get("num") is not None else 1
        role = const(a.get("RoleType"))
        if role is not None:
            self.dice_owner = self._owner(role)[0]
        if a.get("facesByDie") is not None:
            self.dice_faces = [[int(v.value) for v in die.items] for die in a["facesByDie"].items]
        elif a.get("faces") is not None:
            faces = [int(v.value) for v in a["faces"].items]
            self.dice_faces = [faces] * num
        else:
            d = int(a["d"].value) if a.get("d") is not None else 6
            start = int(a["from"].value) if a.get("from") is not None else 1
            self.dice_faces = [list(range(start, start + d))] * num

    def _map(self, node: TypedCall) -> dict[int, int]:
        out = {}
        if node.args.get("pairs") is not None:
            for pair in node.args["pairs"].items:
                k = self._map_value(pair.args["int"])
                v = self._map_value(pair.args["int2"])
                out[k] = v
        else:
            for k, v in zip(node.args["Integers"].items, node.args["Integers2"].items):
                out[int(k.value)] = int(v.value)
        return out

    def _map_value(self, node) -> int:
        if isinstance(node, TypedConst):
            if node.type == "RoleType":
                return self._owner(node.value)[0]
            if node.type == "string":  # a piece name, else a coordinate
                if any(c is not None and node.value in (c.name, c.base) for c in self.components):
                    return self.piece_index(node.value)
                return self.board.coord(node.value)
            if node.type == "LandmarkType":
                if node.value == "FirstSite":
                    return 0
                if node.value == "LastSite":
                    return self.board.n_board - 1
                raise Unsupported("pair", f"landmark {node.value}")
            return int(node.value)
        return int(self.compiler.int(node)(None))

    def map_named(self, name: str | None) -> dict[int, int]:
        if name in self._maps:
            return self._maps[name]
        if name is None and len(self._maps) == 1:
            return next(iter(self._maps.values()))
        raise Unsupported("mapEntry", f"unknown map {name}")

    # --- components ----------------------------------------------------------------------------

    def components_named(self, name: str) -> list[int]:
        """Indices of the components with that name, or that base name."""
        exact = [i for i, c in enumerate(self.components) if c is not None and c.name == name]
        if exact:
            return exact
        base = [i for i, c in enumerate(self.components) if c is not None and c.base == name]
        if base:
            return base
        raise Unsupported("piece", f"unknown piece {name}")

    def piece_index(self, name: str) -> int:
        found = self.components_named(name)
        if len(found) != 1:
            raise Unsupported("piece", f"ambiguous piece {name}")
        return found[0]

    def piece_by_name(self, name: str):
        found = self.components_named(name)
        if len(found) == 1:
            v = found[0]
            return lambda ctx: v
        table = {self.components[i].owner: i for i in found}
        return lambda ctx: table.get(ctx.s.mover, 0)

    def piece_generators(self, c: Compiler) -> list:
        if self._piece_gens is None:
            self._piece_gens = [None]
            for comp in self.components[1:]:
                self._piece_gens.append(c.moves(comp.moves_node) if comp.moves_node is not None else None)
        return self._piece_gens

    # --- regions -------------------------------------------------------------------------------

    def named_region(self, c: Compiler, name: str | None, role_node):
        """Closure for ``(sites "Name" [role])`` / ``(sites P1)``: the union of matching regions."""
        fixed_owner = None
        dyn = None
        if role_node is not None:
            if (
                isinstance(role_node, TypedConst)
                and role_node.type == "RoleType"
                and role_node.value.startswith("P")
            ):
                fixed_owner = int(role_node.value[1:])
            else:
                dyn = player_fn(c, role_node)
        by_owner: dict[int | None, list] = {}
        for rname, owner, rnode in self.region_nodes:
            if name is not None and rname != name:
                continue
            by_owner.setdefault(owner, []).append(self._region_fn(c, rnode))
        if not by_owner:
            raise Unsupported("sites", f"unknown region {name}")

        def union(fns, ctx):
            out = set()
            for f in fns:
                out.update(f(ctx))
            return sorted(out)

        if all(getattr(f, "static", False) for lst in by_owner.values() for f in lst):
            # regions that depend on nothing (the usual case): each owner's union, once
            memo = {owner: union(lst, None) for owner, lst in by_owner.items()}
            if dyn is None:
                if fixed_owner is not None:
                    return static_region(memo.get(fixed_owner, []))
                return static_region(union([f for lst in by_owner.values() for f in lst], None))
            return lambda ctx: memo.get(dyn(ctx)) or []
        if dyn is None:
            if fixed_owner is not None:
                fns = by_owner.get(fixed_owner, [])
            else:
                fns = [f for lst in by_owner.values() for f in lst]
            return lambda ctx: union(fns, ctx)
        # Ludii SitesEquipmentRegion: only the regions the player owns (a region declared without a
        # role is Neutral, owner 0, so it is never one of a player's)
        return lambda ctx: union(by_owner.get(dyn(ctx), []), ctx)

    def _region_fn(self, c: Compiler, rnode):
        if isinstance(rnode, TypedArray):
            if (
                rnode.items
                and isinstance(rnode.items[0], TypedConst)
                and rnode.items[0].type != "RegionTypeStatic"
            ):
                return static_region(sorted({int(i.value) for i in rnode.items}))
            fns = [self._region_fn(c, i) for i in rnode.items]
            if all(getattr(f, "static", False) for f in fns):
                return static_region(sorted({s for f in fns for s in f(None)}))
            return lambda ctx: sorted({s for f in fns for s in f(ctx)})
        if isinstance(rnode, TypedConst):
            if rnode.type == "RegionTypeStatic":
                if rnode.value == "AllSites":
                    return static_region(list(range(self.board.n_board)))
                raise Unsupported("regions", rnode.value)
        return c.region(rnode)

    # --- rules ---------------------------------------------------------------------------------

    def _meta(self, node) -> None:
        if node is None:
            return
        for rule in _items(node.args.get("metaRule") or node.args.get("metaRules")):
            if rule.kind == "swap":
                self.uses_swap = True
            else:
                raise Unsupported(rule.kind, "meta rule")

    def _phases(self, rules: TypedCall) -> None:
        c = self.compiler
        a = rules.args
        self.phases: list[Phase] = []
        if a.get("phases") is None:
            self.phases.append(Phase("Default", None, c.moves(a["play"].args["moves"])))
            return
        top_play = a.get("play")
        nodes = a["phases"].items
        names = [const(p.args["string"]) for p in nodes]
        for p in nodes:
            pa = p.args
            if pa.get("mode") is not None:
                raise Unsupported("phase", "mode")
            role = const(pa.get("RoleType"))
            owner = None if role in (None, "Shared", "All") else self._owner(role)[0]
            play_node = pa.get("play") or top_play
            if play_node is None:
                raise Unsupported("phase", "no play")
            phase = Phase(const(pa["string"]), owner, c.moves(play_node.args["moves"]))
            if pa.get("end") is not None:
                phase.end = [self._end_rule(r) for r in self._end_items(pa["end"])]
            nexts = pa.get("nextPhase")
            for nx in _items(nexts):
                na = nx.args
                who_node = na.get("RoleType") if na.get("RoleType") is not None else na.get("playerRef")
                if who_node is None or (
                    isinstance(who_node, TypedConst) and who_node.value in ("Shared", "All")
                ):
                    who = None
                else:
                    who = player_fn(c, who_node)
                cond = c.bool(na["boolean"]) if na.get("boolean") is not None else None
                target_name = const(na.get("string"))
                if target_name is None:
                    target = (len(self.phases) + 1) % len(nodes)
                else:
                    if target_name not in names:
                        raise Unsupported("nextPhase", f"unknown phase {target_name}")
                    target = names.index(target_name)
                phase.nexts.append((who, cond, target))
            self.phases.append(phase)

    def _is_add_to_empty(self, rules: TypedCall) -> bool:
        """Whether Ludii would play this game with ``PlayoutAddToEmpty`` (its swap is then applied
        after the playout, which leaves the colours' results unchanged)."""
        play = rules.args.get("play")
        if rules.args.get("phases") is not None or play is None:
            return False
        m = play.args["moves"]
        if m.kind != "move Add" or m.args.get("then") is not None or m.args.get("pieceRef") is not None:
            return False
        to = m.args["to"]
        region = to.args.get("region")
        return (
            isinstance(region, TypedCall)
            and region.kind == "sites Empty"
            and not any(v is not None for v in region.args.values())
            and all(to.args.get(k) is None for k in ("if", "apply", "level", "rotations"))
        )

    def _end_items(self, node) -> list:
        if node is None:
            return []
        v = node.args.get("endRule")
        if v is None:
            v = node.args.get("endRules")
        return _items(v)

    def _end_rule(self, node):
        """Closure ``ctx -> (who, result) | None`` for an end rule."""
        c = self.compiler
        if node.kind == "if":
            cond = c.bool(node.args["boolean"])
            subs = [self._end_rule(s) for s in _items(node.args.get("endIf") or node.args.get("endIfs"))]
            res = node.args.get("result")
            result = self._end_rule(res) if res is not None else None

            def rule(ctx):
                if not cond(ctx):
                    return None
                for sub in subs:
                    r = sub(ctx)
                    if r is not None:
                        return r
                return result(ctx) if result is not None else None

            return rule
        if node.kind == "byScore":
            misere = node.args.get("misere")
            mis = c.bool(misere) if misere is not None else None
            scores = []
            for sc in _items(node.args.get("scores")):
                if sc.args.get("int") is None:
                    raise Unsupported("score", "without a value")
                scores.append((player_fn(c, sc.args["RoleType"]), c.int(sc.args["int"])))

            def by_score(ctx):
                values = {pf(ctx): vf(ctx) for pf, vf in scores} if scores else None
                return ("byScore", bool(mis(ctx)) if mis is not None else False, values)

            return by_score
        if node.kind == "result":
            result = self._result(node)
            return lambda ctx: result
        if node.kind == "forEach":
            role = const(node.args["RoleType"])
            if role not in ("Player", "Each", "NonMover"):
                raise Unsupported("forEach", f"end rule over {role}")
            cond = c.bool(node.args["if"])
            res = node.args["result"]
            kind = const(res.args["ResultType"])
            who_role = const(res.args["RoleType"])
            if who_role != "Player":
                raise Unsupported("forEach", "result not for Player")
            n = self.n_players

            def each(ctx):
                hits = []
                old = ctx.player
                for p in range(1, n + 1):
                    if role == "NonMover" and p == ctx.s.mover:
                        continue
                    ctx.player = p
                    if cond(ctx):
                        hits.append(p)
                ctx.player = old
                return ("each", kind, hits) if hits else None

            return each
        raise Unsupported(node.kind, "end rule")

    def _result(self, node: TypedCall):
        role = const(node.args["RoleType"])
        kind = const(node.args["ResultType"])
        if kind not in ("Win", "Loss", "Draw"):
            raise Unsupported("result", kind)
        if role in ("Mover", "Next", "Prev", "All") or role.startswith("P"):
            return (role, kind)
        raise Unsupported("result", f"for {role}")

    def _start_items(self, node) -> list:
        if node is None:
            return []
        v = node.args.get("startRule")
        if v is None:
            v = node.args.get("startRules")
        return _items(v)

    def _start_rule(self, node):
        c = self.compiler
        kind = node.kind
        a = node.args
        if kind == "place" and a.get("string2") is not None:
            return self._place_in_container(a)
        if kind == "place":
            if a.get("rotation") is not None or a.get("invisibleTo") is not None:
                raise Unsupported("place", "rotation/hidden")
            t = a.get("SiteType")
            if t is not None and const(t) != self.board.site_type:
                raise Unsupported("place", f"site type {const(t)}")
            what = self.piece_index(const(a["string"]))
            who = self.components[what].owner
            count = int(a["count"].value) if a.get("count") is not None else 1
            state = int(a["state"].value) if a.get("state") is not None else 0
            if a.get("counts") is not None:
                raise Unsupported("place", "counts:")
            fns = []
            if a.get("int") is not None:
                one = c.int(a["int"])
                fns.append(lambda ctx, f=one: [f(ctx)])
            if a.get("ints") is not None:
                ints = [c.int(i) for i in a["ints"].items]
                fns.append(lambda ctx, ints=ints: [f(ctx) for f in ints])
            if a.get("region") is not None:
                fns.append(c.region(a["region"]))
            if a.get("coord") is not None:
                site = self.board.coord(const(a["coord"]))
                fns.append(lambda ctx, site=site: [site])
            if a.get("strings") is not None:
                sites = [self.board.coord(const(s)) for s in a["strings"].items]
                fns.append(lambda ctx, sites=sites: sites)

            def place(ctx):
                s = ctx.s
                for f in fns:
                    for site in f(ctx):
                        if 0 <= site < len(s.what):
                            if s.what[site] == what:
                                s.count[site] += count
                            else:
                                s.what[site], s.who[site], s.count[site], s.sstate[site] = (
                                    what,
                                    who,
                                    count,
                                    state,
                                )

            return place
        if kind == "set Score":
            pf = role_fn(c, const(a.get("RoleType")) or "Each")
            role = const(a.get("RoleType")) or "Each"
            v = c.int(a["int"])

            def set_score(ctx):
                players = range(1, self.n_players + 1) if role == "Each" else [pf(ctx)]
                for p in players:
                    ctx.s.score[p] = v(ctx)

            return set_score
        if kind == "set Count":
            n = int(a["Integer"].value)
            at = a.get("at") if a.get("at") is not None else a.get("to")
            reg = c.region(at) if isinstance(at, TypedCall) and at.returns == "region" else None
            f = c.int(at) if reg is None else None

            first_owner = self.components[1].owner if len(self.components) > 1 else 0

            def set_count(ctx):
                s = ctx.s
                for site in reg(ctx) if reg is not None else [f(ctx)]:
                    if not s.what[site]:
                        s.what[site], s.who[site] = 1, first_owner
                    s.count[site] = n

            return set_count
        raise Unsupported(kind, "start rule")

    def _place_in_container(self, a: dict):
        """``(place "Ball" "Hand" count:n)``: each player's piece into each player's hand (or a named
        piece into a named container), ``count`` of it on the container's first site."""
        if a.get("rotation") is not None or a.get("invisibleTo") is not None or a.get("state") is not None:
            raise Unsupported("place", "rotation/hidden/state in a container")
        item, cont = const(a["string"]), const(a["string2"])
        count = int(a["count"].value) if a.get("count") is not None else 1
        placements: list[tuple[int, int]] = []
        if cont in ("Hand", "hand") or not cont[-1:].isdigit():
            for owner, sites in self.board.hand_sites.items():
                name = item + str(owner)
                idx = [i for i, comp in enumerate(self.components) if comp is not None and comp.name == name]
                if not idx:
                    idx = [
                        i
                        for i, comp in enumerate(self.components)
                        if comp is not None and comp.base == item and comp.owner == owner
                    ]
                if idx:
                    placements.append((sites[0], idx[0]))
        else:
            sites = self.board.container_sites(cont)
            placements.append((sites[0], self.piece_index(item)))
        if not placements:
            raise Unsupported("place", f"nothing to place for {item} in {cont}")

        def place(ctx):
            s = ctx.s
            for site, what in placements:
                s.what[site], s.who[site], s.count[site] = what, self.components[what].owner, count

        return place

    def _initial_state(self) -> State:
        s = State(self.board.n_sites, self.n_players)
        s.dice = [faces[0] for faces in self.dice_faces]
        ctx = Ctx(self, s, None)
        for rule in self.start_rules:
            rule(ctx)
        for p in range(1, self.n_players + 1):
            s.phase[p] = self._first_phase(p)
        return s

    def _first_phase(self, p: int) -> int:
        for i, ph in enumerate(self.phases):
            if ph.owner is None or ph.owner == p:
                return i
        return 0

    # --- playing -------------------------------------------------------------------------------

    def moves_for_mover(self, ctx: Ctx) -> list[Move]:
        """The phase's moves for the current mover (no forced pass)."""
        s = ctx.s
        phase = self.phases[s.phase[s.mover]]
        moves = phase.play(ctx)
        swap = self._swap_move(s)
        if swap is not None:
            moves = [*moves, swap]
        return moves

    def scan_moves_for_mover(self, ctx: Ctx, pred) -> bool:
        """``pred(self.moves_for_mover(ctx))`` for an any-move test, through ``scan`` (stopping
        early)."""
        swap = self._swap_move(ctx.s)
        if swap is not None and pred([swap]):
            return True
        return scan(self.phases[ctx.s.phase[ctx.s.mover]].play, ctx, pred)

    def _swap_move(self, s: State) -> Move | None:
        if self.uses_swap and s.num_moves == self.n_players - 1 and not self.add_to_empty:
            m = Move([(A_SELECT, -1, -1)])
            m.mover = s.mover
            return m
        return None

    @staticmethod
    def _resolve(gen, ctx: Ctx):
        """Follow ``(if c A B)`` at the top of a phase's moves to the branch taken (None: no moves)."""
        while gen is not None and hasattr(gen, "branch"):
            gen = gen.branch(ctx)
        return gen

    def can_move(self, ctx: Ctx) -> bool:
        """Whether the mover has a move, stopping at the first one found (Ludii ``canMove``)."""
        s = ctx.s
        gen = self._resolve(self.phases[s.phase[s.mover]].play, ctx)
        if gen is None:
            return self._swap_move(s) is not None
        after = getattr(gen, "after", None)
        if self._swap_move(s) is not None:
            return True
        if after is None:
            return scan(gen, ctx, bool)
        return scan(gen.prior, ctx, lambda lst: any(self.passes_after(ctx, m, after) for m in lst))

    def sample_move(self, ctx: Ctx, rng) -> Move:
        """A legal move drawn uniformly (a forced pass when there is none). For a phase whose moves are
        ``(do M ifAfterwards:C)`` it draws from M and rejects failures, as Ludii's ``PlayoutFilter``:
        the same distribution without testing every move."""
        s = ctx.s
        gen = self._resolve(self.phases[s.phase[s.mover]].play, ctx)
        after = getattr(gen, "after", None)
        if after is None:
            moves = self.legal_moves(ctx)
            return moves[rng.randrange(len(moves))] if len(moves) > 1 else moves[0]
        cands = gen.prior(ctx)
        swap = self._swap_move(s)
        if swap is not None:
            cands.append(swap)
        mover = s.mover
        then = gen.then
        while cands:
            i = rng.randrange(len(cands))
            m = cands[i]
            if m is swap or self.passes_after(ctx, m, after):
                if then is not None and m is not swap:
                    m.then.append(then)
                m.mover = mover
                s.stalemated &= ~(1 << (mover - 1))
                return m
            cands[i] = cands[-1]
            cands.pop()
        s.stalemated |= 1 << (mover - 1)
        m = Move([(A_PASS,)])
        m.is_pass = True
        m.mover = mover
        return m

    def legal_moves(self, ctx: Ctx) -> list[Move]:
        """Legal moves for the mover; a forced pass when there are none (Ludii ``Trial.setLegalMoves``)."""
        s = ctx.s
        if s.over:
            return []
        moves = self.moves_for_mover(ctx)
        bit = 1 << (s.mover - 1)
        if moves:
            s.stalemated &= ~bit
            return moves
        s.stalemated |= bit
        m = Move([(A_PASS,)])
        m.is_pass = True
        m.mover = s.mover
        return [m]

    def no_moves_next(self, ctx: Ctx) -> bool:
        """Ludii ``(no Moves Next)``: whether the next player would have no move if it were its turn."""
        if ctx.auto_fail:
            return False
        s = ctx.s
        prev, mover, nxt = s.prev, s.mover, s.next
        if not s.over and s.active:
            s.mover = nxt
            s.prev = mover
            s.next = self._following(s, nxt)
        ctx.auto_fail = True
        try:
            can = self.can_move(ctx)
        finally:
            ctx.auto_fail = False
            bit = 1 << (s.mover - 1)
            if can:
                s.stalemated &= ~bit
            else:
                s.stalemated |= bit
            s.prev, s.mover, s.next = prev, mover, nxt
        return bool(s.stalemated >> (nxt - 1) & 1)

    def _following(self, s: State, p: int) -> int:
        n = self.n_players
        nxt = p % n + 1
        for _ in range(n):
            if s.is_active(nxt):
                return nxt
            nxt = nxt % n + 1
        return nxt

    def passes_after(self, ctx: Ctx, move: Move, cond) -> bool:
        """Ludii ``Do.movePassesCond``: apply ``move`` to a copy and test ``cond`` there."""
        saved = ctx.s
        s = saved.copy()
        s.replayed = False
        ctx.s = s
        try:
            self._apply_stored(ctx, move)
            if s.mover == s.next:
                s.next = s.prev
            return bool(cond(ctx))
        finally:
            ctx.s = saved

    def replay_length(self, ctx: Ctx, move: Move) -> int:
        """Ludii ``MaxMoves``: how many moves the longest continuation of ``move`` in the same turn
        has (the move itself included)."""
        saved = ctx.s
        ctx.s = saved.copy()
        try:
            self.apply(ctx, move)
            return self._replays(ctx, 1)
        finally:
            ctx.s = saved

    def _replays(self, ctx: Ctx, count: int) -> int:
        s = ctx.s
        if s.over or s.prev != s.mover:
            return count
        best = 0
        for m in self.legal_moves(ctx):
            saved = ctx.s
            ctx.s = saved.copy()
            try:
                self.apply(ctx, m)
                best = max(best, self._replays(ctx, count + 1))
            finally:
                ctx.s = saved
        return best

    def _apply_stored(self, ctx: Ctx, move: Move) -> None:
        """Actions, then store the move as the last one, then consequents (Ludii ``Move.apply``)."""
        s = ctx.s
        then = move.then
        move.then = []
        s.after_from = s.after_to = UNDEFINED
        try:
            apply_actions(ctx, move)
        finally:
            move.then = then
        s.prev_move = s.last_move
        s.last_move = move
        for cons in then:
            for m in cons(ctx):
                apply_actions(ctx, m)
        if self.has_sequence_capture and not s.replayed and s.to_clear:
            for site in s.to_clear:
                s.what[site] = s.who[site] = s.count[site] = s.sstate[site] = 0
            s.to_clear = []

    def apply(self, ctx: Ctx, move: Move) -> None:
        """Apply a decision move and everything that follows it (Ludii ``Game.applyInternal``)."""
        s = ctx.s
        mover = s.mover
        s.pending = []
        s.replayed = False
        self._apply_stored(ctx, move)
        s.num_moves += 1
        s.history.append((move.mover, move.is_pass))
        if len(s.history) > self._history_len:
            del s.history[0]
        if move.mover != s.last_mover:
            s.num_turns += 1
            s.last_mover = move.mover
            s.moves_this_turn = 1
        else:
            s.moves_this_turn += 1
        # Ludii End.eval, for the mover's phase end and the game end when they exist; each ends
        # with the all-passed draw check (so a game without any end clause never checks it)
        if s.active:
            phase = self.phases[s.phase[s.mover]]
            if phase.end:
                self._eval_end(ctx, phase.end)
        if not s.over and self.has_end:
            self._eval_end(ctx, self.end_rules)
        n = self.n_players
        if s.active and (s.num_turns >= TURN_LIMIT_PER_PLAYER * n or s.num_moves >= MOVE_LIMIT):
            winner = 0
            if n > 1:
                rank = self._next_draw_rank(s)
                for p in range(1, n + 1):
                    if s.ranking[p] == 0.0:
                        s.ranking[p] = rank
                    elif s.ranking[p] == 1.0:
                        winner = p
            else:
                s.ranking[1] = 0.0
            s.active = 0
            s.over = True
            s.winner = winner
            s.end_type = "limit"
        if not s.active:
            s.prev = mover
        else:
            if len(self.phases) > 1:
                for pid in range(1, n + 1):
                    phase = self.phases[s.phase[pid]]
                    for who, cond, target in phase.nexts:
                        if who is not None and who(ctx) != pid:
                            continue
                        if cond is None or cond(ctx):
                            s.phase[pid] = target
                            break
        s.counter += 1
        if s.active:
            if self.requires_visited:  # Ludii: the sites a turn of several moves went through
                if s.mover != s.next:
                    s.visited = set()
                else:
                    s.visited.add(move.frm)
                    s.visited.add(move.to)
            s.prev = mover
            s.mover = s.next
            nxt = s.mover % n + 1
            for _ in range(n):
                if s.is_active(nxt):
                    break
                nxt = nxt % n + 1
            s.next = nxt
            s.passes = s.passes + 1 if move.is_pass else 0

    # --- results -------------------------------------------------------------------------------

    def _eval_end(self, ctx: Ctx, rules: list) -> None:
        s = ctx.s
        self._wins_decided = 0
        self._losses_decided = 0
        for rule in rules:
            res = rule(ctx)
            if res is None:
                continue
            if res[0] == "byScore":
                self._by_score(s, res[1], res[2])
                continue
            if res[0] == "each":
                _, kind, players = res
                for p in players:
                    if s.is_active(p):
                        self._apply_result(s, p, kind)
                continue
            role, kind = res
            who = self._who(s, role)
            if not s.is_active(who) and who != self.n_players + 1:
                continue
            self._apply_result(s, who, kind)
        if not s.over and self.all_pass_draw and self._all_pass(s):
            self._apply_result(s, self.n_players + 1, "Draw")
        self._wins_decided = 0
        self._losses_decided = 0

    def _all_pass(self, s: State) -> bool:
        """Ludii ``Context.allPass``: each player's last turn was a single pass."""
        hist = s.history
        if not hist:
            return False
        n = self.n_players
        if n == 1:
            return hist[-1][1]
        last_mover = s.mover
        pass_move = False
        count = 0
        idx = len(hist) - 1
        for _ in range(n):
            while True:
                if idx < 0:
                    return pass_move
                if count > 1:
                    return False
                mover, is_pass = hist[idx]
                idx -= 1
                if last_mover != mover:
                    if not pass_move:
                        return False
                    last_mover = mover
                    count = 0
                    pass_move = is_pass
                    break
                count += 1
                pass_move = is_pass
        return True

    def _who(self, s: State, role: str) -> int:
        if role == "Mover":
            return s.mover
        if role == "Next":
            return s.next
        if role == "Prev":
            return s.prev
        if role == "All":
            return self.n_players + 1
        return int(role[1:])

    def _only_active(self, s: State) -> int:
        if bin(s.active).count("1") != 1:
            return 0
        return s.active.bit_length()

    def _next_draw_rank(self, s: State) -> float:
        """The shared rank of players still unranked: the mean of the ranks left."""
        return (s.n_won + 1 + self.n_players - s.n_lost) / 2.0

    def _finish(self, s: State) -> None:
        s.active = 0
        s.over = True
        s.end_type = "result"
        s.winner = 0
        for p in range(1, self.n_players + 1):
            if s.ranking[p] == 1.0:
                s.winner = p
                break

    def _apply_result(self, s: State, who: int, kind: str) -> None:
        """Ludii ``End.applyResult`` for one player (or all, ``who == n + 1``)."""
        n = self.n_players
        if who == n + 1:
            if n == 1:
                s.ranking[1] = 0.0
            else:
                draw = self._next_draw_rank(s)
                for p in range(1, n + 1):
                    if s.ranking[p] == 0.0:
                        s.ranking[p] = {"Win": 1.0, "Loss": float(n)}.get(kind, draw)
            self._finish(s)
            if kind != "Draw":
                s.winner = 0
            return
        if kind == "Win":
            s.active &= ~(1 << (who - 1))
            if self._wins_decided == 0:
                self._win_rank = float(s.n_won + 1)
            self._wins_decided += 1
            s.n_won += 1
            s.ranking[who] = self._win_rank
            only = self._only_active(s)
            if only:
                s.ranking[only] = self._win_rank + 1.0
                s.n_lost += 1
                self._finish(s)
            elif not s.active:
                self._finish(s)
            return
        if kind == "Loss":
            if not s.is_active(who):
                return
            s.active &= ~(1 << (who - 1))
            if n == 1:
                s.ranking[1] = 0.0
                self._finish(s)
                return
            if s.next == who:
                nxt = who
                for _ in range(n):
                    if s.is_active(nxt) or not s.active:
                        break
                    nxt = nxt % n + 1
                s.next = nxt
            rank = float(n - s.n_lost)
            if self._losses_decided:
                prev_rank = rank + 1.0 + 0.5 * (self._losses_decided - 1.0)
                rank = prev_rank - 0.5
                for p in range(1, n + 1):
                    if s.ranking[p] == prev_rank:
                        s.ranking[p] = rank
            s.ranking[who] = rank
            s.n_lost += 1
            self._losses_decided += 1
            if not s.active:
                self._finish(s)
                return
            only = self._only_active(s)
            if only:
                s.ranking[only] = float(s.n_won + 1)
                s.n_won += 1
                s.active = 0
                self._finish(s)
            return
        # draw
        if n > 1:
            rank = self._next_draw_rank(s)
            for p in range(1, n + 1):
                if s.ranking[p] == 0.0:
                    s.ranking[p] = rank
        else:
            s.ranking[1] = 0.0
        self._finish(s)

    def _by_score(self, s: State, misere: bool, values: dict | None = None) -> None:
        n = self.n_players
        score = s.score if values is None else [values.get(p, 0) for p in range(n + 2)]
        if values is not None:
            for p, v in values.items():
                if 0 < p <= n:
                    s.score[p] = v
        players = [p for p in range(1, n + 1) if s.ranking[p] == 0.0]
        assigned = s.n_won
        while players:
            best = max(score[p] for p in players) if not misere else min(score[p] for p in players)
            tied = [p for p in players if score[p] == best]
            rank = (2.0 * (assigned + 1) + len(tied) - 1) / 2.0
            for p in tied:
                s.ranking[p] = rank
            assigned += len(tied)
            players = [p for p in players if p not in tied]
        self._finish(s)


#: Absolute directions the board trajectories do not assign (circular and 3D ones).
UNSUPPORTED_DIRECTIONS = frozenset(
    {"Rotational", "CW", "CCW", "In", "Out", "Upward", "Downward", "Angled", "Axial"}
)


def _check_constants(typed: TypedCall) -> None:
    """Reject constants the engine would silently mis-play (directions it does not assign)."""
    stack: list = [typed]
    while stack:
        node = stack.pop()
        if isinstance(node, TypedCall):
            stack.extend(v for v in node.args.values() if v is not None)
        elif isinstance(node, TypedArray):
            stack.extend(node.items)
        elif isinstance(node, TypedConst) and node.type == "AbsoluteDirection":
            if node.value in UNSUPPORTED_DIRECTIONS:
                raise Unsupported(f"AbsoluteDirection {node.value}", "direction")


def build_game(typed: TypedCall) -> EngineGame:
    """Compile a typed ``(game ...)``; raises ``Unsupported`` for ludemes the engine cannot play."""
    _check_constants(typed)
    return EngineGame(typed)


__all__ = ["EngineGame", "build_game", "TURN_LIMIT_PER_PLAYER"]
