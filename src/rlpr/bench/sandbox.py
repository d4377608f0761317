"""Benchmark `sandbox`: tests per second through the sandbox pool against bare, unisolated subprocesses.

The work: RUNS runs of small stdin/stdout programs of the kind a code task produces (parse numbers, sort,
count, a little dynamic programming, one wrong on purpose), TESTS_PER_PROGRAM runs of each, with expected
outputs. Ours: `SandboxPool.run_many`, as the trainer calls it (one sandbox per program, a fresh process per
test inside it, limits, output capture and comparison), and again with one sandbox per test
(`tests_per_sandbox=1`, what a program with a single test costs). Theirs: `subprocess.run([sys.executable,
file], input=...)` with no isolation, on the same runs with the same number of parallel workers.
ratio = our time / bare time; the three alternate, one program's tests at a time, so that load from
anything else on the machine falls on all of them alike.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from rlpr.bench import BenchResult
from rlpr.sandbox import Job, Limits, RunResult, SandboxPool

TESTS_PER_PROGRAM = 25

PROGRAMS = [
    (  # sum of a list
        "n = int(input())\nprint(sum(map(int, input().split())))\n",
        "5\n1 2 3 4 5\n",
        "15",
    ),
    (  # sort and print
        "input()\nxs = sorted(map(int, input().split()))\nprint(*xs)\n",
        "6\n5 3 9 1 1 0\n",
        "0 1 1 3 5 9",
    ),
    (  # word frequencies
        "import sys\nfrom collections import Counter\nc = Counter(sys.stdin.read().split())\n"
        "for w, k in sorted(c.items()):\n    print(w, k)\n",
        "b a c a b a\n",
        "a 3\nb 2\nc 1",
    ),
    (  # primes below n with a sieve
        "n = int(input())\nsieve = [True] * n\nsieve[0:2] = [False, False]\n"
        "for i in range(2, int(n ** 0.5) + 1):\n    if sieve[i]:\n        sieve[i * i :: i] = [False] * len(sieve[i * i :: i])\n"
        "print(sum(sieve))\n",
        "100000\n",
        "9592",
    ),
    (  # longest common subsequence, a small DP
        "a = input().strip()\nb = input().strip()\n"
        "dp = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]\n"
        "for i in range(len(a)):\n    for j in range(len(b)):\n"
        "        dp[i + 1][j + 1] = dp[i][j] + 1 if a[i] == b[j] else max(dp[i][j + 1], dp[i + 1][j])\n"
        "print(dp[-1][-1])\n",
        "ACCGGTCGAGTGCGCGGAAGCCGGCCGAA\nGTCGTTCGGAATGCCGTTGCTCTGTAAA\n",
        "20",
    ),
    (  # several test cases, fast input
        "import sys\ndata = sys.stdin.buffer.read().split()\nt = int(data[0])\nout = []\n"
        "for k in range(t):\n    a, b = int(data[1 + 2 * k]), int(data[2 + 2 * k])\n    out.append(str(a * b % 1000003))\n"
        "print('\\n'.join(out))\n",
        "3\n12 34\n100000 100000\n7 0\n",
        "408\n970003\n0",
    ),
    (  # a graph search
        "from collections import deque\nn, m = map(int, input().split())\ng = [[] for _ in range(n)]\n"
        "for _ in range(m):\n    u, v = map(int, input().split())\n    g[u].append(v)\n    g[v].append(u)\n"
        "dist = [-1] * n\ndist[0] = 0\nq = deque([0])\nwhile q:\n    u = q.popleft()\n"
        "    for v in g[u]:\n        if dist[v] < 0:\n            dist[v] = dist[u] + 1\n            q.append(v)\n"
        "print(*dist)\n",
        "5 4\n0 1\n1 2\n2 3\n0 4\n",
        "0 1 2 3 1",
    ),
    (  # a wrong answer: off by one
        "print(int(input()) + 2)\n",
        "40\n",
        "41",
    ),
]


def _bare(path: str, jobs: list[Job], workers: int) -> list[bool]:
    def one(job: Job) -> bool:
        done = subprocess.run(
            [sys.executable, path], input=job.stdin, capture_output=True, text=True, timeout=10
        )
        return done.stdout.split() == (job.expected or "").split()

    with ThreadPoolExecutor(workers) as executor:
        return list(executor.map(one, jobs))


def _children_cpu() -> float:
    """CPU seconds of reaped child processes (with theirs: the sandboxed programs count too)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(fn, *args) -> tuple[float, float, list]:
    cpu, start = _children_cpu(), time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, _children_cpu() - cpu, out


def run() -> BenchResult:
    workers = os.cpu_count() or 1
    runs = TESTS_PER_PROGRAM * len(PROGRAMS)
    names = ["pool, one sandbox per program", "pool, one sandbox per test", "bare subprocess.run"]
    wall = dict.fromkeys(names, 0.0)
    cpu = dict.fromkeys(names, 0.0)
    results: list[RunResult] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        SandboxPool(workers, Limits()) as grouped,
        SandboxPool(workers, Limits(), tests_per_sandbox=1) as single,
    ):
        runners = {
            names[0]: lambda path, jobs: grouped.run_many(jobs),
            names[1]: lambda path, jobs: single.run_many(jobs),
            names[2]: lambda path, jobs: _bare(path, jobs, workers),
        }
        for k, (source, stdin, expected) in enumerate(PROGRAMS):
            path = os.path.join(tmp, f"p{k}.py")
            with open(path, "w") as f:
                f.write(source)
            jobs = [Job(source, stdin, expected) for _ in range(TESTS_PER_PROGRAM)]
            if k == 0:  # warm up all three (page cache, first imports)
                for runner in runners.values():
                    runner(path, jobs[:workers])
            for name in names[k % 3 :] + names[: k % 3]:
                seconds, used, out = _timed(runners[name], path, jobs)
                wall[name] += seconds
                cpu[name] += used
                if name != names[2]:
                    results += out
    statuses = {s: sum(r.status == s for r in results) for s in sorted({r.status for r in results})}
    expected_passed = 2 * runs - 2 * TESTS_PER_PROGRAM  # both sandboxed runs; one program is wrong on purpose
    bare = wall[names[2]]
    rows = [[name, runs, workers, wall[name], runs / wall[name], 1000 * cpu[name] / runs] for name in names]
    return BenchResult(
        title=f"sandbox: {runs} small stdin/stdout tests ({len(PROGRAMS)} programs x {TESTS_PER_PROGRAM})",
        columns=["runner", "runs", "workers", "seconds", "tests/s", "child CPU ms/test"],
        rows=rows,
        figures={
            "runs": runs,
            "workers": workers,
            "sandbox_tests_per_s": runs / wall[names[0]],
            "sandbox_one_per_test_tests_per_s": runs / wall[names[1]],
            "bare_tests_per_s": runs / bare,
            "ratio": wall[names[0]] / bare,
            "one_per_test_ratio": wall[names[1]] / bare,
            "sandbox_cpu_ms_per_test": 1000 * cpu[names[0]] / runs,
            "sandbox_one_per_test_cpu_ms_per_test": 1000 * cpu[names[1]] / runs,
            "bare_cpu_ms_per_test": 1000 * cpu[names[2]] / runs,
            "passed": statuses.get("passed", 0),
            "expected_passed": expected_passed,
        },
        notes=[
            f"ratio (our time / bare time): {wall[names[0]] / bare:.3f} one sandbox per program, "
            f"{wall[names[1]] / bare:.3f} one sandbox per test; goal <= 1.25",
            f"statuses over both sandboxed runs: {statuses} (expected {expected_passed} passed)",
            f"sandbox: {grouped.sandbox.description}",
        ],
    )
