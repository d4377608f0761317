"""Data-parallel training over torch.distributed: joining the ranks, sharding a step's prompts, all-reduces.

Launch with `torchrun --nproc_per_node N -m rlpr train ...` or `accelerate launch --multi_gpu --num_processes N
-m rlpr train ...` (`--multi_gpu` also on a CPU machine: `--cpu` alone starts one process): both set RANK,
WORLD_SIZE and LOCAL_RANK, and `init` joins the group they describe (gloo for CPU tensors, nccl for CUDA ones).
Without them there is no group and every helper is the single-process identity: `world_size()` is 1,
`is_main()` is True, a shard is the whole list and an all-reduce returns its input.

How the trainer uses them (`rl/trainer.py`): every rank draws the same prompts and keeps its `shard`; whitening
sums over all ranks (`global_sum`); each optimiser step averages the ranks' gradients (`average_gradients`);
metrics are averaged or computed from the `gather`ed samples; rank 0 alone writes the run directory.
With `distributed.strategy=fsdp` the models are sharded instead (`rlpr.fsdp`) and FSDP averages their gradients.
"""

from __future__ import annotations

import atexit
import os
import sys
from contextlib import contextmanager
from typing import NoReturn

import numpy as np
import torch
import torch.distributed as dist


def init() -> int:
    """Join the process group that torchrun / accelerate describe in the environment -> the number of ranks.
    Without WORLD_SIZE > 1 it does nothing and returns 1. Calling it again is harmless."""
    if not _active() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank())  # one GPU per process, set before nccl's first collective
            backend = "cpu:gloo,cuda:nccl"  # each collective on the backend of its tensors' device
        else:
            backend = "gloo"
        dist.init_process_group(backend)
        atexit.register(dist.destroy_process_group)
    return world_size()


def exit_process(code: int) -> NoReturn:
    """End a command-line process with exit status `code`. Under a process group: run the exit handlers (one
    destroys the group), then leave without the interpreter's finalisation. A gloo worker thread may still be
    releasing the tensors of the last collective (the run's final `from_main`), which takes the GIL, and a
    thread that asks for the GIL while the interpreter finalises aborts the whole process ("terminate called
    without an active exception", SIGABRT, about one two-rank run in fifteen here)."""
    if not _active():
        sys.exit(code)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _active() -> bool:
    return dist.is_available() and dist.is_initialized()  # builds without torch.distributed have no group


def rank() -> int:
    return dist.get_rank() if _active() else 0


def world_size() -> int:
    return dist.get_world_size() if _active() else 1


def local_rank() -> int:
    """This process's index on its machine: which GPU it uses."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    """Rank 0: the process that logs, evaluates and writes the run directory."""
    return rank() == 0


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


@contextmanager
def main_first():
    """Run the block on rank 0, then on the other ranks (rank 0 builds a file the others then find)."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


def shard(items: list) -> list:
    """This rank's share of `items`: rank r of W gets the r-th of W equal consecutive slices."""
    size, remainder = divmod(len(items), world_size())
    if remainder:
        raise ValueError(f"cannot split {len(items)} items evenly over {world_size()} ranks")
    return items[rank() * size : (rank() + 1) * size]


def gather(*lists: list) -> tuple[list, ...]:
    """Each list concatenated over the ranks in rank order, on every rank: the inverse of `shard`."""
    if world_size() == 1:
        return lists
    parts: list = [None] * world_size()
    dist.all_gather_object(parts, lists)
    return tuple([x for part in parts for x in part[i]] for i in range(len(lists)))


def from_main(obj):
    """Rank 0's `obj` on every rank (other ranks pass anything, e.g. None)."""
    if world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def global_sum(x: torch.Tensor) -> torch.Tensor:
    """The sum of `x`'s entries over all ranks, a 0-dim tensor equal on every rank (`x.sum()` in one process)."""
    total = x.sum()
    if world_size() > 1:
        dist.all_reduce(total)
    return total


def mean_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """Each value averaged over the ranks (which must pass the same keys): a global figure when every rank
    averaged over the same number of rows. The dict unchanged in one process."""
    if world_size() == 1:
        return metrics
    keys = sorted(metrics)  # the same order on every rank
    values = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64)
    dist.all_reduce(values)
    mean = dict(zip(keys, (values / world_size()).tolist()))
    return {k: mean[k] for k in metrics}


def average_gradients(params: list[torch.Tensor]) -> None:
    """Replace each gradient by its mean over the ranks, as DDP does, in one all-reduce per device and dtype.

    Parameters without a gradient are left out (as the optimiser skips them); every rank runs the same loss, so
    the set is the same on every rank. So are sharded ones (`rlpr.fsdp`): FSDP has averaged theirs already.
    """
    if world_size() == 1:
        return
    buckets: dict = {}
    for p in params:
        if p.grad is not None and not _sharded(p):
            buckets.setdefault((p.grad.device, p.grad.dtype), []).append(p.grad)
    for grads in buckets.values():
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= world_size()
        for g, part in zip(grads, flat.split([g.numel() for g in grads])):
            g.copy_(part.view_as(g))


def broadcast_parameters(params: list[torch.Tensor]) -> None:
    """Give every rank rank 0's values, as DDP does when it wraps a model. Sharded parameters (`rlpr.fsdp`, which
    broadcasts before it shards) are left alone: each rank holds a different part."""
    if world_size() > 1:
        for p in params:
            if not _sharded(p):
                dist.broadcast(p.data, src=0)


def _sharded(tensor: torch.Tensor) -> bool:
    dtensor = sys.modules.get("torch.distributed.tensor")  # imported by rlpr.fsdp when it shards (slow to import)
    return dtensor is not None and isinstance(tensor, dtensor.DTensor)


def step_seed(seed: int, step: int) -> int:
    """A seed for this rank's sampling at `step`: independent streams per rank, fixed by (seed, step, rank),
    so a resumed run samples what the uninterrupted one sampled on the same number of ranks."""
    return int(np.random.SeedSequence([seed, step, rank()]).generate_state(1, np.uint64)[0])
