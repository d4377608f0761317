"""GRPO step time of rlpr now against rlpr at another checkout and TRL, side by side in one run.

    git worktree add /tmp/rlpr-old COMMIT
    .venv/bin/python benchmarks/grpo_against_a_checkout.py /tmp/rlpr-old/src

The vs-trl GRPO shape (8 prompts x 4, 16 new tokens, full fine-tuning), each run a fresh process, the three
sides (and rlpr's top-6-blocks row) alternating for `Shape.rounds` rounds, 2 torch threads. Prints each run's
step times, then the median step after warm-up and its ratio to TRL's. A change's speed-up is measured this
way, since the machines here are too noisy to compare runs made at different times.
"""

import json
import os
import sys

from rlpr import models
from rlpr.bench import vs_trl


def main(old_src: str) -> None:
    shape = vs_trl.Shape(threads=2)
    trl_python = vs_trl.ensure(vs_trl.GRPO_ENV, print)
    model_dir = models.resolve("smollm2-135m")
    steps: dict[str, list[list[float]]] = {"checkout": [], "now": [], "trl": [], "now_top6": []}
    for r in range(shape.rounds):
        os.environ["PYTHONPATH"] = old_src  # the runner process imports rlpr from there
        steps["checkout"].append(vs_trl.rlpr_run("grpo", shape)["step_s"])
        del os.environ["PYTHONPATH"]
        now = vs_trl.rlpr_run("grpo", shape)
        steps["now"].append(now["step_s"])
        steps["trl"].append(vs_trl.trl_run(trl_python, "grpo", shape, model_dir, now["prompts"])["step_s"])
        steps["now_top6"].append(vs_trl.rlpr_run("grpo", shape, 6)["step_s"])
        print(f"round {r + 1}:", {k: [round(s, 1) for s in v[-1]] for k, v in steps.items()}, flush=True)
    median = {k: vs_trl.median_after_warmup(v, shape.warmup) for k, v in steps.items()}
    print(json.dumps({"median_step_s": median, "ratio_to_trl": {k: v / median["trl"] for k, v in median.items()}}, indent=1))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
