"""The supervised start of the Ludii task: fine-tune a pretrained model on fill-in-the-middle examples.

As in Padula & Soemers (2024): the prompt is ``### PRE: {prefix} ### SUF: {suffix} ### MID:``, the
target is the completion `` {middle}`` followed by EOS (so that the model learns to stop), and the loss
is on the target only (``rlpr.sft``). The examples are the train split's (the split is by game, so no
validation game is seen); the paper fine-tuned on every example, whatever the share of its middle.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass

from rlpr.tasks.ludii.fim import FimDataset, FimExample


@dataclass
class LudiiSFTConfig:
    model: str = "smollm2-135m"  # the model fine-tuned (alias, directory or hub id)
    examples: int | None = None  # how many train examples, drawn at random; None: all
    epochs: int = 1
    lr: float = 5e-5
    batch_size: int = 8
    seed: int = 0  # which examples, and their order


def pick_examples(examples: Sequence[FimExample], n: int | None, seed: int) -> list[tuple[str, str]]:
    """``n`` (prompt, completion) pairs drawn without replacement by ``seed`` (all, shuffled, for None).

    Drawn at random rather than the first ``n``: the examples come game by game, so the first ones would
    all be one game's."""
    if n is not None and not 0 < n <= len(examples):
        raise ValueError(f"asked for {n} SFT examples, the train split has {len(examples)}")
    chosen = random.Random(seed).sample(list(examples), len(examples) if n is None else n)
    return [(e.prompt, e.completion) for e in chosen]


def supervised_start(config: LudiiSFTConfig, data: FimDataset, out_dir: str, device: str | None = None) -> dict:
    """Fine-tune ``config.model`` on the train examples of ``data``; save model, tokenizer and ``sft.json``
    in ``out_dir``. Returns the statistics written there: the SFT's (``wall_s`` among them), the model's
    name and the dataset's counts (games skipped as too long among them)."""
    import torch

    from rlpr import models
    from rlpr.fileio import write_json_atomic
    from rlpr.sft import SFTConfig, sft

    # SFT is the one step here that a GPU speeds up a lot; the trainer later picks its own device.
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = models.load_tokenizer(config.model)
    model = models.load_model(config.model, seed=config.seed).to(device)
    pairs = pick_examples(data.train, config.examples, config.seed)
    sft_config = SFTConfig(epochs=config.epochs, lr=config.lr, batch_size=config.batch_size, append_eos=True, seed=config.seed)
    stats = sft(model, tokenizer, pairs, sft_config, out_dir, device)
    stats |= {"model": config.model, "lr": config.lr, "seed": config.seed, **data.counts()}
    write_json_atomic(os.path.join(out_dir, "sft.json"), stats)
    return stats
