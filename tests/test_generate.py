import functools

import torch

from rlpr.generate import (
    SamplingConfig,
    decode_responses,
    draw_tokens,
    encode_prompts,
    filter_logits,
    position_ids,
    sample,
)
from rlpr.rl import losses
from rlpr.rl.logprobs import sampling_logits
from rlpr.rl.scoring import score


def greedy(max_new: int, **kw) -> SamplingConfig:
    return SamplingConfig(max_new_tokens=max_new, temperature=0.0, **kw)


def test_greedy_matches_hf_generate(tiny):
    model, tok = tiny
    ids, mask = encode_prompts(tok, ["hello there", "a"])
    ours = sample(model, ids, mask, greedy(6), eos_ids=[], pad_id=tok.pad_token_id)
    for row, prompt in enumerate(["hello there", "a"]):
        single = tok(prompt, return_tensors="pt")
        ref = model.generate(**single, max_new_tokens=6, do_sample=False, eos_token_id=None, pad_token_id=tok.pad_token_id)
        assert ours.response_ids[row].tolist() == ref[0, single["input_ids"].size(1) :].tolist()


def test_left_padding_does_not_change_a_rows_samples(tiny):
    model, tok = tiny
    ids1, mask1 = encode_prompts(tok, ["short"])
    ids2, mask2 = encode_prompts(tok, ["short", "a much longer prompt here"])
    a = sample(model, ids1, mask1, greedy(5), eos_ids=[], pad_id=0)
    b = sample(model, ids2, mask2, greedy(5), eos_ids=[], pad_id=0)
    assert a.response_ids[0].tolist() == b.response_ids[0].tolist()
    assert torch.allclose(a.logprobs[0], b.logprobs[0], atol=1e-5)


def test_sampling_logprobs_match_a_rescoring_forward(tiny):
    model, tok = tiny
    ids, mask = encode_prompts(tok, ["one", "two words", "three words here"])
    gen = torch.Generator().manual_seed(0)
    # No EOS blocking, banned ids or top-k/p here: with them, sampling log-probs are of the filtered distribution.
    rollout = sample(model, ids, mask, SamplingConfig(max_new_tokens=7, min_new_tokens=2, random_length=True),
                     eos_ids=[], pad_id=tok.pad_token_id, generator=gen)
    scored = score(model, rollout.input_ids, rollout.attention_mask, rollout.response_ids)
    m = rollout.response_mask.bool()
    assert torch.allclose(scored.logprobs[m], rollout.logprobs[m], atol=1e-4)
    lengths = rollout.response_mask.sum(1)
    assert lengths.min() >= 2 and lengths.max() <= 7


def test_scores_with_the_banned_tokens_are_those_of_the_sampled_distribution(tiny):
    """The sampler never draws a banned token; scoring with the same ban gives its log-probs (one token from
    repeated prompts takes the one-pass-per-prompt path, longer responses the full one), zero probability to
    the banned tokens, and entropies without NaN."""
    model, tok = tiny
    banned = torch.arange(0, len(tok), 3)  # a third of the vocabulary
    for prompts, new_tokens in ((["one", "one", "two words", "two words"], 1), (["one", "two words here"], 6)):
        ids, mask = encode_prompts(tok, prompts)
        rollout = sample(model, ids, mask, SamplingConfig(max_new_tokens=new_tokens), eos_ids=[], pad_id=tok.pad_token_id,
                         generator=torch.Generator().manual_seed(2), banned_ids=banned.tolist())
        m = rollout.response_mask.bool()
        unbanned = score(model, rollout.input_ids, rollout.attention_mask, rollout.response_ids)
        scored = score(model, rollout.input_ids, rollout.attention_mask, rollout.response_ids, banned_ids=banned)
        assert torch.allclose(scored.logprobs[m], rollout.logprobs[m], atol=1e-4)
        assert (unbanned.logprobs[m] < scored.logprobs[m] - 1e-3).all()  # the ban changes what is scored
        sampled = sampling_logits(scored.logits, banned_ids=banned)
        assert (sampled.softmax(-1)[..., banned] == 0).all()
        assert torch.isfinite(scored.entropy).all()
        assert torch.allclose(scored.entropy[m], losses.entropy_from_logits(sampled)[:, :new_tokens][m], atol=1e-4)
        prepare = functools.partial(sampling_logits, banned_ids=banned)
        assert torch.isfinite(losses.batch_entropy(scored.logits, rollout.response_mask.float(), "final", prepare)[0])


def test_budget_eos_banned_and_stop_strings(tiny):
    model, tok = tiny
    ids, mask = encode_prompts(tok, ["x"] * 8)
    gen = torch.Generator().manual_seed(1)
    # Ban every byte except 'a' and 'b': the model can only write a/b, and must stop at "ab".
    allowed = set(tok.convert_tokens_to_ids(["a", "b"]))
    banned = [i for i in range(len(tok)) if i not in allowed]
    rollout = sample(model, ids, mask, SamplingConfig(max_new_tokens=40, stop=["ab"]), eos_ids=[tok.eos_token_id],
                     pad_id=tok.pad_token_id, generator=gen, banned_ids=banned, tokenizer=tok)
    texts = decode_responses(tok, rollout, ["ab"])
    assert all(set(t) <= {"a", "b"} for t in texts)
    assert all(t.endswith("ab") or len(t) == 40 for t in texts)
    assert sum(t.endswith("ab") for t in texts) >= 6


def test_min_new_tokens_blocks_eos(tiny):
    model, tok = tiny
    ids, mask = encode_prompts(tok, ["x"])
    first = sample(model, ids, mask, greedy(1), eos_ids=[], pad_id=0).response_ids[0, 0].item()
    # Declare the greedy first token to be EOS: without a minimum the row ends at once, with one it cannot.
    assert sample(model, ids, mask, greedy(6), eos_ids=[first], pad_id=0).response_mask.sum().item() == 1
    blocked = sample(model, ids, mask, greedy(6, min_new_tokens=3), eos_ids=[first], pad_id=0)
    assert blocked.response_mask.sum().item() >= 3
    assert first not in blocked.response_ids[0, :3].tolist()


def test_drawn_tokens_follow_the_distribution_and_skip_zero_probabilities():
    probs = torch.tensor([[0.0, 0.5, 0.0, 0.3, 0.2, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]])
    draws = 200_000
    uniform = torch.rand(draws, generator=torch.Generator().manual_seed(0))
    tokens = draw_tokens(probs[:1].expand(draws, -1), uniform)
    freq = torch.bincount(tokens, minlength=6).double() / draws
    assert freq[[0, 2, 5]].sum() == 0  # never a token of probability 0
    assert torch.allclose(freq, probs[0].double(), atol=0.005)  # 3.5 standard errors at most
    # the ends of [0, 1): the first and the last token with mass, never past them
    edges = torch.tensor([0.0, 1.0 - 2**-24])
    assert draw_tokens(probs[:1].expand(2, -1), edges).tolist() == [1, 4]
    assert draw_tokens(probs[1:].expand(2, -1), edges).tolist() == [2, 2]


def test_top_k_and_top_p_filtering():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, 2, 1.0)).tolist() == [[False, False, True, True]]
    # nucleus 0.7: 0.5 alone is below, 0.5 + 0.3 crosses it -> keep two tokens
    assert torch.isinf(filter_logits(logits, 0, 0.7)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, 0, 0.4)).tolist() == [[False, True, True, True]]


# ---------------------------------------------------------------- the in-place cache and dropping finished rows


@torch.no_grad()
def _reference_sample(model, prompt_ids, prompt_mask, config, eos_ids, pad_id, generator=None):
    """The sampler before finished rows left the batch: a DynamicCache, every row computed to the end."""
    from transformers import DynamicCache

    eos = torch.tensor(eos_ids, dtype=torch.long)
    cache, mask = DynamicCache(), prompt_mask.clone()
    out = model(input_ids=prompt_ids, attention_mask=mask, position_ids=position_ids(mask), cache=cache,
                use_cache=True, logits_to_keep=1)  # fmt: skip
    next_position = position_ids(mask)[:, -1:] + 1
    tokens, alive = [], []
    done = torch.zeros(prompt_ids.size(0), dtype=torch.bool)
    for step in range(config.max_new_tokens):
        logits = out.logits[:, -1, :].float()
        if config.temperature != 1.0:
            logits = logits / max(config.temperature, 1e-5)
        logp = filter_logits(logits, config.top_k, config.top_p).log_softmax(-1)
        if config.temperature <= 1e-5:
            token = logp.argmax(-1)
        else:
            token = draw_tokens(logp.exp(), torch.rand(logp.size(0), generator=generator))
        alive.append(~done)
        tokens.append(torch.where(done, torch.full_like(token, pad_id), token))
        done = done | torch.isin(token, eos) | (step + 1 >= config.max_new_tokens)
        if bool(done.all()):
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        out = model(input_ids=tokens[-1][:, None], attention_mask=mask, position_ids=next_position, cache=cache,
                    use_cache=True)  # fmt: skip
        next_position = next_position + 1
    return torch.stack(tokens, 1), torch.stack(alive, 1).long()


def _ragged_eos(model, tok, ids, mask) -> list[int]:
    """Token ids that end the rows of a greedy run at different steps."""
    free = sample(model, ids, mask, greedy(24), eos_ids=[], pad_id=tok.pad_token_id).response_ids
    return sorted({free[0, 3].item(), free[1, 9].item(), free[2, 15].item()})


def test_dropping_finished_rows_keeps_greedy_tokens(tiny):
    model, tok = tiny
    prompts = ["a", "hello there, a longer prompt", "mid length", "x y z"]
    ids, mask = encode_prompts(tok, prompts)
    eos = _ragged_eos(model, tok, ids, mask)
    ours = sample(model, ids, mask, greedy(24), eos_ids=eos, pad_id=tok.pad_token_id)
    ref_ids, ref_mask = _reference_sample(model, ids, mask, greedy(24), eos, tok.pad_token_id)
    lengths = ours.response_mask.sum(1).tolist()
    assert len(set(lengths)) > 1  # rows did finish at different steps, so rows were dropped
    assert torch.equal(ours.response_ids, ref_ids) and torch.equal(ours.response_mask, ref_mask)


def test_dropping_finished_rows_keeps_sampled_tokens(tiny):
    """Same seed, same tokens: finished rows still take their share of the generator's draws."""
    model, tok = tiny
    ids, mask = encode_prompts(tok, ["one", "two words", "three words here", "four"])
    eos = list(range(40, 60))  # 20 of the 259 ids: rows of the random model end at different steps
    for config in (SamplingConfig(max_new_tokens=30), SamplingConfig(max_new_tokens=30, temperature=0.7, top_p=0.9)):
        ours = sample(model, ids, mask, config, eos, tok.pad_token_id, torch.Generator().manual_seed(3))
        ref_ids, ref_mask = _reference_sample(model, ids, mask, config, eos, tok.pad_token_id,
                                              torch.Generator().manual_seed(3))  # fmt: skip
        assert len(set(ours.response_mask.sum(1).tolist())) > 1
        assert torch.equal(ours.response_ids, ref_ids) and torch.equal(ours.response_mask, ref_mask)


def test_in_place_cache_grows_past_its_capacity(tiny):
    from rlpr.generate import InPlaceCache

    model, tok = tiny
    ids, mask = encode_prompts(tok, ["grow", "me"])
    cache = InPlaceCache(capacity=2)  # smaller than the prompt: update must grow it
    out = model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask), cache=cache, use_cache=True)
    full = model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask))
    assert cache.get_seq_length() == ids.size(1)
    assert torch.allclose(out.logits, full.logits, atol=1e-5)


def _padded(rollout, left: int, right: int, pad_id: int):
    """The rollout's rows with `left` more padding columns before the prompts and `right` after the responses."""
    pad = torch.nn.functional.pad
    prompt_ids = pad(rollout.prompt_ids, (left, 0), value=pad_id)
    response_ids = pad(rollout.response_ids, (0, right), value=pad_id)
    mask = pad(rollout.attention_mask, (left, right))
    return torch.cat([prompt_ids, response_ids], 1), mask, response_ids


def test_columns_of_padding_in_every_row_change_no_score(tiny):
    """`score` cuts the columns that are padding in every row: the log-probs and the kept block input of real
    positions are those of the uncut pass, in the full layout, with the cut columns zero."""
    from rlpr.rl.scoring import padding_cut

    model, tok = tiny
    ids, mask = encode_prompts(tok, ["one", "two words here"])
    rollout = sample(model, ids, mask, SamplingConfig(max_new_tokens=6, min_new_tokens=2, random_length=True),
                     eos_ids=[], pad_id=tok.pad_token_id, generator=torch.Generator().manual_seed(1))
    plain = score(model, rollout.input_ids, rollout.attention_mask, rollout.response_ids, top_blocks=1)
    input_ids, attention_mask, response_ids = _padded(rollout, 3, 2, tok.pad_token_id)
    assert padding_cut(attention_mask, response_ids.size(1)) == (3, rollout.response_ids.size(1))
    wide = score(model, input_ids, attention_mask, response_ids, top_blocks=1)
    width = rollout.response_ids.size(1)
    assert wide.logprobs.shape == response_ids.shape and wide.entropy.shape == response_ids.shape
    assert torch.allclose(wide.logprobs[:, :width], plain.logprobs, atol=1e-5)
    assert (wide.logprobs[:, width:] == 0).all()
    real = rollout.attention_mask.bool()
    assert torch.allclose(wide.block_input[:, 3 : 3 + real.size(1)][real], plain.block_input[real], atol=1e-5)
    # the top block alone on the kept (zero-padded) input gives the same log-probs
    top = score(model, input_ids, attention_mask, response_ids, top_blocks=1, block_input=wide.block_input)
    assert torch.allclose(top.logprobs, wide.logprobs, atol=1e-5)


def test_scoring_by_length_in_chunks_equals_one_pass(tiny):
    from rlpr.rl.scoring import score_by_length

    model, tok = tiny
    prompts = ["a", "two words", "three words here", "x y z w v u t", "one", "a much longer prompt than these"]
    ids, mask = encode_prompts(tok, prompts)
    rollout = sample(model, ids, mask, SamplingConfig(max_new_tokens=8, min_new_tokens=1, random_length=True),
                     eos_ids=[], pad_id=tok.pad_token_id, generator=torch.Generator().manual_seed(3))
    args = (rollout.input_ids, rollout.attention_mask, rollout.response_ids)
    whole = score(model, *args, top_blocks=1)
    chunked = score_by_length(model, *args, chunk=4, top_blocks=1)
    m = rollout.response_mask.bool()
    assert torch.allclose(chunked.logprobs[m], whole.logprobs[m], atol=1e-5)
    real = rollout.attention_mask.bool()
    assert torch.allclose(chunked.block_input[real], whole.block_input[real], atol=1e-5)
    on_kept = score_by_length(model, *args, chunk=2, top_blocks=1, block_input=chunked.block_input)
    assert torch.allclose(on_kept.logprobs[m], whole.logprobs[m], atol=1e-5)
