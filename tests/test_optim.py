import math

import pytest
import torch

from rlpr import optim


def test_fused_adamw_takes_the_default_implementations_steps():
    gen = torch.Generator().manual_seed(0)
    start = [torch.randn(7, 5, generator=gen), torch.randn(11, generator=gen)]
    grads = [[torch.randn(p.shape, generator=gen) for p in start] for _ in range(3)]
    results = []
    for make in (lambda ps: optim.adamw(ps, lr=0.1, weight_decay=0.1), lambda ps: torch.optim.AdamW(ps, lr=0.1, weight_decay=0.1)):
        params = [torch.nn.Parameter(p.clone()) for p in start]
        opt = make(params)
        for step_grads in grads:
            for p, g in zip(params, step_grads):
                p.grad = g.clone()
            opt.step()
        results.append(params)
    assert optim.adamw([torch.nn.Parameter(torch.zeros(1))], lr=0.1).defaults["fused"]
    for ours, ref, before in zip(*results, start):
        assert torch.allclose(ours, ref, atol=1e-6) and (ours - before).abs().max() > 0.1  # 3 steps of lr 0.1 moved it


def test_clip_gradients_does_what_torch_clip_grad_norm_does():
    gen = torch.Generator().manual_seed(0)
    shapes = [(300, 70), (70,), (1,)]
    for scale, max_norm in [(1.0, 1.0), (0.001, 1.0), (1.0, 1e9)]:  # clipped, under the limit, limit lifted
        grads = [torch.randn(s, generator=gen) * scale for s in shapes]
        ours, theirs = ([torch.nn.Parameter(torch.zeros(s)) for s in shapes] for _ in range(2))
        for a, b, g in zip(ours, theirs, grads):
            a.grad, b.grad = g.clone(), g.clone()
        norm = optim.clip_gradients([*ours, torch.nn.Parameter(torch.zeros(2))], max_norm)  # one has no gradient
        assert norm == pytest.approx(torch.nn.utils.clip_grad_norm_(theirs, max_norm).item(), rel=1e-5)
        for a, b, g in zip(ours, theirs, grads):
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=0)
            if norm <= max_norm:
                assert torch.equal(a.grad, g)  # untouched
        after = math.sqrt(sum(p.grad.pow(2).sum().item() for p in ours))
        assert after == pytest.approx(min(norm, max_norm), rel=1e-5)
