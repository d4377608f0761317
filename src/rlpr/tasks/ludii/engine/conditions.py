"""Board conditions that look at shapes of pieces: lines, connections, loops, threats.

``is Line`` follows Ludii's ``IsLine``: from the pivot site (last move's destination by default),
count matching pieces along each distinct radial and its opposite; ``is Connected`` asks whether a
group joins the given regions; ``is Threatened`` whether an enemy move could capture the site.
"""

from __future__ import annotations

from rlpr.tasks.ludii.engine.core import UNDEFINED, Compiler, Unsupported, builds, const, scan
from rlpr.tasks.ludii.engine.functions import player_fn, role_fn
from rlpr.tasks.ludii.typed import TypedArray, TypedConst


def _check_type(c: Compiler, node) -> None:
    t = node.args.get("SiteType")
    if t is not None and const(t) != c.game.board.site_type:
        raise Unsupported(node.kind, f"site type {const(t)}")


@builds("bool", "is Line")
def _is_line(c, node):
    a = node.args
    _check_type(c, node)
    if const(a.get("byLevel")):
        raise Unsupported("is Line", "byLevel:")
    board = c.game.board
    length = c.int(a["int"])
    dirn = const(a.get("AbsoluteDirection")) or "Adjacent"
    exact = c.bool(a["exact"]) if a.get("exact") is not None else None
    cond = c.bool(a["if"]) if a.get("if") is not None else None
    through = a.get("through")
    if through is not None and getattr(through.node, "key", None) == "throughAny":
        pivots = c.region(through)
        pivot = None
    elif through is not None:
        pivot = c.int(through)
        pivots = None
    else:

        def pivot(ctx):
            return ctx.s.last_move.to if ctx.s.last_move is not None else UNDEFINED

        pivots = None
    whats_fns = None
    who_fn = None
    who = a.get("RoleType")
    if isinstance(who, TypedArray):
        whats_fns = [c.int(i) for i in who.items]
    elif isinstance(who, TypedConst) and who.type == "RoleType":
        who_fn = role_fn(c, who.value)
    elif who is not None:
        whats_fns = [c.int(who)]
    comps = c.game.components
    nb = board.n_board
    distinct = [[board.distinct_radials(i, dirn) for i in range(nb)]]

    def owned_by(p):
        return {i for i, comp in enumerate(comps) if comp is not None and comp.owner == p}

    def fn(ctx):
        s = ctx.s
        what = s.what
        if pivots is not None:
            locs = pivots(ctx)
            if whats_fns is not None:
                ws = {f(ctx) for f in whats_fns}
                locs = [x for x in locs if what[x] in ws]
        else:
            locs = [pivot(ctx)]
        length_v = length(ctx)
        exact_v = exact(ctx) if exact is not None else False
        old_to = ctx.to
        try:
            for locn in locs:
                if locn < 0:
                    return False
                ctx.to = locn
                if cond is not None and not cond(ctx):
                    return False
                if locn >= nb:
                    return False
                w0 = what[locn]
                if whats_fns is None:
                    whats = {w0} if who_fn is None else owned_by(who_fn(ctx))
                else:
                    whats = {f(ctx) for f in whats_fns}
                if w0 not in whats:
                    continue
                for radial in distinct[0][locn]:
                    count = 1
                    for idx in radial.steps[1:]:
                        ctx.to = idx
                        if what[idx] in whats and (cond is None or cond(ctx)):
                            count += 1
                            if not exact_v and count == length_v:
                                return True
                        else:
                            break
                    opp = radial.opposite
                    if opp is not None:
                        oc = count
                        for idx in opp.steps[1:]:
                            ctx.to = idx
                            if what[idx] in whats and (cond is None or cond(ctx)):
                                oc += 1
                                if not exact_v and oc == length_v:
                                    return True
                            else:
                                break
                        if oc == length_v:
                            return True
                    elif count == length_v:
                        return True
            return False
        finally:
            ctx.to = old_to

    return fn


def _region_targets(c: Compiler, node):
    """The regions of ``is Connected``/``is Blocked``: a list, a role's regions, or a static type."""
    a = node.args
    regs = a.get("regions")
    if isinstance(regs, TypedArray):
        return [c.region(r) for r in regs.items], None
    if isinstance(regs, TypedConst) and regs.type == "RoleType":
        return None, regs.value
    raise Unsupported(node.kind, "regions form")


@builds("bool", "is Connected")
def _is_connected(c, node):
    a = node.args
    _check_type(c, node)
    if a.get("int") is not None:
        raise Unsupported("is Connected", "number of regions")
    game = c.game
    board = game.board
    dirn = "Adjacent"
    if a.get("direction") is not None:
        d = a["direction"]
        if not (isinstance(d, TypedConst) and d.type == "AbsoluteDirection"):
            raise Unsupported("is Connected", "direction form")
        dirn = d.value
    steps = board.steps(dirn)
    regions, role = _region_targets(c, node)
    if role is not None:
        role_f = role_fn(c, role)
        by_owner: dict[int, list] = {}
        for _name, owner, rnode in game.region_nodes:
            if owner is None:
                continue
            parts = rnode.items if isinstance(rnode, TypedArray) and not _is_site_list(rnode) else [rnode]
            by_owner.setdefault(owner, []).extend(game._region_fn(c, part) for part in parts)
    at = c.int(a["at"]) if a.get("at") is not None else None

    def fn(ctx):
        s = ctx.s
        start = at(ctx) if at is not None else (s.last_move.to if s.last_move is not None else UNDEFINED)
        if start < 0 or start >= board.n_board or not s.what[start]:
            return False
        owner = s.who[start]
        if regions is not None:
            targets = [set(r(ctx)) for r in regions]
        else:
            p = role_f(ctx)
            targets = [set(r(ctx)) for r in by_owner.get(p, [])]
        if not targets:
            return False
        seen = {start}
        stack = [start]
        who = s.who
        while stack:
            x = stack.pop()
            for y in steps[x]:
                if y not in seen and who[y] == owner:
                    seen.add(y)
                    stack.append(y)
        return all(seen & t for t in targets)

    return fn


def _is_site_list(node) -> bool:
    return (
        bool(node.items)
        and isinstance(node.items[0], TypedConst)
        and node.items[0].type != "RegionTypeStatic"
    )


@builds("bool", "is Threatened")
def _is_threatened(c, node):
    a = node.args
    _check_type(c, node)
    game = c.game
    what_f = c.int(a["int"]) if a.get("int") is not None else None
    at_node = a.get("at")
    region = c.region(at_node) if at_node is not None and getattr(at_node.node, "key", None) == "in" else None
    at = c.int(at_node) if at_node is not None and region is None else None
    if a.get("moves") is not None:
        gen = c.moves(a["moves"])

        def scan_moves(ctx, pred):
            return scan(gen, ctx, pred)

    else:
        scan_moves = game.scan_moves_for_mover
    n = game.n_players

    def fn(ctx):
        s = ctx.s
        if ctx.in_threat:
            return False
        if region is not None:
            sites = region(ctx)
        elif at is not None:
            sites = [at(ctx)]
        elif what_f is not None:
            w = what_f(ctx)
            sites = [i for i in range(game.board.n_sites) if s.what[i] == w]
        else:
            return False
        mover = s.mover
        sites = [x for x in sites if x >= 0]
        if not sites:
            return False
        owner = s.who[sites[0]] if s.what[sites[0]] else mover
        for enemy in range(1, n + 1):
            if enemy == owner or not s.is_active(enemy):
                continue
            old = s.prev, s.mover, s.next
            s.prev, s.mover, s.next = owner, enemy, owner
            ctx.in_threat = True
            try:
                # stops at the first piece with a move reaching one of the sites
                hit = scan_moves(ctx, lambda lst: any(m.to in sites for m in lst))
            finally:
                s.prev, s.mover, s.next = old
                ctx.in_threat = False
            if hit:
                return True
        return False

    return fn


__all__ = ["player_fn"]
