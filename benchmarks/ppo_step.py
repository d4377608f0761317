"""Time of one PPO step on smollm2-135m (the demo's shape), by phase, for three ways of training the model.

The same as `rlpr bench ppo-step`; pass a path to also write the figures as JSON.
"""

import sys

from rlpr.bench import run_bench

if __name__ == "__main__":
    run_bench("ppo-step", sys.argv[1] if len(sys.argv) > 1 else None)
