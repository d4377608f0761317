"""Sowing and tracks as ludemes: ``sow``, ``(sites Track ...)`` and ``(trackSite Move ...)``.

``sow`` follows Ludii 1.0.8's ``Sow.eval``: take the counters of the start site (default ``(last
To)``) and drop them one by one on the following sites of the track (skipping ``skipIf`` sites, and
the start itself unless ``includeSelf``); the drops are one move. Then, on a copy of the state after
the sowing, while the capture rule ``if`` holds at ``(to)``: add the ``apply`` effect's moves to the
sowing move and, with ``backtracking``, step back one site and go on while it holds there too. The
effects are evaluated on the state right after the sowing (captures are not applied in between).
"""

from __future__ import annotations

from rlpr.tasks.ludii.engine.core import (
    A_MOVE,
    UNDEFINED,
    Compiler,
    Ctx,
    Move,
    Unsupported,
    apply_actions,
    builds,
    const,
)
from rlpr.tasks.ludii.engine.functions import player_fn
from rlpr.tasks.ludii.engine.tracks import Track
from rlpr.tasks.ludii.typed import TypedConst

MAX_SKIPS = 10000  # a skip rule that holds everywhere would loop for ever


def _check_type(c: Compiler, node) -> None:
    t = node.args.get("SiteType")
    if t is not None and const(t) != c.game.board.site_type:
        raise Unsupported(node.kind, f"site type {const(t)}")


def _tracks(c: Compiler) -> list[Track]:
    tracks = c.game.board.tracks
    if not tracks:
        raise Unsupported("track", "the board has no track")
    return tracks


@builds("moves", "sow")
def _sow(c: Compiler, node):
    _check_type(c, node)
    a = node.args
    c.game.counts_on_board = True
    start_fn = c.int(a["int"]) if a.get("int") is not None else None
    count_fn = c.int(a["count"]) if a.get("count") is not None else None
    name = const(a.get("string"))
    owner_fn = c.int(a["owner"]) if a.get("owner") is not None else None
    rule = c.bool(a["if"]) if a.get("if") is not None else None
    effect = c.moves(a["apply"]) if a.get("apply") is not None else None
    include_self = const(a.get("includeSelf"))
    include_self = True if include_self is None else bool(include_self)
    origin = c.bool(a["origin"]) if a.get("origin") is not None else None
    skip = c.bool(a["skipIf"]) if a.get("skipIf") is not None else None
    backtracking = c.bool(a["backtracking"]) if a.get("backtracking") is not None else None
    then = c.moves(a["then"].args["nonDecision"]) if a.get("then") is not None else None
    if a.get("then") is not None and const(a["then"].args.get("applyAfterAllMoves")):
        raise Unsupported("then", "applyAfterAllMoves")
    candidates = [t for t in _tracks(c) if name is None or name in t.name]

    def pick(owner: int) -> Track | None:
        for t in candidates:
            if name is None or (owner == -1 and t.name == name) or (owner != -1 and t.owner == owner):
                return t
        return None

    def gen(ctx: Ctx) -> list[Move]:
        s = ctx.s
        if start_fn is not None:
            start = start_fn(ctx)
        else:
            start = s.last_move.to if s.last_move is not None else UNDEFINED
        count = (
            count_fn(ctx) if count_fn is not None else (s.count[start] if 0 <= start < len(s.count) else 0)
        )
        owner = owner_fn(ctx) if owner_fn is not None else -1
        track = pick(owner)
        if track is None:
            return []
        old = ctx.frm, ctx.to
        i = track.index_of(start)
        n = len(track)
        actions: list = []
        ctx.frm = start
        if origin is not None and origin(ctx):
            actions.append((A_MOVE, start, start, 1))
            count -= 1
            ctx.to = start
        ctx.frm = old[0]
        sown = 0
        skipped = 0
        while sown < count and 0 <= i < n:
            to = track.next[i]
            ctx.to = to
            if skip is not None and skipped < MAX_SKIPS and skip(ctx):
                skipped += 1
                i = track.next_index[i]
                continue
            if not include_self and to == start:
                i = track.next_index[i]
                if not 0 <= i < n:
                    break
                to = track.next[i]
            if to < 0:
                break
            actions.append((A_MOVE, start, to, 1))
            ctx.to = to
            i = track.next_index[i]
            sown += 1
        move = Move(actions, start, ctx.to)
        if effect is not None:
            _captures(ctx, move, start, track, i, rule, effect, backtracking)
        ctx.frm, ctx.to = old
        move.mover = s.mover
        if then is not None:
            move.then.append(then)
        return [move]

    return gen


def _captures(ctx: Ctx, move: Move, start: int, track: Track, i: int, rule, effect, backtracking) -> None:
    """Append the capture effects Ludii adds after a sowing (see the module docstring); ``i`` is
    the track index of the last sown site."""
    after = Ctx(ctx.game, ctx.s.copy(), ctx.rng)
    after.frm, after.to = ctx.frm, ctx.to
    apply_actions(after, move)
    for _ in range(len(track) + 1):
        if rule is not None and not rule(after):
            break
        after.frm = start
        for m in effect(after):
            move.actions.append(m)
        if not 0 <= i < len(track):
            break
        to = track.prev[i]
        i = track.prev_index[i]
        after.to = to
        if backtracking is None or not backtracking(after) or to == start or to < 0:
            break


@builds("region", "sites Track")
def _sites_track(c: Compiler, node):
    a = node.args
    name = const(a.get("string")) or ""
    if a.get("nonDecision") is not None:
        raise Unsupported("sites Track", "from/to")
    for t in _tracks(c):
        if name in t.name:
            sites = list(t.site)
            return lambda ctx: sites
    return lambda ctx: []


@builds("int", "trackSite Move")
def _track_site_move(c: Compiler, node):
    a = node.args
    frm = c.int(a["from"]) if a.get("from") is not None else (lambda ctx: ctx.frm)
    steps = c.int(a["steps"])
    who = a.get("RoleType")
    name = None
    if isinstance(who, TypedConst) and who.type == "string":
        name, who = who.value, None
    player = player_fn(c, who) if who is not None else (lambda ctx: ctx.s.mover)
    tracks = _tracks(c)
    if any(t.internal_loop and not t.looped for t in tracks):
        raise Unsupported("trackSite Move", "tracks with internal loops")

    def pick(p: int) -> Track | None:
        if name is not None:
            for t in tracks:
                if name in t.name and t.owner == p:
                    return t
            for t in tracks:
                if name in t.name:
                    return t
        for owner in (p, 0):
            for t in tracks:
                if t.owner == owner:
                    return t
        return None

    picked: dict[int, Track | None] = {}  # pick depends on the player only

    def fn(ctx: Ctx) -> int:
        p = player(ctx)
        if p in picked:
            track = picked[p]
        else:
            track = picked[p] = pick(p)
        if track is None:
            return -1
        n = len(track.site)
        i = track.index_of(frm(ctx)) + steps(ctx)
        if i < n:
            return track.site[i]
        if track.next[n - 1] == -1:
            return -1
        i -= n
        if i == 0:
            return track.next[n - 1]
        return track.next[i - 1] if i - 1 < n else -1

    return fn
