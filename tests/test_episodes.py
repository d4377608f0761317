"""Batched RLEF rollouts with the tiny random model: the bookkeeping PPO will rely on."""

from __future__ import annotations

import pytest
import torch

from rlpr.generate import SamplingConfig
from rlpr.rl.scoring import score
from rlpr.tasks.code import load_builtin_problems
from rlpr.tasks.code.episodes import chat_ids, collate_turns, left_pad, run_episodes
from rlpr.tasks.code.rlef import RlefConfig, RlefTask


@pytest.fixture(scope="module")
def setup():
    from rlpr import models

    model, tok = models.load_model("tiny", seed=0), models.load_tokenizer("tiny")
    problems = load_builtin_problems("test")[:3]
    task = RlefTask(RlefConfig(workers=2), problems=problems)
    prompts = task.prompts("test")
    sampling = SamplingConfig(max_new_tokens=12, temperature=1.0)
    episodes = run_episodes(model, tok, task, prompts + prompts[:1], sampling, torch.Generator().manual_seed(0),
                            batch_size=3, max_context=8192, score_every_turn=True)  # fmt: skip
    yield model, tok, task, prompts, sampling, episodes
    task.close()


def test_episodes_follow_the_rules(setup):
    _, tok, task, prompts, _, episodes = setup
    assert [e.prompt for e in episodes] == prompts + prompts[:1]
    for e in episodes:
        assert 1 <= len(e.turns) <= 3
        # garbage code fails the public tests, so every episode uses its three turns
        assert e.end == "max_turns" and not any(t.check.passed for t in e.turns)
        assert [m["role"] for m in e.messages] == ["user", "assistant", "user", "assistant", "user", "assistant"]
        for k, turn in enumerate(e.turns):
            assert e.messages[2 * k + 1]["content"] == turn.text
            assert (turn.feedback is None) == (k == len(e.turns) - 1)
            if turn.feedback is not None:
                assert e.messages[2 * k + 2]["content"] == turn.feedback
                assert turn.feedback.startswith("Your code failed the following tests:\n\n- input '")
            assert turn.private_passed is False  # scored on every turn (score_every_turn)
        assert e.private_passed is False


def test_rewards_per_turn(setup):
    _, _, task, _, _, episodes = setup
    for e in episodes:
        penalties = [0.0 if t.check.valid else -0.2 for t in e.turns]
        expected = penalties[:-1] + [penalties[-1] - 1.0]
        assert e.rewards == pytest.approx(expected)
        assert e.total_reward == pytest.approx(sum(expected))
        # the same episode, replayed through the task's conversation interface, gets the same rewards
        assert task.outcome(e.messages).rewards == pytest.approx(expected)


def test_turn_tokens_are_what_the_model_saw(setup):
    model, tok, _, _, sampling, episodes = setup
    for e in episodes:
        for k, turn in enumerate(e.turns):
            assert turn.prompt_ids.tolist() == chat_ids(tok, e.messages[: 2 * k + 1])
            assert 1 <= turn.response_ids.numel() <= sampling.max_new_tokens
            assert turn.logprobs.shape == turn.response_ids.shape and (turn.logprobs <= 0).all()
            assert tok.decode(turn.response_ids, skip_special_tokens=True) == turn.text
    batch = collate_turns(episodes, tok.pad_token_id)
    n = sum(len(e.turns) for e in episodes)
    rollout = batch.rollout
    assert rollout.prompt_ids.size(0) == n and rollout.response_ids.shape == rollout.logprobs.shape
    assert batch.turn.tolist()[:3] == [0, 1, 2] and batch.episode.tolist()[:3] == [0, 0, 0]
    assert batch.returns[0].item() == pytest.approx(episodes[0].total_reward)
    assert batch.returns[2].item() == pytest.approx(episodes[0].rewards[2])
    # re-scoring the collated turns gives back the sampling log-probs: PPO's old log-probs are right
    scored = score(model, rollout.input_ids, rollout.attention_mask, rollout.response_ids)
    m = rollout.response_mask.bool()
    assert torch.allclose(scored.logprobs[m], rollout.logprobs[m], atol=1e-4)


def test_same_seed_same_episodes(setup):
    model, tok, task, prompts, sampling, episodes = setup
    again = run_episodes(model, tok, task, prompts + prompts[:1], sampling, torch.Generator().manual_seed(0),
                         batch_size=3, max_context=8192)  # fmt: skip
    assert [[t.text for t in e.turns] for e in again] == [[t.text for t in e.turns] for e in episodes]


def test_context_limit_ends_an_episode(setup):
    model, tok, task, prompts, sampling, _ = setup
    first = len(chat_ids(tok, [{"role": "user", "content": prompts[0]}]))
    episodes = run_episodes(model, tok, task, prompts[:1], sampling, torch.Generator().manual_seed(0),
                            max_context=first + sampling.max_new_tokens + 10)  # fmt: skip
    (e,) = episodes
    assert e.end == "context" and len(e.turns) == 1 and e.turns[0].feedback is None
    assert e.messages[-1]["role"] == "assistant" and e.rewards == [pytest.approx(-1.0 + (0 if e.turns[0].check.valid else -0.2))]


def test_left_pad():
    ids, mask = left_pad([[5, 6], [7], []], pad_id=0)
    assert ids.tolist() == [[5, 6], [0, 7], [0, 0]] and mask.tolist() == [[1, 1], [0, 1], [0, 0]]
