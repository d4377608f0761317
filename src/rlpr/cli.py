"""Command line: `rlpr train|sft|eval|sample|experiment|bench|sandbox|ludii ...`. User errors print one line and exit 2."""

from __future__ import annotations

import argparse
import json
import os
import sys

from rlpr.bench import NAMES as BENCH_NAMES


class UserError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may come after options too (`--out DIR steps=5`), which argparse leaves over.
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = list(args.overrides) + extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("rlpr: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # user errors: one line, no traceback
        if _is_user_error(err):
            print(f"rlpr: error: {err}", file=sys.stderr)
            return 2
        raise


def run() -> None:
    """The `rlpr` command and `python -m rlpr`: `main`, then the process exits with its status (see
    `distributed.exit_process` for why a rank of a distributed run leaves without finalising)."""
    code = main()
    distributed = sys.modules.get("rlpr.distributed")  # not imported: no process group (and no torch to load)
    if distributed is None:
        sys.exit(code)
    distributed.exit_process(code)


def _is_user_error(err: Exception) -> bool:
    from rlpr.config import ConfigError
    from rlpr.models import ModelError

    names = {"RewardError", "SandboxUnavailable"}
    return isinstance(err, (UserError, ConfigError, ModelError, FileNotFoundError)) or type(err).__name__ in names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlpr", description="Reinforcement learning from programmed rewards.")
    sub = parser.add_subparsers(metavar="COMMAND")

    p = sub.add_parser("train", help="train a policy with PPO on a task")
    _task_args(p)
    p.add_argument("--out", help="run directory (default runs/TASK-TIMESTAMP)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sft", help="the task's supervised start: fine-tune on solved examples, save a model directory")
    _task_args(p)
    p.add_argument("--out", help="model directory to write (default runs/TASK-sft-TIMESTAMP)")
    p.set_defaults(func=cmd_sft)

    p = sub.add_parser("experiment", help="run an experiment grid; write results.md, results.json and curves.png")
    p.add_argument("name", help="arithmetic")
    p.add_argument("--out", help="experiment directory (default runs/NAME-experiment)")
    p.add_argument("--preset", help="base preset every row builds on (default: the experiment's)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--rows", help="comma-separated subset of the rows, by name")
    p.add_argument("--ablations", action="store_true", help="add the ablation rows")
    p.add_argument("--jobs", type=int, default=1, help="runs trained in parallel (default 1)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for every run, e.g. steps=50")
    p.set_defaults(func=cmd_experiment)

    p = sub.add_parser("eval", help="held-out reward and task metrics of a model")
    _task_args(p)
    p.add_argument("--model", required=True, help="alias (smollm2-135m, tiny), model directory or hub id")
    p.add_argument("--split", default="validation", choices=["train", "validation", "test"])
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N prompts")
    p.add_argument("--json", dest="json_path", help="also write the results to this JSON file")
    p.add_argument("--dataset", help="rlef: humaneval, builtin (shipped test split) or a CodeContests JSONL/Parquet path")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("sample", help="sample continuations of a prompt")
    p.add_argument("--model", required=True)
    p.add_argument("--prompt", required=True, action="append", help="prompt text (repeat for several)")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("-n", type=int, default=1, help="samples per prompt")
    p.add_argument("--chat", action="store_true", help="wrap the prompt in the chat template")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("sandbox", help="run untrusted programs in the sandbox")
    sandbox_sub = p.add_subparsers(metavar="ACTION")
    q = sandbox_sub.add_parser("run", help="run one Python program and print its verdict")
    q.add_argument("program", help="the Python file to run")
    q.add_argument("--input", help="file fed to the program's stdin")
    q.add_argument("--json", action="store_true", help="print the verdict as JSON")
    q.add_argument("--wall-s", type=float, help="wall-clock limit in seconds (default 10)")
    q.add_argument("--memory-mb", type=int, help="address-space limit in MiB (default 1024)")
    q.set_defaults(func=_sandbox_run)

    p = sub.add_parser("bench", help="run a benchmark and print its table")
    p.add_argument("name", choices=[*BENCH_NAMES, "all"])
    p.add_argument("--json", dest="json_path", help="write the figures to this JSON file (a directory for `all`)")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="vs-trl only: change its run shape, e.g. steps=30 rounds=1 reward_window=10")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("ludii", help="Ludii game descriptions")
    q = p.add_subparsers(metavar="ACTION").add_parser("check", help="compile and play one .lud file; print verdict, playout statistics, reward")
    q.add_argument("file", help="the .lud game description")
    q.add_argument("--json", action="store_true", help="print the report as one JSON object")
    q.add_argument("--playouts", type=int, default=100, help="random playouts (default 100, as the reward)")
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(func=_ludii_check)
    return parser


def _task_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", help="sentiment | arithmetic | rlef | ludii")
    p.add_argument("--preset", help="named preset, e.g. tiny, demo")
    p.add_argument("--config", dest="config_file", help="YAML file of config keys")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. ppo.lr=1e-5 steps=50")


def _build(args, extra: list[str] | None = None):
    from rlpr.config import build_config

    return build_config(args.task, args.preset, args.config_file, list(args.overrides) + (extra or []))


# ---------------------------------------------------------------- train


def cmd_train(args) -> int:
    from rlpr.rl.trainer import train  # single- or multi-turn, by the task

    config = _build(args, [f"out={args.out}"] if args.out else [])
    if args.resume and not config.out:
        raise UserError("--resume needs --out DIR, the run to continue")
    summary = train(config, resume=args.resume)
    from rlpr import distributed

    if distributed.is_main():  # under torchrun every rank returns the summary; one report is enough
        print(report(summary))
    return 0


def report(summary: dict) -> str:
    """The end-of-run table: reward of the first and last five steps, samples before and after, paths."""
    from rlpr.tracking import read_metrics

    run_dir = summary["run_dir"]
    rewards = [m["reward_mean"] for m in read_metrics(os.path.join(run_dir, "metrics.jsonl"))]
    first, last = rewards[:5], rewards[-5:]
    mean = lambda xs: sum(xs) / max(len(xs), 1)  # noqa: E731
    lines = [
        "",
        f"{'':24}{'reward':>10}",
        f"{'first 5 steps (mean)':24}{mean(first):>10.3f}",
        f"{'last 5 steps (mean)':24}{mean(last):>10.3f}",
        f"{'change':24}{mean(last) - mean(first):>+10.3f}",
    ]
    if "eval_reward_mean" in summary:
        lines.append(f"{'held-out (end)':24}{summary['eval_reward_mean']:>10.3f}")
    lines.append(f"{'wall time':24}{summary['wall_s']:>9.0f}s")
    for s in summary.get("samples", []):
        lines += [
            "",
            f"prompt: {s['prompt']!r}",
            f"  before ({s['reward_before']:+.2f}): {s['before']!r}",
            f"  after  ({s['reward_after']:+.2f}): {s['after']!r}",
        ]
    lines += ["", f"reward curve: {os.path.join(run_dir, 'reward.png')}", f"metrics:      {os.path.join(run_dir, 'metrics.jsonl')}"]
    return "\n".join(lines)


# ---------------------------------------------------------------- sft, experiment


def cmd_sft(args) -> int:
    import torch

    from rlpr import models
    from rlpr.fileio import write_json_atomic
    from rlpr.rl.trainer import default_run_dir, eval_sampling, evaluate, resolve_device
    from rlpr.tasks import make_task

    config = _build(args)
    task = make_task(config.task, config.task_config)
    if not hasattr(task, "supervised_start"):
        raise UserError(f"task {config.task!r} has no supervised start")
    out = args.out or default_run_dir(f"{config.task}-sft")
    stats = task.supervised_start(out, config.seed)
    device = resolve_device(config.device)
    policy = models.load_model(out).to(device)
    prompts = task.prompts("validation")[: config.eval_size]
    with torch.no_grad():
        held_out = evaluate(policy, models.load_tokenizer(out), task, prompts, eval_sampling(config), device, config.seed)
    stats |= {k.removeprefix("eval_"): v for k, v in held_out.items()} | {"n": len(prompts)}
    write_json_atomic(os.path.join(out, "sft.json"), stats)
    for key, value in stats.items():
        print(f"{key:20} {value:.4f}" if isinstance(value, float) else f"{key:20} {value}")
    print(f"model: {out}")
    return 0


def cmd_experiment(args) -> int:
    from rlpr import experiments

    module = experiments.get(args.name)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise UserError(f"--seeds: expected comma-separated integers, got {args.seeds!r}") from None
    if args.jobs < 1:
        raise UserError(f"--jobs: expected a positive number, got {args.jobs}")
    out = args.out or os.path.join("runs", f"{args.name}-experiment")
    rows = [r.strip() for r in args.rows.split(",")] if args.rows else None
    module.run(out, seeds, args.preset or module.BASE_PRESET, list(args.overrides), rows, args.ablations, args.jobs)
    print(open(os.path.join(out, "results.md")).read())
    print(f"curves: {os.path.join(out, 'curves.png')}")
    return 0


# ---------------------------------------------------------------- eval, sample


def cmd_eval(args) -> int:
    if args.task == "rlef":  # multi-turn episodes: solve rates and per-turn statistics (rlpr.evaluation)
        from rlpr.evaluation import eval_rlef_command

        return eval_rlef_command(args)
    import torch

    from rlpr import models
    from rlpr.fileio import write_json_atomic
    from rlpr.rl.trainer import eval_sampling, evaluate, resolve_device
    from rlpr.tasks import make_task

    config = _build(args, [f"model.name={args.model}"])
    task = make_task(config.task, config.task_config)
    device = resolve_device(config.device)
    tokenizer = models.load_tokenizer(args.model)
    policy = models.load_model(args.model, config.model.dtype, config.seed).to(device)
    prompts = task.prompts(args.split)[: args.limit]
    with torch.no_grad():
        # the held-out sampling of `rlpr train` (eval_temperature, full length), so its numbers compare with a run's
        results = evaluate(policy, tokenizer, task, prompts, eval_sampling(config), device, config.seed)
    results = {k.removeprefix("eval_"): v for k, v in results.items()} | {"n": len(prompts), "split": args.split, "model": args.model}
    for key, value in results.items():
        print(f"{key:20} {value:.4f}" if isinstance(value, float) else f"{key:20} {value}")
    if args.json_path:
        write_json_atomic(args.json_path, results)
    return 0


def cmd_sample(args) -> int:
    import torch

    from rlpr import models
    from rlpr.generate import SamplingConfig
    from rlpr.rl.trainer import generate_texts, resolve_device

    device = resolve_device("auto")
    tokenizer = models.load_tokenizer(args.model)
    policy = models.load_model(args.model).to(device)
    sampling = SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                              top_p=args.top_p, top_k=args.top_k, chat=args.chat)
    prompts = [p for p in args.prompt for _ in range(args.n)]
    with torch.no_grad():
        texts = generate_texts(policy, tokenizer, prompts, sampling, device, args.seed)
    for prompt, text in zip(prompts, texts):
        print(json.dumps({"prompt": prompt, "response": text}))
    return 0


# ---------------------------------------------------------------- sandbox, bench


def _sandbox_run(args) -> int:
    from rlpr.sandbox.command import sandbox_run_command

    return sandbox_run_command(args.program, args.input, args.json, args.wall_s, args.memory_mb)


def _ludii_check(args) -> int:
    # imported here, not at the top: importing rlpr.tasks loads transformers (~1 s on every command)
    from rlpr.tasks.ludii.check import main as ludii_check

    return ludii_check(args)



def cmd_bench(args) -> int:
    from rlpr.bench import run_bench

    names = BENCH_NAMES if args.name == "all" else [args.name]
    for name in names:
        path = args.json_path
        if args.name == "all" and path:
            path = os.path.join(path, f"{name}.json")
        try:
            run_bench(name, path, args.overrides)
        except ModuleNotFoundError as err:
            if args.name != "all" or not err.name or not err.name.startswith("rlpr.bench."):
                raise
            print(f"## {name}: not available yet ({err.name} missing)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
