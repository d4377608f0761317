"""Ludii game descriptions (.lud): read, expand, check against the ludeme grammar.

The flow, one module per step::

    paths      where the library lives (RLPR_LUDII_DIR, or ../shared/data/ludii found by walking up)
    reader     text -> raw trees: comments, default options applied as text, rulesets/metadata dropped
    expand     raw trees -> the define- and range-expanded (game ...) tree (tree.py: nodes, printing, FIM)
    grammar    the ludeme type system and the signature notation; signatures.py holds the data
    compiler   expanded tree -> typed tree (typed.py), or an error naming file:line:col, ludeme, argument
    corrupt    seeded invalid variants of valid games; coverage: the measurements, per category

Typical use::

    tree = expand_file("lud/board/space/line/Tic-Tac-Toe.lud")
    typed = compile_game(tree)            # raises LudiiCompileError
    verdict = check_text(description)     # Verdict(status="valid"/"invalid", error, typed, supported)
"""

from rlpr.tasks.ludii.compiler import (
    SUPPORTED_LUDEMES,
    LudiiCompileError,
    TypedArray,
    TypedCall,
    TypedConst,
    Verdict,
    check_file,
    check_text,
    compile_game,
    support,
    typed_calls,
)
from rlpr.tasks.ludii.expand import expand_file, expand_source, expand_text
from rlpr.tasks.ludii.paths import find_data_dir, game_files, load_reference, require_data_dir
from rlpr.tasks.ludii.reader import LudiiSyntaxError, read_file, read_text
from rlpr.tasks.ludii.tree import Array, Atom, Call, Pos, fim_splits, to_pretty, to_text, walk

__all__ = [
    "SUPPORTED_LUDEMES",
    "Array",
    "Atom",
    "Call",
    "LudiiCompileError",
    "LudiiSyntaxError",
    "Pos",
    "TypedArray",
    "TypedCall",
    "TypedConst",
    "Verdict",
    "check_file",
    "check_text",
    "compile_game",
    "expand_file",
    "expand_source",
    "expand_text",
    "fim_splits",
    "find_data_dir",
    "game_files",
    "load_reference",
    "read_file",
    "read_text",
    "require_data_dir",
    "support",
    "to_pretty",
    "to_text",
    "typed_calls",
    "walk",
]
