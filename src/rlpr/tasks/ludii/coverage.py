"""How much of the Ludii library our reader, expander and compiler handle, per category.

Three measurements, rerun with ``python -m rlpr.tasks.ludii.coverage [--data DIR] [--seed N]``:

1. every game reads and expands;
2. the compiler's verdict agrees with Ludii 1.0.8's ``compiles`` column (``unknown``, a reference
   timeout, counts as "compiles"), and how many games are accepted;
3. the share of seeded corruptions of the games (see ``corrupt.py``) that the compiler rejects.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from rlpr.tasks.ludii.compiler import LudiiCompileError, check_text, compile_game
from rlpr.tasks.ludii.corrupt import KINDS, Corruption, Evidence, corruptions
from rlpr.tasks.ludii.expand import expand_file
from rlpr.tasks.ludii.paths import category, game_files, load_reference, relative_name, require_data_dir
from rlpr.tasks.ludii.reader import LudiiSyntaxError
from rlpr.tasks.ludii.tree import Call


@dataclass
class Row:
    """Counts for one category (or the total)."""

    games: int = 0
    expanded: int = 0
    accepted: int = 0
    agree: int = 0
    corrupted: int = 0
    rejected: int = 0


@dataclass
class Coverage:
    """All measurements: rows per category, disagreements, per-kind rejection, accepted corruptions."""

    rows: dict[str, Row] = field(default_factory=lambda: defaultdict(Row))
    read_errors: dict[str, str] = field(default_factory=dict)
    disagreements: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    accepted_corruptions: list[Corruption] = field(default_factory=list)
    seconds: float = 0.0

    def total(self) -> Row:
        out = Row()
        for row in self.rows.values():
            for name in vars(out):
                setattr(out, name, getattr(out, name) + getattr(row, name))
        return out


def expected_compiles(reference_value: str | None) -> bool | None:
    """The reference verdict: True, False, or None when the game has no reference row."""
    if reference_value is None:
        return None
    return reference_value != "false"  # "unknown" = the reference run timed out: it did not fail


def load_games(data_dir: Path | str | None = None) -> tuple[dict[str, Call], dict[str, str]]:
    """Expanded trees of every library game by path under lud/, and the read errors of the others."""
    root = require_data_dir(data_dir)
    games, errors = {}, {}
    for path in game_files(root):
        rel = relative_name(path, root)
        try:
            games[rel] = expand_file(path, root, rel)
        except LudiiSyntaxError as exc:
            errors[rel] = str(exc)
    return games, errors


@functools.lru_cache(maxsize=2)
def library_games(data_dir: str) -> tuple[dict[str, Call], dict[str, str]]:
    """``load_games`` cached per directory (the trees are immutable; do not modify the dicts)."""
    return load_games(data_dir)


def measure(
    data_dir: Path | str | None = None, seed: int = 0, per_game: int = 1, max_corruptions: int | None = None
) -> Coverage:
    """Run the three measurements over the library."""
    start = time.time()
    root = require_data_dir(data_dir)
    reference = load_reference(root)
    games, read_errors = library_games(str(root))
    errors = dict(read_errors)
    cov = Coverage(read_errors=read_errors)
    for path in game_files(root):
        rel = relative_name(path, root)
        row = cov.rows[category(rel)]
        row.games += 1
        ok = False
        if rel in games:
            row.expanded += 1
            try:
                compile_game(games[rel])
                ok = True
                row.accepted += 1
            except LudiiCompileError as exc:
                errors[rel] = str(exc)
        want = expected_compiles(reference[rel].compiles if rel in reference else None)
        if want is None or want == ok:
            row.agree += 1
        else:
            cov.disagreements[rel] = f"reference compiles={want}, ours={ok}: {errors.get(rel, '')}"
    valid = {k: v for k, v in games.items() if k not in errors}
    made = corruptions(valid, per_game=per_game, seed=seed, evidence=Evidence.from_games(valid.values()))
    if max_corruptions is not None and len(made) > max_corruptions:
        step = len(made) / max_corruptions
        made = [made[int(i * step)] for i in range(max_corruptions)]
    for c in made:
        row = cov.rows[category(c.game)]
        rejected = not check_text(c.text, root, c.game).ok
        row.corrupted += 1
        row.rejected += rejected
        cov.kinds[c.kind][0] += 1
        cov.kinds[c.kind][1] += rejected
        if not rejected:
            cov.accepted_corruptions.append(c)
    cov.seconds = time.time() - start
    return cov


def _pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:5.1f}%" if b else "   - "


def format_table(cov: Coverage) -> str:
    """The per-category table, the per-kind corruption table, and the notable cases."""
    head = f"{'category':32} {'games':>5} {'read':>5} {'accept':>6} {'agree':>5} {'corrupt':>7} {'reject':>7}"
    lines = [head, "-" * len(head)]
    for name in sorted(cov.rows):
        r = cov.rows[name]
        lines.append(
            f"{name:32} {r.games:5d} {r.expanded:5d} {r.accepted:6d} {r.agree:5d} "
            f"{r.corrupted:7d} {_pct(r.rejected, r.corrupted):>7}"
        )
    t = cov.total()
    lines += [
        "-" * len(head),
        f"{'total':32} {t.games:5d} {t.expanded:5d} {t.accepted:6d} {t.agree:5d} "
        f"{t.corrupted:7d} {_pct(t.rejected, t.corrupted):>7}",
        "",
    ]
    lines.append(
        f"read+expanded {t.expanded}/{t.games}; accepted {t.accepted}/{t.games} "
        f"({_pct(t.accepted, t.games).strip()}); agreement with Ludii 1.0.8 {t.agree}/{t.games}"
    )
    lines.append(
        "corruptions rejected, by kind: "
        + ", ".join(
            f"{k} {v[1]}/{v[0]}" for k, v in sorted(cov.kinds.items(), key=lambda kv: KINDS.index(kv[0]))
        )
    )
    for rel, msg in sorted(cov.disagreements.items()):
        lines.append(f"disagreement: {rel}: {msg}")
    for c in cov.accepted_corruptions:
        lines.append(f"accepted corruption: {c.kind} {c.game}: {c.detail}")
    lines.append(f"({cov.seconds:.0f} s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="Ludii data directory (holding lud/ and def/)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-game", type=int, default=1, help="corruptions of each kind per game")
    parser.add_argument("--max-corruptions", type=int, default=None)
    args = parser.parse_args(argv)
    cov = measure(args.data, args.seed, args.per_game, args.max_corruptions)
    print(format_table(cov))
    counts = Counter(c.kind for c in cov.accepted_corruptions)
    return 0 if not cov.disagreements and sum(counts.values()) <= 0.05 * cov.total().corrupted else 1


if __name__ == "__main__":
    raise SystemExit(main())
