"""A Python engine for Ludii games: board graphs, state, legal moves, random playouts.

The flow, one module per step::

    graph, measure, trajectories   board geometry as Ludii builds it: sites, properties, steps, radials
    tracks                         named tracks of sites (mancala and race boards)
    board                          the (board ...) / (mancalaBoard ...) ludeme -> topology, hands,
                                   tracks, static regions
    core                           state, moves and actions, evaluation context, compiler registry
    functions, directions, moves,  ludemes compiled to closures (ints, booleans, regions, moves);
    conditions, sowing, dice       sowing and dice ludemes in their own modules
    game                           the whole (game ...): start, phases, end rules, applying a move
    playout                        random playouts and their outcomes

Typical use::

    game = build_game(compile_game(expand_file(path)))   # raises Unsupported
    stats = run_playouts(game, n=100, seed=0)
"""

from rlpr.tasks.ludii.engine.core import GameError, Unsupported, registered_kinds
from rlpr.tasks.ludii.engine.game import EngineGame, build_game
from rlpr.tasks.ludii.engine.playout import Outcome, Stats, playout, run_playouts

__all__ = [
    "EngineGame",
    "GameError",
    "Outcome",
    "Stats",
    "Unsupported",
    "build_game",
    "playout",
    "registered_kinds",
    "run_playouts",
]
