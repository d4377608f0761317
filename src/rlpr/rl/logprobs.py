"""Log-probs and entropies of sampled tokens from a model's logits, a cache-sized chunk at a time.

The plain way, `logits.log_softmax(-1).gather(...)` plus an entropy from a second log-softmax, writes several
(B, R, V) tensors in the forward pass (scaled logits, log-softmax, its exp, their product) and more in the
backward (the zero-filled gradients of the gather and of the position slice, the log-softmax backward). With
a 49k vocabulary each is 100 MB at 32 x 16 tokens, and on the CPU writing them cost as much as a quarter of a
PPO update. Here the forward works a chunk of positions while it sits in cache and keeps only a log-normaliser
per position; the backward recomputes each chunk's softmax and writes the logits' gradient once.
"""

from __future__ import annotations

import torch

CPU_CHUNK = 1 << 20  # elements per chunk on the CPU: 4 MB of float32, about a core's L2 cache
GPU_CHUNK = 1 << 25  # on a GPU chunks only bound memory; small ones would be launch-bound


def sampling_logits(logits: torch.Tensor, temperature: float = 1.0, banned_ids: torch.Tensor | None = None) -> torch.Tensor:
    """Logits of the distribution the sampler draws from: float, divided by the temperature, banned tokens at the
    lowest float (not -inf: softmax gives them exactly 0 and entropy sums stay finite). (..., V) -> (..., V)."""
    logits = logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    if banned_ids is not None and banned_ids.numel():
        logits = logits.index_fill(-1, banned_ids.to(logits.device), torch.finfo(logits.dtype).min)
    return logits


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor, temperature: float = 1.0,
                   banned_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(log-prob of each token, entropy at each position) under `sampling_logits(logits)`; gradients flow to
    `logits` from both.

    logits (B, T, V) with T >= R, position t predicting tokens[:, t]; tokens (B, R). Positions from R on (the
    model's logit after the last token, when it was computed) get no gradient. Returns two (B, R) tensors.
    """
    rows, length = tokens.shape
    if logits.size(1) < length:
        raise ValueError(f"token_logprobs: {logits.size(1)} logit positions for {length} tokens")
    if logits.size(1) > length:  # the extra positions are computed and dropped: cheaper than copying the slice
        tokens = torch.nn.functional.pad(tokens, (0, logits.size(1) - length))
    banned = banned_ids if banned_ids is not None and banned_ids.numel() else None
    logprobs, entropy = _TokenLogprobs.apply(logits.contiguous(), tokens, temperature, banned)
    return logprobs[:, :length], entropy[:, :length]


def _chunks(positions: int, vocab: int, device: torch.device):
    per_chunk = max(1, (CPU_CHUNK if device.type == "cpu" else GPU_CHUNK) // vocab)
    return [slice(start, start + per_chunk) for start in range(0, positions, per_chunk)]


class _TokenLogprobs(torch.autograd.Function):
    """Per position, with z = sampling_logits(logits), p = softmax(z), lse = logsumexp(z):
    log-prob = z[token] - lse, entropy H = lse - sum(p z); d log-prob / dz = onehot - p and
    dH / dz = -p (log p + H), so dz = g_lp onehot - p (g_lp + g_H H) - g_H p log p, and dlogits = dz / temperature."""

    @staticmethod
    def forward(ctx, logits, tokens, temperature, banned):
        flat = logits.view(-1, logits.size(-1))
        flat_tokens = tokens.reshape(-1, 1)
        lse = flat.new_empty(flat.size(0), dtype=torch.float32)
        logprobs, entropy = torch.empty_like(lse), torch.empty_like(lse)
        for part in _chunks(flat.size(0), flat.size(1), flat.device):
            z = sampling_logits(flat[part], temperature, banned)
            lse[part] = z.logsumexp(-1)
            logprobs[part] = z.gather(-1, flat_tokens[part]).squeeze(-1) - lse[part]
            p = (z - lse[part, None]).exp_()
            entropy[part] = lse[part] - (p * z).sum(-1)
        ctx.save_for_backward(logits, tokens, lse, entropy)
        ctx.temperature, ctx.banned = temperature, banned
        ctx.set_materialize_grads(False)
        shape = tokens.shape
        return logprobs.view(shape), entropy.view(shape)

    @staticmethod
    def backward(ctx, grad_logprobs, grad_entropy):
        logits, tokens, lse, entropy = ctx.saved_tensors
        flat = logits.view(-1, logits.size(-1))
        flat_tokens = tokens.reshape(-1, 1)
        zeros = lse.new_zeros(lse.shape)
        g_lp = grad_logprobs.reshape(-1).float() if grad_logprobs is not None else zeros
        g_h = grad_entropy.reshape(-1).float() if grad_entropy is not None else zeros
        grad = torch.empty_like(flat)
        for part in _chunks(flat.size(0), flat.size(1), flat.device):
            z = sampling_logits(flat[part], ctx.temperature, ctx.banned)
            log_p = z - lse[part, None]
            p = log_p.exp()
            # p log p first: it is 0 where p is 0 (banned tokens), while log p there is about -3e38
            dz = (p * log_p).mul_(-g_h[part, None]).sub_(p * (g_lp[part] + g_h[part] * entropy[part])[:, None])
            dz.scatter_add_(-1, flat_tokens[part], g_lp[part, None])
            if ctx.temperature != 1.0:
                dz /= ctx.temperature
            grad[part] = dz
        return grad.view(logits.shape), None, None, None
