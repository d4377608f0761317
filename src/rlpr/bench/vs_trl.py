"""rlpr against TRL on the same work: GRPO-style and PPO step time, reward after the same steps, PPO peak memory,
and how rlpr's step time grows with batch size and new tokens.

Both sides train smollm2-135m (the same safetensors directory rlpr converts from the GGUF) on the sentiment
task's training prompts, in the same order (rlpr's runner reports the prompts each step drew; TRL's runner is
fed exactly those, shuffling off), rewarded by the VADER compound score of prompt + response, computed the way
rlpr's sentiment task computes it. Each run is a fresh process (its peak RSS is its own side's), rlpr's and
TRL's runs alternate so that load on the machine hits both alike, and both set the same torch thread count.
Step time: wall time from one optimiser step's end to the next (logging included on both sides), the median of
every run's steps after the first `warmup` steps. TRL's first steps are slower than its later ones (in a
30-step run its GRPO steps 2-4 took 9.0 s at the median, steps 11-30 5.8 s; rlpr's 3.4 and 3.6 s), so the
warm-up is 4 steps: with 1 of 4 steps, TRL's slow start made the GRPO ratio look better for rlpr (0.48 at
commit 575f69f; 0.53 at f72c464 with this warm-up, and 0.72 against TRL keeping freed memory).

- GRPO: rlpr `ppo.advantage=group` (no value model, no whitening, one update of the whole batch) against
  `trl.GRPOTrainer` (beta 0: no KL and no reference model on either side; loss_type dapo = token mean over the
  batch, as rlpr's masked mean; group mean/std scaling; gradient clipping at 1.0 on both).
- PPO: rlpr `ppo.advantage=gae` with `model.value=separate` (a critic initialised from the policy, as TRL's
  value model is) and a per-token KL penalty in the reward (k1, coefficient 0.05, TRL's default; TRL's PPO
  always runs its reference model) against `trl.experimental.ppo.PPOTrainer`: 2 epochs x 2 mini-batches, value
  clip 0.2, vf_coef 0.1, gamma 1, lambda 0.95, whitened advantages; TRL's PPO does not clip gradients, so
  rlpr's clipping is lifted (max_grad_norm 1e9).
- Both: full fine-tuning, fp32, no gradient checkpointing, fused AdamW (TRL's default optimiser, and rlpr's) at a
  constant lr, sampling at temperature 1 without top-k/top-p, exactly `new_tokens` tokens per response (rlpr:
  min = max new tokens, EOS blocked; TRL GRPO: `min_new_tokens`; TRL PPO: no stop token, so generation never
  ends early either, but an EOS sampled midway there is kept as a token, which rlpr never samples).

glibc's allocator makes TRL's step time wander between runs (GRPO: 5.8 s a step in one 30-step run, 8.3 s in
the next, each steady within itself): it returns every freed block above 32 MB to the kernel, which zero-fills
the pages again at the next allocation. rlpr tells glibc to keep freed memory (`rlpr.malloc`, on by default).
Each round therefore also runs TRL with the same two settings given as glibc tunables (`GLIBC_TUNABLES`): the
extra rows compare the two implementations with the allocator out of the picture.

The shape (`Shape`: batch, group, tokens, steps, rounds, ...) can be changed on the command line, e.g.
`rlpr bench vs-trl steps=30 rounds=1 reward_window=10 extra_train_layers=0 scale_prompts=[]` for the reward
after 30 steps, averaged over the last 10, without the extra row and the scaling grid.

Pins (one venv each under `.bench-venvs/`, torch installed first at the project's version, 2.13.0):
- GRPO: trl 1.16.0, the latest release, with the project's transformers 5.24.0, accelerate 1.15.0 and
  datasets 5.2.0 (constraints.txt), so both sides run the same model code.
- PPO: trl 1.12.0, the last release that ships PPOTrainer (as `trl.experimental.ppo`, where it moved in 0.2x;
  1.13.0 removed it, checked in the wheels), with the same transformers / accelerate / datasets.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rlpr import malloc
from rlpr.bench import BenchResult
from rlpr.bench._trl_runner import MARKER
from rlpr.bench._trl_venvs import TrlEnv, ensure

SHARED_PINS = ("transformers==5.24.0", "accelerate==1.15.0", "datasets==5.2.0", "vaderSentiment==3.3.2")
GRPO_ENV = TrlEnv("trl-1.16.0", ("trl==1.16.0", *SHARED_PINS))
PPO_ENV = TrlEnv("trl-1.12.0", ("trl==1.12.0", *SHARED_PINS))
HERE = Path(__file__).resolve().parent


@dataclass
class Shape:
    """The work both sides do. Sized for about 20 minutes on a 2-core CPU."""

    prompts: int = 8  # GRPO: prompts per step
    group: int = 4  # GRPO: samples per prompt
    ppo_prompts: int = 8  # PPO: sequences per step (one sample per prompt)
    ppo_epochs: int = 2
    mini_batches: int = 2
    new_tokens: int = 16
    steps: int = 10  # per run: `warmup` discarded, the rest timed
    warmup: int = 4  # TRL takes about 5 steps to reach its steady step time
    rounds: int = 2  # alternating rlpr / TRL runs per algorithm
    reward_window: int = 5  # "reward after `steps` steps": the mean batch reward of the run's last N steps
    lr: float = 1e-5
    kl_coef: float = 0.05  # PPO's per-token KL penalty, both sides (TRL's default)
    seed: int = 0
    extra_train_layers: int = 6  # an extra rlpr GRPO row training only the top N blocks (0 = none)
    trl_kept_memory: bool = True  # extra TRL rows with glibc told to keep freed memory, as rlpr does
    scale_prompts: tuple[int, ...] = (2, 4, 8)  # rlpr's GRPO step time over prompts x new tokens
    scale_tokens: tuple[int, ...] = (8, 16, 32)
    scale_steps: int = 2  # per grid point: one warm-up, the rest timed
    threads: int = field(default_factory=lambda: _threads())  # torch's count here (OMP_NUM_THREADS sets it)


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def shape_from(overrides: list[str]) -> Shape:
    """`rlpr bench vs-trl key=value ...`: the default shape with these fields changed (`steps=30`,
    `scale_prompts=[]` to skip the grid), each checked like a training config's keys."""
    from rlpr.config import ConfigError, from_dict, parse_override

    changes = {}
    for text in overrides:
        path, value = parse_override(text)
        changes[".".join(path)] = value
    shape = from_dict(Shape, changes)
    if not 0 <= shape.warmup < shape.steps:
        raise ConfigError(f"warmup: expected 0 <= warmup < steps ({shape.steps}), got {shape.warmup}")
    if shape.scale_steps < 2:
        raise ConfigError(f"scale_steps: expected 2 or more (one warm-up step per grid point), got {shape.scale_steps}")
    if not 1 <= shape.reward_window <= shape.steps:
        raise ConfigError(f"reward_window: expected 1 to steps ({shape.steps}), got {shape.reward_window}")
    return shape


# ---------------------------------------------------------------- configs of the two sides


def rlpr_overrides(algo: str, shape: Shape, prompts: int, new_tokens: int, steps: int, train_layers: int = 0) -> list[str]:
    """rlpr's config for one run, every knob that matters to the comparison set explicitly."""
    common = [
        "model.name=smollm2-135m", f"model.train_layers={train_layers}", "model.dtype=float32", "model.lora_rank=0",
        "model.gradient_checkpointing=false", "device=cpu", f"seed={shape.seed}", "progress=false",
        "tensorboard=false", "show_samples=0", "eval_size=1",
        f"sampling.max_new_tokens={new_tokens}", f"sampling.min_new_tokens={new_tokens}",
        "sampling.random_length=false", "sampling.temperature=1.0", "sampling.top_k=0", "sampling.top_p=1.0",
        f"ppo.steps={steps}", f"ppo.batch_size={prompts}", f"ppo.lr={shape.lr}", "ppo.lr_schedule=constant",
        "ppo.warmup_steps=0", "ppo.weight_decay=0.0", "ppo.clip=0.2", "ppo.entropy_coef=0.0",
        "ppo.batch_entropy_coef=0.0",
    ]
    if algo == "grpo":
        return common + [
            f"ppo.group_size={shape.group}", f"ppo.mini_batch_size={prompts * shape.group}", "ppo.ppo_epochs=1",
            "ppo.advantage=group", "model.value=none", "ppo.whiten_advantages=false", 'ppo.kl="off"',
            "ppo.track_kl=false", "ppo.max_grad_norm=1.0",
        ]
    return common + [
        "ppo.group_size=1", f"ppo.mini_batch_size={prompts // shape.mini_batches}", f"ppo.ppo_epochs={shape.ppo_epochs}",
        "ppo.advantage=gae", "model.value=separate", "ppo.whiten_advantages=true", "ppo.kl=reward-token",
        "ppo.kl_estimator=k1", f"ppo.kl_coef={shape.kl_coef}", "ppo.kl_target=null", "ppo.max_grad_norm=1e9",
        "ppo.vf_coef=0.1", "ppo.value_clip=0.2", "ppo.gamma=1.0", "ppo.lam=0.95",
    ]


def trl_spec(algo: str, shape: Shape, model_dir: str, prompts: list[str]) -> dict:
    return {
        "algo": algo, "model_dir": model_dir, "prompts": prompts, "new_tokens": shape.new_tokens,
        "batch": shape.prompts if algo == "grpo" else shape.ppo_prompts, "group": shape.group if algo == "grpo" else 1,
        "steps": shape.steps, "lr": shape.lr, "threads": shape.threads, "seed": shape.seed,
        "ppo_epochs": shape.ppo_epochs, "mini_batches": shape.mini_batches, "kl_coef": shape.kl_coef,
    }


# ---------------------------------------------------------------- running the sides


KEEP_FREED_MEMORY_ENV = {"GLIBC_TUNABLES": malloc.GLIBC_TUNABLES}  # what rlpr's keep_freed_memory sets, for TRL


def run_process(python: str, args: list[str], spec: dict, what: str, env: dict | None = None) -> dict:
    """Run one side in a fresh process with `spec` as a JSON file (and `env` added to the environment); return
    its result line."""
    env = os.environ | {"OMP_NUM_THREADS": str(spec["threads"]), "MKL_NUM_THREADS": str(spec["threads"]),
                        "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONWARNINGS": "ignore",
                        **(env or {})}
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(spec, f)
        f.flush()
        done = subprocess.run([python, *args, f.name], capture_output=True, text=True, env=env)
    for line in done.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
    tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
    raise RuntimeError(f"vs-trl: the {what} run failed (exit status {done.returncode}):\n{tail}")


def run_rlpr(runs: list[dict], threads: int, what: str) -> list[dict]:
    spec = {"threads": threads, "runs": runs}
    return run_process(sys.executable, ["-m", "rlpr.bench._rlpr_runner"], spec, what)["runs"]


def rlpr_run(algo: str, shape: Shape, train_layers: int = 0) -> dict:
    prompts = shape.prompts if algo == "grpo" else shape.ppo_prompts
    group = shape.group if algo == "grpo" else 1
    run = {"rows": prompts * group, "group": group,
           "overrides": rlpr_overrides(algo, shape, prompts, shape.new_tokens, shape.steps, train_layers)}
    return run_rlpr([run], shape.threads, f"rlpr {algo}")[0]


def trl_run(python: str, algo: str, shape: Shape, model_dir: str, step_prompts: list[list[str]],
            env: dict | None = None) -> dict:
    prompts = [p for step in step_prompts for p in step]
    return run_process(python, [str(HERE / "_trl_runner.py")], trl_spec(algo, shape, model_dir, prompts), f"TRL {algo}",
                       env)


def compare(algo: str, python: str, shape: Shape, model_dir: str, log) -> dict[str, list[dict]]:
    """`shape.rounds` rounds of rlpr then TRL (then TRL keeping freed memory, and rlpr's extra row for GRPO),
    each run a fresh process."""
    runs: dict[str, list[dict]] = {"rlpr": [], "trl": [], "trl_kept_memory": [], "rlpr_extra": []}
    for r in range(shape.rounds):
        ours = rlpr_run(algo, shape)
        runs["rlpr"].append(ours)
        log(f"vs-trl: {algo} round {r + 1}: rlpr {_fmt_steps(ours)}")
        theirs = trl_run(python, algo, shape, model_dir, ours["prompts"])
        runs["trl"].append(theirs)
        log(f"vs-trl: {algo} round {r + 1}: TRL  {_fmt_steps(theirs)}")
        if shape.trl_kept_memory:
            kept = trl_run(python, algo, shape, model_dir, ours["prompts"], KEEP_FREED_MEMORY_ENV)
            runs["trl_kept_memory"].append(kept)
            log(f"vs-trl: {algo} round {r + 1}: TRL keeping freed memory {_fmt_steps(kept)}")
        if algo == "grpo" and shape.extra_train_layers:
            extra = rlpr_run(algo, shape, shape.extra_train_layers)
            runs["rlpr_extra"].append(extra)
            log(f"vs-trl: {algo} round {r + 1}: rlpr top {shape.extra_train_layers} blocks {_fmt_steps(extra)}")
    return runs


def scaling(shape: Shape) -> dict[tuple[int, int], float]:
    """rlpr's GRPO step time (median after warm-up) for each prompts x new-tokens point, one process."""
    points = [(p, t) for p in shape.scale_prompts for t in shape.scale_tokens]
    if not points:
        return {}
    runs = [{"rows": p * shape.group, "group": shape.group,
             "overrides": rlpr_overrides("grpo", shape, p, t, shape.scale_steps)} for p, t in points]
    results = run_rlpr(runs, shape.threads, "rlpr scaling")
    # one warm-up step per point: the process runs the points one after another, so only its first point
    # meets a cold allocator, and each point's first step is discarded anyway
    return {point: median_after_warmup([r["step_s"]], 1) for point, r in zip(points, results)}


def _fmt_steps(result: dict) -> str:
    return "steps " + " ".join(f"{s:.1f}" for s in result["step_s"]) + " s"


# ---------------------------------------------------------------- pure parts: statistics and the table


def median_after_warmup(runs: list[list[float]], warmup: int) -> float:
    """Median over every run's steps after its first `warmup` steps."""
    timed = [s for steps in runs for s in steps[warmup:]]
    if not timed:
        raise ValueError(f"no steps after {warmup} warm-up step(s)")
    return statistics.median(timed)


def final_reward(runs: list[dict], window: int = 1) -> float:
    """Mean batch reward of each run's last `window` steps, averaged over runs: the reward after the same
    number of steps (a window of several steps averages more samples than one batch)."""
    return statistics.mean(statistics.mean(r["reward"][-window:]) for r in runs)


def ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs else float("nan")


SIDES = ("rlpr", "trl", "trl_kept_memory", "rlpr_extra")  # the runs of each algorithm, as `compare` keys them


def assemble(grpo: dict[str, list[dict]], ppo: dict[str, list[dict]], grid: dict[tuple[int, int], float],
             shape: Shape, versions: dict) -> BenchResult:
    """The table (figure | rlpr | TRL | ratio) and the JSON figures, ratios named `*ratio*`."""
    w = shape.warmup
    grpo_s = (median_after_warmup([r["step_s"] for r in grpo["rlpr"]], w),
              median_after_warmup([r["step_s"] for r in grpo["trl"]], w))
    ppo_s = (median_after_warmup([r["step_s"] for r in ppo["rlpr"]], w),
             median_after_warmup([r["step_s"] for r in ppo["trl"]], w))
    window = shape.reward_window
    grpo_reward = (final_reward(grpo["rlpr"], window), final_reward(grpo["trl"], window))
    ppo_reward = (final_reward(ppo["rlpr"], window), final_reward(ppo["trl"], window))
    after = f"after {shape.steps} steps" + (f" (mean of the last {window})" if window > 1 else "")
    peak = (statistics.median(r["peak_rss_mb"] for r in ppo["rlpr"]), statistics.median(r["peak_rss_mb"] for r in ppo["trl"]))
    start = (statistics.median(r["rss_start_mb"] for r in ppo["rlpr"]), statistics.median(r["rss_start_mb"] for r in ppo["trl"]))
    # extra rows, each where its run was made: TRL keeping freed memory (both algorithms), rlpr's top blocks (GRPO)
    extra_rows: dict[str, list[list]] = {"GRPO": [], "PPO": []}
    extra_figures: dict[str, dict] = {}
    for name, algo_runs, own_s in (("GRPO", grpo, grpo_s), ("PPO", ppo, ppo_s)):
        if algo_runs.get("trl_kept_memory"):
            kept_s = median_after_warmup([r["step_s"] for r in algo_runs["trl_kept_memory"]], w)
            extra_rows[name].append([f"{name} step s, TRL keeping freed memory as rlpr does (extra)", own_s[0], kept_s,
                                     ratio(own_s[0], kept_s)])
            extra_figures[f"{name.lower()}_step_s_trl_kept_memory_extra"] = {
                "rlpr": own_s[0], "trl": kept_s, "ratio": ratio(own_s[0], kept_s), "env": KEEP_FREED_MEMORY_ENV,
                "reward": final_reward(algo_runs["trl_kept_memory"], window)}
    if grpo.get("rlpr_extra"):
        extra_s = median_after_warmup([r["step_s"] for r in grpo["rlpr_extra"]], w)
        extra_rows["GRPO"].append([f"GRPO step s, rlpr top {shape.extra_train_layers} blocks only (extra)", extra_s,
                                   grpo_s[1], ratio(extra_s, grpo_s[1])])
        extra_figures["grpo_step_s_top_blocks_extra"] = {"rlpr": extra_s, "trl": grpo_s[1], "ratio": ratio(extra_s, grpo_s[1]),
                                                         "train_layers": shape.extra_train_layers,
                                                         "reward": final_reward(grpo["rlpr_extra"], window)}
    rows = [
        ["GRPO step s", *grpo_s, ratio(*grpo_s)],
        *extra_rows["GRPO"],
        [f"GRPO reward {after}", *grpo_reward, grpo_reward[0] - grpo_reward[1]],
        ["PPO step s", *ppo_s, ratio(*ppo_s)],
        *extra_rows["PPO"],
        [f"PPO reward {after}", *ppo_reward, ppo_reward[0] - ppo_reward[1]],
        ["PPO peak RSS MiB", *peak, ratio(*peak)],
        ["PPO RSS before step 1 MiB", *start, ratio(*start)],
    ]
    figures = {
        "grpo_step_s": {"rlpr": grpo_s[0], "trl": grpo_s[1], "ratio": ratio(*grpo_s)},
        "ppo_step_s": {"rlpr": ppo_s[0], "trl": ppo_s[1], "ratio": ratio(*ppo_s)},
        "ppo_peak_rss_mb": {"rlpr": peak[0], "trl": peak[1], "ratio": ratio(*peak)},
        "grpo_step_ratio": ratio(*grpo_s), "ppo_step_ratio": ratio(*ppo_s), "ppo_peak_memory_ratio": ratio(*peak),
        "grpo_reward_after_steps": {"rlpr": grpo_reward[0], "trl": grpo_reward[1], "steps": shape.steps,
                                    "window": window},
        "ppo_reward_after_steps": {"rlpr": ppo_reward[0], "trl": ppo_reward[1], "steps": shape.steps, "window": window},
        "ppo_rss_before_step_1_mb": {"rlpr": start[0], "trl": start[1]},
        "step_s_per_run": {f"{algo}_{side}": [r["step_s"] for r in runs[side]]
                           for algo, runs in (("grpo", grpo), ("ppo", ppo)) for side in SIDES if runs.get(side)},
        "reward_per_run": {f"{algo}_{side}": [r["reward"] for r in runs[side]]
                           for algo, runs in (("grpo", grpo), ("ppo", ppo)) for side in SIDES if runs.get(side)},
        "scaling_step_s": {f"{p}x{shape.group} prompts, {t} tokens": s for (p, t), s in grid.items()},
        "shape": {k: v for k, v in vars(shape).items()},
        "versions": versions,
        **extra_figures,
    }
    return BenchResult(
        title=(f"vs-trl: smollm2-135m, full fine-tuning, fp32; GRPO {shape.prompts} prompts x {shape.group}, PPO "
               f"{shape.ppo_prompts} x {shape.ppo_epochs} epochs x {shape.mini_batches} mini-batches; {shape.new_tokens} "
               f"new tokens; median of {shape.rounds} x {shape.steps - shape.warmup} steps after warm-up"),
        columns=["figure", "rlpr", "TRL", "ratio (reward: difference)"],
        rows=rows,
        figures=figures,
        notes=[
            "ratio = rlpr / TRL on the same work in the same run (below 1: rlpr faster or smaller); reward rows give "
            f"rlpr - TRL of the mean VADER reward of the last {window} step(s), mean over runs",
            f"versions: {', '.join(f'{k} {v}' for k, v in versions.items())}",
            *scaling_lines(grid, shape),
        ],
    )


def scaling_lines(grid: dict[tuple[int, int], float], shape: Shape) -> list[str]:
    """A small prompts x new-tokens table of rlpr's GRPO step time, as note lines under the main table."""
    if not grid:
        return []
    head = [f"rlpr GRPO step s (group {shape.group})"] + [f"{t} tokens" for t in shape.scale_tokens]
    body = [[f"{p} prompts"] + [f"{grid[(p, t)]:.2f}" for t in shape.scale_tokens] for p in shape.scale_prompts]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    return ["", *(" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in [head, *body])]


# ---------------------------------------------------------------- the benchmark


def run(shape: Shape | None = None, log=print) -> BenchResult:
    from rlpr import models

    shape = shape or Shape()
    started = time.perf_counter()
    grpo_python = ensure(GRPO_ENV, log)
    model_dir = models.resolve("smollm2-135m")  # converts the GGUF once; TRL loads the same directory
    grid = scaling(shape)  # first: the shortest part, so that a failure there costs little
    grpo = compare("grpo", grpo_python, shape, model_dir, log)
    ppo = compare("ppo", ensure(PPO_ENV, log), shape, model_dir, log)
    versions = {"rlpr torch": _torch_version(), "GRPO side": grpo["trl"][0]["versions"],
                "PPO side": ppo["trl"][0]["versions"], "threads": shape.threads}
    result = assemble(grpo, ppo, grid, shape, _flat_versions(versions))
    result.figures["wall_s"] = time.perf_counter() - started
    return result


def _torch_version() -> str:
    import torch

    return torch.__version__


def _flat_versions(versions: dict) -> dict:
    flat = {"torch (rlpr)": versions["rlpr torch"], "threads": versions["threads"]}
    for side in ("GRPO side", "PPO side"):
        for k, v in versions[side].items():
            flat[f"{k} ({side.split()[0]})"] = v
    return flat
