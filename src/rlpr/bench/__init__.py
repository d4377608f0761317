"""Benchmarks behind `rlpr bench NAME`: each module NAME.py has `run() -> BenchResult`.

A benchmark measures its own figures and any comparison against a baseline in the same process, so the
ratio (our time / their time, below 1 means we are faster) is taken side by side on one noisy machine.
"""

from __future__ import annotations

import importlib
import os
import platform
from dataclasses import asdict, dataclass, field

import torch

from rlpr.fileio import write_json_atomic

NAMES = ["generate", "ppo-step", "sandbox", "ludii", "vs-trl"]


@dataclass
class BenchResult:
    title: str
    columns: list[str]
    rows: list[list]
    figures: dict = field(default_factory=dict)  # flat numbers for the JSON file, ratios named `*ratio*`
    notes: list[str] = field(default_factory=list)


def machine() -> str:
    """One line naming the hardware the figures came from."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    return f"{platform.machine()} CPU x{os.cpu_count()} ({torch.get_num_threads()} torch threads), torch {torch.__version__}"


def format_table(result: BenchResult) -> str:
    cells = [[str(c) for c in result.columns]] + [[_fmt(v) for v in row] for row in result.rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(result.columns))]
    lines = [f"## {result.title}  [{machine()}]"]
    for i, row in enumerate(cells):
        lines.append(" | ".join(c.ljust(w) for c, w in zip(row, widths)))
        if i == 0:
            lines.append("-+-".join("-" * w for w in widths))
    lines += result.notes
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def run_bench(name: str, json_path: str | None = None, settings: list[str] | None = None) -> BenchResult:
    """Run benchmark `name`; `settings` (key=value) change the run shape of a benchmark that has one
    (a module with `shape_from(settings)`)."""
    module = importlib.import_module(f"rlpr.bench.{name.replace('-', '_')}")
    if settings and not hasattr(module, "shape_from"):
        # not at the top: rlpr.config loads transformers, and the CLI imports NAMES
        from rlpr.config import ConfigError

        raise ConfigError(f"bench {name}: takes no key=value settings (got {' '.join(settings)})")
    result: BenchResult = module.run(module.shape_from(settings)) if settings else module.run()
    print(format_table(result), flush=True)
    if json_path:
        payload = {"name": name, "machine": machine(), **asdict(result)}
        write_json_atomic(json_path, payload)
    return result
