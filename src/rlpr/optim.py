"""The optimiser every trainer here uses (AdamW, fused where torch has the kernel) and gradient clipping."""

from __future__ import annotations

import math

import torch


def adamw(params: list[torch.nn.Parameter], **kwargs) -> torch.optim.AdamW:
    """`torch.optim.AdamW`, with its fused kernel for plain CPU or CUDA float tensors.

    On the CPU torch's default AdamW runs a loop of separate element-wise ops, each writing a new tensor the size
    of the parameter: 0.39 s a step for smollm2-135m's 135M parameters where the fused kernel takes 0.09 s
    (2 threads, measured side by side). It is also what transformers' Trainer picks by default. Sharded (FSDP)
    parameters keep the default implementation.
    """
    fusable = all(type(p.data) is torch.Tensor and p.device.type in ("cpu", "cuda") and p.is_floating_point()
                  for p in params)
    return torch.optim.AdamW(params, fused=fusable or None, **kwargs)


def clip_gradients(params: list[torch.nn.Parameter], max_norm: float) -> float:
    """`torch.nn.utils.clip_grad_norm_(params, max_norm).item()`: scale the gradients down to a total L2 norm
    of `max_norm` when it is above that, and return the norm before clipping.

    On the CPU the norm comes from one BLAS dot product per gradient, and the gradients are scaled only when
    the norm is over the limit (torch multiplies them by 1 otherwise). For smollm2-135m (2 threads): 20 ms
    where torch takes 67 ms, 43 of them for its per-tensor norms. The dot products sum in float32 and may
    differ from torch's norm in the 4th significant digit. GPU and sharded (FSDP) gradients go to torch.
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads or any(type(g) is not torch.Tensor or g.device.type != "cpu" for g in grads):
        return torch.nn.utils.clip_grad_norm_(params, max_norm).item()
    flat = [g.reshape(-1) for g in grads]
    norm = math.sqrt(sum(torch.dot(f, f).item() for f in flat))
    if norm > max_norm:  # torch's scale: max_norm / (norm + 1e-6), never above 1
        torch._foreach_mul_(grads, max_norm / (norm + 1e-6))
    return norm
