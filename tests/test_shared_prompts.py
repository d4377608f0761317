"""A prompt sampled G times is computed once (generate.shared_rows); every row must get what it would alone."""

import torch

from rlpr import models
from rlpr.generate import SamplingConfig, encode_prompts, position_ids, sample, shared_rows
from rlpr.rl.scoring import score

PROMPTS = ["one", "two words here", "one", "x", "two words here", "one"]


def test_shared_rows_maps_each_row_to_a_distinct_copy(tiny):
    _, tok = tiny
    ids, mask = encode_prompts(tok, PROMPTS)
    first, inverse = shared_rows(ids, mask)
    assert len(first) == 3
    assert torch.equal(ids[first][inverse], ids) and torch.equal(mask[first][inverse], mask)
    distinct_ids, distinct_mask = encode_prompts(tok, ["one", "x"])
    assert shared_rows(distinct_ids, distinct_mask) is None


def test_repeated_prompts_sample_what_a_full_forward_scores(tiny):
    """The cache rows copied after the shared prefill must continue each copy correctly: every sampled
    token's log-prob equals a plain forward over the whole sequence, and greedy copies agree with each other."""
    model, tok = tiny
    ids, mask = encode_prompts(tok, PROMPTS)
    rollout = sample(model, ids, mask, SamplingConfig(max_new_tokens=6), eos_ids=[], pad_id=tok.pad_token_id,
                     generator=torch.Generator().manual_seed(0))
    logits = model(input_ids=rollout.input_ids, attention_mask=rollout.attention_mask,
                   position_ids=position_ids(rollout.attention_mask)).logits[:, ids.size(1) - 1 : -1]
    reference = logits.float().log_softmax(-1).gather(-1, rollout.response_ids[..., None]).squeeze(-1)
    assert torch.allclose(rollout.logprobs, reference, atol=1e-4)
    assert len({tuple(r) for r in rollout.response_ids[[0, 2, 5]].tolist()}) > 1  # copies drew their own tokens

    greedy = sample(model, ids, mask, SamplingConfig(max_new_tokens=6, temperature=0.0), eos_ids=[], pad_id=tok.pad_token_id)
    alone = sample(model, *encode_prompts(tok, ["two words here"]), SamplingConfig(max_new_tokens=6, temperature=0.0),
                   eos_ids=[], pad_id=tok.pad_token_id)
    assert greedy.response_ids[1].tolist() == greedy.response_ids[4].tolist() == alone.response_ids[0].tolist()


def test_one_token_scores_of_repeated_prompts_match_full_forwards(tiny):
    """Log-probs, values and gradients of the one-pass-per-prompt path equal those of one pass per row."""
    model, tok = tiny
    ids, mask = encode_prompts(tok, PROMPTS)
    rollout = sample(model, ids, mask, SamplingConfig(max_new_tokens=1), eos_ids=[], pad_id=tok.pad_token_id,
                     generator=torch.Generator().manual_seed(1))
    head = models.ValueHead(models.hidden_size(model))
    torch.nn.init.normal_(head.linear.weight, std=0.1)
    weights = torch.linspace(-1.0, 1.0, len(PROMPTS))

    def gradients(logprobs, values):
        model.zero_grad()
        head.zero_grad()
        ((logprobs[:, 0] * weights).sum() + (values[:, 0] * weights).sum()).backward()
        return [p.grad.clone() for p in [*model.parameters(), *head.parameters()] if p.grad is not None]

    shared = score(model, rollout.input_ids, rollout.attention_mask, rollout.response_ids, value_head=head)
    shared_grads = gradients(shared.logprobs, shared.values)

    out = model(input_ids=rollout.input_ids, attention_mask=rollout.attention_mask,
                position_ids=position_ids(rollout.attention_mask), output_hidden_states=True)
    logprobs = out.logits[:, -2:-1].float().log_softmax(-1).gather(-1, rollout.response_ids[..., None]).squeeze(-1)
    values = head(out.hidden_states[-1][:, -2:-1])
    full_grads = gradients(logprobs, values)

    assert torch.allclose(shared.logprobs, rollout.logprobs, atol=1e-5)
    assert torch.allclose(shared.logprobs, logprobs, atol=1e-5) and torch.allclose(shared.values, values, atol=1e-5)
    assert shared.logits.shape == (len(PROMPTS), 1, out.logits.size(-1))
    assert len(shared_grads) == len(full_grads)
    for a, b in zip(shared_grads, full_grads):
        assert torch.allclose(a, b, atol=1e-5)


def test_longer_responses_to_repeated_prompts_score_as_each_row_alone(tiny):
    """The shared-prefix path (the prompt run once, its keys and values copied to each sample): log-probs,
    entropies, values and parameter gradients equal one pass per row, a one-token prompt among the rest."""
    model, tok = tiny
    prompts = [*PROMPTS, "x"]  # "x" is one token: its row is all padding in the shared pass
    ids, mask = encode_prompts(tok, prompts)
    rollout = sample(model, ids, mask, SamplingConfig(max_new_tokens=5, min_new_tokens=2, random_length=True),
                     eos_ids=[], pad_id=tok.pad_token_id, generator=torch.Generator().manual_seed(2))
    head = models.ValueHead(models.hidden_size(model))
    torch.nn.init.normal_(head.linear.weight, std=0.1)
    weights = torch.linspace(-1.0, 1.0, rollout.response_ids.numel()).view_as(rollout.response_ids)

    def gradients(scored):
        model.zero_grad()
        head.zero_grad()
        m = rollout.response_mask
        ((scored.logprobs * weights * m).sum() + (scored.entropy * m).sum() + (scored.values * weights * m).sum()).backward()
        return [p.grad.clone() for p in [*model.parameters(), *head.parameters()] if p.grad is not None]

    assert not model.training and shared_rows(ids, mask) is not None
    shared = score(model, rollout.input_ids, rollout.attention_mask, rollout.response_ids, value_head=head)
    assert shared.logits.shape[:2] == rollout.response_ids.shape  # the shared path's aligned logits, no extra position
    shared_grads = gradients(shared)
    rows = [score(model, rollout.input_ids[i : i + 1], rollout.attention_mask[i : i + 1],
                  rollout.response_ids[i : i + 1], value_head=head) for i in range(len(prompts))]
    alone = type(shared)(*(torch.cat([getattr(r, f) for r in rows]) for f in ("logprobs", "entropy")), None,
                         torch.cat([r.values for r in rows]))
    alone_grads = gradients(alone)

    m = rollout.response_mask.bool()
    assert torch.allclose(shared.logprobs[m], rollout.logprobs[m], atol=1e-4)
    for field in ("logprobs", "entropy", "values"):
        assert torch.allclose(getattr(shared, field)[m], getattr(alone, field)[m], atol=1e-5), field
    assert len(shared_grads) == len(alone_grads)
    for a, b in zip(shared_grads, alone_grads):
        assert torch.allclose(a, b, atol=1e-5)
