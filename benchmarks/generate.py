"""Generation throughput: rlpr's sampler against Hugging Face `model.generate` on the same batch.

The same as `rlpr bench generate`; pass a path to also write the figures as JSON.
"""

import sys

from rlpr.bench import run_bench

if __name__ == "__main__":
    run_bench("generate", sys.argv[1] if len(sys.argv) > 1 else None)
