"""rlpr against TRL (pinned, in venvs of its own built on first use): GRPO and PPO step time, reward after the
same steps, PPO peak memory, and rlpr's step time over batch size x new tokens.

The same as `rlpr bench vs-trl`; pass a path to also write the figures as JSON.
"""

import sys

from rlpr.bench import run_bench

if __name__ == "__main__":
    run_bench("vs-trl", sys.argv[1] if len(sys.argv) > 1 else None)
