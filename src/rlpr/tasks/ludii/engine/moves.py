"""Move ludemes compiled to generators ``f(ctx) -> list[Move]``.

Each follows its Ludii class: ``(move Step)`` steps to neighbours in the given directions (no
duplicate from/to pairs), ``Hop`` jumps hurdles along radials, ``Slide`` runs along radials while
the sites between are empty, ``(to ... (apply X))`` chains the side effect X *before* the move's
own action, and ``(then X)`` is kept on the move and evaluated when the move is applied. Effects
(``remove``, ``custodial``, ``moveAgain``, ``set ...``) generate non-decision moves the same way.
"""

from __future__ import annotations

from rlpr.tasks.ludii.engine.core import (
    A_ADD,
    A_CLEAR_LATER,
    A_COUNT,
    A_COUNTER,
    A_MOVE,
    A_NEXT,
    A_PASS,
    A_PENDING,
    A_PROMOTE,
    A_REMOVE,
    A_SCORE,
    A_SELECT,
    A_STATE,
    A_TRIGGER,
    A_VALUE,
    A_VAR,
    OFF,
    UNDEFINED,
    Compiler,
    Move,
    Unsupported,
    apply_actions,
    builds,
    chain_before,
    const,
    scan,
)
from rlpr.tasks.ludii.engine.directions import direction_fn
from rlpr.tasks.ludii.engine.functions import player_fn, role_fn
from rlpr.tasks.ludii.typed import TypedArray, TypedCall, TypedConst

MAX_DISTANCE = 1000


def _is_region(node) -> bool:
    return isinstance(node, TypedCall) and node.returns == "region"


def _check_type(c: Compiler, node) -> None:
    t = node.args.get("SiteType") if isinstance(node, TypedCall) else None
    if t is not None and const(t) != c.game.board.site_type:
        raise Unsupported(node.kind, f"site type {const(t)}")


def _ctx_loc(default_loc: str):
    """``ctx -> ctx.frm`` or ``ctx -> ctx.to``, tagged with the field."""
    if default_loc == "from":

        def loc(ctx):
            return ctx.frm

        loc.ctx_field = "frm"  # type: ignore[attr-defined]
    else:

        def loc(ctx):
            return ctx.to

        loc.ctx_field = "to"  # type: ignore[attr-defined]
    return loc


class _Spec:
    """A compiled ``(from ...)`` or ``(to ...)``: location(s), condition, side effect."""

    def __init__(self, c: Compiler, node, default_loc: str):
        self.sites = None  # ctx -> list[int]
        self.loc = None  # ctx -> int
        self.cond = None
        self.effect = None  # ctx -> list[Move]
        self.effect_cond = None
        if node is None:
            self.loc = _ctx_loc(default_loc)
            return
        _check_type(c, node)
        a = node.args
        if a.get("level") is not None:
            raise Unsupported(node.kind, "level:")
        if a.get("rotations") is not None:
            raise Unsupported(node.kind, "rotations")
        r = a.get("region")
        if r is None:
            self.loc = _ctx_loc(default_loc)
        elif _is_region(r):
            self.sites = c.region(r)
        else:
            self.loc = c.int(r)
        if a.get("if") is not None:
            self.cond = c.bool(a["if"])
        ap = a.get("apply")
        if ap is not None:
            if ap.args.get("if") is not None:
                self.effect_cond = c.bool(ap.args["if"])
            if ap.args.get("nonDecision") is not None:
                self.effect = c.moves(ap.args["nonDecision"])

    def locations(self, ctx) -> list[int]:
        if self.sites is not None:
            return self.sites(ctx)
        v = self.loc(ctx)
        return [v] if v >= 0 else []

    def locations_fn(self):
        """``locations`` as a closure, reading ``ctx.frm``/``ctx.to`` directly for the default."""
        if self.sites is not None:
            return self.sites
        field = getattr(self.loc, "ctx_field", None)
        if field == "frm":
            return lambda ctx: [ctx.frm] if ctx.frm >= 0 else []
        if field == "to":
            return lambda ctx: [ctx.to] if ctx.to >= 0 else []
        return self.locations


def _attach(moves: list, then) -> list:
    """Give every move the compiled `then` consequents (when there are any); returns `moves`."""
    if then is not None:
        for m in moves:
            m.then.append(then)
    return moves


def _move_after(eff, f: int, t: int, mover: int) -> Move:
    """The move f -> t by ``mover`` with the effect's actions first: what ``chain_before(eff, move)``
    builds, as one Move."""
    return Move([*eff, (A_MOVE, f, t, 1)] if eff else [(A_MOVE, f, t, 1)], f, t, mover)


def _with_then(pred, then):
    """``pred`` for moves that get the ``then`` consequents attached first (a scan's test)."""
    return pred if then is None else (lambda lst: pred(_attach(lst, then)))


def _then(c: Compiler, node):
    """The compiled consequents of a ludeme's ``then`` argument, or None."""
    t = node.args.get("then")
    if t is None:
        return None
    if const(t.args.get("applyAfterAllMoves")):
        raise Unsupported("then", "applyAfterAllMoves")
    return c.moves(t.args["nonDecision"])


def _finish(c: Compiler, node, gen, sets_mover: bool = False):
    """Attach the ``then`` consequents and the mover to every generated move (``sets_mover``: the
    generator already creates its moves with the mover)."""
    then = _then(c, node)
    if sets_mover:
        if then is None:
            return gen

        def fn3(ctx):
            moves = gen(ctx)
            for m in moves:
                m.then.append(then)
            return moves

        return fn3
    if then is None:

        def fn(ctx):
            moves = gen(ctx)
            mover = ctx.s.mover
            for m in moves:
                m.mover = mover
            return moves

        return fn

    def fn2(ctx):
        moves = gen(ctx)
        mover = ctx.s.mover
        for m in moves:
            m.mover = mover
            m.then.append(then)
        return moves

    return fn2


def _side(effect, ctx) -> list[Move]:
    return effect(ctx) if effect is not None else []


# --- piece references ------------------------------------------------------------------------------


def piece_fns(c: Compiler, node) -> list:
    """Closures giving component indices for a ``(piece ...)`` reference."""
    if node is None:
        return [lambda ctx: ctx.s.mover]  # Ludii: the component whose index is the mover's
    if node.kind != "piece":
        raise Unsupported(node.kind, "piece reference")
    if node.args.get("state") is not None:
        raise Unsupported("piece", "state:")
    v = None
    for key in ("string", "int", "strings", "ints"):
        if node.args.get(key) is not None:
            v = node.args[key]
    items = v.items if isinstance(v, TypedArray) else [v]
    out = []
    for it in items:
        if isinstance(it, TypedConst) and it.type == "string":
            out.append(c.game.piece_by_name(it.value))
        else:
            out.append(c.int(it))
    return out


# --- decisions -------------------------------------------------------------------------------------


@builds("moves", "move Add", "add")
def _add(c, node):
    a = node.args
    if const(a.get("stack")):
        raise Unsupported(node.kind, "stack:True")
    pieces = piece_fns(c, a.get("pieceRef"))
    to = _Spec(c, a["to"], "to")
    count = c.int(a["count"]) if a.get("count") is not None else None
    comps = c.game.components

    def gen(ctx):
        out = []
        old_to = ctx.to
        n = count(ctx) if count is not None else 1
        for pf in pieces:
            what = pf(ctx)
            if what <= 0 or what >= len(comps):
                continue
            who = comps[what].owner
            for site in to.locations(ctx):
                ctx.to = site
                if to.cond is not None and not to.cond(ctx):
                    continue
                m = Move([(A_ADD, site, what, who, n, 0)], OFF, site)
                if to.effect is not None:
                    m = chain_before(to.effect(ctx), m)
                out.append(m)
        ctx.to = old_to
        return out

    return _finish(c, node, gen)


@builds("moves", "move Remove", "remove")
def _remove(c, node):
    a = node.args
    _check_type(c, node)
    later = const(a.get("at")) == "EndOfTurn"
    if later:
        c.game.has_sequence_capture = True
    target = a["int"]
    count = c.int(a["count"]) if a.get("count") is not None else None

    def action(site, n):
        return (A_CLEAR_LATER, site) if later else (A_REMOVE, site, n)

    if _is_region(target):
        reg = c.region(target)

        def gen(ctx):
            n = count(ctx) if count is not None else 1
            return [Move([action(s, n)], s, s) for s in reg(ctx) if ctx.s.what[s]]
    else:
        f = c.int(target)

        def gen(ctx):
            s = f(ctx)
            if s < 0 or s >= len(ctx.s.what):
                return []
            n = count(ctx) if count is not None else 1
            return [Move([action(s, n)], s, s)]

    return _finish(c, node, gen)


@builds("moves", "move Pass", "pass")
def _pass(c, node):
    def gen(ctx):
        m = Move([(A_PASS,)])
        m.is_pass = True
        return [m]

    return _finish(c, node, gen)


def _steps_source(c, node):
    """From-locations of a step-like move: the (from ...) site(s) and condition."""
    return _Spec(c, node.args.get("from"), "from")


@builds("moves", "move Step", "step")
def _step(c, node):
    a = node.args
    if const(a.get("stack")):
        raise Unsupported(node.kind, "stack:True")
    frm = _steps_source(c, node)
    to = _Spec(c, a["to"], "to")
    dirs = direction_fn(c, a.get("direction"))
    board = c.game.board
    nb = board.n_board
    # per direction list: for each site, the sites one step away in any of them, without repeats
    # and in the order the directions give them (a repeated to-site would be the same move)
    cache: dict[tuple, list[list[int]]] = {}

    def neighbours(ds) -> list[list[int]]:
        key = ds if type(ds) is tuple else tuple(ds)
        table = cache.get(key)
        if table is None:
            per_dir = [board.steps(d) for d in key]
            table = []
            for i in range(nb):
                row: list[int] = []
                for steps in per_dir:
                    for t in steps[i]:
                        if t not in row:
                            row.append(t)
                table.append(row)
            cache[key] = table
        return table

    fixed = neighbours(dirs.fixed) if getattr(dirs, "fixed", None) is not None else None
    frm_cond = frm.cond
    to_cond = to.cond
    empty_to = to_cond is not None and getattr(to_cond, "empty_to", False)
    effect = to.effect
    frm_locations = frm.locations_fn()

    def gen(ctx):
        out = []
        old_from, old_to = ctx.frm, ctx.to
        locs = frm_locations(ctx)
        seen = set() if len(locs) > 1 else None
        what = ctx.s.what
        mover = ctx.s.mover
        for f in locs:
            if f < 0 or f >= nb:
                continue
            ctx.frm = f
            if frm_cond is not None and not frm_cond(ctx):
                continue
            for t in (fixed if fixed is not None else neighbours(dirs(ctx, f)))[f]:
                if empty_to:
                    if what[t]:
                        continue
                elif to_cond is not None:
                    ctx.to = t
                    if not to_cond(ctx):
                        continue
                if seen is not None:
                    if (f, t) in seen:
                        continue
                    seen.add((f, t))
                if effect is not None:
                    ctx.to = t
                    out.append(_move_after(effect(ctx), f, t, mover))
                else:
                    out.append(Move([(A_MOVE, f, t, 1)], f, t, mover))
        ctx.frm, ctx.to = old_from, old_to
        return out

    return _finish(c, node, gen, sets_mover=True)


@builds("moves", "move Hop", "hop")
def _hop(c, node):
    a = node.args
    if const(a.get("stack")):
        raise Unsupported(node.kind, "stack:True")
    frm = _steps_source(c, node)
    to = _Spec(c, a["to"], "to")
    dirs = direction_fn(c, a.get("direction"))
    board = c.game.board
    nb = board.n_board
    btw = a.get("between")
    before = after = None
    min_len = max_len = None
    hurdle = None
    side = None
    side_cond = None
    if btw is not None:
        b = btw.args
        if b.get("trail") is not None:
            raise Unsupported("between", "trail:")
        before = c.int(b["before"]) if b.get("before") is not None else None
        after = c.int(b["after"]) if b.get("after") is not None else None
        if b.get("range") is not None:
            min_len, max_len = _range(c, b["range"])
        hurdle = c.bool(b["if"]) if b.get("if") is not None else None
        if b.get("apply") is not None:
            ap = b["apply"].args
            if ap.get("if") is not None:
                side_cond = c.bool(ap["if"])
            side = c.moves(ap["nonDecision"]) if ap.get("nonDecision") is not None else None
    if side_cond is not None:
        raise Unsupported("between", "apply if:")
    stop_rule = to.effect_cond
    stop_effect = to.effect
    radials = _radials_table(board)
    to_cond = to.cond
    empty_to = to_cond is not None and getattr(to_cond, "empty_to", False)

    fixed_dirs = getattr(dirs, "fixed", None)
    pair_cache: dict[tuple, list] = {}
    enemy_hurdle = hurdle is not None and getattr(hurdle, "enemy_between", False)
    n_players = c.game.n_players

    def pairs(ds, f: int) -> list[tuple[int, int]]:
        """(hurdle site, landing site or -1) along each radial from ``f`` in the directions."""
        key = ds if type(ds) is tuple else tuple(ds)
        table = pair_cache.get(key)
        if table is None:
            table = pair_cache[key] = [None] * nb
        v = table[f]
        if v is None:
            v = table[f] = [
                (r.steps[1], r.steps[2] if len(r.steps) > 2 else -1)
                for d in key
                for r in radials(d, f)
                if len(r.steps) >= 2
            ]
        return v

    if fixed_dirs is not None:
        fixed_dirs = tuple(fixed_dirs)
    frm_locations = frm.locations_fn()

    def simple(ctx):
        """The common hop (one hurdle right next to the piece, landing right behind it): what the
        general loop below does when before/after/range are absent, without its bookkeeping."""
        out = []
        old = ctx.frm, ctx.to, ctx.between
        s = ctx.s
        what = s.what
        who = s.who
        mover = s.mover
        for f in frm_locations(ctx):
            if f < 0 or f >= nb:
                continue
            ctx.frm = f
            for between, t in pairs(fixed_dirs if fixed_dirs is not None else dirs(ctx, f), f):
                ctx.between = between
                if enemy_hurdle:
                    v = who[between]
                    ok = 0 < v <= n_players and v != mover
                else:
                    ok = hurdle is None or hurdle(ctx)
                if not ok:
                    ctx.to = between
                    continue
                if t < 0:
                    continue
                ctx.to = t
                if empty_to:
                    if what[t]:
                        continue
                elif to_cond is not None and not to_cond(ctx):
                    continue
                actions = [(A_MOVE, f, t, 1)]
                if stop_effect is not None:
                    eff = stop_effect(ctx)
                    if eff:
                        actions = [*eff, *actions]
                ctx.between = between
                if side is not None:
                    eff = side(ctx)
                    if eff:
                        actions = [*eff, *actions]
                m = Move(actions, f, t, mover)
                m.between = [between]
                out.append(m)
        ctx.frm, ctx.to, ctx.between = old
        return out

    if (
        before is None
        and after is None
        and min_len is None
        and max_len is None
        and frm.cond is None
        and stop_rule is None
    ):
        return _finish(c, node, simple, sets_mover=True)

    def gen(ctx):
        out = []
        seen = set()
        old = ctx.frm, ctx.to, ctx.between
        max_before = before(ctx) if before is not None else 0
        lo = min_len(ctx) if min_len is not None else 1
        hi = max_len(ctx) if max_len is not None else 1
        max_after = after(ctx) if after is not None else 0
        for f in frm.locations(ctx):
            if f < 0 or f >= nb:
                continue
            ctx.frm = f
            ds = dirs(ctx, f)
            if lo == 0:
                for d in ds:
                    for t in board.steps(d)[f]:
                        if frm.cond is not None and not frm.cond(ctx):
                            continue
                        ctx.to = t
                        if to.cond is not None and not to.cond(ctx):
                            continue
                        if (f, t) in seen:
                            continue
                        seen.add((f, t))
                        out.append(Move([(A_MOVE, f, t, 1)], f, t))
            if hi <= 0:
                continue
            for d in ds:
                for radial in radials(d, f):
                    steps = radial.steps
                    n = len(steps)
                    for to_idx in range(1, n):
                        if frm.cond is not None and not frm.cond(ctx):
                            continue
                        between = steps[to_idx]
                        ctx.between = between
                        if hurdle is None or hurdle(ctx):
                            locs = [between]
                            length = 1
                            h_idx = to_idx + 1
                            wrong = False
                            while h_idx < n and length < hi:
                                ctx.between = steps[h_idx]
                                if hurdle is not None and not hurdle(ctx):
                                    wrong = True
                                    break
                                locs.append(steps[h_idx])
                                length += 1
                                h_idx += 1
                            if length < lo or (wrong and length == hi):
                                break
                            for from_min in range(length - lo, -1, -1):
                                k = h_idx - from_min
                                while k < n:
                                    t = steps[k]
                                    ctx.to = t
                                    if to.cond is not None and not to.cond(ctx):
                                        if stop_rule is not None and stop_rule(ctx):
                                            m = Move([(A_MOVE, f, t, 1)], f, t)
                                            if stop_effect is not None:
                                                m = chain_before(stop_effect(ctx), m)
                                            m.between = list(locs)
                                            out.append(m)
                                        break
                                    if stop_rule is None:
                                        m = Move([(A_MOVE, f, t, 1)], f, t)
                                        if stop_effect is not None:
                                            m = chain_before(stop_effect(ctx), m)
                                        for hl in locs[: len(locs) - from_min]:
                                            ctx.between = hl
                                            if side is not None:
                                                m = chain_before(side(ctx), m)
                                        m.between = list(locs)
                                        out.append(m)
                                    if (k - h_idx + 1) > (max_after - from_min):
                                        break
                                    k += 1
                            break
                        ctx.to = between
                        if to_idx > max_before or (to.cond is not None and not to.cond(ctx)):
                            break
        ctx.frm, ctx.to, ctx.between = old
        return out

    return _finish(c, node, gen)


def _radials_table(board):
    """``(direction, site) -> radials``, memoised per direction in a list indexed by site."""
    tables: dict[str, list] = {}
    nb = board.n_board

    def radials(d: str, site: int) -> list:
        table = tables.get(d)
        if table is None:
            table = tables[d] = [None] * nb
        v = table[site]
        if v is None:
            v = table[site] = board.radials(site, d)
        return v

    return radials


def _range(c, node):
    kind = node.kind
    a = node.args
    if kind == "range":
        return c.int(a["int"]), c.int(a["int2"])
    if kind == "exact":
        f = c.int(a["int"])
        return f, f
    if kind == "max":
        return (lambda ctx: 1), c.int(a["int"])
    if kind == "min":
        return c.int(a["int"]), (lambda ctx: MAX_DISTANCE)
    raise Unsupported(kind, "range")


@builds("moves", "move Slide", "slide")
def _slide(c, node):
    a = node.args
    if a.get("string") is not None:
        raise Unsupported(node.kind, "along a track")
    frm = _steps_source(c, node)
    to_node = a.get("to")
    to = _Spec(c, to_node, "to") if to_node is not None else None
    stop_rule = to.cond if to is not None else None
    side = to.effect if to is not None else None
    to_rule = to.effect_cond if to is not None else None
    if to is not None and to.sites is not None:
        raise Unsupported(node.kind, "to a region")
    dirs = direction_fn(c, a.get("direction"))
    board = c.game.board
    nb = board.n_board
    radials = _radials_table(board)
    btw = a.get("between")
    go = None
    min_fn = max_fn = None
    between_effect = None
    if btw is not None:
        b = btw.args
        if b.get("trail") is not None or b.get("before") is not None or b.get("after") is not None:
            raise Unsupported("between", "trail:/before:/after: in slide")
        if b.get("range") is not None:
            min_fn, max_fn = _range(c, b["range"])
            if b["range"].kind == "max":
                min_fn = None
        if b.get("if") is not None:
            go = c.bool(b["if"])
        if b.get("apply") is not None:
            ap = b["apply"].args
            if ap.get("if") is not None:
                raise Unsupported("between", "apply if:")
            between_effect = c.moves(ap["nonDecision"]) if ap.get("nonDecision") is not None else None

    enemy_stop = stop_rule is not None and getattr(stop_rule, "enemy_to", False)
    n_players = c.game.n_players

    def gen(ctx):
        out = []
        old = ctx.frm, ctx.to, ctx.between
        lo = min_fn(ctx) if min_fn is not None else UNDEFINED
        hi = max_fn(ctx) if max_fn is not None else MAX_DISTANCE
        s = ctx.s
        what = s.what
        who = s.who
        mover = s.mover
        for f in frm.locations(ctx):
            if f < 0 or f >= nb:
                continue
            ctx.frm = f
            if frm.cond is not None and not frm.cond(ctx):
                continue
            for d in dirs(ctx, f):
                for radial in radials(d, f):
                    steps = radial.steps
                    passed: list[int] = []
                    ctx.between = old[2]
                    for idx in range(1, min(len(steps), hi + 1)):
                        t = steps[idx]
                        ctx.to = t
                        if enemy_stop:
                            v = who[t]
                            stop = 0 < v <= n_players and v != mover
                        else:
                            stop = stop_rule is not None and stop_rule(ctx)
                        if stop:
                            if lo <= idx:
                                if side is not None:
                                    m = _move_after(side(ctx), f, t, mover)
                                else:
                                    m = Move([(A_MOVE, f, t, 1)], f, t, mover)
                                if between_effect is not None:
                                    for bs in passed:
                                        ctx.between = bs
                                        m = chain_before(between_effect(ctx), m)
                                if to_rule is None or to_rule(ctx):
                                    m.between = list(passed)
                                    out.append(m)
                            break
                        ctx.between = t
                        if go is None:
                            if what[t]:
                                break
                        elif not go(ctx):
                            break
                        if lo <= idx:
                            m = Move([(A_MOVE, f, t, 1)], f, t, mover)
                            if between_effect is not None:
                                for bs in passed:
                                    ctx.between = bs
                                    m = chain_before(between_effect(ctx), m)
                            if to_rule is None or to_rule(ctx):
                                m.between = list(passed)
                                out.append(m)
                        passed.append(t)
        ctx.frm, ctx.to, ctx.between = old
        return out

    return _finish(c, node, gen, sets_mover=True)


@builds("moves", "move", "fromTo")
def _from_to(c, node):
    a = node.args
    if const(a.get("stack")) or const(a.get("copy")) or a.get("RoleType") is not None:
        raise Unsupported(node.kind, "stack:/copy:/role")
    frm = _Spec(c, a["from"], "from")
    to = _Spec(c, a["to"], "to")
    count = c.int(a["count"]) if a.get("count") is not None else None
    n_sites = c.game.board.n_sites

    def gen(ctx):
        out = []
        old = ctx.frm, ctx.to
        n = count(ctx) if count is not None else 1
        what = ctx.s.what
        for f in frm.locations(ctx):
            if f < 0 or f >= n_sites or not what[f]:
                continue
            ctx.frm = f
            if frm.cond is not None and not frm.cond(ctx):
                continue
            for t in to.locations(ctx):
                if t < 0 or t >= n_sites:
                    continue
                ctx.to = t
                if to.cond is not None and not to.cond(ctx):
                    continue
                m = Move([(A_MOVE, f, t, n)], f, t)
                if to.effect is not None and (to.effect_cond is None or to.effect_cond(ctx)):
                    m = chain_before(to.effect(ctx), m)
                out.append(m)
        ctx.frm, ctx.to = old
        return out

    return _finish(c, node, gen)


@builds("moves", "move Select", "select")
def _select(c, node):
    a = node.args
    frm = _Spec(c, a["from"], "from")
    to = _Spec(c, a["to"], "to") if a.get("to") is not None else None

    def gen(ctx):
        out = []
        old = ctx.frm, ctx.to
        for f in frm.locations(ctx):
            if f < 0:
                continue
            ctx.frm = f
            ctx.to = f
            if frm.cond is not None and not frm.cond(ctx):
                continue
            if to is None:
                out.append(Move([(A_SELECT, f, f)], f, f))
                continue
            for t in to.locations(ctx):
                ctx.to = t
                if to.cond is not None and not to.cond(ctx):
                    continue
                out.append(Move([(A_SELECT, f, t)], f, t))
        ctx.frm, ctx.to = old
        return out

    return _finish(c, node, gen)


@builds("moves", "move Promote", "promote")
def _promote(c, node):
    a = node.args
    _check_type(c, node)
    site = c.int(a["int"]) if a.get("int") is not None else (lambda ctx: ctx.to)
    pieces = piece_fns(c, a["pieceRef"])
    owner = a.get("playerRef") if a.get("playerRef") is not None else a.get("RoleType")
    pf = player_fn(c, owner) if owner is not None else None
    comps = c.game.components

    def gen(ctx):
        s = site(ctx)
        if s < 0:
            return []
        out = []
        for f in pieces:
            what = f(ctx)
            if what <= 0 or what >= len(comps):
                continue
            who = pf(ctx) if pf is not None else comps[what].owner
            out.append(Move([(A_PROMOTE, s, what, who)], s, s))
        return out

    return _finish(c, node, gen)


#: whether a (row, column) offset is ahead for a facing (leaps with ``forward:True``)
_AHEAD = {
    "N": lambda dr, dc: dr > 0, "S": lambda dr, dc: dr < 0,
    "E": lambda dr, dc: dc > 0, "W": lambda dr, dc: dc < 0,
    "NE": lambda dr, dc: dr > 0 and dc > 0, "NW": lambda dr, dc: dr > 0 and dc < 0,
    "SE": lambda dr, dc: dr < 0 and dc > 0, "SW": lambda dr, dc: dr < 0 and dc < 0,
}  # fmt: skip


@builds("moves", "move Leap", "leap")
def _leap(c, node):
    a = node.args
    forward = a.get("forward")
    if forward is not None and not isinstance(forward, TypedConst):
        raise Unsupported(node.kind, "forward: not constant")
    forward = bool(const(forward))
    if a.get("rotations") is not None and not isinstance(a["rotations"], TypedConst):
        raise Unsupported(node.kind, "rotations: not constant")
    frm = _steps_source(c, node)
    to = _Spec(c, a["to"], "to")
    walks = [[const(s) for s in w.items] for w in a["StepTypes"].items]
    board = c.game.board
    targets = board.walk_targets(walks, const(a.get("rotations")) is not False)
    nb = board.n_board
    comps = c.game.components
    rows, cols = board.el.row, board.el.col

    def ahead(facing, f, t):
        test = _AHEAD.get(facing)
        return test is not None and test(rows[t] - rows[f], cols[t] - cols[f])

    def gen(ctx):
        out = []
        old = ctx.frm, ctx.to
        mover = ctx.s.mover
        for f in frm.locations(ctx):
            if f < 0 or f >= nb:
                continue
            ctx.frm = f
            if frm.cond is not None and not frm.cond(ctx):
                continue
            facing = comps[ctx.s.what[f]].facing if forward and ctx.s.what[f] else None
            for t in targets[f]:
                if facing is not None and not ahead(facing, f, t):
                    continue
                ctx.to = t
                if to.cond is not None and not to.cond(ctx):
                    continue
                if to.effect is not None:
                    out.append(_move_after(to.effect(ctx), f, t, mover))
                else:
                    out.append(Move([(A_MOVE, f, t, 1)], f, t, mover))
        ctx.frm, ctx.to = old
        return out

    return _finish(c, node, gen, sets_mover=True)


# --- operators -------------------------------------------------------------------------------------


def _list_arg(c, node):
    if node.args.get("movess") is not None:
        return [c.moves(m) for m in node.args["movess"].items]
    return [c.moves(node.args["moves"]), c.moves(node.args["moves2"])]


@builds("moves", "and", "or")
def _and(c, node):
    gens = _list_arg(c, node)
    then = _then(c, node)

    def gen(ctx):
        out = []
        for g in gens:
            out.extend(g(ctx))
        return _attach(out, then)

    def scan_all(ctx, pred) -> bool:
        test = _with_then(pred, then)
        for g in gens:
            if scan(g, ctx, test):
                return True
        return False

    gen.scan = scan_all  # type: ignore[attr-defined]
    return gen


@builds("moves", "if")
def _if(c, node):
    cond = c.bool(node.args["boolean"])
    a = c.moves(node.args["moves"])
    b = c.moves(node.args["moves2"]) if node.args.get("moves2") is not None else None
    then = _then(c, node)

    def gen(ctx):
        out = a(ctx) if cond(ctx) else (b(ctx) if b is not None else [])
        return _attach(out, then)

    def scan_if(ctx, pred) -> bool:
        test = _with_then(pred, then)
        if cond(ctx):
            return scan(a, ctx, test)
        return scan(b, ctx, test) if b is not None else False

    gen.scan = scan_if  # type: ignore[attr-defined]
    if then is None:
        gen.branch = lambda ctx: a if cond(ctx) else b  # type: ignore[attr-defined]
    return gen


@builds("moves", "priority")
def _priority(c, node):
    gens = _list_arg(c, node)
    then = _then(c, node)

    def gen(ctx):
        for g in gens:
            out = g(ctx)
            if out:
                return _attach(out, then)
        return []

    return gen


@builds("moves", "do")
def _do(c, node):
    a = node.args
    prior = c.moves(a["moves"])
    nxt = c.moves(a["next"]) if a.get("next") is not None else None
    after_node = a.get("ifAfterwards")
    after = c.bool(after_node) if after_node is not None else None
    # Ludii: (not (is Threatened ...)) "auto-succeeds" while a threat is being tested
    auto = (
        isinstance(after_node, TypedCall)
        and after_node.kind == "not"
        and isinstance(after_node.args.get("boolean"), TypedCall)
        and after_node.args["boolean"].kind == "is Threatened"
    )
    then = _then(c, node)
    game = c.game

    def gen(ctx):
        if nxt is not None:
            saved = ctx.s
            ctx.s = saved.copy()
            pre = prior(ctx)
            for m in pre:
                apply_actions(ctx, m)
            result = nxt(ctx)
            ctx.s = saved
            if pre:
                # a pass after the prior moves has more than a pass action: Ludii does not count
                # it as a pass (for "all passed")
                for m in result:
                    m.actions[0:0] = list(pre)
                    m.is_pass = False
                if not result and game.dice_faces:
                    # Ludii: with dice, no moves after the roll is a pass carrying the roll
                    m = Move([*pre, (A_PASS,)])
                    m.mover = ctx.s.mover
                    result = [m]
        else:
            result = prior(ctx)
        if after is not None and not (auto and ctx.in_threat):
            result = [m for m in result if game.passes_after(ctx, m, after)]
        return _attach(result, then)

    def scan_do(ctx, pred) -> bool:
        if after is not None and not (auto and ctx.in_threat):

            def test(lst):
                kept = [m for m in lst if game.passes_after(ctx, m, after)]
                return bool(kept) and pred(_attach(kept, then))

        else:
            test = _with_then(pred, then)
        return scan(prior, ctx, test)

    if nxt is None:
        gen.scan = scan_do  # type: ignore[attr-defined]
    gen.prior = prior  # type: ignore[attr-defined]
    gen.after = after if nxt is None else None  # type: ignore[attr-defined]
    gen.auto = auto  # type: ignore[attr-defined]
    gen.then = then  # type: ignore[attr-defined]
    return gen


@builds("moves", "forEach Piece")
def _foreach_piece(c, node):
    a = node.args
    if a.get("top") is not None:
        raise Unsupported("forEach Piece", "top:")
    _check_type(c, node)
    game = c.game
    containers = game.board.containers
    cont = a.get("container")
    if cont is None:
        container_sites = None
    elif isinstance(cont, TypedConst) and cont.type == "string":
        fixed = game.board.container_sites(cont.value)
        container_sites = lambda ctx: fixed  # noqa: E731
    else:
        idx_fn = c.int(cont)

        def container_sites(ctx):
            i = idx_fn(ctx)
            return containers[i][1] if 0 <= i < len(containers) else ()

    names = a.get("string")
    if isinstance(names, TypedArray):
        wanted = set()
        for n in names.items:
            wanted.update(game.components_named(const(n)))
    elif names is not None:
        wanted = set(game.components_named(const(names)))
    else:
        wanted = None
    specific = c.moves(a["moves"]) if a.get("moves") is not None else None
    owner = a.get("playerRef") if a.get("playerRef") is not None else a.get("RoleType")
    role = const(owner) if isinstance(owner, TypedConst) else None
    if role in ("All", "Each"):
        raise Unsupported("forEach Piece", f"{role} pieces")
    pf = player_fn(c, owner) if owner is not None else None
    nb = game.board.n_board
    piece_gens = game.piece_generators(c) if specific is None else None
    then = _then(c, node)

    def move_lists(ctx, p):
        """Each of player p's qualifying pieces' moves (non-empty lists), with ctx.frm at the piece."""
        who, what = ctx.s.who, ctx.s.what
        for site in range(nb) if container_sites is None else container_sites(ctx):
            w = what[site]
            if not w or who[site] != p:
                continue
            if wanted is not None and w not in wanted:
                continue
            ctx.frm = site
            if specific is not None:
                lst = specific(ctx)
            else:
                g = piece_gens[w]
                if g is None:
                    continue
                lst = g(ctx)
            if lst:
                yield lst

    def finish(moves, mover):
        for m in moves:
            m.mover = mover
            if then is not None:
                m.then.append(then)

    def gen(ctx):
        s = ctx.s
        mover = s.mover
        p = pf(ctx) if pf is not None else mover
        old_from = ctx.frm
        swapped = p != mover and 0 < p <= game.n_players
        if swapped:
            old = s.prev, s.mover, s.next
            s.prev, s.mover, s.next = mover, p, mover
        out = [m for lst in move_lists(ctx, p) for m in lst]
        if swapped:
            s.prev, s.mover, s.next = old
        ctx.frm = old_from
        finish(out, mover)
        return out

    def scan_pieces(ctx, pred) -> bool:
        mover = ctx.s.mover
        p = pf(ctx) if pf is not None else mover
        if p != mover and 0 < p <= game.n_players:
            return pred(gen(ctx))
        old_from = ctx.frm
        for lst in move_lists(ctx, p):  # stops at the first piece whose moves pass
            ctx.frm = old_from
            finish(lst, mover)
            if pred(lst):
                return True
        ctx.frm = old_from
        return False

    gen.scan = scan_pieces  # type: ignore[attr-defined]
    return gen


@builds("moves", "forEach Site")
def _foreach_site(c, node):
    a = node.args
    reg = c.region(a["region"])
    body = c.moves(a["moves"])
    none_yet = c.moves(a["noMoveYet"]) if a.get("noMoveYet") is not None else None
    then = _then(c, node)

    def gen(ctx):
        out = []
        old = ctx.site
        for site in reg(ctx):
            ctx.site = site
            out.extend(body(ctx))
        ctx.site = old
        if not out and none_yet is not None:
            out = none_yet(ctx)
        return _attach(out, then)

    return gen


@builds("moves", "forEach Value")
def _foreach_value(c, node):
    a = node.args
    lo, hi = c.int(a["min"]), c.int(a["max"])
    body = c.moves(a["moves"])
    then = _then(c, node)

    def gen(ctx):
        out = []
        old = ctx.value
        for v in range(lo(ctx), hi(ctx) + 1):
            ctx.value = v
            out.extend(body(ctx))
        ctx.value = old
        return _attach(out, then)

    return gen


@builds("moves", "forEach Player")
def _foreach_player(c, node):
    a = node.args
    if a.get("moves") is None or a.get("container") is not None or a.get("playerRef") is not None:
        raise Unsupported("forEach Player", "form")
    body = c.moves(a["moves"])
    n = c.game.n_players
    then = _then(c, node)

    def gen(ctx):
        out = []
        old = ctx.player
        for p in range(1, n + 1):
            ctx.player = p
            out.extend(body(ctx))
        ctx.player = old
        return _attach(out, then)

    return gen


@builds("moves", "max Moves")
def _max_moves(c, node):
    if node.args.get("withValue") is not None:
        raise Unsupported("max Moves", "withValue:")
    inner = c.moves(node.args["moves"])
    then = _then(c, node)
    game = c.game

    def gen(ctx):
        moves = inner(ctx)
        if len(moves) > 1:
            counts = [game.replay_length(ctx, m) for m in moves]
            best = max(counts)
            moves = [m for m, k in zip(moves, counts) if k == best]
        return _attach(moves, then)

    return gen


# --- effects ---------------------------------------------------------------------------------------


@builds("moves", "moveAgain")
def _move_again(c, node):
    def gen(ctx):
        return [Move([(A_NEXT, ctx.s.mover)])]

    return _finish(c, node, gen)


@builds("moves", "set NextPlayer")
def _set_next(c, node):
    arg = node.args.get("playerRef")
    if arg is None or (isinstance(arg, TypedCall) and arg.returns == "ints"):
        raise Unsupported("set NextPlayer", "form")
    pf = player_fn(c, arg)

    def gen(ctx):
        return [Move([(A_NEXT, pf(ctx))])]

    return _finish(c, node, gen)


@builds("moves", "set State")
def _set_state(c, node):
    _check_type(c, node)
    at, v = c.int(node.args["at"]), c.int(node.args["int"])

    def gen(ctx):
        s = at(ctx)
        return [Move([(A_STATE, s, v(ctx))], s, s)] if s >= 0 else []

    return _finish(c, node, gen)


@builds("moves", "set Count")
def _set_count(c, node):
    _check_type(c, node)
    at, v = c.int(node.args["at"]), c.int(node.args["int"])

    def gen(ctx):
        s = at(ctx)
        return [Move([(A_COUNT, s, v(ctx))], s, s)] if s >= 0 else []

    return _finish(c, node, gen)


@builds("moves", "set Score", "addScore")
def _set_score(c, node):
    a = node.args
    if a.get("playerRefs") is not None:
        pfs = [player_fn(c, p) for p in a["playerRefs"].items]
        vfs = [c.int(v) for v in a["ints"].items]
    else:
        pfs = [player_fn(c, a["playerRef"])]
        vfs = [c.int(a["int"])]
    add = node.kind == "addScore"

    def gen(ctx):
        return [Move([(A_SCORE, pf(ctx), vf(ctx), add) for pf, vf in zip(pfs, vfs)])]

    return _finish(c, node, gen)


@builds("moves", "set Value")
def _set_value(c, node):
    pf, v = player_fn(c, node.args["playerRef"]), c.int(node.args["int"])

    def gen(ctx):
        return [Move([(A_VALUE, pf(ctx), v(ctx))])]

    return _finish(c, node, gen)


@builds("moves", "set Counter")
def _set_counter(c, node):
    v = c.int(node.args["int"]) if node.args.get("int") is not None else (lambda ctx: -1)

    def gen(ctx):
        return [Move([(A_COUNTER, v(ctx))])]

    return _finish(c, node, gen)


@builds("moves", "set Var")
def _set_var(c, node):
    v = c.int(node.args["int"]) if node.args.get("int") is not None else (lambda ctx: -1)

    def gen(ctx):
        return [Move([(A_VAR, "", v(ctx))])]

    return _finish(c, node, gen)


@builds("moves", "set Pending")
def _set_pending(c, node):
    arg = node.args.get("int")
    if arg is None:

        def gen(ctx):
            return [Move([(A_PENDING, 1)])]
    elif _is_region(arg):
        reg = c.region(arg)

        def gen(ctx):
            return [Move([(A_PENDING, s) for s in reg(ctx)])]
    else:
        f = c.int(arg)

        def gen(ctx):
            return [Move([(A_PENDING, f(ctx))])]

    return _finish(c, node, gen)


@builds("moves", "trigger")
def _trigger(c, node):
    arg = node.args["int"]
    pf = player_fn(c, arg)

    def gen(ctx):
        return [Move([(A_TRIGGER, pf(ctx))])]

    return _finish(c, node, gen)


@builds("moves", "custodial")
def _custodial(c, node):
    a = node.args
    frm = a.get("from")
    if frm is not None:
        _check_type(c, frm)
        loc = c.int(frm.args["region"]) if frm.args.get("region") is not None else (lambda ctx: ctx.frm)
    else:

        def loc(ctx):
            return ctx.s.last_move.to if ctx.s.last_move is not None else UNDEFINED

    dirn = const(a.get("AbsoluteDirection")) or "Adjacent"
    board = c.game.board
    btw = a.get("between")
    limit = None
    target = effect = None
    if btw is not None:
        b = btw.args
        if b.get("range") is not None:
            _, limit = _range(c, b["range"])
        target = c.bool(b["if"]) if b.get("if") is not None else None
        if b.get("apply") is not None:
            ap = b["apply"].args
            if ap.get("if") is not None:
                raise Unsupported("between", "apply if:")
            effect = c.moves(ap["nonDecision"]) if ap.get("nonDecision") is not None else None
    to = a.get("to")
    friend = c.bool(to.args["if"]) if to is not None and to.args.get("if") is not None else None
    n = c.game.n_players

    def is_target(ctx, site):
        ctx.between = site
        if target is not None:
            return target(ctx)
        w = ctx.s.who[site]
        return 0 < w <= n and w != ctx.s.mover

    def is_friend(ctx, site):
        ctx.to = site
        if friend is not None:
            return friend(ctx)
        return site >= 0 and ctx.s.who[site] == ctx.s.mover

    def gen(ctx):
        f = loc(ctx)
        if f < 0 or f >= board.n_board:
            return []
        out = []
        old = ctx.frm, ctx.to, ctx.between
        max_len = limit(ctx) if limit is not None else MAX_DISTANCE
        for radial in board.radials(f, dirn):
            steps = radial.steps
            if max_len == 1:
                if len(steps) < 3 or not is_target(ctx, steps[1]) or not is_friend(ctx, steps[2]):
                    continue
                ctx.between = steps[1]
                out.extend(_effect(ctx, effect))
                continue
            pos = 1
            found = False
            while pos < len(steps) and pos <= max_len:
                if not is_target(ctx, steps[pos]):
                    break
                found = True
                pos += 1
            if not found:
                continue
            friend_pos = steps[pos] if pos < len(steps) else OFF
            if is_friend(ctx, friend_pos):
                for i in range(1, pos):
                    ctx.between = steps[i]
                    out.extend(_effect(ctx, effect))
        ctx.frm, ctx.to, ctx.between = old
        return out

    return _finish(c, node, gen)


def _effect(ctx, effect) -> list[Move]:
    if effect is not None:
        return effect(ctx)
    b = ctx.between
    return [Move([(A_REMOVE, b, 1)], b, b)]


__all__ = ["piece_fns", "role_fn"]
