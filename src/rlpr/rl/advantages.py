"""Advantages: GAE with a value function, and critic-free group baselines (GRPO-style mean/std, RLOO).

Shapes: B sequences, R response positions; `mask` (B, R) is 1 on response tokens, contiguous from 0.
"""

from __future__ import annotations

import torch


def masked_moments(x: torch.Tensor, mask: torch.Tensor, total=torch.sum) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased variance of x over the masked entries (0-dim tensors). `total` sums a tensor's entries:
    `distributed.global_sum` takes the moments over every rank's entries, as one process would over the batch."""
    m = mask.to(x.dtype)
    n = total(m)
    mean = total(x * m) / n.clamp(min=1.0)
    return mean, total(((x - mean) * m) ** 2) / (n - 1).clamp(min=1.0)


def whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, eps: float = 1e-8, total=torch.sum) -> torch.Tensor:
    """Normalise x to unit variance (and zero mean) over the masked entries (`total` as in `masked_moments`)."""
    mean, var = masked_moments(x, mask, total)
    out = (x - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return out * mask.to(x.dtype)


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0, lam: float = 0.95
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over response tokens -> (advantages, returns), both (B, R).

    delta_t = r_t + gamma V_{t+1} - V_t and A_t = delta_t + gamma lam A_{t+1}, with V and A zero past a row's end.
    """
    mask = mask.to(values.dtype)
    advantages = torch.zeros_like(values)
    last = torch.zeros_like(values[:, 0])
    for t in reversed(range(values.size(1))):
        next_mask = mask[:, t + 1] if t + 1 < values.size(1) else torch.zeros_like(last)
        next_value = values[:, t + 1] * next_mask if t + 1 < values.size(1) else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last = delta + gamma * lam * last * next_mask
        advantages[:, t] = last
    advantages = advantages * mask
    return advantages, (advantages + values) * mask


def group_advantages(scores: torch.Tensor, group_size: int, scale: bool = True, eps: float = 1e-6) -> torch.Tensor:
    """GRPO-style: each score minus its group's mean, divided by the group's std when `scale`. (N*G,) -> (N*G,).

    Samples of one prompt are consecutive: rows [i*G, (i+1)*G) share prompt i.
    """
    groups = scores.view(-1, group_size)
    centred = groups - groups.mean(1, keepdim=True)
    if scale:
        centred = centred / (groups.std(1, keepdim=True) + eps)
    return centred.flatten()


def leave_one_out_advantages(scores: torch.Tensor, group_size: int) -> torch.Tensor:
    """RLOO: each score minus the mean of the other samples of its prompt. (N*G,) -> (N*G,)."""
    if group_size < 2:
        raise ValueError("leave-one-out baselines need group_size >= 2")
    groups = scores.view(-1, group_size)
    baseline = (groups.sum(1, keepdim=True) - groups) / (group_size - 1)
    return (groups - baseline).flatten()


def best_of_group_advantages(scores: torch.Tensor, group_size: int) -> torch.Tensor:
    """Top-1 advantages: in each prompt's group the highest-scoring samples share advantage 1 (1/k each for
    k ties) and the rest get 0; a group whose scores are all equal gets 0 throughout. (N*G,) -> (N*G,).

    Only improvements are reinforced, never pushed-down failures: expert iteration (rejection sampling)
    inside PPO's clipped objective. Use without whitening, which would turn the zeros negative.
    """
    groups = scores.view(-1, group_size)
    top = groups.max(1, keepdim=True).values
    best = (groups == top).to(scores.dtype)
    spread = (top > groups.min(1, keepdim=True).values).to(scores.dtype)
    return (best / best.sum(1, keepdim=True) * spread).flatten()
