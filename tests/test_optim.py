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
