"""Separate virtual environments holding TRL for `rlpr bench vs-trl`, built on first use.

TRL never enters the project's venv: each pinned TRL release gets its own venv under `.bench-venvs/` in the
repository root (or `$RLPR_BENCH_VENVS`). torch is installed first and pinned to the project's own version,
so both sides run the same torch build (the CPU wheel here; an unpinned torch would pull GBs of CUDA).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


class TrlUnavailable(FileNotFoundError):
    """A TRL venv is missing and cannot be built. A FileNotFoundError so that the CLI prints it as one line."""


@dataclass(frozen=True)
class TrlEnv:
    name: str  # the venv's directory name
    pins: tuple[str, ...]  # installed after torch, in one pip call


def venv_root() -> Path:
    """`$RLPR_BENCH_VENVS`, else `.bench-venvs/` in the checkout rlpr runs from, else under rlpr's cache."""
    if os.environ.get("RLPR_BENCH_VENVS"):
        return Path(os.environ["RLPR_BENCH_VENVS"])
    checkout = Path(__file__).resolve().parents[3]  # src/rlpr/bench/ -> repository root (editable install)
    if (checkout / "pyproject.toml").exists():
        return checkout / ".bench-venvs"
    from rlpr.models import cache_dir

    return Path(cache_dir()) / "bench-venvs"


def torch_pin() -> str:
    import torch

    return f"torch=={torch.__version__.split('+')[0]}"  # the running build's version: 2.13.0 -> the local CPU wheel


def ensure(env: TrlEnv, log=print) -> str:
    """Path of `env`'s python, building the venv first if it is missing or holds other pins."""
    target = venv_root() / env.name
    python = target / "bin" / "python"
    stamp = target / ".installed"
    wanted = json.dumps([torch_pin(), *env.pins])
    if stamp.exists() and stamp.read_text() == wanted:
        return str(python)
    log(f"vs-trl: building {target} ({', '.join([torch_pin(), *env.pins])}; once, a few minutes)")
    building = target.with_name(target.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    try:
        _pip_steps(building, env)
    except TrlUnavailable:
        shutil.rmtree(building, ignore_errors=True)
        raise
    (building / ".installed").write_text(wanted)
    shutil.rmtree(target, ignore_errors=True)
    # A venv's scripts name its directory; renaming keeps `bin/python` working (we only ever run `python -m`).
    building.rename(target)
    return str(python)


def _pip_steps(directory: Path, env: TrlEnv) -> None:
    _run([sys.executable, "-m", "venv", str(directory)], "create a venv")
    pip = [str(directory / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    _run([*pip, torch_pin()], f"install {torch_pin()}")  # first: the rest must not pick a torch of their own
    _run([*pip, *env.pins], "install " + " ".join(env.pins))


def _run(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True)
    except OSError as err:
        raise TrlUnavailable(f"vs-trl needs a TRL venv and could not {what}: {err}") from None
    if done.returncode:
        lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip() and not ln.startswith("WARNING")]
        why = lines[-1].strip() if lines else f"exit status {done.returncode}"
        raise TrlUnavailable(f"vs-trl needs a TRL venv and could not {what} (PyPI reachable?): {why}")
