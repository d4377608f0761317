"""Benchmark `sandbox`: tests per second through the sandbox pool against bare, unisolated subprocesses.

The same as `rlpr bench sandbox`; pass a path to also write the figures as JSON.
"""

import sys

from rlpr.bench import run_bench

if __name__ == "__main__":
    run_bench("sandbox", sys.argv[1] if len(sys.argv) > 1 else None)
