"""RLEF's scoring passes side by side: one pass over a whole turn batch against `score_by_length` (2 rows of
similar length at a time, each cut to its own padding), as `rl.turns` runs them.

The batch has the shape of a `--preset cpu-group` step on smollm2-135m: 16 episodes x 3 turns, each turn's prompt
the last one plus its answer and feedback, answers of 100-256 tokens. The policy trains its top 6 blocks, so the
reference runs only its top 6 on the policy's kept block input. Two rounds, alternating; the median of each.

    python benchmarks/rlef_scoring.py
"""

import statistics
import time

import torch

from rlpr import models
from rlpr.rl.scoring import score, score_by_length

TOP, CHUNK = 6, 2


def turn_batch(generator: torch.Generator):
    lengths = []
    for _ in range(16):
        prompt = int(torch.randint(220, 300, (1,), generator=generator))
        for _ in range(3):
            answer = int(torch.randint(100, 257, (1,), generator=generator))
            lengths.append((prompt, answer))
            prompt += answer + int(torch.randint(80, 200, (1,), generator=generator))
    width_p, width_r = max(p for p, _ in lengths), max(r for _, r in lengths)
    mask = torch.zeros(len(lengths), width_p + width_r, dtype=torch.long)
    for row, (p, r) in enumerate(lengths):
        mask[row, width_p - p : width_p + r] = 1
    ids = torch.randint(3, 49000, mask.shape, generator=generator) * mask
    return ids, mask, ids[:, width_p:]


def main() -> None:
    policy, reference = models.load_model("smollm2-135m"), models.load_model("smollm2-135m")
    models.freeze_below(policy, TOP)
    ids, mask, response_ids = turn_batch(torch.Generator().manual_seed(0))
    real = mask[:, -response_ids.size(1) :].bool()

    def one_pass():
        with torch.no_grad():
            scored = score(policy, ids, mask, response_ids, top_blocks=TOP)
            ref = score(reference, ids, mask, response_ids, top_blocks=TOP, block_input=scored.block_input)
        return scored.logprobs, ref.logprobs

    def by_length():
        scored = score_by_length(policy, ids, mask, response_ids, CHUNK, top_blocks=TOP)
        ref = score_by_length(reference, ids, mask, response_ids, CHUNK, 1.0, TOP, scored.block_input)
        return scored.logprobs, ref.logprobs

    times: dict[str, list[float]] = {"one pass": [], f"chunks of {CHUNK}, cut": []}
    diff = 0.0
    for _ in range(2):
        outputs = []
        for name, fn in zip(times, (one_pass, by_length)):
            start = time.perf_counter()
            outputs.append(fn())
            times[name].append(time.perf_counter() - start)
        diff = max(diff, *((a - b)[real].abs().max().item() for a, b in zip(*outputs)))
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"{ids.size(0)} turn rows, {ids.size(1)} columns, {int(mask.sum())} real tokens of {mask.numel()}")
    print("passes            | time s")
    for name, t in median.items():
        print(f"{name:17} | {t:.1f}")
    ratio = median[f"chunks of {CHUNK}, cut"] / median["one pass"]
    print(f"ratio (cut / one pass): {ratio:.2f}; largest log-prob difference {diff:.1e}")


if __name__ == "__main__":
    main()
