"""PPO's clipped losses, KL estimators, token entropy and the paper's batch entropy.

Shapes: B sequences, R response positions, V vocabulary. `mask` (B, R) is 1 on response tokens.
"""

from __future__ import annotations

import torch


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def policy_loss(
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, clip: float
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped surrogate: mean of max(-A r, -A clip(r, 1-eps, 1+eps)) over response tokens, r = pi/pi_old."""
    log_ratio = logprobs - old_logprobs
    ratio = log_ratio.exp()
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip, 1.0 + clip)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    with torch.no_grad():
        stats = {
            "clipfrac": masked_mean((clipped > unclipped).float(), mask),
            "approx_kl": masked_mean(ratio - 1.0 - log_ratio, mask),  # k3 estimate of KL(old || new)
        }
    return loss, stats


def value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, clip: float
) -> torch.Tensor:
    """0.5 * mean of max((V - G)^2, (V_clipped - G)^2), V_clipped within `clip` of the rollout's value."""
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    return 0.5 * masked_mean(torch.maximum((values - returns) ** 2, (clipped - returns) ** 2), mask)


def kl_estimate(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: str = "k1") -> torch.Tensor:
    """Per-token estimate of KL(pi || pi_ref) from samples of pi (Schulman's k1, k2, k3)."""
    log_ratio = logprobs - ref_logprobs  # log pi/pi_ref
    if estimator == "k1":
        return log_ratio
    if estimator == "k2":
        return 0.5 * log_ratio**2
    if estimator == "k3":
        return (-log_ratio).exp() - 1.0 + log_ratio
    raise ValueError(f"kl_estimator: expected k1, k2 or k3, got {estimator!r}")


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of softmax(logits) over the last axis: (..., V) -> (...)."""
    logp = logits.float().log_softmax(-1)
    return -(logp.exp() * logp).sum(-1)


def last_positions(mask: torch.Tensor) -> torch.Tensor:
    """Index of each row's last response token: (B, R) -> (B,). Rows with no token point at 0."""
    positions = torch.arange(mask.size(1), device=mask.device).expand_as(mask)
    return (positions * mask.long()).max(dim=1).values


def batch_entropy(logits: torch.Tensor, mask: torch.Tensor, position: str = "final",
                  prepare=torch.Tensor.float) -> tuple[torch.Tensor, torch.Tensor]:
    """Entropy of the batch-averaged next-token distribution, and its largest probability (batch max action).

    p_bar(a) = 1/B sum_i pi(a | s_i); H = -sum_a p_bar(a) log p_bar(a). It is log(B) at most when B rows are
    one-hot on different tokens and 0 when all rows put all mass on one token, however confident each row is.
    position="final": at each row's last response token (the paper); "mean": averaged over response positions,
    each position's p_bar taken over the rows that have a token there. `prepare` turns the logits it reads into
    the sampled distribution's (temperature, banned tokens: `logprobs.sampling_logits`), after any selection.
    """
    if position == "final":
        rows = torch.arange(logits.size(0), device=logits.device)
        p_bar = prepare(logits[rows, last_positions(mask)]).softmax(-1).mean(0)  # (V,)
        return -(p_bar * p_bar.clamp_min(1e-12).log()).sum(), p_bar.max()
    if position == "mean":
        probs = prepare(logits).softmax(-1)  # (B, R, V)
        weights = mask.to(probs.dtype)  # (B, R)
        counts = weights.sum(0)  # (R,)
        p_bar = (probs * weights[..., None]).sum(0) / counts.clamp(min=1.0)[:, None]  # (R, V)
        entropy = -(p_bar * p_bar.clamp_min(1e-12).log()).sum(-1)  # (R,)
        present = counts > 0
        return entropy[present].mean(), p_bar.max(-1).values[present].mean()
    raise ValueError(f"batch_entropy_position: expected final or mean, got {position!r}")
