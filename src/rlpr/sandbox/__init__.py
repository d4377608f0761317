"""Run untrusted (model-written) Python programs: bubblewrap isolation, resource limits, a worker pool.

    from rlpr.sandbox import Limits, run_python, SandboxPool, Job
    run_python("print(int(input()) * 2)", stdin="21\\n", expected="42").status  # "passed"

See `bwrap` for what a program can see, `run` for the limits and statuses, `pool` for running many.
"""

from rlpr.sandbox.bwrap import SandboxConfig, SandboxUnavailable, find_bwrap, get_sandbox
from rlpr.sandbox.pool import SandboxPool, run_many
from rlpr.sandbox.run import STATUSES, Job, Limits, RunResult, run_program, run_python, tokens_equal

__all__ = [
    "STATUSES",
    "Job",
    "Limits",
    "RunResult",
    "SandboxConfig",
    "SandboxPool",
    "SandboxUnavailable",
    "find_bwrap",
    "get_sandbox",
    "run_many",
    "run_program",
    "run_python",
    "tokens_equal",
]
