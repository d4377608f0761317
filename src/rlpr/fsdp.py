"""Sharded data parallelism (`distributed.strategy=fsdp`): the policy and the value model split over the ranks
with PyTorch FSDP2 (`torch.distributed.fsdp.fully_shard`), one shard per transformer block plus the root.

Each rank then holds 1/W of the parameters, gradients and AdamW state; a block's weights are all-gathered for
its forward and backward and its gradients reduce-scattered (averaged) after the backward, so the step is the
one `average_gradients` gives under ddp. What the trainer does differently:

- `shard_models` once, before the optimiser is built (FSDP replaces the parameters by sharded DTensors);
- `gathered` around sampling and rank 0's evaluation: every rank gathers the whole weights for the block, so
  ranks that stop sampling at different lengths issue no collectives (ZeRO-3's unsharded generation);
- checkpoints hold full tensors (`full_state`, `full_optimizer_state`, collectives on every rank), in the
  format of an unsharded run, so a checkpoint resumes under either strategy on any number of ranks
  (`load_state`, `load_optimizer_state` shard it again).

Every helper is the plain-module identity on a model that is not sharded: one process, or ddp. FSDP's modules
are imported only by `shard_models` (torch.distributed.tensor alone takes seconds to import).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager

import torch
from torch import nn

from rlpr import distributed
from rlpr.config import ConfigError


def check_config(config) -> None:
    """Refuse, in one line naming the key, what fsdp cannot shard (before any model loads)."""
    if config.distributed.strategy != "fsdp":
        return
    if config.model.lora_rank:
        raise ConfigError("model.lora_rank: LoRA adapters are not sharded; distributed.strategy=fsdp trains full "
                          "weights (set model.lora_rank=0, or use distributed.strategy=ddp)")
    if config.rollout.engine != "hf":
        raise ConfigError("rollout.engine: distributed.strategy=fsdp samples with rollout.engine=hf")


def shard_models(*modules) -> None:
    """Shard each module (None skipped) over all ranks in place: every transformer block, then the module.
    Rank 0's weights first go to every rank. Nothing happens in one process."""
    if distributed.world_size() == 1:
        return
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    device = next(modules[0].parameters()).device  # the policy's: every module is on it
    mesh = init_device_mesh(device.type, (distributed.world_size(),))
    for module in modules:
        if module is None:
            continue
        distributed.broadcast_parameters(list(module.parameters()))
        for block in _blocks(module):
            fully_shard(block, mesh=mesh)
        fully_shard(module, mesh=mesh)


def _blocks(module: nn.Module) -> list[nn.Module]:
    """The transformer blocks: the first non-empty ModuleList (`model.layers` of a Llama, `trunk.layers` of a
    Critic); none for a module without one (a value head)."""
    blocks = next((m for m in module.modules() if isinstance(m, nn.ModuleList) and len(m) > 0), None)
    return list(blocks) if blocks is not None else []


def is_sharded(module) -> bool:
    """Whether `module` is an FSDP unit (`shard_models` wrapped it)."""
    fsdp = sys.modules.get("torch.distributed.fsdp")  # not imported: nothing is sharded
    return fsdp is not None and isinstance(module, fsdp.FSDPModule)


def _is_dtensor(value) -> bool:
    tensor = sys.modules.get("torch.distributed.tensor")
    return tensor is not None and isinstance(value, tensor.DTensor)


@contextmanager
def gathered(module):
    """Every FSDP unit of `module` holds its whole weights inside the block, and forward passes neither gather
    nor free them: no collectives, so ranks may run different numbers of forward passes (sampling, rank 0's
    evaluation). Entered on every rank. The identity for a module that is not sharded."""
    if not is_sharded(module):
        yield
        return
    units = [m for m in module.modules() if is_sharded(m)]
    module.set_reshard_after_forward(False)  # every unit keeps its weights after a forward
    for unit in units:
        unit.unshard()
    try:
        yield
    finally:
        module.set_reshard_after_forward(True)  # back to fully_shard's defaults: a block frees its weights after
        module.set_reshard_after_forward(False, recurse=False)  # its forward, the root keeps them for the backward
        for unit in units:
            unit.reshard()


def full_state(module) -> dict | None:
    """`module.state_dict()` with whole tensors on the CPU, on rank 0 ({} on the others); a collective for a
    sharded module. None for None."""
    if module is None:
        return None
    if not is_sharded(module):
        return module.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_state(module, state: dict) -> None:
    """`module.load_state_dict(state)` for a full (unsharded) state, sharding it for a sharded module."""
    if is_sharded(module):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        set_model_state_dict(module, state, options=StateDictOptions(full_state_dict=True))
    else:
        module.load_state_dict(state)


def full_optimizer_state(optimizer) -> dict:
    """`optimizer.state_dict()` with each sharded tensor gathered whole (to the CPU, on rank 0; the other ranks
    get None in its place): the state dict a one-process optimizer over the same parameters has."""
    state = optimizer.state_dict()
    if not any(_is_dtensor(v) for s in state["state"].values() for v in s.values()):
        return state
    keep = distributed.is_main()

    def whole(value):
        if not _is_dtensor(value):
            return value
        value = value.full_tensor()  # a collective, in the same order on every rank
        return value.cpu() if keep else None

    return {"state": {i: {k: whole(v) for k, v in s.items()} for i, s in state["state"].items()},
            "param_groups": state["param_groups"]}


def load_optimizer_state(optimizer, state: dict) -> None:
    """`optimizer.load_state_dict(state)` for a full state (`full_optimizer_state`, or any unsharded run's),
    each tensor cut to this rank's shard of its parameter."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if any(_is_dtensor(p) for p in params):
        state = {"state": {i: {k: _like(v, params[int(i)]) for k, v in s.items()} for i, s in state["state"].items()},
                 "param_groups": state["param_groups"]}
    optimizer.load_state_dict(state)


def _like(value, param):
    from torch.distributed.tensor import DTensor, distribute_tensor

    if not (isinstance(param, DTensor) and isinstance(value, torch.Tensor) and value.shape == param.shape):
        return value  # a scalar such as Adam's step
    return distribute_tensor(value.to(param.device), param.device_mesh, param.placements, src_data_rank=None)
