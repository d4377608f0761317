"""Run many sandboxed tests at once, at most `workers` sandboxes at a time.

Jobs with the same source are one program's tests: they go to one sandbox, which runs them one after
another, each in a fresh process (see `run.run_program`), in batches of at most `tests_per_sandbox` and
split so that every worker has work. Different programs never share a sandbox. Each worker is a thread
that feeds one sandbox and reads its reports; the programs run in their own processes, so `workers`
(default: the number of cores) is how many programs run in parallel. A hostile program can only end its
own sandbox: the pool keeps serving.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from rlpr.sandbox.bwrap import Sandbox, SandboxConfig, get_sandbox
from rlpr.sandbox.run import Job, Limits, RunResult, run_program


class SandboxPool:
    """A fixed set of workers for sandboxed runs. Use as a context manager, or call `close()`.

    Making the pool checks the sandbox (raises SandboxUnavailable when there is none and unsandboxed
    runs were not allowed).
    """

    def __init__(
        self,
        workers: int | None = None,
        limits: Limits | None = None,
        config: SandboxConfig | None = None,
        tests_per_sandbox: int = 16,
    ):
        self.workers = workers or os.cpu_count() or 1
        self.limits = limits or Limits()
        self.tests_per_sandbox = tests_per_sandbox
        self.sandbox: Sandbox = get_sandbox(config)
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="rlpr-sandbox")

    def run(self, job: Job) -> RunResult:
        """One job in its own sandbox, in the calling thread."""
        return run_program(self.sandbox, [job], self.limits)[0]

    def run_many(self, jobs: Sequence[Job]) -> list[RunResult]:
        """Results in the order of `jobs`."""
        results: list[RunResult | None] = [None] * len(jobs)
        batches = self.batches(jobs)
        work = [[jobs[i] for i in batch] for batch in batches]
        for batch, batch_results in zip(batches, self._executor.map(self._run_batch, work)):
            for i, result in zip(batch, batch_results):
                results[i] = result
        return results  # type: ignore[return-value]

    def batches(self, jobs: Sequence[Job]) -> list[list[int]]:
        """Indices of `jobs` grouped by source, in batches small enough to keep every worker busy."""
        groups: dict[str, list[int]] = {}
        for i, job in enumerate(jobs):
            groups.setdefault(job.source, []).append(i)
        size = max(1, min(self.tests_per_sandbox, math.ceil(len(jobs) / self.workers)))
        batches = []
        for indices in groups.values():
            parts = math.ceil(len(indices) / size)
            cuts = [round(p * len(indices) / parts) for p in range(parts + 1)]
            batches += [indices[a:b] for a, b in zip(cuts, cuts[1:])]
        batches.sort(key=len, reverse=True)  # long batches first: the short ones fill in at the end
        return batches

    def _run_batch(self, jobs: list[Job]) -> list[RunResult]:
        return run_program(self.sandbox, jobs, self.limits)

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_many(
    jobs: Sequence[Job],
    workers: int | None = None,
    limits: Limits | None = None,
    config: SandboxConfig | None = None,
) -> list[RunResult]:
    """Run `jobs` on a temporary pool; results in the order of `jobs`."""
    with SandboxPool(workers, limits, config) as pool:
        return pool.run_many(jobs)
