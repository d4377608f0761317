"""`rlpr sandbox run PROGRAM.py [--input FILE] [--json]`: run one program in the sandbox, print the verdict."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

from rlpr.sandbox.bwrap import SandboxUnavailable
from rlpr.sandbox.run import Limits, run_python


def sandbox_run_command(
    program_path: str,
    input_path: str | None,
    as_json: bool,
    wall_s: float | None = None,
    memory_mb: int | None = None,
) -> int:
    """Run `program_path` with the contents of `input_path` on stdin; print the result, human or JSON.

    Returns the exit code for the command: 0 if the program ran cleanly (`ok`), 1 for any other status,
    2 if a file is missing or no sandbox can be made (one line on stderr, no traceback).
    """
    try:
        with open(program_path, encoding="utf-8", errors="replace") as f:
            source = f.read()
        stdin = ""
        if input_path is not None:
            with open(input_path, encoding="utf-8", errors="replace") as f:
                stdin = f.read()
    except OSError as exc:
        print(f"rlpr sandbox run: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    limits = Limits()
    if wall_s is not None:
        limits.wall_s = wall_s
    if memory_mb is not None:
        limits.memory_mb = memory_mb
    try:
        result = run_python(source, stdin, limits)
    except SandboxUnavailable as exc:
        print(f"rlpr sandbox run: {exc}", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps(asdict(result)))
    else:
        print(f"status: {result.status}  exit code: {result.exit_code}  time: {result.time_s:.3f} s  "
              f"peak memory: {result.memory_mb:.1f} MB")  # fmt: skip
        for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
            if text:
                print(f"--- {name} ---\n{text}", end="" if text.endswith("\n") else "\n")
    return 0 if result.status == "ok" else 1
