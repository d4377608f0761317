"""The arithmetic experiment: does plain PPO collapse onto one answer, and what keeps it learning the sums?

A grid of rows x seeds. Every row starts from the same supervised model per seed (trained once into
`OUT/sft/seed-N` and shared by the rows, so rows differ only in what they add to PPO). A row is a list of
config overrides on a base preset (`plain`: the paper's PPO at our scale). Results: `results.md` (one line
per run, one per row), `results.json`, and `curves.png` (held-out accuracy, reward, batch entropy and batch
max action over steps, runs overlaid). Finished runs (those with a summary.json) are not run again, so an
interrupted grid continues where it stopped.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from rlpr.fileio import write_json_atomic, write_text_atomic

BASE_PRESET = "plain"
PAPER_COEF = 0.3  # the paper's coefficient for both regularisers
# What `--preset best` adds to plain PPO besides batch entropy: the coefficient decayed to 0 over the first
# 100 steps; top-1 group advantages (16 samples per prompt, only each group's best answer reinforced) instead
# of the value head; one PPO epoch over mini-batches of 256 samples; the learning rate decayed linearly to 0;
# 600 steps instead of 300 (16 samples of a prompt cost about one: the prompt is read once); and none of the
# TRL 0.9 behaviours plain PPO copies (dropout in the update and in sampling, unclipped gradients).
SCHEDULE = ["ppo.coef_schedule=linear", "ppo.coef_decay_steps=100"]
TOP1 = ["ppo.advantage=best", "ppo.group_size=16", "ppo.batch_size=64", "ppo.whiten_advantages=false"]
ONE_EPOCH = ["ppo.ppo_epochs=1", "ppo.mini_batch_size=256"]
LR_DECAY = ["ppo.lr_schedule=linear"]
LONGER = ["ppo.steps=600"]
NO_TRL_DROPOUT = ["ppo.train_mode=false", "ppo.max_grad_norm=1.0"]  # plain's TRL 0.9 dropout and unclipped gradients, off
FIX = [*SCHEDULE, *TOP1, *ONE_EPOCH, *LR_DECAY, *LONGER, *NO_TRL_DROPOUT]
BATCH_ENTROPY = f"ppo.batch_entropy_coef={PAPER_COEF}"


def fix_without(*parts: list[str]) -> list[str]:
    """FIX with the given ingredients left out, in FIX's order."""
    left_out = {override for part in parts for override in part}
    return [override for override in FIX if override not in left_out]


ROWS: dict[str, list[str]] = {
    "plain PPO": [],
    "token entropy": [f"ppo.entropy_coef={PAPER_COEF}"],
    "batch entropy": [BATCH_ENTROPY],
    "batch entropy + fix": [BATCH_ENTROPY, *FIX],
}
# Each ablation changes one ingredient of plain PPO (what makes it collapse) or of the best configuration.
ABLATIONS: dict[str, list[str]] = {
    "plain without dropout in PPO": ["ppo.train_mode=false"],
    "plain with gradients clipped at 1": ["ppo.max_grad_norm=1.0"],
    "fix without batch entropy": [*FIX],
    "fix with constant batch entropy": [BATCH_ENTROPY, *fix_without(SCHEDULE)],
    "fix with constant learning rate": [BATCH_ENTROPY, *fix_without(LR_DECAY)],
    "fix with TRL's dropout and unclipped gradients": [BATCH_ENTROPY, *fix_without(NO_TRL_DROPOUT)],
    "fix with 4 samples a prompt": [BATCH_ENTROPY, *FIX, "ppo.group_size=4", "ppo.mini_batch_size=64"],
    "fix with GRPO advantages": [BATCH_ENTROPY, *FIX, "ppo.advantage=group"],
    "fix with leave-one-out advantages": [BATCH_ENTROPY, *FIX, "ppo.advantage=rloo"],
}
COLLAPSE_SHARE = 0.8  # one answer on at least this share of the held-out batch
CROSSING = 0.5  # report the first evaluated step at or above this held-out accuracy
SOLVED = 0.9


def slug(row: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", row.lower()).strip("-")


def run(
    out: str,
    seeds: list[int] | tuple[int, ...] = (0, 1, 2),
    preset: str = BASE_PRESET,
    overrides: list[str] | tuple[str, ...] = (),
    rows: list[str] | None = None,
    ablations: bool = False,
    jobs: int = 1,
) -> dict:
    """Train every (row, seed) not yet finished in `out`, then write results.md, results.json and curves.png."""
    from rlpr.config import ConfigError

    table = dict(ROWS) | (ABLATIONS if ablations else {})
    names = rows or list(table)
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ConfigError(f"unknown rows {unknown}; rows: {', '.join(table)}")
    started = time.perf_counter()
    os.makedirs(out, exist_ok=True)
    sft_walls = {seed: supervised_start(out, seed, preset, list(overrides)) for seed in seeds}
    runs = [(name, seed) for name in names for seed in seeds]
    todo = [(name, seed) for name, seed in runs if not os.path.exists(os.path.join(run_dir(out, name, seed), "summary.json"))]
    arguments = [(run_overrides(out, name, table[name], seed, overrides), preset) for name, seed in todo]
    if jobs > 1 and len(arguments) > 1:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_set_threads, initargs=(threads,)) as pool:
            for future in [pool.submit(_train_one, *a) for a in arguments]:
                future.result()
    else:
        for a in arguments:
            _train_one(*a)
    records = [collect(run_dir(out, name, seed), name, seed) | {"sft_wall_s": sft_walls[seed]} for name, seed in runs]
    results = {
        "preset": preset,
        "overrides": list(overrides),
        "seeds": list(seeds),
        "rows": {name: table[name] for name in names},
        "wall_s": round(time.perf_counter() - started, 1),
        "reused_runs": len(runs) - len(todo),  # finished before this call: not in wall_s
        "runs": records,
    }
    write_json_atomic(os.path.join(out, "results.json"), results)
    write_text_atomic(os.path.join(out, "results.md"), markdown(results))
    plot_curves(out, records, os.path.join(out, "curves.png"))
    return results


def run_dir(out: str, row: str, seed: int) -> str:
    return os.path.join(out, "runs", f"{slug(row)}-seed{seed}")


def sft_dir(out: str, seed: int) -> str:
    return os.path.join(out, "sft", f"seed-{seed}")


def supervised_start(out: str, seed: int, preset: str, overrides: list[str]) -> float:
    """Train (once) the supervised model that every row of `seed` starts from; returns its wall time."""
    from rlpr.config import build_config
    from rlpr.tasks import make_task

    directory = sft_dir(out, seed)
    stats_path = os.path.join(directory, "sft.json")
    if not os.path.exists(stats_path):
        config = build_config("arithmetic", preset, overrides=[*overrides, f"seed={seed}"])
        make_task("arithmetic", config.task_config).supervised_start(directory, seed)
    with open(stats_path) as f:
        return json.load(f)["wall_s"]


def run_overrides(out: str, name: str, row: list[str], seed: int, overrides) -> list[str]:
    """The overrides of one run: the row's, the user's, then seed, shared supervised start and directory."""
    return [*row, *overrides, f"seed={seed}", f"model.name={os.path.abspath(sft_dir(out, seed))}",
            f"out={run_dir(out, name, seed)}", "progress=false", "tensorboard=false"]


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _train_one(overrides: list[str], preset: str) -> None:
    from rlpr.config import build_config
    from rlpr.rl.trainer import train

    train(build_config("arithmetic", preset, overrides=overrides))


# ---------------------------------------------------------------- results


def collect(directory: str, row: str, seed: int) -> dict:
    """One run's figures: held-out (greedy) accuracy, reward and top-answer share at the end, the sampled
    top-answer share of the last training batch, the first step at or above 50% held-out accuracy."""
    from rlpr.tracking import read_metrics

    with open(os.path.join(directory, "summary.json")) as f:
        summary = json.load(f)
    history = read_metrics(os.path.join(directory, "metrics.jsonl"))
    start = summary.get("start") or {}
    evals = [(0, start.get("eval_accuracy"))] + [(m["step"], m["eval_accuracy"]) for m in history if "eval_accuracy" in m]
    crossing = next((step for step, acc in evals if acc is not None and acc >= CROSSING), None)
    last = history[-1] if history else {}
    return {
        "row": row,
        "seed": seed,
        "run_dir": directory,
        "accuracy": summary.get("accuracy"),
        "reward_mean": summary.get("reward_mean"),
        "top_answer_share": summary.get("top_answer_share"),
        "sampled_top_answer_share": last.get("top_answer_share"),
        "batch_max_action": last.get("batch_max_action"),
        "sft_accuracy": summary.get("sft_accuracy"),
        "first_step_50": crossing,
        "steps": summary.get("steps"),
        "wall_s": summary.get("wall_s"),
        "collapsed": (summary.get("top_answer_share") or 0.0) >= COLLAPSE_SHARE,
        "curves": {
            "eval_step": [s for s, _ in evals],
            "eval_accuracy": [a for _, a in evals],
            "step": [m["step"] for m in history],
            **{k: [m.get(k) for m in history] for k in ("reward_mean", "batch_entropy", "batch_max_action")},
        },
    }


def _f(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(results: dict) -> str:
    runs = results["runs"]
    lines = [
        "# Arithmetic chains: plain PPO against token entropy, batch entropy and our fix",
        "",
        f"Base preset `{results['preset']}`" + (f" with `{' '.join(results['overrides'])}`" if results["overrides"] else "")
        + f"; seeds {', '.join(map(str, results['seeds']))}. Each seed's rows start from the same supervised model.",
        "Held-out figures are greedy answers on the validation chains at the end of training; *collapse* means one",
        f"answer on at least {COLLAPSE_SHARE:.0%} of them. *Sampled top share* is the same share in the last training",
        "batch (temperature 1). Wall times were measured on a shared machine and are noisy.",
        "",
        "| config | seed | accuracy | reward | first step >= 50% | top answer share | sampled top share | SFT accuracy | wall s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['row']} | {r['seed']} | {_f(r['accuracy'])} | {_f(r['reward_mean'])} | "
            f"{'-' if r['first_step_50'] is None else r['first_step_50']} | {_f(r['top_answer_share'], 2)} | "
            f"{_f(r['sampled_top_answer_share'], 2)} | {_f(r['sft_accuracy'])} | {_f(r['wall_s'], 0)} |"
        )
    lines += [
        "",
        "Per config, over seeds:",
        "",
        "| config | accuracy mean | accuracy min | reward mean | runs >= 90% | collapses | gain over SFT (min) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        group = [r for r in runs if r["row"] == row]
        acc = [r["accuracy"] or 0.0 for r in group]
        reward = [r["reward_mean"] or 0.0 for r in group]
        gains = [(r["accuracy"] or 0.0) - (r["sft_accuracy"] or 0.0) for r in group]
        lines.append(
            f"| {row} | {_f(statistics.mean(acc))} | {_f(min(acc))} | {_f(statistics.mean(reward))} | "
            f"{sum(a >= SOLVED for a in acc)}/{len(group)} | {sum(r['collapsed'] for r in group)}/{len(group)} | "
            f"{_f(min(gains))} |"
        )
    lines += ["", "What each config adds to the base preset:", ""]
    lines += [f"- {row}: `{' '.join(overrides) or '(nothing)'}`" for row, overrides in results["rows"].items()]
    reused = results.get("reused_runs", 0)
    note = f" ({reused} of {len(runs)} runs had finished before this call and are not in it)" if reused else ""
    lines += ["", f"Grid wall time: {results['wall_s']:.0f} s{note}.", ""]
    return "\n".join(lines)


def plot_curves(out: str, runs: list[dict], path: str) -> None:
    """curves.png: one panel each for held-out accuracy, reward, batch entropy, batch max action."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rlpr.tracking import smooth

    rows = list(dict.fromkeys(r["row"] for r in runs))
    seeds = list(dict.fromkeys(r["seed"] for r in runs))
    colours = {row: f"C{i}" for i, row in enumerate(rows)}
    styles = ["-", "--", ":", "-."]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharex=True)
    panels = [
        ("eval_accuracy", "held-out accuracy (greedy)", False),
        ("reward_mean", "reward (training batch, smoothed)", True),
        ("batch_entropy", "batch entropy (smoothed)", True),
        ("batch_max_action", "batch max action (smoothed)", True),
    ]
    for ax, (key, title, smoothed) in zip(axes.flat, panels):
        for r in runs:
            c = r["curves"]
            steps = c["eval_step"] if key == "eval_accuracy" else c["step"]
            pairs = [(s, v) for s, v in zip(steps, c[key]) if v is not None]
            if not pairs:
                continue
            xs, ys = zip(*pairs)
            ys = smooth(list(ys)) if smoothed else ys
            label = r["row"] if r["seed"] == seeds[0] else None
            ax.plot(xs, ys, color=colours[r["row"]], linestyle=styles[seeds.index(r["seed"]) % len(styles)],
                    alpha=0.8, label=label)
        ax.set_title(title)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("step")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("arithmetic: " + ", ".join(f"seed {s} {styles[i % len(styles)]}" for i, s in enumerate(seeds)))
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
