import math

import torch

from rlpr.rl import losses


def one_hot_logits(tokens: list[int], vocab: int = 8) -> torch.Tensor:
    """(B, 1, V) logits that put (numerically) all mass on the given token of each row."""
    logits = torch.full((len(tokens), 1, vocab), -1e4)
    for row, tok in enumerate(tokens):
        logits[row, 0, tok] = 0.0
    return logits


def test_batch_entropy_zero_when_every_row_picks_the_same_token():
    logits = one_hot_logits([3, 3, 3, 3])
    h, max_action = losses.batch_entropy(logits, torch.ones(4, 1))
    assert abs(h.item()) < 1e-6
    assert abs(max_action.item() - 1.0) < 1e-6


def test_batch_entropy_is_log_b_for_b_distinct_one_hot_rows():
    logits = one_hot_logits([0, 1, 2, 3, 4])
    h, max_action = losses.batch_entropy(logits, torch.ones(5, 1))
    assert abs(h.item() - math.log(5)) < 1e-5
    assert abs(max_action.item() - 0.2) < 1e-6


def test_batch_entropy_final_uses_each_rows_last_token_and_mean_averages_positions():
    # Row 0 has 2 response tokens, row 1 has 1: "final" compares position 1 of row 0 with position 0 of row 1.
    logits = torch.full((2, 2, 4), -1e4)
    logits[0, 0, 0] = 0  # row 0, pos 0 -> token 0
    logits[0, 1, 1] = 0  # row 0, pos 1 -> token 1
    logits[1, 0, 1] = 0  # row 1, pos 0 -> token 1
    logits[1, 1, 2] = 0  # padding position, must be ignored
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    h_final, max_final = losses.batch_entropy(logits, mask, "final")
    assert abs(h_final.item()) < 1e-6 and abs(max_final.item() - 1) < 1e-6  # both end on token 1
    h_mean, _ = losses.batch_entropy(logits, mask, "mean")
    # position 0: rows pick 0 and 1 -> log 2; position 1: only row 0 -> 0. Mean = log(2)/2.
    assert abs(h_mean.item() - math.log(2) / 2) < 1e-5


def test_batch_entropy_is_high_for_confident_rows_with_different_answers_unlike_token_entropy():
    logits = one_hot_logits([0, 1, 2, 3])
    mask = torch.ones(4, 1)
    assert losses.masked_mean(losses.entropy_from_logits(logits), mask).item() < 1e-3
    assert losses.batch_entropy(logits, mask)[0].item() > 1.3


def test_batch_entropy_gradient_pushes_collapsed_rows_apart():
    logits = torch.tensor([[[2.0, 0.0, 0.0]], [[2.0, 0.0, 0.0]]], requires_grad=True)
    h, _ = losses.batch_entropy(logits, torch.ones(2, 1))
    h.backward()
    assert logits.grad[0, 0, 0] < 0  # raising entropy lowers the shared favourite token


def test_policy_loss_worked_example():
    # ratios e^0.5 = 1.6487 (clipped to 1.2 for A = +1) and e^-0.5 = 0.6065 (clipped to 0.8 for A = -1).
    logp = torch.tensor([[0.5, -0.5]])
    old = torch.zeros(1, 2)
    adv = torch.tensor([[1.0, -1.0]])
    loss, stats = losses.policy_loss(logp, old, adv, torch.ones(1, 2), clip=0.2)
    # token 1: max(-1.6487, -1.2) = -1.2; token 2: max(0.6065, 0.8) = 0.8; mean = -0.2
    assert abs(loss.item() - (-0.2)) < 1e-6
    assert stats["clipfrac"].item() == 1.0
    r = torch.tensor([math.exp(0.5), math.exp(-0.5)])
    assert abs(stats["approx_kl"].item() - (r - 1 - torch.log(r)).mean().item()) < 1e-6


def test_policy_loss_ignores_masked_tokens():
    logp = torch.tensor([[0.1, 5.0]])
    loss, _ = losses.policy_loss(logp, torch.zeros(1, 2), torch.ones(1, 2), torch.tensor([[1.0, 0.0]]), clip=0.2)
    assert abs(loss.item() - (-math.exp(0.1))) < 1e-6


def test_value_loss_worked_example():
    values = torch.tensor([[1.0, 0.0]])
    old = torch.tensor([[0.5, 0.0]])
    returns = torch.tensor([[2.0, 1.0]])
    # token 1: unclipped (1-2)^2 = 1, clipped 0.5+0.2=0.7 -> (0.7-2)^2 = 1.69 -> 1.69; token 2: 1 and 1 -> 1.
    loss = losses.value_loss(values, old, returns, torch.ones(1, 2), clip=0.2)
    assert abs(loss.item() - 0.5 * (1.69 + 1.0) / 2) < 1e-6


def test_kl_estimators_match_their_formulas():
    logp = torch.tensor([-1.0, -2.0, -0.3])
    ref = torch.tensor([-1.5, -1.0, -0.3])
    d = logp - ref
    assert torch.allclose(losses.kl_estimate(logp, ref, "k1"), d)
    assert torch.allclose(losses.kl_estimate(logp, ref, "k2"), 0.5 * d**2)
    assert torch.allclose(losses.kl_estimate(logp, ref, "k3"), torch.exp(-d) - 1 + d)
    assert losses.kl_estimate(logp, ref, "k3").min() >= 0  # k3 is never negative


def test_kl_estimators_are_unbiased_or_close_on_samples():
    # Sampling from p, the mean of k1 and k3 estimates KL(p || q) exactly in expectation.
    p = torch.tensor([0.7, 0.2, 0.1])
    q = torch.tensor([0.4, 0.4, 0.2])
    exact = (p * (p / q).log()).sum()
    for estimator in ("k1", "k3"):
        expected = (p * losses.kl_estimate(p.log(), q.log(), estimator)).sum()
        assert abs(expected.item() - exact.item()) < 1e-6
