"""Benchmark `ludii`: random playouts per second of our Python engine, per library game it plays,

The same as `rlpr bench ludii`; pass a path to also write the figures as JSON.
"""

import sys

from rlpr.bench import run_bench

if __name__ == "__main__":
    run_bench("ludii", sys.argv[1] if len(sys.argv) > 1 else None)
