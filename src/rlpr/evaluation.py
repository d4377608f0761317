"""Code evaluation: unbiased pass@k, n@k as RLEF reports it, solve rates, and the RLEF evaluation run.

- `pass_at_k(n, c, k)`: the Codex estimator 1 - C(n-c, k) / C(n, k) from n samples of which c are correct.
- `n_at_k(results, n, k, turns_per_sample)`: the expected success of drawing k samples out of the given
  ones and submitting n of them, preferring samples whose program passes the public tests (AlphaCode's
  filtering; the submitted ones are drawn at random within each group). In multi-turn evaluation every turn
  counts as a sample and what is submitted is an episode's last program: an episode costs `max_turns`
  samples whether or not it stopped early, so 1@3 is one 3-turn episode whose final program is submitted
  and 10@100 draws 33 episodes (RLEF's convention). With n >= k it is pass@k.
- `solve_rate(per_problem)`: the mean over problems of their estimates.

`eval_rlef` runs RLEF episodes (1@3 at temperature 0.2 / top-p 0.95 by default) on HumanEval, the shipped
problems' test split or a CodeContests file, and reports solve rates and per-turn statistics.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n (c correct) is correct."""
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"pass_at_k: need 0 <= c <= n and k >= 1, got n={n}, c={c}, k={k}")
    if k > n:
        raise ValueError(f"pass_at_k: k={k} is more than the n={n} samples")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def _choose(n: int, k: int) -> int:
    return math.comb(n, k) if 0 <= k <= n else 0


def n_at_k(results: Sequence[tuple[bool, bool]], n: int, k: int, turns_per_sample: int = 1) -> float:
    """Expected n@k of one problem from its samples' `(public passed, private passed)` results.

    k samples (k // turns_per_sample episodes in multi-turn) are drawn without replacement; of those, up to
    n that pass the public tests are submitted at random, and if fewer than n pass, the rest of the n are
    drawn from the others. The problem counts as solved if a submitted program passes the private tests.
    """
    m = k // turns_per_sample
    total = len(results)
    if n < 1 or m < 1:
        raise ValueError(f"n_at_k: need n >= 1 and k >= turns_per_sample, got n={n}, k={k}, turns={turns_per_sample}")
    if m > total:
        raise ValueError(f"n_at_k: {n}@{k} needs {m} samples, have {total}")
    count = Counter((bool(pub), bool(priv)) for pub, priv in results)
    a, b = count[(True, True)], count[(True, False)]  # public passed: private passed / failed
    rest, rest_bad = count[(False, True)] + count[(False, False)], count[(False, False)]
    ways = _choose(total, m)
    expected = 0.0
    for i in range(min(a, m) + 1):  # i good and j bad public-passing samples among the m drawn
        for j in range(min(b, m - i) + 1):
            p = _choose(a, i) * _choose(b, j) * _choose(rest, m - i - j) / ways
            if p == 0.0:
                continue
            s = i + j
            if s >= n:  # n submitted among the s public-passing ones
                success = 1.0 - _choose(j, n) / _choose(s, n)
            elif i > 0:
                success = 1.0
            else:  # all s submitted fail; n - s more drawn from the non-passing ones (a uniform subset of them)
                success = 1.0 - _choose(rest_bad, n - s) / _choose(rest, n - s)
            expected += p * success
    return expected


def solve_rate(per_problem: Sequence[float]) -> float:
    """Mean of per-problem success estimates (0 for no problems)."""
    return sum(per_problem) / len(per_problem) if per_problem else 0.0


def parse_n_at_k(text: str) -> tuple[int, int]:
    """"1@3" -> (1, 3)."""
    try:
        n, k = (int(x) for x in text.split("@"))
    except ValueError:
        raise ValueError(f"expected n@k such as 1@3, got {text!r}") from None
    return n, k


# ---------------------------------------------------------------- RLEF evaluation


@dataclass
class RlefEvalConfig:
    samples: int = 1  # episodes per problem
    temperature: float = 0.2  # 0 = greedy
    top_p: float = 0.95
    max_new_tokens: int = 384  # per turn
    max_turns: int = 3
    batch_size: int = 16  # rows per sampling call
    seed: int = 0
    dtype: str = "float32"
    device: str = "auto"
    n_at_k: list[str] = field(default_factory=lambda: ["1@3", "10@100"])  # reported where there are enough samples
    workers: int = 0  # sandbox processes; 0 = cores


def episode_statistics(episodes) -> dict:
    """Per-turn statistics of finished episodes (`episodes.Episode`, private results on every turn)."""
    turns = [t for e in episodes for t in e.turns]
    retries = [(e.turns[k - 1], e.turns[k]) for e in episodes for k in range(1, len(e.turns))]
    n_turns = max(len(turns), 1)
    by_turn = []
    for k in range(max((len(e.turns) for e in episodes), default=0)):
        at = [e.turns[k] for e in episodes if len(e.turns) > k]
        by_turn.append({
            "turn": k + 1,
            "episodes": len(at),
            "public_pass_rate": sum(t.check.passed for t in at) / len(at),
            "private_pass_rate": sum(bool(t.private_passed) for t in at) / len(at),
            "no_closed_block_share": sum(not t.check.closed_block for t in at) / len(at),
            "invalid_code_share": sum(not t.check.valid for t in at) / len(at),
        })
    fixed_public = sum(not a.check.passed and b.check.passed for a, b in retries)
    fixed_private = sum(not a.private_passed and bool(b.private_passed) for a, b in retries)
    broken_private = sum(bool(a.private_passed) and not b.private_passed for a, b in retries)
    changed = sum(_normal(a.check.code) != _normal(b.check.code) for a, b in retries)
    first_failed = [e for e in episodes if e.turns and not e.turns[0].private_passed]
    return {
        "turns": len(turns),
        "mean_turns": len(turns) / max(len(episodes), 1),
        "end_reasons": dict(Counter(e.end for e in episodes)),
        "no_closed_block_share": sum(not t.check.closed_block for t in turns) / n_turns,
        "invalid_code_share": sum(not t.check.valid for t in turns) / n_turns,
        "retries": len(retries),
        "retry_fixes_public": fixed_public,  # a retry whose program passes the public tests the previous one failed
        "retry_fixes_private": fixed_private,  # ... passes the private tests the previous one failed
        "retry_breaks_private": broken_private,
        "retry_fix_rate": fixed_private / max(len(retries), 1),
        "code_changed_share": changed / max(len(retries), 1),  # retries whose program differs from the previous
        "first_turn_failed": len(first_failed),
        "fixed_by_later_turns": sum(bool(e.private_passed) for e in first_failed),
        "by_turn": by_turn,
    }


def _normal(code: str) -> str:
    return "\n".join(line.rstrip() for line in code.strip().splitlines())


def rlef_dataset(dataset: str, limit: int | None = None):
    """Problems for `eval rlef --dataset`: humaneval, builtin (the shipped test split) or a file / directory."""
    from rlpr.tasks.code.rlef import load_dataset

    problems = load_dataset(dataset, "test")
    return problems[:limit] if limit else problems


def eval_rlef(
    model,
    dataset: str,
    limit: int | None = None,
    json_path: str | None = None,
    config: RlefEvalConfig | None = None,
    tokenizer=None,
    log=print,
) -> dict:
    """Run RLEF episodes on `dataset` and return (and optionally write as JSON) solve rates and turn statistics.

    `model`: a name for `models.load_model` (alias, directory, hub id) or a loaded causal LM with `tokenizer`.
    """
    import torch

    from rlpr import models
    from rlpr.fileio import write_json_atomic
    from rlpr.generate import SamplingConfig
    from rlpr.tasks.code.episodes import run_episodes
    from rlpr.tasks.code.rlef import RlefConfig, RlefTask

    config = config or RlefEvalConfig()
    name = model if isinstance(model, str) else getattr(model.config, "_name_or_path", type(model).__name__)
    device = _device(config.device)
    if isinstance(model, str):
        tokenizer = models.load_tokenizer(model)
        model = models.load_model(model, config.dtype, config.seed)
    model = model.to(device).eval()
    problems = rlef_dataset(dataset, limit)
    task = RlefTask(RlefConfig(max_turns=config.max_turns, workers=config.workers), problems=problems)
    prompts = [p for p in task.prompts("test") for _ in range(config.samples)]
    sampling = SamplingConfig(max_new_tokens=config.max_new_tokens, temperature=config.temperature, top_p=config.top_p)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    start = time.perf_counter()
    try:
        episodes = run_episodes(model, tokenizer, task, prompts, sampling, generator, config.batch_size,
                                score_every_turn=True, device=device,
                                progress=lambda text: log(f"  [{time.perf_counter() - start:6.0f} s] {text}"))  # fmt: skip
    finally:
        task.close()
    wall = time.perf_counter() - start
    results = summarize(episodes, problems, config, wall)
    results = {"model": name, "dataset": dataset, "limit": limit, **results}
    log(format_summary(results))
    if json_path:
        write_json_atomic(json_path, results)
    return results


def summarize(episodes, problems, config: RlefEvalConfig, wall_s: float) -> dict:
    by_problem: dict[str, list] = {p.name: [] for p in problems}
    for e in episodes:
        by_problem[e.problem.name].append(e)
    rates = {}
    for spec in config.n_at_k:
        n, k = parse_n_at_k(spec)
        if k // config.max_turns <= config.samples and k >= config.max_turns:
            rates[spec] = solve_rate([
                n_at_k([(e.turns[-1].check.passed, bool(e.private_passed)) for e in eps], n, k, config.max_turns)
                for eps in by_problem.values()
            ])
    first = [[bool(e.turns[0].private_passed) for e in eps] for eps in by_problem.values()]
    tokens = sum(t.response_ids.numel() for e in episodes for t in e.turns)
    return {
        "problems": len(problems),
        "episodes": len(episodes),
        "config": asdict(config),
        "solve_rate": rates,  # n@k -> mean over problems
        "solved_problems": sum(any(e.private_passed for e in eps) for eps in by_problem.values()),
        "solved_episodes": sum(bool(e.private_passed) for e in episodes),
        "turn1_pass_at_1": solve_rate([pass_at_k(len(f), sum(f), 1) for f in first]),
        "mean_reward": sum(e.total_reward for e in episodes) / max(len(episodes), 1),
        "per_turn": episode_statistics(episodes),
        "generated_tokens": tokens,
        "wall_s": wall_s,
        "tokens_per_s": tokens / max(wall_s, 1e-9),
        "per_problem": {
            name: [{"turns": len(e.turns), "end": e.end, "private_passed": e.private_passed,
                    "public_passed": [t.check.passed for t in e.turns],
                    "private_by_turn": [t.private_passed for t in e.turns],
                    "valid": [t.check.valid for t in e.turns]} for e in eps]
            for name, eps in by_problem.items()
        },  # fmt: skip
    }


def format_summary(results: dict) -> str:
    stats = results["per_turn"]
    lines = [
        f"rlef eval: {results['model']} on {results['dataset']}: {results['problems']} problems, "
        f"{results['episodes']} episodes, {results['wall_s']:.0f} s ({results['tokens_per_s']:.0f} tokens/s)",
    ]
    for spec, rate in results["solve_rate"].items():
        lines.append(f"  solve rate {spec:>7}: {rate:.4f}  ({rate * results['problems']:.1f}/{results['problems']})")
    lines += [
        f"  turn-1 pass@1     : {results['turn1_pass_at_1']:.4f}",
        f"  mean reward       : {results['mean_reward']:+.3f}",
        f"  mean turns        : {stats['mean_turns']:.2f}   ends: {stats['end_reasons']}",
        f"  retries           : {stats['retries']}, fixing the private tests {stats['retry_fixes_private']} "
        f"({stats['retry_fix_rate']:.1%}), the public tests {stats['retry_fixes_public']}; "
        f"code changed in {stats['code_changed_share']:.1%}",
        f"  first turn failed : {stats['first_turn_failed']}, fixed by a later turn {stats['fixed_by_later_turns']}",
        f"  turns without a closed code block: {stats['no_closed_block_share']:.1%}; "
        f"without valid code: {stats['invalid_code_share']:.1%}",
    ]
    for row in stats["by_turn"]:
        lines.append(
            f"  turn {row['turn']}: {row['episodes']:4d} episodes, public pass {row['public_pass_rate']:.3f}, "
            f"private pass {row['private_pass_rate']:.3f}, no closed block {row['no_closed_block_share']:.3f}"
        )
    return "\n".join(lines)


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def eval_rlef_command(args) -> int:
    """`rlpr eval rlef --model M --dataset D [--limit N] [--json FILE] [key=value ...]` (keys of RlefEvalConfig)."""
    from rlpr.config import from_dict, parse_override

    data = {}
    for text in getattr(args, "overrides", None) or []:
        path, value = parse_override(text)
        data[".".join(path)] = value
    config = from_dict(RlefEvalConfig, data)
    eval_rlef(args.model, getattr(args, "dataset", None) or "humaneval", args.limit, args.json_path, config)
    return 0
