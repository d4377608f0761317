"""The optimiser every trainer here uses: AdamW, fused where torch has the kernel."""

from __future__ import annotations

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
