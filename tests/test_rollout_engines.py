"""Rollout engines: the hf engine against the reference sampler and a full forward pass; engine selection errors.

The vLLM engine needs a CUDA GPU and vLLM, neither of which the development machines have: only its conversion
of vLLM's outputs into a Rollout and its refusals are tested here.
"""

import importlib.util
from types import SimpleNamespace

import pytest
import torch

from rlpr import build_config, train
from rlpr.config import ConfigError
from rlpr.generate import SamplingConfig, encode_prompts, sample
from rlpr.rl.scoring import score
from rlpr.rollout import RolloutConfig, check_engine, make_engine

PROMPTS = ["a", "hello there", "a much longer prompt than the others"]  # three left-padding widths


def engine_and_reference(tiny, sampling, seed=0):
    """(engine's rollout, reference `generate.sample` rollout) for PROMPTS from equally seeded generators."""
    model, tok = tiny
    engine = make_engine(RolloutConfig(engine="hf"), model, tok, eos_ids=[tok.eos_token_id])
    ours = engine.generate(PROMPTS, sampling, torch.Generator().manual_seed(seed))
    ids, mask = encode_prompts(tok, PROMPTS)
    ref = sample(model, ids, mask, sampling, [tok.eos_token_id], tok.pad_token_id, torch.Generator().manual_seed(seed),
                 tokenizer=tok)
    return ours, ref


def test_hf_engine_greedy_matches_the_reference_sampler_and_a_full_forward_pass(tiny):
    model, tok = tiny
    greedy = SamplingConfig(max_new_tokens=6, temperature=0.0)
    ours, ref = engine_and_reference(tiny, greedy)
    assert ours.prompt_mask.sum(1).tolist() != [ours.prompt_mask.size(1)] * 3  # the prompts really are padded
    assert torch.equal(ours.prompt_ids, ref.prompt_ids) and torch.equal(ours.prompt_mask, ref.prompt_mask)
    assert torch.equal(ours.response_ids, ref.response_ids) and torch.equal(ours.response_mask, ref.response_mask)
    assert torch.equal(ours.logprobs, ref.logprobs)
    # A full forward pass over prompt + response: every greedy token is the argmax at its position, and the
    # engine's log-probs are the ones of the greedy distribution (logits / 1e-5) there.
    full = score(model, ours.input_ids, ours.attention_mask, ours.response_ids)
    m = ours.response_mask.bool()
    assert torch.equal(full.logits[:, : m.size(1)].argmax(-1)[m], ours.response_ids[m])
    sharp = score(model, ours.input_ids, ours.attention_mask, ours.response_ids, temperature=1e-5)
    assert torch.allclose(sharp.logprobs[m], ours.logprobs[m], atol=1e-4)
    # Each row as if sampled alone, without padding.
    for row, prompt in enumerate(PROMPTS):
        ids, mask = encode_prompts(tok, [prompt])
        single = sample(model, ids, mask, greedy, [tok.eos_token_id], tok.pad_token_id, tokenizer=tok)
        n = int(single.response_mask.sum())
        assert int(ours.response_mask[row].sum()) == n, prompt
        assert ours.response_ids[row, :n].tolist() == single.response_ids[0, :n].tolist(), prompt


def test_hf_engine_sampled_tokens_and_logprobs_match_the_reference_and_a_rescoring_pass(tiny):
    model, _ = tiny
    sampling = SamplingConfig(max_new_tokens=7, min_new_tokens=2, random_length=True, temperature=0.7)
    ours, ref = engine_and_reference(tiny, sampling, seed=3)
    assert torch.equal(ours.response_ids, ref.response_ids) and torch.equal(ours.logprobs, ref.logprobs)
    rescored = score(model, ours.input_ids, ours.attention_mask, ours.response_ids, temperature=0.7)
    m = ours.response_mask.bool()
    m[:, : sampling.min_new_tokens] = False  # there EOS is blocked: the sampling distribution is renormalised
    assert m.sum() >= 3
    assert torch.allclose(rescored.logprobs[m], ours.logprobs[m], atol=1e-4)
    assert ours.logprobs[m].min() < -0.5  # real sampling, not near-greedy draws


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_choosing_vllm_without_vllm_is_a_one_line_error_naming_the_key_and_the_install(tmp_path):
    with pytest.raises(ConfigError, match=r"^rollout\.engine=vllm needs vLLM, which is not installed: "
                                          r"pip install 'rlpr\[vllm\]'") as err:
        train(build_config("sentiment", "tiny", overrides=[f"out={tmp_path}", "rollout.engine=vllm", "progress=false"]))
    assert "\n" not in str(err.value)
    assert not (tmp_path / "metrics.jsonl").exists()


def test_engine_names_and_vllm_refusals():
    with pytest.raises(ConfigError, match="rollout.engine: expected one of hf, vllm, got 'sglang'"):
        build_config("sentiment", "tiny", overrides=["rollout.engine=sglang"])
    with pytest.raises(ConfigError, match="rollout.engine: expected one of hf, vllm"):
        check_engine(RolloutConfig(engine="sglang"), torch.device("cpu"))
    if importlib.util.find_spec("vllm") is not None:
        with pytest.raises(ConfigError, match="needs a CUDA device"):
            check_engine(RolloutConfig(engine="vllm"), torch.device("cpu"))


def test_vllm_completions_become_a_rollout_in_the_hf_layout(tiny):
    """The one piece of the vLLM engine that runs without vLLM: its outputs -> Rollout (padding, mask, log-probs)."""
    from rlpr.rollout.vllm_engine import _rollout

    _, tok = tiny
    ids, mask = encode_prompts(tok, ["a", "hello"])

    def completion(tokens, logprobs):  # vLLM's CompletionOutput: token ids and one {id: Logprob} per position
        return SimpleNamespace(token_ids=tokens, logprobs=[{t: SimpleNamespace(logprob=lp)} for t, lp in zip(tokens, logprobs)])

    rollout = _rollout(ids, mask, [completion([5, 6, 7], [-0.1, -0.2, -0.3]), completion([9], [-1.5])], tok.pad_token_id)
    assert rollout.response_ids.tolist() == [[5, 6, 7], [9, tok.pad_token_id, tok.pad_token_id]]
    assert rollout.response_mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert torch.allclose(rollout.logprobs, torch.tensor([[-0.1, -0.2, -0.3], [-1.5, 0.0, 0.0]]))
    assert torch.equal(rollout.prompt_ids, ids) and rollout.input_ids.shape == (2, ids.size(1) + 3)
