"""Generation throughput: rlpr's sampler against Hugging Face `model.generate` on the same batch.

smollm2-135m, pure sampling (top_k 0, top_p 1), EOS blocked so both produce exactly the same number of tokens.
On the CPU 32 prompts x 16 new tokens; on a CUDA GPU (used when there is one) 64 prompts x 128 new tokens,
where a step costs little and a short run would time the launch overhead. The two run alternately, three
rounds, and the median time of each is compared.
"""

from __future__ import annotations

import statistics
import time

import torch

from rlpr import models
from rlpr.bench import BenchResult
from rlpr.generate import SamplingConfig, encode_prompts, sample
from rlpr.tasks.sentiment import builtin_openings

ROUNDS = 3
SHAPES = {"cpu": (32, 16), "cuda": (64, 128)}  # (prompts, new tokens)


def run(model_name: str = "smollm2-135m") -> BenchResult:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    batch, new_tokens = SHAPES[device.type]
    model = models.load_model(model_name).to(device)
    tokenizer = models.load_tokenizer(model_name)
    prompts = (builtin_openings() * batch)[:batch]
    ids, mask = encode_prompts(tokenizer, prompts, device=device)
    config = SamplingConfig(max_new_tokens=new_tokens, min_new_tokens=new_tokens)
    eos = [tokenizer.eos_token_id]

    def ours() -> None:
        sample(model, ids, mask, config, eos, tokenizer.pad_token_id, torch.Generator(device).manual_seed(0))

    def theirs() -> None:
        model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                       do_sample=True, top_k=0, top_p=1.0, pad_token_id=tokenizer.pad_token_id)

    def timed(fn) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    ours(), theirs()  # warm-up
    times: dict[str, list[float]] = {"rlpr sample": [], "HF generate": []}
    with torch.no_grad():
        for _ in range(ROUNDS):
            for name, fn in (("rlpr sample", ours), ("HF generate", theirs)):
                times[name].append(timed(fn))
    tokens = batch * new_tokens
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [[name, batch, new_tokens, med[name], tokens / med[name]] for name in times]
    ratio = med["rlpr sample"] / med["HF generate"]
    return BenchResult(
        title=f"generate: {model_name} on {device.type}, batch {batch}, {new_tokens} new tokens, median of {ROUNDS}",
        columns=["engine", "batch", "new tokens", "time s", "tokens/s"],
        rows=rows,
        figures={"rlpr_tokens_per_s": tokens / med["rlpr sample"], "hf_tokens_per_s": tokens / med["HF generate"],
                 "ratio": ratio},
        notes=[f"ratio (rlpr time / HF time): {ratio:.3f}"],
    )
