"""rlpr's side of `rlpr bench vs-trl`: train a few steps through the public API and print one JSON line.

Run in a fresh process (`python -m rlpr.bench._rlpr_runner SPEC.json`) so that its peak RSS is rlpr's own,
like TRL's runner (`_trl_runner.py`). SPEC: threads, rows (sequences per step: prompts x group), group, and
`runs`, a list of {"overrides": [...]} for `build_config("sentiment", overrides=...)`, run one after another.
Per run it reports each step's wall time (differences of metrics.jsonl's `time_s`), the step's mean reward,
the prompts each step drew (so TRL can be fed the same ones in the same order) and memory.
"""

from __future__ import annotations

import json
import sys
import tempfile

# TRL's runner imports only the standard library at module level: its result marker and memory readings serve
# both sides, so both measure memory the same way
from rlpr.bench._trl_runner import MARKER, peak_rss_mb, rss_mb


class RecordingTask:
    """The sentiment task, unchanged, noting what the benchmark needs from inside `train`.

    Training steps are the calls with `rows` sequences (held-out evaluation uses one prompt). `metrics` runs
    after a step's update, so the peak RSS read there excludes the final checkpoint, which TRL does not write.
    """

    def __init__(self, inner, rows: int, group: int):
        self.inner, self.rows, self.group = inner, rows, group
        self.name = inner.name
        self.step_prompts: list[list[str]] = []
        self.rss_start_mb = 0.0
        self.peak_rss_mb = 0.0

    def prompts(self, split: str) -> list[str]:
        if split == "train":  # read just before the training loop: models and optimiser are built
            self.rss_start_mb = rss_mb()
        return self.inner.prompts(split)

    def reward(self, prompts: list[str], responses: list[str]) -> list[float]:
        if len(prompts) == self.rows:
            self.step_prompts.append(prompts[:: self.group])  # a prompt's group rows are consecutive
        return self.inner.reward(prompts, responses)

    def metrics(self, prompts, responses, rewards) -> dict:
        if len(prompts) == self.rows:
            self.peak_rss_mb = peak_rss_mb()
        return self.inner.metrics(prompts, responses, rewards)


def run_one(overrides: list[str], rows: int, group: int) -> dict:
    from rlpr.config import build_config
    from rlpr.rl.trainer import train
    from rlpr.tasks import make_task
    from rlpr.tracking import read_metrics

    with tempfile.TemporaryDirectory() as out:
        config = build_config("sentiment", overrides=[*overrides, f"out={out}"])
        task = RecordingTask(make_task("sentiment", config.task_config), rows, group)
        train(config, task=task)
        history = read_metrics(f"{out}/metrics.jsonl")
    times = [m["time_s"] for m in history]
    return {
        "step_s": [b - a for a, b in zip([0.0, *times], times)],
        "reward": [m["reward_mean"] for m in history],
        "prompts": task.step_prompts,
        "rss_start_mb": task.rss_start_mb,
        "peak_rss_mb": task.peak_rss_mb,
    }


def main(spec_path: str) -> None:
    with open(spec_path) as f:
        spec = json.load(f)
    import torch

    torch.set_num_threads(spec["threads"])
    results = [run_one(run["overrides"], run["rows"], run["group"]) for run in spec["runs"]]
    print(MARKER + json.dumps({"runs": results, "threads": torch.get_num_threads(), "torch": torch.__version__}),
          flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
