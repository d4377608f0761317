"""Checkpoints: `checkpoints/step-N/` (a Hugging Face model directory plus trainer_state.pt), written atomically.

A checkpoint is assembled in a temporary directory and renamed into place; `checkpoints/last` is a symlink
swapped with one rename. A process killed mid-save leaves only a `.tmp-*` directory behind, and every
checkpoint written before it, and `last`, stay intact.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile

import torch

STATE_FILE = "trainer_state.pt"


def checkpoint_root(run_dir: str) -> str:
    return os.path.join(run_dir, "checkpoints")


def save_checkpoint(run_dir: str, step: int, policy, tokenizer, state: dict, keep: int = 2,
                    weights: dict | None = None) -> str:
    """Write `checkpoints/step-N` and point `last` at it; `weights`: the policy's state dict to save in place of
    its own (the whole tensors of a sharded policy, `rlpr.fsdp.full_state`)."""
    root = checkpoint_root(run_dir)
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, f"step-{step}")
    tmp = tempfile.mkdtemp(dir=root, prefix=f".tmp-step-{step}-")
    try:
        policy.save_pretrained(tmp, **({} if weights is None else {"state_dict": weights}))
        tokenizer.save_pretrained(tmp)
        torch.save(state, os.path.join(tmp, STATE_FILE))
        if os.path.exists(final):  # re-saving a step after a resume: replace the old copy
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    link_tmp = os.path.join(root, f".last-{os.getpid()}")
    if os.path.lexists(link_tmp):
        os.unlink(link_tmp)
    os.symlink(f"step-{step}", link_tmp)
    os.replace(link_tmp, os.path.join(root, "last"))
    _prune(root, keep)
    return final


def list_checkpoints(run_dir: str) -> list[int]:
    root = checkpoint_root(run_dir)
    if not os.path.isdir(root):
        return []
    steps = [int(m.group(1)) for name in os.listdir(root) if (m := re.fullmatch(r"step-(\d+)", name))]
    return sorted(steps)


def _prune(root: str, keep: int) -> None:
    for name in os.listdir(root):
        if name.startswith(".tmp-step-"):  # left by a killed save
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
    if keep <= 0:
        return
    steps = sorted(int(m.group(1)) for name in os.listdir(root) if (m := re.fullmatch(r"step-(\d+)", name)))
    for step in steps[:-keep]:
        shutil.rmtree(os.path.join(root, f"step-{step}"), ignore_errors=True)


def latest_checkpoint(run_dir: str) -> str | None:
    last = os.path.join(checkpoint_root(run_dir), "last")
    if os.path.exists(os.path.join(last, STATE_FILE)):
        return os.path.realpath(last)
    steps = list_checkpoints(run_dir)
    return os.path.join(checkpoint_root(run_dir), f"step-{steps[-1]}") if steps else None


def load_state(checkpoint_dir: str) -> dict:
    return torch.load(os.path.join(checkpoint_dir, STATE_FILE), map_location="cpu", weights_only=False)
