"""Integer, boolean and region ludemes compiled to closures ``f(ctx)``.

Regions are lists of site indices in ascending order (Ludii's regions are bit sets). Roles resolve
to player numbers at evaluation time (Mover, Next, Prev) or once (P1...). Sites of the board's
default site type only; a ludeme asking for another site type is reported unsupported.
"""

from __future__ import annotations

from itertools import compress
from operator import and_, attrgetter, truth

from rlpr.tasks.ludii.engine.core import OFF, UNDEFINED, Compiler, Unsupported, builds, const, scan
from rlpr.tasks.ludii.typed import TypedArray, TypedCall, TypedConst

# --- roles -----------------------------------------------------------------------------------------


def role_fn(c: Compiler, role: str):
    """A closure giving the player number a RoleType names (Ludii ``RoleType.toIntFunction``)."""
    n = c.game.n_players
    if role.startswith("P") and role[1:].isdigit():
        p = int(role[1:])
        return lambda ctx: p
    if role == "Mover":
        return lambda ctx: ctx.s.mover
    if role == "Next":
        return lambda ctx: ctx.s.next
    if role == "Prev":
        return lambda ctx: ctx.s.prev
    if role == "Neutral":
        return lambda ctx: 0
    if role in ("Shared", "All"):
        return lambda ctx: n + 1
    if role in ("Player", "Each"):
        return lambda ctx: ctx.player
    raise Unsupported(f"RoleType {role}")


def player_fn(c: Compiler, node):
    """A closure for a ``<playerRef> | <RoleType> | <int>`` argument."""
    if isinstance(node, TypedConst):
        if node.type == "RoleType":
            return role_fn(c, node.value)
        v = int(node.value)
        return lambda ctx: v
    if isinstance(node, TypedCall) and node.kind == "player":
        return c.int(node.args["int"])
    return c.int(node)


def is_region(node) -> bool:
    """Whether a typed value is a region (an ``<int> | <region>`` slot may hold either)."""
    return isinstance(node, TypedCall) and node.returns == "region"


def _check_type(c: Compiler, node, name: str = "SiteType") -> None:
    t = node.args.get(name) if isinstance(node, TypedCall) else None
    if t is not None and const(t) != c.game.board.site_type:
        raise Unsupported(node.kind, f"site type {const(t)} on a {c.game.board.site_type} board")


# --- integers --------------------------------------------------------------------------------------


@builds("int", "#const")
def _int_const(c, node):
    if node.type == "RoleType":
        return role_fn(c, node.value)
    v = int(node.value)
    return lambda ctx: v


@builds("int", "mover")
def _mover(c, node):
    return lambda ctx: ctx.s.mover


@builds("int", "next")
def _next(c, node):
    return lambda ctx: ctx.s.next


@builds("int", "prev")
def _prev(c, node):
    return lambda ctx: ctx.s.prev


@builds("int", "from")
def _from(c, node):
    if node.args.get("at") is not None:
        return c.int(node.args["at"])
    return lambda ctx: ctx.frm


@builds("int", "to")
def _to(c, node):
    if node.args.get("at") is not None:
        return c.int(node.args["at"])
    return lambda ctx: ctx.to


@builds("int", "between")
def _between(c, node):
    return lambda ctx: ctx.between


@builds("int", "site")
def _site(c, node):
    return lambda ctx: ctx.site


@builds("int", "value")
def _value(c, node):
    return lambda ctx: ctx.value


@builds("int", "level")
def _level(c, node):
    return lambda ctx: max(ctx.level, 0)


@builds("int", "counter")
def _counter(c, node):
    return lambda ctx: ctx.s.counter


@builds("int", "var")
def _var(c, node):
    name = const(node.args.get("string")) or ""
    return lambda ctx: ctx.s.var.get(name, UNDEFINED)


@builds("int", "last To", "last From")
def _last(c, node):
    after = node.args.get("afterConsequence")
    if after is not None and not isinstance(after, TypedConst):
        raise Unsupported(node.kind, "afterConsequence: not a constant")
    if const(after):
        if node.kind == "last To":
            return lambda ctx: ctx.s.after_to
        return lambda ctx: ctx.s.after_from
    if node.kind == "last To":
        return lambda ctx: ctx.s.last_move.to if ctx.s.last_move is not None else UNDEFINED
    return lambda ctx: ctx.s.last_move.frm if ctx.s.last_move is not None else UNDEFINED


def context_site(node) -> str | None:
    """``"frm"``, ``"to"`` or ``"between"`` when ``node`` is a bare ``(from)``, ``(to)`` or
    ``(between)`` (the hot case the readers below specialise), else None."""
    if isinstance(node, TypedCall) and node.kind in ("from", "to", "between"):
        if all(v is None for v in node.args.values()):
            return {"from": "frm", "to": "to", "between": "between"}[node.kind]
    return None


def _reader(field: str, attr: str):
    """``ctx -> state.<attr>[ctx.<field>]`` (0 off the board), without the generic int closure."""
    if field == "to":
        if attr == "what":
            return lambda ctx: ctx.s.what[ctx.to] if ctx.to >= 0 else 0
        if attr == "who":
            return lambda ctx: ctx.s.who[ctx.to] if ctx.to >= 0 else 0
        return lambda ctx: ctx.s.sstate[ctx.to] if ctx.to >= 0 else 0
    if field == "frm":
        if attr == "what":
            return lambda ctx: ctx.s.what[ctx.frm] if ctx.frm >= 0 else 0
        if attr == "who":
            return lambda ctx: ctx.s.who[ctx.frm] if ctx.frm >= 0 else 0
        return lambda ctx: ctx.s.sstate[ctx.frm] if ctx.frm >= 0 else 0
    if attr == "what":
        return lambda ctx: ctx.s.what[ctx.between] if ctx.between >= 0 else 0
    if attr == "who":
        return lambda ctx: ctx.s.who[ctx.between] if ctx.between >= 0 else 0
    return lambda ctx: ctx.s.sstate[ctx.between] if ctx.between >= 0 else 0


def _site_arrays(c: Compiler, node, attr: str):
    _check_type(c, node)
    if node.args.get("level") is not None:
        raise Unsupported(node.kind, "level:")
    field = context_site(node.args["at"])
    if field is not None:
        return _reader(field, attr)
    at = c.int(node.args["at"])
    if attr == "who":
        return lambda ctx: _get(ctx.s.who, at(ctx))
    if attr == "what":
        return lambda ctx: _get(ctx.s.what, at(ctx))
    return lambda ctx: _get(ctx.s.sstate, at(ctx))


def _get(lst: list[int], i: int) -> int:
    return lst[i] if 0 <= i < len(lst) else 0


@builds("int", "who")
def _who(c, node):
    return _site_arrays(c, node, "who")


@builds("int", "what")
def _what(c, node):
    return _site_arrays(c, node, "what")


@builds("int", "state")
def _state(c, node):
    return _site_arrays(c, node, "state")


@builds("int", "id")
def _id(c, node):
    name = const(node.args.get("string"))
    role = node.args.get("RoleType")
    if name is None:
        return role_fn(c, const(role))
    comps = c.game.components_named(name)
    if role is None:
        if len(comps) != 1:
            raise Unsupported("id", f"ambiguous piece {name}")
        v = comps[0]
        return lambda ctx: v
    pf = role_fn(c, const(role))
    table = {c.game.components[i].owner: i for i in comps}
    return lambda ctx: table.get(pf(ctx), UNDEFINED)


@builds("int", "handSite")
def _hand_site(c, node):
    owner = player_fn(c, node.args.get("RoleType") or node.args.get("int"))
    idx = c.int(node.args["int2"]) if node.args.get("int2") is not None else None
    hands = c.game.board.hand_sites
    if idx is None:
        return lambda ctx: hands[owner(ctx)][0] if owner(ctx) in hands else OFF
    return lambda ctx: hands[owner(ctx)][idx(ctx)] if owner(ctx) in hands else OFF


@builds("int", "mapEntry")
def _map_entry(c, node):
    name = const(node.args.get("string"))
    table = c.game.map_named(name)
    key = node.args.get("RoleType") if node.args.get("RoleType") is not None else node.args.get("int")
    kf = player_fn(c, key)
    return lambda ctx: table.get(kf(ctx), OFF)


@builds("int", "centrePoint")
def _centre_point(c, node):
    _check_type(c, node)
    sites = c.game.board.with_prop("centre")
    v = sites[0] if sites else OFF
    return lambda ctx: v


@builds("int", "coord")
def _coord(c, node):
    _check_type(c, node)
    if node.args.get("string") is None:
        raise Unsupported("coord", "row:/column:")
    v = c.game.board.coord(const(node.args["string"]))
    return lambda ctx: v


@builds("region", "coord")
def _coord_region(c, node):
    """A coordinate where a region is expected: the one site."""
    site = _coord(c, node)(None)
    return static_region([site])


@builds("int", "row", "column")
def _row_col(c, node):
    _check_type(c, node)
    of = c.int(node.args["of"])
    lst = c.game.board.el.row if node.kind == "row" else c.game.board.el.col
    n = len(lst)
    return lambda ctx: lst[of(ctx)] if 0 <= of(ctx) < n else UNDEFINED


@builds("int", "score")
def _score(c, node):
    p = player_fn(c, node.args.get("playerRef") or node.args.get("RoleType"))
    return lambda ctx: ctx.s.score[p(ctx)]


@builds("int", "value Player")
def _value_player(c, node):
    p = player_fn(c, node.args.get("int") or node.args.get("RoleType"))
    return lambda ctx: ctx.s.value_player[p(ctx)]


@builds("int", "count Players")
def _count_players(c, node):
    n = c.game.n_players
    return lambda ctx: n


@builds("int", "count Turns")
def _count_turns(c, node):
    """Ludii ``State.numTurn``: 1 + the times the mover switched to another player (the current
    mover's turn counts once it has started)."""
    return lambda ctx: ctx.s.num_turns + (ctx.s.mover != ctx.s.last_mover)


@builds("int", "count Moves")
def _count_moves(c, node):
    return lambda ctx: ctx.s.num_moves


@builds("int", "count MovesThisTurn")
def _count_mtt(c, node):
    return lambda ctx: ctx.s.moves_this_turn


@builds("int", "count Rows", "count Columns")
def _count_rows(c, node):
    _check_type(c, node)
    v = c.game.board.num_rows() if node.kind == "count Rows" else c.game.board.num_columns()
    return lambda ctx: v


@builds("int", "count Sites")
def _count_sites(c, node):
    _check_type(c, node)
    arg = node.args.get("in")
    if is_region(arg):
        reg = c.region(arg)
        return lambda ctx: len(reg(ctx))
    if arg is not None:
        raise Unsupported("count Sites", "at:/name")
    v = c.game.board.n_board
    return lambda ctx: v


@builds("int", "count")
def _count(c, node):
    _check_type(c, node)
    arg = node.args.get("in")
    if is_region(arg):
        reg = c.region(arg)
        return lambda ctx: sum(ctx.s.count[i] for i in reg(ctx))
    if arg is not None and not (isinstance(arg, TypedConst) and arg.type == "string"):
        at = c.int(arg)
        return lambda ctx: _get(ctx.s.count, at(ctx))
    raise Unsupported("count", "form")


@builds("int", "count Pieces")
def _count_pieces(c, node):
    _check_type(c, node)
    a = node.args
    game = c.game
    name = const(a.get("string"))
    kinds = set(game.components_named(name)) if name is not None else None
    region = c.region(a["in"]) if a.get("in") is not None else None
    if a.get("of") is not None:
        pf = c.int(a["of"])
        role = None
    else:
        role = const(a.get("RoleType")) or "Mover"
        pf = role_fn(c, role) if role not in ("All", "Each") else None
    n_sites = game.board.n_sites

    def fn(ctx):
        s = ctx.s
        who, what, count = s.who, s.what, s.count
        if region is None and kinds is None:  # the same sum, over the whole state at C speed
            if pf is None:
                return sum(compress(count, map(truth, what)))
            return sum(compress(count, map(and_, map(pf(ctx).__eq__, who), map(truth, what))))
        sites = region(ctx) if region is not None else range(n_sites)
        total = 0
        if pf is None:
            for i in sites:
                if what[i] and (kinds is None or what[i] in kinds):
                    total += count[i]
            return total
        p = pf(ctx)
        for i in sites:
            if who[i] == p and what[i] and (kinds is None or what[i] in kinds):
                total += count[i]
        return total

    return fn


@builds("int", "+", "add", "*", "mul")
def _arith(c, node):
    if node.args.get("int") is not None and node.args.get("int2") is not None:
        a, b = c.int(node.args["int"]), c.int(node.args["int2"])
        if node.kind in ("+", "add"):
            return lambda ctx: a(ctx) + b(ctx)
        return lambda ctx: a(ctx) * b(ctx)
    items = node.args.get("ints")
    if isinstance(items, TypedArray):
        fns = [c.int(i) for i in items.items]
        if node.kind in ("+", "add"):
            return lambda ctx: sum(f(ctx) for f in fns)

        def prod(ctx):
            out = 1
            for f in fns:
                out *= f(ctx)
            return out

        return prod
    raise Unsupported(node.kind, "over an ints function")


@builds("int", "-", "sub")
def _sub(c, node):
    b = c.int(node.args["int2"]) if node.args.get("int2") is not None else None
    if b is None:
        a = c.int(node.args["int"])
        return lambda ctx: -a(ctx)
    a = c.int(node.args["int"])
    return lambda ctx: a(ctx) - b(ctx)


@builds("int", "/", "div", "%", "mod", "^", "pow")
def _div(c, node):
    a, b = c.int(node.args["int"]), c.int(node.args["int2"])
    if node.kind in ("/", "div"):
        return lambda ctx: _idiv(a(ctx), b(ctx))
    if node.kind in ("%", "mod"):
        return lambda ctx: _imod(a(ctx), b(ctx))
    return lambda ctx: int(a(ctx) ** b(ctx))


def _idiv(x: int, y: int) -> int:
    if y == 0:
        raise ZeroDivisionError("division by zero in a ludeme")
    q = abs(x) // abs(y)
    return q if (x >= 0) == (y >= 0) else -q


def _imod(x: int, y: int) -> int:
    if y == 0:
        raise ZeroDivisionError("modulo by zero in a ludeme")
    return x - y * _idiv(x, y)


@builds("int", "abs")
def _abs(c, node):
    a = c.int(node.args["int"])
    return lambda ctx: abs(a(ctx))


@builds("int", "max", "min")
def _maxmin(c, node):
    if node.args.get("int") is None or node.args.get("int2") is None:
        raise Unsupported(node.kind, "over an ints function")
    a, b = c.int(node.args["int"]), c.int(node.args["int2"])
    if node.kind == "max":
        return lambda ctx: max(a(ctx), b(ctx))
    return lambda ctx: min(a(ctx), b(ctx))


@builds("int", "if")
def _int_if(c, node):
    cond, a, b = c.bool(node.args["boolean"]), c.int(node.args["int"]), c.int(node.args["int2"])
    return lambda ctx: a(ctx) if cond(ctx) else b(ctx)


# --- booleans --------------------------------------------------------------------------------------


@builds("bool", "#const")
def _bool_const(c, node):
    v = bool(node.value)
    return lambda ctx: v


@builds("bool", "not")
def _not(c, node):
    a = c.bool(node.args["boolean"])
    return lambda ctx: not a(ctx)


@builds("bool", "and", "or")
def _and_or(c, node):
    if node.args.get("booleans") is not None:
        fns = [c.bool(i) for i in node.args["booleans"].items]
    else:
        fns = [c.bool(node.args["boolean"]), c.bool(node.args["boolean2"])]
    if node.kind == "and":
        if len(fns) == 2:
            a, b = fns
            return lambda ctx: a(ctx) and b(ctx)
        return lambda ctx: all(f(ctx) for f in fns)
    if len(fns) == 2:
        a, b = fns
        if getattr(a, "empty_to", False) and getattr(b, "enemy_to", False):
            # (or (is Empty (to)) (is Enemy (who at:(to)))): the usual capture-or-move test, inlined
            n = c.game.n_players

            def empty_or_enemy_to(ctx):
                t = ctx.to
                if t < 0:
                    return False
                s = ctx.s
                if not s.what[t]:
                    return True
                v = s.who[t]
                return 0 < v <= n and v != s.mover

            return empty_or_enemy_to
        return lambda ctx: a(ctx) or b(ctx)
    return lambda ctx: any(f(ctx) for f in fns)


@builds("bool", "xor")
def _xor(c, node):
    a, b = c.bool(node.args["boolean"]), c.bool(node.args["boolean2"])
    return lambda ctx: a(ctx) != b(ctx)


@builds("bool", "if")
def _bool_if(c, node):
    cond, a = c.bool(node.args["boolean"]), c.bool(node.args["boolean2"])
    b = c.bool(node.args["boolean3"]) if node.args.get("boolean3") is not None else None
    if b is None:
        return lambda ctx: a(ctx) if cond(ctx) else False
    return lambda ctx: a(ctx) if cond(ctx) else b(ctx)


_CMP = {
    "=": lambda x, y: x == y, "equals": lambda x, y: x == y,
    "!=": lambda x, y: x != y, "notEqual": lambda x, y: x != y,
    "<": lambda x, y: x < y, "lt": lambda x, y: x < y,
    ">": lambda x, y: x > y, "gt": lambda x, y: x > y,
    "<=": lambda x, y: x <= y, "le": lambda x, y: x <= y,
    ">=": lambda x, y: x >= y, "ge": lambda x, y: x >= y,
}  # fmt: skip


@builds("bool", *_CMP)
def _compare(c, node):
    args = node.args
    if args.get("region") is not None:
        ra, rb = c.region(args["region"]), c.region(args["region2"])
        if node.kind in ("=", "equals"):
            return lambda ctx: set(ra(ctx)) == set(rb(ctx))
        return lambda ctx: set(ra(ctx)) != set(rb(ctx))
    a = c.int(args["int"])
    other = args.get("int2") if args.get("int2") is not None else args.get("RoleType")
    b = player_fn(c, other) if isinstance(other, TypedConst) and other.type == "RoleType" else c.int(other)
    kind = node.kind
    if kind in ("=", "equals"):
        return lambda ctx: a(ctx) == b(ctx)
    if kind in ("!=", "notEqual"):
        return lambda ctx: a(ctx) != b(ctx)
    op = _CMP[kind]
    return lambda ctx: op(a(ctx), b(ctx))


@builds("bool", "is Empty", "is Occupied")
def _is_empty(c, node):
    _check_type(c, node)
    field = context_site(node.args["int"])
    if field is not None:
        read = _reader(field, "what")
        if node.kind == "is Empty":
            if field == "to":

                def empty_to(ctx):
                    return ctx.to >= 0 and not ctx.s.what[ctx.to]

                empty_to.empty_to = True  # type: ignore[attr-defined]  # generators inline it
                return empty_to
            return lambda ctx: getattr(ctx, field) >= 0 and not read(ctx)
        return lambda ctx: read(ctx) != 0
    at = c.int(node.args["int"])
    if node.kind == "is Empty":
        return lambda ctx: _get(ctx.s.what, at(ctx)) == 0 and 0 <= at(ctx)
    return lambda ctx: _get(ctx.s.what, at(ctx)) != 0


def _player_arg(c, node):
    arg = node.args.get("int") if node.args.get("int") is not None else node.args.get("RoleType")
    return player_fn(c, arg)


@builds("bool", "is Visited")
def _is_visited(c, node):
    c.game.requires_visited = True
    site = c.int(node.args["int"]) if node.args.get("int") is not None else (lambda ctx: ctx.to)
    return lambda ctx: site(ctx) in ctx.s.visited


def _who_field(node) -> str | None:
    """The context field when a player argument is ``(who at:(from|to|between))``."""
    arg = node.args.get("int")
    if isinstance(arg, TypedCall) and arg.kind == "who" and arg.args.get("level") is None:
        return context_site(arg.args.get("at"))
    return None


@builds("bool", "is Enemy")
def _is_enemy(c, node):
    p = _player_arg(c, node)
    n = c.game.n_players
    field = _who_field(node)
    if field in ("to", "between"):
        site = attrgetter(field)

        def enemy_at(ctx):
            i = site(ctx)
            v = ctx.s.who[i] if i >= 0 else 0
            return 0 < v <= n and v != ctx.s.mover

        setattr(enemy_at, "enemy_" + field, True)  # enemy_to / enemy_between: generators inline it
        return enemy_at

    def fn(ctx):
        v = p(ctx)
        return 0 < v <= n and v != ctx.s.mover

    return fn


@builds("bool", "is Friend")
def _is_friend(c, node):
    p = _player_arg(c, node)
    field = _who_field(node)
    if field == "to":
        return lambda ctx: (ctx.s.who[ctx.to] if ctx.to >= 0 else 0) == ctx.s.mover
    if field == "between":
        return lambda ctx: (ctx.s.who[ctx.between] if ctx.between >= 0 else 0) == ctx.s.mover
    return lambda ctx: p(ctx) == ctx.s.mover


@builds("bool", "is Mover")
def _is_mover(c, node):
    p = _player_arg(c, node)
    return lambda ctx: p(ctx) == ctx.s.mover


@builds("bool", "is Next")
def _is_next(c, node):
    p = _player_arg(c, node)
    return lambda ctx: p(ctx) == ctx.s.next


@builds("bool", "is Prev")
def _is_prev(c, node):
    p = _player_arg(c, node)
    return lambda ctx: p(ctx) == ctx.s.prev


@builds("bool", "is Active")
def _is_active(c, node):
    p = _player_arg(c, node)
    return lambda ctx: ctx.s.is_active(p(ctx))


@builds("bool", "is Even", "is Odd")
def _is_even(c, node):
    a = c.int(node.args["int"])
    if node.kind == "is Even":
        return lambda ctx: a(ctx) % 2 == 0
    return lambda ctx: a(ctx) % 2 == 1


@builds("bool", "is In")
def _is_in(c, node):
    reg = c.region(node.args["region"])
    arg = node.args.get("int")
    if arg is None:
        arg = node.args.get("ints")
    if isinstance(arg, TypedArray):
        fns = [c.int(i) for i in arg.items]
        return lambda ctx: all(f(ctx) in set(reg(ctx)) for f in fns)
    if _is_static(reg):
        members = frozenset(reg(None))
        if arg is None:
            return lambda ctx: ctx.to in members
        f = c.int(arg)
        field = context_site(arg)
        if field == "to":
            return lambda ctx: ctx.to in members
        if field == "frm":
            return lambda ctx: ctx.frm in members
        return lambda ctx: f(ctx) in members
    if arg is None:
        return lambda ctx: ctx.to in reg(ctx)
    f = c.int(arg)
    return lambda ctx: f(ctx) in reg(ctx)


@builds("bool", "is Pending")
def _is_pending(c, node):
    return lambda ctx: bool(ctx.s.pending)


@builds("bool", "is Triggered")
def _is_triggered(c, node):
    p = _player_arg(c, node)
    return lambda ctx: bool(ctx.s.triggered >> (p(ctx) - 1) & 1)


@builds("bool", "all Passed")
def _all_passed(c, node):
    n = c.game.n_players
    c.game.all_pass_draw = False
    return lambda ctx: ctx.s.passes >= bin(ctx.s.active).count("1") and ctx.s.passes >= 1 if n else False


@builds("bool", "is Full")
def _is_full(c, node):
    nb = c.game.board.n_board
    return lambda ctx: all(ctx.s.what[i] for i in range(nb))


@builds("bool", "no Pieces")
def _no_pieces(c, node):
    _check_type(c, node)
    a = node.args
    role = const(a.get("RoleType")) or "Mover"
    name = const(a.get("string"))
    kinds = set(c.game.components_named(name)) if name is not None else None
    region = c.region(a["in"]) if a.get("in") is not None else None
    pf = role_fn(c, role) if role not in ("All", "Each") else None
    n_sites = c.game.board.n_sites

    def fn(ctx):
        s = ctx.s
        sites = region(ctx) if region is not None else range(n_sites)
        p = pf(ctx) if pf is not None else None
        for i in sites:
            if s.what[i] and (p is None or s.who[i] == p) and (kinds is None or s.what[i] in kinds):
                return False
        return True

    return fn


@builds("bool", "no Moves")
def _no_moves(c, node):
    role = const(node.args["RoleType"])
    game = c.game
    if role == "Next":
        return lambda ctx: game.no_moves_next(ctx)
    if role == "Mover":
        return lambda ctx: bool(ctx.s.stalemated >> (ctx.s.mover - 1) & 1)
    pf = role_fn(c, role)
    return lambda ctx: bool(ctx.s.stalemated >> (pf(ctx) - 1) & 1)


@builds("bool", "can Move")
def _can_move(c, node):
    gen = c.moves(node.args["moves"])
    after = getattr(gen, "after", None)
    if after is None:
        return lambda ctx: scan(gen, ctx, bool)
    prior, game = gen.prior, c.game

    def fn(ctx):
        if gen.auto and ctx.in_threat:
            return scan(prior, ctx, bool)
        return scan(prior, ctx, lambda lst: any(game.passes_after(ctx, m, after) for m in lst))

    return fn


# --- regions ---------------------------------------------------------------------------------------


def static_region(v: list[int]):
    """A region closure for a region that depends on nothing (``fn.static`` marks it, so that
    unions, differences and named regions of static regions are computed once)."""

    def fn(ctx):
        return v

    fn.static = True  # type: ignore[attr-defined]
    return fn


def _is_static(f) -> bool:
    return getattr(f, "static", False)


@builds("region", "#array")
def _region_array(c, node):
    raise Unsupported("array", "as a region")


@builds("region", "sites")
def _sites(c, node):
    a = node.args
    board = c.game.board
    _check_type(c, node)
    if a.get("ints") is not None:
        fns = [c.int(i) for i in a["ints"].items]
        if all(isinstance(i, TypedConst) for i in a["ints"].items):
            return static_region(sorted({int(i.value) for i in a["ints"].items}))
        return lambda ctx: sorted({f(ctx) for f in fns if f(ctx) >= 0})
    if a.get("strings") is not None:
        return static_region(sorted({board.coord(const(s)) for s in a["strings"].items}))
    if a.get("StepTypes") is not None:
        raise Unsupported("sites", "walk")
    if node.sig.params and node.sig.params[0].name == "playerRef" or a.get("playerRef") or a.get("RoleType"):
        name = const(a.get("string"))
        role = a.get("RoleType") if a.get("RoleType") is not None else a.get("playerRef")
        return c.game.named_region(c, name, role)
    if a.get("string") is not None:
        return c.game.named_region(c, const(a["string"]), None)
    if not any(v is not None for v in a.values()):
        return static_region(list(range(board.n_board)))
    raise Unsupported("sites", "form")


_STATIC_PROPS = {
    "sites Top": "top", "sites Bottom": "bottom", "sites Left": "left", "sites Right": "right",
    "sites Corners": "corner", "sites ConvexCorners": "convex", "sites ConcaveCorners": "concave",
    "sites Outer": "outer", "sites Perimeter": "perimeter", "sites Inner": "inner",
    "sites Centre": "centre", "sites Major": "major", "sites Minor": "minor",
}  # fmt: skip


@builds("region", *_STATIC_PROPS, "sites Board")
def _static_sites(c, node):
    _check_type(c, node)
    board = c.game.board
    v = (
        list(range(board.n_board))
        if node.kind == "sites Board"
        else board.with_prop(_STATIC_PROPS[node.kind])
    )
    return static_region(v)


@builds("region", "sites Row", "sites Column", "sites Phase")
def _sites_row(c, node):
    _check_type(c, node)
    board = c.game.board
    if node.args.get("int") is None:
        raise Unsupported(node.kind, "without an index")
    idx = node.args["int"]
    get = {"sites Row": board.row, "sites Column": board.column, "sites Phase": board.phase_sites}[node.kind]
    if isinstance(idx, TypedConst):
        return static_region(get(int(idx.value)))
    f = c.int(idx)
    return lambda ctx: get(f(ctx))


@builds("region", "sites Side")
def _sites_side(c, node):
    _check_type(c, node)
    d = node.args.get("playerRef")
    if not (isinstance(d, TypedConst) and d.type == "CompassDirection"):
        raise Unsupported("sites Side", "by player")
    return static_region(c.game.board.with_prop("side " + const(d)))


@builds("region", "sites Empty")
def _sites_empty(c, node):
    _check_type(c, node)
    if node.args.get("int") is not None:
        raise Unsupported("sites Empty", "container")
    nb = c.game.board.n_board
    rng = range(nb)
    return lambda ctx: [i for i in rng if not ctx.s.what[i]]


@builds("region", "sites Occupied")
def _sites_occupied(c, node):
    a = node.args
    _check_type(c, node)
    if a.get("top") is not None:
        raise Unsupported("sites Occupied", "top:")
    by = a.get("by")
    board = c.game.board
    cont = a.get("container")
    if cont is None:
        rng = range(board.n_sites)
    elif isinstance(cont, TypedConst) and cont.type == "string":
        rng = board.container_sites(cont.value)
    elif isinstance(cont, TypedConst) and int(cont.value) < len(board.containers):
        rng = board.containers[int(cont.value)][1]
    else:
        raise Unsupported("sites Occupied", "container")
    comp = a.get("component") if a.get("component") is not None else a.get("components")
    kinds = None
    if comp is not None:
        if isinstance(comp, TypedArray):
            kinds = set()
            for i in comp.items:
                kinds.update(c.game.components_named(const(i)))
        elif comp.type == "string":
            kinds = set(c.game.components_named(const(comp)))
        else:
            raise Unsupported("sites Occupied", "component index")
    role = const(by) if isinstance(by, TypedConst) else None
    if role in ("All", "Each"):
        return lambda ctx: [i for i in rng if ctx.s.what[i] and (kinds is None or ctx.s.what[i] in kinds)]
    pf = player_fn(c, by)

    def occupied_by(ctx):
        p = pf(ctx)
        who, what = ctx.s.who, ctx.s.what
        if kinds is None:
            return [i for i in rng if who[i] == p and what[i]]
        return [i for i in rng if who[i] == p and what[i] in kinds]

    return occupied_by


@builds("region", "sites Hand")
def _sites_hand(c, node):
    role = node.args.get("playerRef") if node.args.get("playerRef") is not None else node.args.get("RoleType")
    pf = player_fn(c, role) if role is not None else (lambda ctx: ctx.s.mover)
    hands = c.game.board.hand_sites
    return lambda ctx: list(hands.get(pf(ctx), ()))


@builds("region", "sites LastTo", "sites LastFrom")
def _sites_last(c, node):
    if node.kind == "sites LastTo":
        return lambda ctx: (
            [ctx.s.last_move.to] if ctx.s.last_move is not None and ctx.s.last_move.to >= 0 else []
        )
    return lambda ctx: (
        [ctx.s.last_move.frm] if ctx.s.last_move is not None and ctx.s.last_move.frm >= 0 else []
    )


@builds("region", "sites ToClear")
def _sites_to_clear(c, node):
    return lambda ctx: sorted(ctx.s.to_clear)


@builds("region", "sites Pending")
def _sites_pending(c, node):
    return lambda ctx: sorted(set(ctx.s.pending))


@builds("region", "union", "intersection")
def _union(c, node):
    if node.args.get("regions") is not None:
        fns = [c.region(i) for i in node.args["regions"].items]
    else:
        fns = [c.region(node.args["region"]), c.region(node.args["region2"])]
    if fns and all(_is_static(f) for f in fns):
        sets = [set(f(None)) for f in fns]
        if node.kind == "union":
            return static_region(sorted(set().union(*sets)))
        return static_region(sorted(set.intersection(*sets)))
    if node.kind == "union":
        return lambda ctx: sorted(set().union(*(f(ctx) for f in fns)))

    def inter(ctx):
        out = set(fns[0](ctx))
        for f in fns[1:]:
            out &= set(f(ctx))
        return sorted(out)

    return inter


@builds("region", "difference")
def _difference(c, node):
    a = c.region(node.args["region"])
    other = node.args.get("region2")
    if other is not None:
        b = c.region(other)
        if _is_static(a) and _is_static(b):
            minus = set(b(None))
            return static_region([i for i in a(None) if i not in minus])
        if _is_static(b):
            minus = set(b(None))
            return lambda ctx: [i for i in a(ctx) if i not in minus]

        def diff(ctx):
            minus = set(b(ctx))
            return [i for i in a(ctx) if i not in minus]

        return diff
    f = c.int(node.args["int"])
    return lambda ctx: [i for i in a(ctx) if i != f(ctx)]


@builds("region", "if")
def _region_if(c, node):
    cond, a = c.bool(node.args["boolean"]), c.region(node.args["region"])
    b = c.region(node.args["region2"]) if node.args.get("region2") is not None else (lambda ctx: [])
    return lambda ctx: a(ctx) if cond(ctx) else b(ctx)


@builds("region", "forEach")
def _region_foreach(c, node):
    _check_type(c, node)
    reg, cond = c.region(node.args["region"]), c.bool(node.args["if"])

    def fn(ctx):
        out = []
        old = ctx.site
        for i in reg(ctx):
            ctx.site = i
            if cond(ctx):
                out.append(i)
        ctx.site = old
        return out

    return fn


@builds("region", "sites Around")
def _sites_around(c, node):
    a = node.args
    _check_type(c, node)
    if a.get("distance") is not None or a.get("RegionTypeDynamic") is not None:
        raise Unsupported("sites Around", "distance:/dynamic type")
    dirn = const(a.get("AbsoluteDirection")) or "Adjacent"
    steps = c.game.board.steps(dirn)
    cond = c.bool(a["if"]) if a.get("if") is not None else None
    include_self = c.bool(a["includeSelf"]) if a.get("includeSelf") is not None else None
    src = a.get("int") if a.get("int") is not None else a.get("region")
    if isinstance(src, TypedCall) and src.returns == "region":
        reg = c.region(src)

        def origins(ctx):
            return reg(ctx)
    else:
        f = c.int(src)

        def origins(ctx):
            v = f(ctx)
            return [v] if v >= 0 else []

    nb = c.game.board.n_board

    def fn(ctx):
        out = set()
        old = ctx.to
        for o in origins(ctx):
            if o >= nb:
                continue
            for t in steps[o]:
                if cond is not None:
                    ctx.to = t
                    if not cond(ctx):
                        continue
                out.add(t)
            if include_self is not None and include_self(ctx):
                out.add(o)
        ctx.to = old
        return sorted(out)

    return fn


@builds("region", "expand")
def _expand(c, node):
    a = node.args
    _check_type(c, node)
    dirn = const(a.get("AbsoluteDirection")) or "Adjacent"
    steps = c.game.board.steps(dirn)
    n = c.int(a["steps"]) if a.get("steps") is not None else (lambda ctx: 1)
    if a.get("origin") is not None:
        o = c.int(a["origin"])

        def base(ctx):
            return [o(ctx)]
    else:
        base = c.region(a["region"])

    def fn(ctx):
        cur = set(base(ctx))
        frontier = set(cur)
        for _ in range(n(ctx)):
            nxt = set()
            for s in frontier:
                for t in steps[s]:
                    if t not in cur:
                        nxt.add(t)
            cur |= nxt
            frontier = nxt
        return sorted(cur)

    return fn


@builds("region", "sites Direction")
def _sites_direction(c, node):
    a = node.args
    _check_type(c, node)
    if a.get("distance") is not None:
        raise Unsupported("sites Direction", "distance:")
    dirn = _abs_direction(c, a.get("direction"))
    board = c.game.board
    included = c.bool(a["included"]) if a.get("included") is not None else (lambda ctx: False)
    stop = c.bool(a["stop"]) if a.get("stop") is not None else (lambda ctx: False)
    stop_inc = c.bool(a["stopIncluded"]) if a.get("stopIncluded") is not None else (lambda ctx: False)
    frm = a["from"]
    if isinstance(frm, TypedCall) and frm.returns == "region":
        raise Unsupported("sites Direction", "from a region")
    f = c.int(frm)

    def fn(ctx):
        origin = f(ctx)
        if origin < 0 or origin >= board.n_board:
            return []
        out = set()
        if included(ctx):
            out.add(origin)
        old = ctx.to
        for d in dirn(ctx, origin):
            for r in board.radials(origin, d):
                for t in r.steps[1:]:
                    ctx.to = t
                    if stop(ctx):
                        if stop_inc(ctx):
                            out.add(t)
                        break
                    out.add(t)
        ctx.to = old
        return sorted(out)

    return fn


@builds("region", "sites Between")
def _sites_between(c, node):
    a = node.args
    _check_type(c, node)
    if a.get("cond") is not None:
        raise Unsupported("sites Between", "cond:")
    dirn = _abs_direction(c, a.get("direction"))
    board = c.game.board
    frm, to = c.int(a["from"]), c.int(a["to"])
    fi = c.bool(a["fromIncluded"]) if a.get("fromIncluded") is not None else (lambda ctx: False)
    ti = c.bool(a["toIncluded"]) if a.get("toIncluded") is not None else (lambda ctx: False)

    def fn(ctx):
        f, t = frm(ctx), to(ctx)
        if f < 0 or t < 0 or f >= board.n_board:
            return []
        for d in dirn(ctx, f):
            for r in board.radials(f, d):
                if t in r.steps[1:]:
                    k = r.steps.index(t)
                    out = set(r.steps[1:k])
                    if fi(ctx):
                        out.add(f)
                    if ti(ctx):
                        out.add(t)
                    return sorted(out)
        return []

    return fn


@builds("region", "sites Group")
def _sites_group(c, node):
    a = node.args
    _check_type(c, node)
    dirn = _abs_direction_name(a.get("direction"))
    steps = c.game.board.steps(dirn)
    at = c.int(a["at"])
    cond = c.bool(a["if"]) if a.get("if") is not None else None

    def fn(ctx):
        start = at(ctx)
        s = ctx.s
        if start < 0 or not s.what[start]:
            return []
        owner = s.who[start]
        seen = {start}
        stack = [start]
        old = ctx.to
        while stack:
            x = stack.pop()
            for y in steps[x]:
                if y in seen:
                    continue
                if cond is not None:
                    ctx.to = y
                    ok = cond(ctx)
                else:
                    ok = s.who[y] == owner and s.what[y] != 0
                if ok:
                    seen.add(y)
                    stack.append(y)
        ctx.to = old
        return sorted(seen)

    return fn


# --- directions ------------------------------------------------------------------------------------


def _abs_direction_name(node) -> str:
    """An absolute direction given as a constant or ``(directions X)``; relative ones unsupported here."""
    if node is None:
        return "Adjacent"
    if isinstance(node, TypedConst):
        if node.type != "AbsoluteDirection":
            raise Unsupported(f"direction {node.value}")
        return node.value
    if isinstance(node, TypedCall) and node.kind == "directions":
        items = node.args.get("AbsoluteDirection")
        if isinstance(items, TypedConst):
            return items.value
    raise Unsupported("directions", "a single absolute direction expected")


def _abs_direction(c: Compiler, node):
    """A closure ``(ctx, site) -> list of absolute directions`` for absolute directions only."""
    from rlpr.tasks.ludii.engine.directions import direction_fn

    return direction_fn(c, node)


@builds("bool", "is Related")
def _is_related(c, node):
    _check_type(c, node)
    rel = const(node.args["RelationType"])
    steps = c.game.board.steps(rel)
    a = c.int(node.args["int"])
    other = node.args.get("int2")
    if other is not None:
        b = c.int(other)
        return lambda ctx: b(ctx) in steps[a(ctx)] if 0 <= a(ctx) < len(steps) else False
    reg = c.region(node.args["region"])
    return lambda ctx: any(x in steps[a(ctx)] for x in reg(ctx)) if 0 <= a(ctx) < len(steps) else False


__all__ = ["player_fn", "role_fn"]
