"""Time of one PPO step on smollm2-135m (the demo's shape), by phase, for several ways of training the model.

Each setup runs three steps through the real trainer; the table reports the last (warm) step. The ratio
compares each setup's step time with full fine-tuning, measured in the same run.
"""

from __future__ import annotations

import tempfile

from rlpr.bench import BenchResult
from rlpr.config import build_config
from rlpr.rl.trainer import train
from rlpr.tracking import read_metrics

SETUPS = {
    "full fine-tuning": [],
    "top 6 of 30 blocks, full forwards": ["model.train_layers=6", "model.reuse_frozen_blocks=false"],
    "top 6 of 30 blocks": ["model.train_layers=6"],  # updates start at block 25, on the scoring pass's output
    "LoRA r=8 (attention)": ["model.lora_rank=8", "ppo.lr=1e-4"],
}
PHASES = ["time_generate_s", "time_reward_s", "time_score_s", "time_update_s"]


def run(model_name: str = "smollm2-135m", steps: int = 3) -> BenchResult:
    rows, figures = [], {}
    for name, overrides in SETUPS.items():
        with tempfile.TemporaryDirectory() as out:
            config = build_config("sentiment", "demo", overrides=[
                f"model.name={model_name}", f"ppo.steps={steps}", f"out={out}", "progress=false", "tensorboard=false",
                "show_samples=0", "eval_size=1", "ppo.batch_size=32", "ppo.mini_batch_size=16", "ppo.ppo_epochs=2",
                "model.train_layers=0", *overrides,
            ])
            train(config)
            last = read_metrics(f"{out}/metrics.jsonl")[-1]
        total = sum(last[p] for p in PHASES)
        rows.append([name, *(last[p] for p in PHASES), total])
        figures[name] = {p: last[p] for p in PHASES} | {"step_s": total}
    base = rows[0][-1]
    for row in rows:
        row.append(row[-1] / base)
    for name, row in zip(SETUPS, rows):
        figures[name]["ratio"] = row[-1]
    return BenchResult(
        title=f"ppo-step: {model_name}, 32 sequences x 4-15 new tokens, 2 epochs x 2 mini-batches",
        columns=["setup", "generate s", "reward s", "score s", "update s", "step s", "ratio vs full"],
        rows=rows,
        figures=figures,
        notes=["ratio = this setup's step time / full fine-tuning's step time, same run"],
    )
