"""Supervised fine-tuning on (prompt, answer) string pairs: cross-entropy on the answer tokens only.

Task-agnostic: any causal LM and tokenizer. A pair is encoded as the prompt's ids followed by the
answer's ids (each encoded on its own, without special tokens), plus EOS when `append_eos`; the loss
is the mean cross-entropy of the answer tokens (and that EOS) over a batch. Rows are right-padded and
given position ids that count only real tokens, the layout the sampler uses for left-padded prompts.
The result is saved as an ordinary Hugging Face model directory with its tokenizer, atomically.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

import torch

from rlpr import optim
from rlpr.generate import position_ids

IGNORE = -100  # label of positions without loss (prompt, padding)


@dataclass
class SFTConfig:
    epochs: int = 1
    lr: float = 1e-3
    batch_size: int = 16
    weight_decay: float = 0.0
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    append_eos: bool = True  # teach the model to end its answer with EOS
    seed: int = 0  # order of the examples


def encode_examples(tokenizer, examples: list[tuple[str, str]], append_eos: bool = True) -> list[tuple[list[int], int]]:
    """Each (prompt, answer) -> (token ids of prompt + answer [+ EOS], number of prompt tokens)."""
    rows = []
    for prompt, answer in examples:
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
        if append_eos and tokenizer.eos_token_id is not None:
            answer_ids = answer_ids + [tokenizer.eos_token_id]
        if not answer_ids:
            raise ValueError(f"SFT example with an empty answer: prompt {prompt!r}")
        rows.append((prompt_ids + answer_ids, len(prompt_ids)))
    return rows


def collate(rows: list[tuple[list[int], int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded (input_ids, attention_mask, labels), each (B, T); labels are IGNORE outside answers."""
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for i, (ids, n_prompt) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        mask[i, : len(ids)] = 1
        labels[i, n_prompt : len(ids)] = torch.tensor(ids[n_prompt:])
    return input_ids, mask, labels


def answer_loss(model, input_ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the labelled tokens; position t's logits predict token t+1.

    Logits are computed only from the position before the batch's first labelled token: with a 49k vocabulary
    the (B, T, V) logits of a long prompt would be most of the step's memory and carry no loss."""
    labelled = (labels != IGNORE).any(0).nonzero()
    first = max(int(labelled[0]), 1) if len(labelled) else labels.size(1) - 1  # position 0 has no predictor
    keep = labels.size(1) - first + 1  # positions first-1 .. T-1; the last predicts past the end
    logits = model(input_ids=input_ids, attention_mask=mask, position_ids=position_ids(mask), use_cache=False,
                   logits_to_keep=keep).logits
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].float().flatten(0, 1), labels[:, labels.size(1) - keep + 1 :].flatten(), ignore_index=IGNORE
    )


def train_sft(model, tokenizer, examples: list[tuple[str, str]], config: SFTConfig, device="cpu") -> dict:
    """Fine-tune `model` in place for `config.epochs` passes over `examples`; returns loss statistics."""
    if not examples:
        raise ValueError("SFT needs at least one example")
    rows = encode_examples(tokenizer, examples, config.append_eos)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = optim.adamw(params, lr=config.lr, weight_decay=config.weight_decay)
    warmup = max(config.warmup_steps, 0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup) if warmup else 1.0)
    generator = torch.Generator().manual_seed(config.seed)
    losses: list[float] = []
    started = time.perf_counter()
    # Dropout draws from torch's global generator: seeded here and put back afterwards, the same start comes out
    # whatever ran before in this process, and what runs after (a PPO run) sees the state it would have without.
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        model.train()
        try:
            for _ in range(config.epochs):
                order = torch.randperm(len(rows), generator=generator).tolist()
                for start in range(0, len(order), config.batch_size):
                    batch = collate([rows[i] for i in order[start : start + config.batch_size]], pad_id)
                    input_ids, mask, labels = (t.to(device) for t in batch)
                    loss = answer_loss(model, input_ids, mask, labels)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optim.clip_gradients(params, config.max_grad_norm)
                    optimizer.step()
                    scheduler.step()
                    losses.append(loss.item())
        finally:
            model.eval()
    tail = losses[-max(1, len(losses) // 10) :]
    return {
        "examples": len(rows),
        "epochs": config.epochs,
        "steps": len(losses),
        "loss_first": losses[0],
        "loss_last": sum(tail) / len(tail),  # mean over the last tenth of the steps
        "wall_s": round(time.perf_counter() - started, 1),
    }


def save_model(model, tokenizer, out_dir: str) -> str:
    """Save model and tokenizer as a Hugging Face directory: written to a temporary sibling, then renamed.

    An existing `out_dir` is replaced; a crash mid-save leaves it as it was (and a `.tmp-*` sibling).
    """
    out_dir = os.path.abspath(out_dir)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".tmp-{os.path.basename(out_dir)}-")
    os.chmod(tmp, 0o755)
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if os.path.exists(out_dir):
            old = tmp + "-old"
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def sft(model, tokenizer, examples: list[tuple[str, str]], config: SFTConfig, out_dir: str | None = None, device="cpu") -> dict:
    """Fine-tune, then (given `out_dir`) save model and tokenizer there; returns the statistics of `train_sft`."""
    stats = train_sft(model, tokenizer, examples, config, device)
    if not math.isfinite(stats["loss_last"]):
        raise FloatingPointError(f"SFT loss is {stats['loss_last']}: lower the learning rate ({config.lr})")
    if out_dir is not None:
        save_model(model, tokenizer, out_dir)
    return stats
