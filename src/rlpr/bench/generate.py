"""Generation throughput: rlpr's sampler against Hugging Face `model.generate` on the same batch.

smollm2-135m, 32 prompts, 16 new tokens each (EOS blocked so both produce exactly 16), pure sampling
(top_k 0, top_p 1). The two run alternately, three rounds, and the median time of each is compared.
"""

from __future__ import annotations

import statistics
import time

import torch

from rlpr import models
from rlpr.bench import BenchResult
from rlpr.generate import SamplingConfig, encode_prompts, sample
from rlpr.tasks.sentiment import builtin_openings

BATCH, NEW_TOKENS, ROUNDS = 32, 16, 3


def run(model_name: str = "smollm2-135m") -> BenchResult:
    model = models.load_model(model_name)
    tokenizer = models.load_tokenizer(model_name)
    prompts = builtin_openings()[:BATCH]
    ids, mask = encode_prompts(tokenizer, prompts)
    config = SamplingConfig(max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS)
    eos = [tokenizer.eos_token_id]

    def ours() -> None:
        sample(model, ids, mask, config, eos, tokenizer.pad_token_id, torch.Generator().manual_seed(0))

    def theirs() -> None:
        model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                       do_sample=True, top_k=0, top_p=1.0, pad_token_id=tokenizer.pad_token_id)

    ours(), theirs()  # warm-up
    times: dict[str, list[float]] = {"rlpr sample": [], "HF generate": []}
    with torch.no_grad():
        for _ in range(ROUNDS):
            for name, fn in (("rlpr sample", ours), ("HF generate", theirs)):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    tokens = BATCH * NEW_TOKENS
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [[name, BATCH, NEW_TOKENS, med[name], tokens / med[name]] for name in times]
    ratio = med["rlpr sample"] / med["HF generate"]
    return BenchResult(
        title=f"generate: {model_name}, batch {BATCH}, {NEW_TOKENS} new tokens, median of {ROUNDS}",
        columns=["engine", "batch", "new tokens", "time s", "tokens/s"],
        rows=rows,
        figures={"rlpr_tokens_per_s": tokens / med["rlpr sample"], "hf_tokens_per_s": tokens / med["HF generate"],
                 "ratio": ratio},
        notes=[f"ratio (rlpr time / HF time): {ratio:.3f}"],
    )
