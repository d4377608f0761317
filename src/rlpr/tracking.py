"""The run directory's records: metrics.jsonl, TensorBoard events, summary.json, reward.png, a progress bar."""

from __future__ import annotations

import json
import math
import os
import time

from rlpr.fileio import write_json_atomic, write_text_atomic

# Metrics every step line carries (DESIGN.md section 6); absent values are written as null.
STEP_KEYS = [
    "step", "time_s", "reward_mean", "reward_std", "kl", "entropy", "batch_entropy", "batch_max_action",
    "pg_loss", "vf_loss", "approx_kl", "clipfrac", "explained_variance", "grad_norm", "lr", "tokens_per_s",
]  # fmt: skip


def read_metrics(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class Tracker:
    """Appends one JSON line per step (flushed, so a crash loses at most the line being written)."""

    def __init__(self, run_dir: str, total_steps: int, start_step: int = 0, tensorboard: bool = True, progress: bool = True):
        self.run_dir = run_dir
        self.metrics_path = os.path.join(run_dir, "metrics.jsonl")
        # On resume, drop lines logged after the checkpoint we restart from: they will be logged again.
        kept = [m for m in read_metrics(self.metrics_path) if m["step"] <= start_step]
        write_text_atomic(self.metrics_path, "".join(json.dumps(m) + "\n" for m in kept))
        self.history = kept
        self.file = open(self.metrics_path, "a")
        self.tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(os.path.join(run_dir, "tb"), purge_step=start_step)
        self.bar = None
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total_steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True)

    def log(self, metrics: dict) -> None:
        line = {k: metrics.get(k) for k in STEP_KEYS} | metrics
        line = {k: _clean(v) for k, v in line.items()}
        self.file.write(json.dumps(line) + "\n")
        self.file.flush()
        self.history.append(line)
        if self.tb is not None:
            for key, value in line.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tb.add_scalar(key, value, line["step"])
        if self.bar is not None:
            self.bar.set_postfix(reward=f"{line['reward_mean']:.3f}", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        self.file.close()
        if self.tb is not None:
            self.tb.close()
        if self.bar is not None:
            self.bar.close()


class NullTracker:
    """The tracker of ranks other than 0 in data-parallel training: rank 0 alone writes the run's records."""

    def __init__(self):
        self.history: list[dict] = []

    def log(self, metrics: dict) -> None:
        pass

    def close(self) -> None:
        pass


def _clean(value):
    """JSON-safe scalars: tensors to floats, NaN/inf to null."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def summarise(history: list[dict], wall_s: float, extra: dict | None = None) -> dict:
    """Final and best value of each numeric metric, plus the wall time."""
    summary: dict = {"steps": len(history), "wall_s": round(wall_s, 1), "final": {}, "best": {}}
    if history:
        for key in history[-1]:
            values = [m[key] for m in history if isinstance(m.get(key), (int, float))]
            if values and key != "step":
                summary["final"][key] = values[-1]
                summary["best"][key] = max(values) if key != "kl" and "loss" not in key else min(values)
        summary["reward_mean"] = history[-1].get("reward_mean")
    summary.update(extra or {})
    return summary


def write_summary(run_dir: str, summary: dict) -> None:
    write_json_atomic(os.path.join(run_dir, "summary.json"), summary)


def smooth(values: list[float], weight: float = 0.8) -> list[float]:
    """Exponential moving average, debiased like TensorBoard's smoothing."""
    out, last, norm = [], 0.0, 0.0
    for v in values:
        last = weight * last + (1 - weight) * v
        norm = weight * norm + (1 - weight)
        out.append(last / norm)
    return out


def plot_rewards(history: list[dict], path: str, title: str = "") -> None:
    """reward.png: the mean reward per step with a smoothed line and a +-1 std band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [m["step"] for m in history]
    mean = [m["reward_mean"] for m in history]
    std = [m.get("reward_std") or 0.0 for m in history]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.fill_between(steps, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)], alpha=0.15)
    ax.plot(steps, mean, alpha=0.4, label="reward (batch mean)")
    ax.plot(steps, smooth(mean), linewidth=2, label="smoothed")
    ax.set_xlabel("step")
    ax.set_ylabel("reward")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)


class Timer:
    def __init__(self):
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start
