import torch

from rlpr.generate import SamplingConfig, decode_responses, encode_prompts, filter_logits, sample
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


def test_top_k_and_top_p_filtering():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, 2, 1.0)).tolist() == [[False, False, True, True]]
    # nucleus 0.7: 0.5 alone is below, 0.5 + 0.3 crosses it -> keep two tokens
    assert torch.isinf(filter_logits(logits, 0, 0.7)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, 0, 0.4)).tolist() == [[False, True, True, True]]
