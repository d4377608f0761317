"""Where the Ludii game library lives, and what the reference engine said about each game.

The library (``lud/`` games in category folders, ``def/`` shared defines) is never copied into the
repository: every function takes the data directory as a parameter, defaulting to ``RLPR_LUDII_DIR``
or to the first ``shared/data/ludii`` found walking up from the current directory or this file.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "RLPR_LUDII_DIR"
_RELATIVE = Path("shared") / "data" / "ludii"


def find_data_dir(start: Path | None = None) -> Path | None:
    """The Ludii data directory (holding ``lud/`` and ``def/``), or None when there is none.

    ``RLPR_LUDII_DIR`` wins when set; otherwise walk up from ``start`` (default: the current
    directory, then this file) looking for ``shared/data/ludii``.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        return path if (path / "lud").is_dir() else None
    starts = [start] if start is not None else [Path.cwd(), Path(__file__).resolve().parent]
    for begin in starts:
        for folder in [begin, *begin.parents]:
            candidate = folder / _RELATIVE
            if (candidate / "lud").is_dir():
                return candidate
    return None


def require_data_dir(data_dir: Path | str | None = None) -> Path:
    """``data_dir`` as a Path, or the default one; raises FileNotFoundError naming what was tried."""
    if data_dir is not None:
        path = Path(data_dir)
        if not (path / "lud").is_dir():
            raise FileNotFoundError(f"no Ludii library (lud/) under {path}")
        return path
    found = find_data_dir()
    if found is None:
        raise FileNotFoundError(
            f"Ludii data directory not found: set {ENV_VAR} or place it at ../shared/data/ludii"
        )
    return found


def game_files(data_dir: Path | str | None = None) -> list[Path]:
    """All ``.lud`` files of the library, sorted by their path under ``lud/``."""
    root = require_data_dir(data_dir) / "lud"
    return sorted(root.rglob("*.lud"), key=lambda p: p.relative_to(root).as_posix())


def relative_name(path: Path, data_dir: Path | str | None = None) -> str:
    """``path`` relative to ``lud/`` (the key of the reference table), e.g. ``board/hunt/Adugo.lud``."""
    root = require_data_dir(data_dir) / "lud"
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(path).name


def category(rel: str) -> str:
    """The category folder of a game, e.g. ``board/space/line`` for ``board/space/line/Hex.lud``."""
    parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
    return parent or "."


@dataclass(frozen=True)
class Reference:
    """One row of ``ludii-reference.tsv``: what Ludii 1.0.8 said of a game (a subset of the columns)."""

    path: str
    compiles: str  # "true", "false" or "unknown" (the reference run timed out)
    error: str
    players: str
    mean_turns: str


def load_reference(
    data_dir: Path | str | None = None, name: str = "ludii-reference.tsv"
) -> dict[str, Reference]:
    """The reference table next to the data directory, keyed by path under ``lud/``; {} if absent."""
    table = require_data_dir(data_dir).parent / name
    if not table.is_file():
        return {}
    rows: dict[str, Reference] = {}
    with table.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            rows[row["path"]] = Reference(
                row["path"],
                row["compiles"],
                row.get("error", ""),
                row.get("players", ""),
                row.get("mean_turns", ""),
            )
    return rows
