"""Experiments: grids of training runs whose results are summarised as a table and curves (`rlpr experiment NAME`).

An experiment module has `run(out, seeds, preset, overrides, rows, ablations, jobs) -> dict` and writes
`results.md`, `results.json` and `curves.png` in `out`.
"""

from __future__ import annotations

import importlib

EXPERIMENTS = {"arithmetic": "rlpr.experiments.arithmetic"}


def get(name: str):
    from rlpr.config import ConfigError

    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; experiments: {', '.join(EXPERIMENTS)}")
    return importlib.import_module(EXPERIMENTS[name])
