"""Runtime core: game state, moves and their actions, the evaluation context, and the compiler registry.

State is a handful of Python lists indexed by site (board sites of the default site type, then the
hand sites), plus per-player lists and the turn bookkeeping Ludii keeps. A ``Move`` is a list of
actions (small tuples, or nested ``Move``s for side effects) and consequents (``then``: compiled
move generators evaluated when the move is applied, as Ludii does). Ludemes are compiled once into
closures ``f(ctx)``; ``Compiler`` dispatches a typed call to the builder registered for its kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rlpr.tasks.ludii.typed import TypedArray, TypedCall, TypedConst

OFF = -1
UNDEFINED = -1


class Unsupported(Exception):
    """A valid ludeme (or a form of it) the engine cannot play yet."""

    def __init__(self, kind: str, detail: str = ""):
        self.kind = kind
        super().__init__(f"{kind}: {detail}" if detail else kind)


class GameError(Exception):
    """An evaluation error inside a playout (the reward's 'evaluation error')."""


# --- actions ---------------------------------------------------------------------------------------

A_ADD, A_REMOVE, A_MOVE, A_PROMOTE, A_STATE, A_COUNT, A_NEXT, A_PASS = range(8)
A_SCORE, A_PENDING, A_VAR, A_COUNTER, A_VALUE, A_TRIGGER, A_SELECT, A_AMOUNT = range(8, 16)
A_SET_WHO, A_SWAP_SITES, A_CLEAR_LATER, A_ROLL = 16, 17, 18, 19


class Move:
    """A decision (or non-decision) move: actions applied in order, then consequents."""

    __slots__ = ("actions", "then", "mover", "frm", "to", "is_pass", "between")

    def __init__(self, actions: list, frm: int = UNDEFINED, to: int = UNDEFINED, mover: int = 0):
        self.actions = actions
        self.then: list[Callable[[Ctx], list[Move]]] = []
        self.mover = mover
        self.frm = frm
        self.to = to
        self.is_pass = False
        self.between: list[int] | None = None

    def __repr__(self) -> str:
        return f"Move({self.frm}->{self.to}, {self.actions}, then={len(self.then)})"


def chain_before(effects: list[Move], move: Move) -> Move:
    """Ludii ``chainRuleWithAction(prepend)``: the side-effect moves applied before ``move``'s actions."""
    if not effects:
        return move
    m = Move([*effects, *move.actions], move.frm, move.to, move.mover)
    m.then = move.then
    m.is_pass = move.is_pass
    m.between = move.between
    return m


# --- state -----------------------------------------------------------------------------------------


class State:
    """Mutable game state for one playout."""

    __slots__ = (
        "what", "who", "count", "sstate", "mover", "next", "prev", "active", "phase", "score",
        "ranking", "winner", "over", "num_turns", "num_moves", "last_mover", "counter", "pending",
        "var", "value_player", "amount", "last_move", "stalemated", "passes", "triggered",
        "moves_this_turn", "prev_move", "end_type", "n_won", "n_lost", "history", "to_clear", "replayed",
        "after_from", "after_to", "dice", "visited",
    )  # fmt: skip

    def __init__(self, n_sites: int, n_players: int):
        self.what = [0] * n_sites
        self.who = [0] * n_sites
        self.count = [0] * n_sites
        self.sstate = [0] * n_sites
        self.mover = 1
        self.next = 2 if n_players > 1 else 1
        self.prev = 0
        self.active = (1 << n_players) - 1
        self.phase = [0] * (n_players + 2)
        self.score = [0] * (n_players + 2)
        self.ranking = [0.0] * (n_players + 1)
        self.winner = 0
        self.over = False
        self.num_turns = 0
        self.num_moves = 0
        self.last_mover = 0
        self.counter = 0
        self.pending: list[int] = []
        self.var: dict[str, int] = {}
        self.value_player = [UNDEFINED] * (n_players + 2)
        self.amount = [0] * (n_players + 2)
        self.last_move: Move | None = None
        self.prev_move: Move | None = None
        self.stalemated = 0
        self.passes = 0
        self.triggered = 0
        self.moves_this_turn = 0
        self.end_type = ""
        self.n_won = 0
        self.n_lost = 0
        self.history: list[tuple[int, bool]] = []
        self.to_clear: list[int] = []
        self.replayed = False
        # from/to of the last action with a site, consequents included (Ludii ``toAfterSubsequents``)
        self.after_from = UNDEFINED
        self.after_to = UNDEFINED
        self.dice: list[int] = []  # current value of each die
        self.visited: set[int] = set()  # sites visited during the mover's current turn

    def copy(self) -> State:
        """A copy sharing nothing mutable with this state."""
        s = State.__new__(State)
        s.what = self.what[:]
        s.who = self.who[:]
        s.count = self.count[:]
        s.sstate = self.sstate[:]
        s.mover = self.mover
        s.next = self.next
        s.prev = self.prev
        s.active = self.active
        s.phase = self.phase[:]
        s.score = self.score[:]
        s.ranking = self.ranking[:]
        s.winner = self.winner
        s.over = self.over
        s.num_turns = self.num_turns
        s.num_moves = self.num_moves
        s.last_mover = self.last_mover
        s.counter = self.counter
        s.pending = self.pending[:]
        s.var = dict(self.var)
        s.value_player = self.value_player[:]
        s.amount = self.amount[:]
        s.last_move = self.last_move
        s.stalemated = self.stalemated
        s.passes = self.passes
        s.triggered = self.triggered
        s.moves_this_turn = self.moves_this_turn
        s.prev_move = self.prev_move
        s.end_type = self.end_type
        s.n_won = self.n_won
        s.n_lost = self.n_lost
        s.history = self.history[:]
        s.to_clear = self.to_clear[:]
        s.replayed = self.replayed
        s.after_from = self.after_from
        s.after_to = self.after_to
        s.dice = self.dice[:]
        s.visited = set(self.visited)
        return s

    def is_active(self, p: int) -> bool:
        return p > 0 and bool(self.active >> (p - 1) & 1)


# --- context ---------------------------------------------------------------------------------------


class Ctx:
    """Evaluation context: the state plus Ludii's iteration variables (from, to, between, ...)."""

    __slots__ = (
        "s", "game", "rng", "frm", "to", "between", "site", "value", "player", "level", "hint", "auto_fail",
        "in_threat",
    )  # fmt: skip

    def __init__(self, game: Any, state: State, rng: Any):
        self.game = game
        self.s = state
        self.rng = rng
        self.frm = UNDEFINED
        self.to = UNDEFINED
        self.between = UNDEFINED
        self.site = UNDEFINED
        self.value = UNDEFINED
        self.player = UNDEFINED
        self.level = UNDEFINED
        self.hint = UNDEFINED
        self.auto_fail = False
        self.in_threat = False


# --- applying moves --------------------------------------------------------------------------------


def apply_actions(ctx: Ctx, move: Move) -> None:
    """Apply a move's actions, then its consequents (Ludii ``Move.apply`` without storing)."""
    s = ctx.s
    g = ctx.game
    for a in move.actions:
        if type(a) is Move:
            apply_actions(ctx, a)
            continue
        op = a[0]
        if op == A_MOVE:
            _, frm, to, n = a
            s.after_from, s.after_to = frm, to
            what = s.what[frm]
            if what == 0:
                continue
            who, st = s.who[frm], s.sstate[frm]
            if s.count[frm] > n:
                s.count[frm] -= n
            else:
                s.what[frm] = s.who[frm] = s.count[frm] = s.sstate[frm] = 0
            if s.what[to] == what and (to >= g.n_board or g.counts_on_board):
                s.count[to] += n
            else:
                s.what[to], s.who[to], s.count[to], s.sstate[to] = what, who, n, st
        elif op == A_ADD:
            _, site, what, who, n, st = a
            s.after_from = s.after_to = site
            if s.what[site] == what and what != 0:
                s.count[site] += n
            else:
                s.what[site], s.who[site], s.count[site], s.sstate[site] = what, who, n, st
        elif op == A_REMOVE:
            _, site, n = a
            s.after_from = s.after_to = site
            if s.what[site] == 0:
                continue
            if n > 0 and s.count[site] > n:
                s.count[site] -= n
            else:
                s.what[site] = s.who[site] = s.count[site] = s.sstate[site] = 0
        elif op == A_PROMOTE:
            _, site, what, who = a
            s.after_from = s.after_to = site
            if s.what[site] != 0:
                s.what[site], s.who[site] = what, who
        elif op == A_STATE:
            s.sstate[a[1]] = a[2]
            s.after_from = s.after_to = a[1]
        elif op == A_COUNT:
            _, site, n = a
            s.after_from = s.after_to = site
            if n <= 0:
                s.what[site] = s.who[site] = s.count[site] = s.sstate[site] = 0
            else:
                s.count[site] = n
        elif op == A_NEXT:
            s.next = a[1]
            s.replayed = True
        elif op == A_SELECT:
            s.after_from, s.after_to = a[1], a[2]
        elif op == A_PASS:
            pass
        elif op == A_SCORE:
            _, p, v, add = a
            s.score[p] = s.score[p] + v if add else v
        elif op == A_PENDING:
            s.pending.append(a[1])
        elif op == A_VAR:
            s.var[a[1]] = a[2]
        elif op == A_COUNTER:
            s.counter = a[1]
        elif op == A_VALUE:
            s.value_player[a[1]] = a[2]
        elif op == A_TRIGGER:
            s.triggered |= 1 << (a[1] - 1)
        elif op == A_AMOUNT:
            s.amount[a[1]] = a[2]
        elif op == A_SET_WHO:
            s.who[a[1]] = a[2]
        elif op == A_CLEAR_LATER:
            if a[1] not in s.to_clear:
                s.to_clear.append(a[1])
        elif op == A_ROLL:
            s.dice = list(a[1])
        elif op == A_SWAP_SITES:
            _, x, y = a
            s.what[x], s.what[y] = s.what[y], s.what[x]
            s.who[x], s.who[y] = s.who[y], s.who[x]
            s.count[x], s.count[y] = s.count[y], s.count[x]
            s.sstate[x], s.sstate[y] = s.sstate[y], s.sstate[x]
    if move.then:
        for cons in move.then:
            for m in cons(ctx):
                apply_actions(ctx, m)


def scan(gen, ctx, pred) -> bool:
    """``pred(gen(ctx))`` for a ``pred`` that holds of a list of moves exactly when it holds of some
    part of it (an any-move test: ``bool``, "some move reaches a site"), generating the moves piece
    by piece where the generator allows it and stopping at the first part that passes (Ludii's
    ``canMove`` stops at the first move too). ``pred([])`` must be False."""
    sc = getattr(gen, "scan", None)
    if sc is None:
        return pred(gen(ctx))
    return sc(ctx, pred)


# --- compiler registry -----------------------------------------------------------------------------

Builder = Callable[["Compiler", TypedCall], Any]

#: (category, kind) -> builder; categories: int, bool, region, moves, graph, start, dir
REGISTRY: dict[tuple[str, str], Builder] = {}

#: Ludeme kinds the engine handles structurally (not through a builder).
STRUCTURAL = frozenset(
    "game players player equipment rules play end phase nextPhase result byScore score "
    "board piece hand regions map pair from to between then apply start "
    "directions range exact min max mode meta swap "
    # graphs (board.py) and start rules (game.py)
    "square rectangle hex graph merge shift scale rotate wedge morris union add remove place "
    "mancalaBoard track tri circle dice".split()
) | {"set Score", "set Count"}


def builds(category: str, *kinds: str) -> Callable[[Builder], Builder]:
    """Register a builder for ludeme kinds in a category."""

    def deco(fn: Builder) -> Builder:
        for kind in kinds:
            REGISTRY[(category, kind)] = fn
        return fn

    return deco


def registered_kinds() -> frozenset[str]:
    """Every ludeme kind some builder handles, plus the structural ones."""
    return frozenset(k for _, k in REGISTRY) | STRUCTURAL


@dataclass
class Compiler:
    """Turns typed ludemes into closures; holds what builders need to know about the game."""

    game: Any
    cache: dict = field(default_factory=dict)

    def build(self, category: str, node: Any) -> Any:
        if isinstance(node, TypedCall):
            fn = REGISTRY.get((category, node.kind))
            if fn is None:
                raise Unsupported(node.kind, f"as {category}")
            return fn(self, node)
        if isinstance(node, TypedConst):
            fn = REGISTRY.get((category, "#const"))
            if fn is None:
                raise Unsupported(f"{node.type} constant", f"as {category}")
            return fn(self, node)
        if isinstance(node, TypedArray):
            fn = REGISTRY.get((category, "#array"))
            if fn is None:
                raise Unsupported("array", f"as {category}")
            return fn(self, node)
        raise Unsupported(type(node).__name__)

    def int(self, node: Any) -> Callable[[Ctx], int]:
        return self.build("int", node)

    def bool(self, node: Any) -> Callable[[Ctx], bool]:
        return self.build("bool", node)

    def region(self, node: Any) -> Callable[[Ctx], list[int]]:
        return self.build("region", node)

    def moves(self, node: Any) -> Callable[[Ctx], list[Move]]:
        return self.build("moves", node)


def const(node: Any) -> Any:
    """The Python value of a constant node (None for None)."""
    if node is None:
        return None
    if isinstance(node, TypedConst):
        return node.value
    raise Unsupported(getattr(node, "kind", "?"), "expected a constant")
