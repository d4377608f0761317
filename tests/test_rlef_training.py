"""Multi-turn PPO (rlpr.rl.turns): turn-level returns, values and KL by hand; RLEF end to end; learning a toy task."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch

from rlpr import build_config, checkpoint, models
from rlpr.cli import main
from rlpr.generate import Rollout
from rlpr.rl import advantages as adv
from rlpr.rl.scoring import score
from rlpr.rl.turns import (
    build_turn_batch,
    episode_gae,
    frozen_sharing,
    load_critic,
    train,
    turn_kl,
    turn_ppo_loss,
    turn_returns,
)
from rlpr.tasks.code.episodes import TurnBatch
from rlpr.tasks.code.problems import Problem
from rlpr.tasks.code.rlef import RlefConfig, RlefTask, TestResult, TurnCheck
from rlpr.tracking import read_metrics

TIMING_KEYS = {"time_s", "tokens_per_s", "time_rollout_s", "time_generate_s", "time_sandbox_s", "time_score_s",
               "time_update_s"}  # fmt: skip


# ---------------------------------------------------------------- by hand


def test_turn_returns_by_hand():
    # episode 0: three turns (no code, retry, solved); episode 1: two turns, failed
    rewards = torch.tensor([-0.2, 0.0, 1.0, 0.0, -1.0])
    episode = torch.tensor([0, 0, 0, 1, 1])
    assert turn_returns(rewards, episode).tolist() == pytest.approx([0.8, 1.0, 1.0, -1.0, -1.0])
    # gamma 0.5: G_2 = 1, G_1 = 0 + 0.5 * 1, G_0 = -0.2 + 0.5 * 0.5
    assert turn_returns(rewards, episode, 0.5).tolist() == pytest.approx([0.05, 0.5, 1.0, -0.5, -1.0])


def test_turn_kl_by_hand():
    logprobs = torch.tensor([[-1.0, -2.0, -9.0], [-0.5, -9.0, -9.0]])
    ref = torch.tensor([[-1.5, -1.0, -3.0], [-1.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    # log pi - log pi_ref on the turn's tokens: [0.5, -1] and [0.5]; padding never counts
    assert turn_kl(logprobs, ref, mask).tolist() == pytest.approx([-0.25, 0.5])  # mean: geometric-mean probabilities
    assert turn_kl(logprobs, ref, mask, reduce="sum").tolist() == pytest.approx([-0.5, 0.5])
    # the mean of log-ratios is the log-ratio of the geometric means of the token probabilities
    geo = lambda lp, n: lp[:n].exp().prod() ** (1 / n)  # noqa: E731
    assert turn_kl(logprobs, ref, mask)[0].item() == pytest.approx(math.log(geo(logprobs[0], 2) / geo(ref[0], 2)))


def test_token_level_gae_runs_across_the_turns_of_an_episode():
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    episode = torch.tensor([0, 0, 1])
    rewards = torch.tensor([[0.0, -0.2, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]])
    values = torch.tensor([[0.1, 0.2, 0.0], [0.3, 0.4, 0.5], [0.6, 0.0, 0.0]])
    advantages, returns = episode_gae(rewards, values, mask, episode, 1.0, 0.9)
    # episode 0 is one 5-token sequence: turn 1's last token bootstraps from turn 2's first value
    a0, g0 = adv.gae(torch.tensor([[0.0, -0.2, 0.0, 0.0, 1.0]]), torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.5]]),
                     torch.ones(1, 5), 1.0, 0.9)  # fmt: skip
    assert advantages[0, :2].tolist() == pytest.approx(a0[0, :2].tolist())
    assert advantages[1].tolist() == pytest.approx(a0[0, 2:].tolist())
    assert returns[1].tolist() == pytest.approx(g0[0, 2:].tolist())
    assert advantages[2].tolist() == pytest.approx([-1.6, 0.0, 0.0]) and advantages[0, 2] == 0


@pytest.mark.parametrize("micro", [0, 2])  # 2: the scoring passes run 2 rows of similar length at a time, cut
def test_turn_batch_advantages_values_and_kl_match_the_formulas(micro):
    """Turn-level A_k = G_k - V_k with r_k - beta * mean_t(log pi - log pi_ref), values at the prompt's last token."""
    torch.manual_seed(0)
    policy, reference = models.load_model("tiny", seed=0), models.load_model("tiny", seed=1)
    critic = load_critic(models.ModelConfig(name="tiny"), seed=0)
    torch.nn.init.normal_(critic.head.linear.weight, std=0.5)  # a fresh head predicts 0: make the values matter
    # 3 turns: episode 0 has two, episode 1 one. Prompts left-padded, responses right-padded.
    prompt_ids = torch.tensor([[0, 0, 5, 6, 7], [8, 9, 10, 11, 12], [0, 13, 14, 15, 16]])
    prompt_mask = (prompt_ids != 0).long()
    response_ids = torch.tensor([[20, 21, 0], [22, 23, 24], [25, 0, 0]])
    response_mask = torch.tensor([[1, 1, 0], [1, 1, 1], [1, 0, 0]])
    rewards = torch.tensor([-0.2, 1.0, -1.0])
    turns = TurnBatch(Rollout(prompt_ids, prompt_mask, response_ids, response_mask, torch.zeros(3, 3)),
                      episode=torch.tensor([0, 0, 1]), turn=torch.tensor([0, 1, 0]), rewards=rewards,
                      returns=torch.tensor([0.8, 1.0, -1.0]))  # fmt: skip
    config = build_config("rlef", "tiny", overrides=["ppo.whiten_advantages=false", "ppo.kl_coef=0.05",
                                                     f"ppo.micro_batch_size={micro}"])
    batch, stats, ref_logprobs = build_turn_batch(policy, None, critic, reference, turns, config, 0.05, lora=False)

    input_ids, attention_mask = torch.cat([prompt_ids, response_ids], 1), torch.cat([prompt_mask, response_mask], 1)
    mask = response_mask.float()
    with torch.no_grad():
        logp = score(policy, input_ids, attention_mask, response_ids).logprobs
        ref = score(reference, input_ids, attention_mask, response_ids).logprobs
        # the critic over the whole sequence, read at the last prompt position (column 4)
        values = score(policy, input_ids, attention_mask, response_ids, critic=critic).values[:, 0]
    kl_mean = ((logp - ref) * mask).sum(1) / mask.sum(1)
    r = rewards - 0.05 * kl_mean
    g = torch.stack([r[0] + r[1], r[1], r[2]])
    assert kl_mean.abs().min() > 1e-3  # two different models: the penalty is there
    assert batch.turn_returns.tolist() == pytest.approx(g.tolist(), abs=1e-5)
    assert batch.turn_old_values.tolist() == pytest.approx(values.tolist(), abs=1e-5)
    assert values.abs().min() > 1e-3
    expected = (g - values)[:, None] * mask  # every token of a turn shares its turn's advantage
    assert torch.allclose(batch.advantages, expected, atol=1e-5)
    assert torch.allclose(ref_logprobs * mask, ref * mask, atol=1e-5)
    assert stats["kl_turn"] == pytest.approx(kl_mean.mean().item(), abs=1e-5)
    assert stats["kl"] == pytest.approx(((logp - ref) * mask).sum(1).mean().item(), abs=1e-5)

    # The loss at the rollout's parameters: ratio 1, so pg_loss = -mean over tokens of A and the value loss is
    # 0.5 * mean_k (V_k - G_k)^2 over the turn predictions.
    loss, loss_stats = turn_ppo_loss(policy, None, critic, ref_logprobs, batch, torch.arange(3), config, 0.05, (0.0, 0.0))
    assert loss_stats["pg_loss"] == pytest.approx(-(expected.sum() / mask.sum()).item(), abs=1e-5)
    assert loss_stats["vf_loss"] == pytest.approx(0.5 * ((values - g) ** 2).mean().item(), abs=1e-5)
    assert loss.item() == pytest.approx(loss_stats["pg_loss"] + 0.1 * loss_stats["vf_loss"], abs=1e-5)


@pytest.mark.parametrize("micro", [0, 2])
def test_reference_and_critic_on_the_policys_frozen_blocks_give_the_same_batch_and_loss(micro):
    """With only the top block training, the reference and the critic (frozen alike) run their top block on the
    input the policy's scoring pass kept: same log-probs, values, advantages, loss and critic gradients."""
    torch.manual_seed(0)
    policy, reference = models.load_model("tiny", seed=0), models.load_model("tiny", seed=0)
    models.freeze_below(policy, 1)
    critic = load_critic(models.ModelConfig(name="tiny", train_layers=1), seed=0)
    torch.nn.init.normal_(critic.head.linear.weight, std=0.5)
    with torch.no_grad():  # the policy's top block has moved: the reference differs from it only there
        policy.get_decoder().layers[1].mlp.up_proj.weight.add_(0.05 * torch.randn(128, 64))
    assert frozen_sharing(policy, reference, critic, 1) == (1, 1)
    assert frozen_sharing(policy, models.load_model("tiny", seed=1), None, 1) == (0, 0)
    prompt_ids = torch.tensor([[0, 0, 5, 6, 7], [8, 9, 10, 11, 12], [0, 13, 14, 15, 16]])
    response_ids = torch.tensor([[20, 21, 0], [22, 23, 24], [25, 0, 0]])
    response_mask = torch.tensor([[1, 1, 0], [1, 1, 1], [1, 0, 0]])
    turns = TurnBatch(Rollout(prompt_ids, (prompt_ids != 0).long(), response_ids, response_mask, torch.zeros(3, 3)),
                      episode=torch.tensor([0, 0, 1]), turn=torch.tensor([0, 1, 0]),
                      rewards=torch.tensor([-0.2, 1.0, -1.0]), returns=torch.tensor([0.8, 1.0, -1.0]))  # fmt: skip
    config = build_config("rlef", "tiny", overrides=["ppo.kl_coef=0.05", f"ppo.micro_batch_size={micro}"])
    results = []
    for shared_top in ((0, 0), (1, 1)):
        batch, stats, ref_logprobs = build_turn_batch(policy, None, critic, reference, turns, config, 0.05, False,
                                                      top=1, shared_top=shared_top)  # fmt: skip
        critic.zero_grad()
        loss, _ = turn_ppo_loss(policy, None, critic, ref_logprobs, batch, torch.arange(3), config, 0.05, (0.0, 0.0))
        loss.backward()
        grad = critic.get_decoder().layers[1].self_attn.q_proj.weight.grad.clone()
        results.append((ref_logprobs * batch.mask, batch.turn_old_values, batch.advantages, loss.detach(), grad))
    assert results[0][1].abs().min() > 1e-3 and stats["kl_turn"] != 0
    for whole, shared in zip(*results):
        assert torch.allclose(whole, shared, atol=1e-5)


# ---------------------------------------------------------------- a toy multi-turn task without a sandbox


def _starts_lowercase(text: str) -> bool:
    return text[:1].isascii() and text[:1].islower()


class FirstLetterTask(RlefTask):
    """RLEF rules on a toy check: an answer passes when its first character is a lowercase ASCII letter (about
    one in ten for the random tiny model). Short prompts, no sandbox: seconds to learn."""

    def __init__(self, max_turns: int = 2):
        problems = [Problem(f"p{i}", f"say {i}", {"input": ["x"], "output": ["y"]}) for i in range(8)]
        super().__init__(RlefConfig(max_turns=max_turns), problems)

    @staticmethod
    def prompt(problem):
        return problem.description

    def check_turns(self, problems, responses):
        status = lambda r: "passed" if _starts_lowercase(r) else "wrong_answer"  # noqa: E731
        return [TurnCheck(r, True, True, [TestResult("x", "y", status(r))]) for r in responses]

    def private_passed(self, problems, codes):
        return [_starts_lowercase(c) for c in codes]

    def feedback(self, check, turn):
        return None if check.passed or turn >= self.config.max_turns else "again"


def toy_config(out, *overrides):
    return build_config("rlef", "tiny", overrides=[
        f"out={out}", "progress=false", "tensorboard=false", "batch_size=16", "group_size=1", "mini_batch_size=16",
        "ppo.lr=3e-3", "sampling.max_new_tokens=2", "checkpoint_every=0", "eval_size=2", *overrides])  # fmt: skip


def test_turn_level_ppo_learns_a_toy_multi_turn_task(tmp_path):
    train(toy_config(tmp_path, "steps=20"), task=FirstLetterTask())
    history = read_metrics(tmp_path / "metrics.jsonl")
    solved = [m["solve_rate"] for m in history]
    first, last = sum(solved[:5]) / 5, sum(solved[-5:]) / 5
    assert first < 0.45 and last > first + 0.3, solved
    assert all(1 <= m["mean_turns"] <= 2 for m in history)
    assert history[-1]["mean_turns"] < history[0]["mean_turns"]  # solved in the first turn more often


@pytest.mark.parametrize("advantage", ["gae", "group", "rloo"])
def test_token_level_and_critic_free_advantages_run(tmp_path, advantage):
    """The paper's ablation (token-level values) and the critic-free baselines stay available."""
    extra = ["batch_size=4", "group_size=4"] if advantage in ("group", "rloo") else ["model.value=head", "ppo.kl=reward-token"]
    summary = train(toy_config(tmp_path, "steps=2", f"ppo.advantage={advantage}", *extra), task=FirstLetterTask())
    history = read_metrics(tmp_path / "metrics.jsonl")
    assert [m["step"] for m in history] == [1, 2] and summary["steps"] == 2
    assert all(math.isfinite(m["pg_loss"]) for m in history)
    assert (history[-1]["vf_loss"] is None) == (advantage != "gae")


def test_resume_reproduces_an_uninterrupted_run(tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    options = ["batch_size=4", "mini_batch_size=4", "checkpoint_every=2"]
    train(toy_config(full, "steps=4", *options), task=FirstLetterTask())
    train(toy_config(part, "steps=2", *options), task=FirstLetterTask())
    summary = train(toy_config(part, "steps=4", *options), resume=True, task=FirstLetterTask())
    a, b = read_metrics(full / "metrics.jsonl"), read_metrics(part / "metrics.jsonl")
    assert [m["step"] for m in b] == [1, 2, 3, 4] and summary["steps"] == 4
    for ma, mb in zip(a, b):
        for key in ma.keys() - TIMING_KEYS:
            assert ma[key] == mb[key], (ma["step"], key, ma[key], mb[key])


def test_a_turn_critic_needs_a_separate_value_model(tmp_path):
    with pytest.raises(ValueError, match="model.value=separate"):
        train(toy_config(tmp_path, "model.value=head"), task=FirstLetterTask())


# ---------------------------------------------------------------- RLEF end to end, through the command line


def test_rlpr_train_rlef_tiny_writes_the_run_directory_and_resumes(tmp_path, capsys):
    out = str(tmp_path / "run")
    options = ["ppo.ppo_epochs=1", "batch_size=2", "group_size=1", "eval_size=1", "tensorboard=false", "progress=false"]
    assert main(["train", "rlef", "--preset", "tiny", "--out", out, "steps=2", *options]) == 0
    assert main(["train", "rlef", "--preset", "tiny", "--out", out, "--resume", "steps=3", *options]) == 0
    assert "reward curve" in capsys.readouterr().out
    for name in ("config.yaml", "metrics.jsonl", "summary.json", "reward.png"):
        assert os.path.exists(os.path.join(out, name)), name
    assert checkpoint.list_checkpoints(out) == [2, 3]
    assert os.path.realpath(os.path.join(out, "checkpoints", "last")).endswith("step-3")
    history = read_metrics(os.path.join(out, "metrics.jsonl"))
    assert [m["step"] for m in history] == [1, 2, 3]
    for m in history:
        for key in ("reward_mean", "solve_rate", "mean_turns", "vf_loss", "pg_loss", "kl", "kl_turn", "grad_norm",
                    "time_generate_s", "time_sandbox_s", "time_score_s", "time_update_s"):  # fmt: skip
            assert isinstance(m[key], (int, float)) and math.isfinite(m[key]), (m["step"], key, m[key])
        assert m["reward_mean"] <= -1.0 and m["solve_rate"] == 0  # random bytes never solve a problem
        assert 1 <= m["mean_turns"] <= 3
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert summary["steps"] == 3 and "eval_solve_rate" in summary and summary["samples"][0]["before"]
    state = checkpoint.load_state(os.path.join(out, "checkpoints", "last"))
    assert state["critic"] is not None and state["step"] == 3


def test_the_cpu_group_preset_is_the_run_in_the_readme():
    """README's CPU run was `--preset cpu` with these overrides; `--preset cpu-group` must give the same config."""
    run = build_config("rlef", "cpu", overrides=[
        "ppo.advantage=group", "ppo.group_size=4", "ppo.batch_size=4", "ppo.whiten_advantages=false", "model.value=none",
        "sampling.temperature=0.7", "ppo.ppo_epochs=2", "ppo.lr=3e-5", "steps=8"])  # fmt: skip
    assert build_config("rlef", "cpu-group") == run
