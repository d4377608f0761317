import torch

from rlpr.rl import advantages as adv


def reference_gae(rewards, values, lengths, gamma, lam):
    """The textbook loop, one sequence at a time, over its real tokens only."""
    out = torch.zeros_like(values)
    for b, n in enumerate(lengths):
        last = 0.0
        for t in reversed(range(n)):
            next_value = values[b, t + 1].item() if t + 1 < n else 0.0
            delta = rewards[b, t].item() + gamma * next_value - values[b, t].item()
            last = delta + gamma * lam * last
            out[b, t] = last
    return out


def test_gae_equals_a_plain_reference_loop():
    torch.manual_seed(0)
    lengths = [5, 3, 1, 4]
    mask = torch.zeros(4, 5)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1
    rewards = torch.randn(4, 5) * mask
    values = torch.randn(4, 5)
    for gamma, lam in [(1.0, 0.95), (0.9, 0.5), (1.0, 1.0)]:
        a, returns = adv.gae(rewards, values, mask, gamma, lam)
        expected = reference_gae(rewards, values, lengths, gamma, lam)
        assert torch.allclose(a, expected, atol=1e-6)
        assert torch.allclose(returns, (expected + values) * mask, atol=1e-6)


def test_gae_with_lambda_one_and_gamma_one_is_return_minus_value():
    rewards = torch.tensor([[0.0, 0.0, 2.0]])
    values = torch.tensor([[0.5, 1.0, 1.5]])
    a, _ = adv.gae(rewards, values, torch.ones(1, 3), 1.0, 1.0)
    assert torch.allclose(a, torch.tensor([[1.5, 1.0, 0.5]]))


def test_whiten_gives_zero_mean_unit_variance_on_masked_entries():
    x = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    w = adv.whiten(x, mask)
    assert abs(w[0, :3].mean().item()) < 1e-6
    assert abs(w[0, :3].std().item() - 1) < 1e-4
    assert w[0, 3] == 0


def test_group_advantages_mean_and_std_per_prompt():
    scores = torch.tensor([1.0, 3.0, 10.0, 10.0])  # two prompts, two samples each
    a = adv.group_advantages(scores, 2)
    assert torch.allclose(a[:2], torch.tensor([-1.0, 1.0]) / torch.tensor([1.0, 3.0]).std(), atol=1e-5)
    assert torch.allclose(a[2:], torch.zeros(2))
    assert torch.allclose(adv.group_advantages(scores, 2, scale=False), torch.tensor([-1.0, 1.0, 0.0, 0.0]))


def test_leave_one_out_baseline():
    scores = torch.tensor([1.0, 2.0, 6.0])
    a = adv.leave_one_out_advantages(scores, 3)
    assert torch.allclose(a, torch.tensor([1 - 4.0, 2 - 3.5, 6 - 1.5]))
