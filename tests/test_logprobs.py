"""The chunked log-prob / entropy function against the plain formulas: values and gradients."""

import pytest
import torch

from rlpr.rl import logprobs as lp
from rlpr.rl import losses


def plain(logits, tokens, temperature, banned):
    """What scoring computed before: slice, scale, ban, log-softmax, gather; entropy from a second log-softmax."""
    z = lp.sampling_logits(logits[:, : tokens.size(1)], temperature, banned)
    return z.log_softmax(-1).gather(-1, tokens[..., None]).squeeze(-1), losses.entropy_from_logits(z)


@pytest.mark.parametrize("temperature, banned, extra, chunk", [
    (1.0, None, 1, 1 << 20),  # the trainer's layout: one logit position past the last token, one chunk
    (0.7, torch.tensor([0, 5, 9]), 0, 40),  # several chunks (40 elements: 2 positions of 17 tokens)
    (1.3, torch.tensor([2]), 1, 17),  # a chunk per position
])
def test_token_logprobs_match_the_plain_formulas_in_value_and_gradient(monkeypatch, temperature, banned, extra, chunk):
    monkeypatch.setattr(lp, "CPU_CHUNK", chunk)
    gen = torch.Generator().manual_seed(0)
    rows, length, vocab = 3, 5, 17
    logits = (3 * torch.randn(rows, length + extra, vocab, generator=gen)).requires_grad_()
    allowed = torch.tensor([t for t in range(vocab) if banned is None or t not in banned.tolist()])
    tokens = allowed[torch.randint(len(allowed), (rows, length), generator=gen)]
    # upstream gradients below 1, as a loss averaged over tokens gives: the plain entropy's backward multiplies
    # them by log p ~ -3e38 at banned tokens and overflows to NaN from 1 on (this function does not)
    g_lp, g_h = torch.rand(rows, length, generator=gen) - 0.5, torch.rand(rows, length, generator=gen) - 0.5

    ours_lp, ours_h = lp.token_logprobs(logits, tokens, temperature, banned)
    (ours_lp * g_lp + ours_h * g_h).sum().backward()
    ours_grad, logits.grad = logits.grad.clone(), None
    ref_lp, ref_h = plain(logits, tokens, temperature, banned)
    (ref_lp * g_lp + ref_h * g_h).sum().backward()

    assert torch.allclose(ours_lp, ref_lp, atol=1e-5) and torch.allclose(ours_h, ref_h, atol=1e-5)
    assert torch.allclose(ours_grad, logits.grad, atol=1e-5)
    if extra:
        assert (ours_grad[:, length:] == 0).all()  # the position after the last token gets no gradient
    if banned is not None:
        assert (ours_grad[..., banned] == 0).all()


def test_gradients_stay_finite_with_banned_tokens_and_large_upstream_gradients():
    logits = torch.randn(2, 3, 9, requires_grad=True)
    logprobs, entropy = lp.token_logprobs(logits, torch.ones(2, 3, dtype=torch.long), 0.8, torch.tensor([0, 4]))
    (1e3 * (logprobs.sum() + entropy.sum())).backward()
    assert torch.isfinite(logits.grad).all() and (logits.grad[..., [0, 4]] == 0).all()


def test_log_probs_alone_need_no_entropy_gradient():
    logits = torch.randn(2, 4, 11, requires_grad=True)
    tokens = torch.randint(11, (2, 4))
    ours, _ = lp.token_logprobs(logits, tokens)
    ours.sum().backward()
    ref = logits.detach().clone().requires_grad_()
    ref.log_softmax(-1).gather(-1, tokens[..., None]).sum().backward()
    assert torch.allclose(logits.grad, ref.grad, atol=1e-6)


def test_too_few_logit_positions_is_an_error():
    with pytest.raises(ValueError, match="3 logit positions for 4 tokens"):
        lp.token_logprobs(torch.randn(1, 3, 5), torch.zeros(1, 4, dtype=torch.long))
