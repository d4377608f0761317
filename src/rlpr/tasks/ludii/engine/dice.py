"""Dice: ``(roll)`` and ``(count Pips)``.

The game's one set of dice (``(dice d:2 from:0 num:4)``, see ``EngineGame._dice``) keeps its current
values in ``State.dice``. ``roll`` draws a face for every die when the move is generated (as Ludii's
``Roll.eval`` does, so the legal moves that follow a ``(do (roll) next:...)`` see the new values);
``count Pips`` is their sum for the dice's owner (Shared by default), else 0.
"""

from __future__ import annotations

from rlpr.tasks.ludii.engine.core import A_ROLL, Compiler, Ctx, Move, Unsupported, builds, const
from rlpr.tasks.ludii.engine.functions import player_fn, role_fn


def _require_dice(c: Compiler, kind: str) -> list[list[int]]:
    faces = c.game.dice_faces
    if not faces:
        raise Unsupported(kind, "no dice")
    return faces


@builds("moves", "roll")
def _roll(c: Compiler, node):
    faces = _require_dice(c, "roll")
    then = node.args.get("then")
    then_fn = c.moves(then.args["nonDecision"]) if then is not None else None

    def gen(ctx: Ctx) -> list[Move]:
        rng = ctx.rng
        m = Move([(A_ROLL, tuple(f[rng.randrange(len(f))] for f in faces))])
        m.mover = ctx.s.mover
        if then_fn is not None:
            m.then.append(then_fn)
        return [m]

    return gen


@builds("int", "count Pips")
def _count_pips(c: Compiler, node):
    _require_dice(c, "count Pips")
    a = node.args
    if a.get("of") is not None:
        pf = player_fn(c, a["of"])
    else:
        pf = role_fn(c, const(a.get("RoleType")) or "Shared")
    owner = c.game.dice_owner
    return lambda ctx: sum(ctx.s.dice) if pf(ctx) == owner else 0
