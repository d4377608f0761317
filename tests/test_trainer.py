"""End-to-end PPO on a tiny random model: learning, resume, failing rewards, checkpoints."""

import json
import math
import os

import pytest

from rlpr import build_config, checkpoint, models, train
from rlpr.rl import trainer
from rlpr.rl.trainer import RewardError, update_blocks
from rlpr.tracking import read_metrics

TIMING_KEYS = {"time_s", "tokens_per_s", "time_generate_s", "time_reward_s", "time_score_s", "time_update_s"}


class LowercaseTask:
    """A toy programmed reward: the share of response characters that are lowercase ASCII letters."""

    name = "lowercase"

    def prompts(self, split):
        return [f"prompt {i}" for i in range(40)]

    def reward(self, prompts, responses):
        return [sum(c in "abcdefghijklmnopqrstuvwxyz" for c in r) / max(len(r), 1) for r in responses]

    def metrics(self, prompts, responses, rewards):
        return {"empty_share": sum(not r for r in responses) / len(responses)}


def tiny_config(tmp_path, *overrides):
    return build_config("sentiment", "tiny", overrides=[f"out={tmp_path}", "progress=false", "tensorboard=false", *overrides])


@pytest.mark.parametrize("advantage", ["gae", "group"])
def test_ppo_raises_a_toy_programmed_reward(tmp_path, advantage):
    config = tiny_config(tmp_path, "steps=30", "batch_size=16", "mini_batch_size=16", "ppo.ppo_epochs=2", "ppo.lr=3e-3",
                         "sampling.max_new_tokens=8", "sampling.random_length=false", f"ppo.advantage={advantage}",
                         f"ppo.group_size={4 if advantage == 'group' else 1}", "checkpoint_every=0")
    train(config, task=LowercaseTask())
    rewards = [m["reward_mean"] for m in read_metrics(tmp_path / "metrics.jsonl")]
    first, last = sum(rewards[:5]) / 5, sum(rewards[-5:]) / 5
    assert first < 0.2  # 26 of 259 byte tokens are lowercase letters
    assert last > first + 0.2, rewards


def test_updates_on_the_frozen_blocks_cached_output_match_full_forwards(tmp_path):
    """train_layers=1 of 2: updates that start at the top block, and a reference run only from there, give the
    numbers of full forward passes."""
    runs = {}
    for reuse in (True, False):
        out = tmp_path / str(reuse)
        train(tiny_config(out, "model.train_layers=1", f"model.reuse_frozen_blocks={reuse}", "steps=3", "checkpoint_every=0"),
              task=LowercaseTask())
        runs[reuse] = read_metrics(out / "metrics.jsonl")
    model = models.load_model("tiny")
    assert update_blocks(model, build_config("sentiment", "tiny", overrides=["model.train_layers=1"]).model) == 1
    for cached, full in zip(runs[True], runs[False]):
        for key in ("reward_mean", "kl", "pg_loss", "vf_loss", "entropy", "approx_kl", "clipfrac", "grad_norm"):
            assert cached[key] == pytest.approx(full[key], rel=1e-4, abs=1e-6), (cached["step"], key)
    assert runs[True][-1]["approx_kl"] > 0 and runs[True][-1]["kl"] != 0  # the policy moved: the comparison means something


def test_one_on_policy_update_without_the_scoring_pass_takes_the_same_steps(tmp_path):
    """GRPO-shaped (group advantages, one epoch, one mini-batch, no KL): the scoring pass is skipped and the
    update's own log-probs are the old ones. track_kl=true forces the pass (the reference needs the policy's
    log-probs) without changing the loss: every step's statistics must agree."""
    runs = {}
    for track_kl in (False, True):
        out = tmp_path / str(track_kl)
        train(tiny_config(out, "steps=4", "batch_size=4", "ppo.group_size=4", "mini_batch_size=16", "ppo.ppo_epochs=1",
                          "ppo.advantage=group", "ppo.kl=off", f"ppo.track_kl={str(track_kl).lower()}", "ppo.lr=3e-3",
                          "checkpoint_every=0"), task=LowercaseTask())
        runs[track_kl] = read_metrics(out / "metrics.jsonl")
    assert trainer.skips_scoring(build_config("sentiment", "tiny", overrides=[
        "batch_size=4", "ppo.group_size=4", "mini_batch_size=16", "ppo.ppo_epochs=1", "ppo.advantage=group",
        "ppo.kl=off", "ppo.track_kl=false"]), rows=16)
    for skipped, scored in zip(runs[False], runs[True]):
        for key in ("reward_mean", "pg_loss", "entropy", "approx_kl", "clipfrac", "grad_norm"):
            assert skipped[key] == pytest.approx(scored[key], rel=1e-4, abs=1e-6), (skipped["step"], key)
        assert skipped["clipfrac"] == 0 and abs(skipped["approx_kl"]) < 1e-6  # on-policy: ratio 1
    assert runs[True][-1]["kl"] > 0  # the policy moved away from its start


def test_resume_reproduces_an_uninterrupted_run(tmp_path):
    full = tmp_path / "full"
    train(tiny_config(full, "steps=6", "ppo.kl=reward-token", "checkpoint_every=2"))
    part = tmp_path / "part"
    train(tiny_config(part, "steps=4", "ppo.kl=reward-token", "checkpoint_every=2"))
    # Pretend the run died after step 4 was logged but before... no: resume from step 4 and run on to 6.
    summary = train(tiny_config(part, "steps=6", "ppo.kl=reward-token", "checkpoint_every=2"), resume=True)
    a, b = read_metrics(full / "metrics.jsonl"), read_metrics(part / "metrics.jsonl")
    assert [m["step"] for m in b] == [1, 2, 3, 4, 5, 6]
    for ma, mb in zip(a, b):
        for key in ma.keys() - TIMING_KEYS:
            assert ma[key] == mb[key], (ma["step"], key, ma[key], mb[key])
    assert summary["steps"] == 6


def test_resume_after_a_crash_drops_metrics_logged_after_the_last_checkpoint(tmp_path):
    train(tiny_config(tmp_path, "steps=5", "checkpoint_every=2", "keep_checkpoints=0"))
    # Simulate a crash after step 5 was logged but before its checkpoint: remove it, point `last` at step 4.
    root = checkpoint.checkpoint_root(str(tmp_path))
    import shutil

    shutil.rmtree(os.path.join(root, "step-5"))
    os.unlink(os.path.join(root, "last"))
    os.symlink("step-4", os.path.join(root, "last"))
    train(tiny_config(tmp_path, "steps=5", "checkpoint_every=2"), resume=True)
    steps = [m["step"] for m in read_metrics(tmp_path / "metrics.jsonl")]
    assert steps == [1, 2, 3, 4, 5]


class BrokenTask(LowercaseTask):
    name = "broken"

    def reward(self, prompts, responses):
        return [math.nan if p == "prompt 7" else 0.5 for p in prompts]


def test_a_nan_reward_stops_the_run_naming_task_and_sample_and_keeps_the_checkpoint(tmp_path):
    train(tiny_config(tmp_path, "steps=2", "batch_size=2"), task=LowercaseTask())
    before = open(os.path.join(checkpoint.latest_checkpoint(str(tmp_path)), "model.safetensors"), "rb").read()
    with pytest.raises(RewardError, match=r"task broken: reward is nan on prompt 'prompt 7'"):
        train(tiny_config(tmp_path, "steps=40", "batch_size=16"), resume=True, task=BrokenTask())
    latest = checkpoint.latest_checkpoint(str(tmp_path))
    assert latest.endswith("step-2")
    assert open(os.path.join(latest, "model.safetensors"), "rb").read() == before


class RaisingTask(LowercaseTask):
    name = "raising"

    def reward(self, prompts, responses):
        if "prompt 3" in prompts:
            raise KeyError("no score for this one")
        return [0.0] * len(prompts)


def test_a_raising_reward_names_the_offending_sample(tmp_path):
    with pytest.raises(RewardError, match=r"task raising: reward raised KeyError.*prompt 'prompt 3'"):
        train(tiny_config(tmp_path, "steps=40", "batch_size=16"), task=RaisingTask())


class UnsavableTokenizer:
    def save_pretrained(self, directory):
        raise OSError("disk full")


def test_a_failed_save_leaves_earlier_checkpoints_and_last_intact(tmp_path, tiny):
    model, tok = tiny
    checkpoint.save_checkpoint(str(tmp_path), 2, model, tok, {"step": 2})
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save_checkpoint(str(tmp_path), 4, model, UnsavableTokenizer(), {"step": 4})
    assert checkpoint.latest_checkpoint(str(tmp_path)).endswith("step-2")
    assert checkpoint.load_state(checkpoint.latest_checkpoint(str(tmp_path)))["step"] == 2
    assert sorted(os.listdir(checkpoint.checkpoint_root(str(tmp_path)))) == ["last", "step-2"]


def test_run_directory_contract(tmp_path):
    summary = train(tiny_config(tmp_path, "tensorboard=true"))
    for name in ["config.yaml", "metrics.jsonl", "summary.json", "reward.png", "tb"]:
        assert (tmp_path / name).exists(), name
    lines = read_metrics(tmp_path / "metrics.jsonl")
    required = {"step", "time_s", "reward_mean", "reward_std", "kl", "entropy", "batch_entropy", "batch_max_action",
                "pg_loss", "vf_loss", "approx_kl", "clipfrac", "explained_variance", "grad_norm", "lr", "tokens_per_s"}
    assert all(required <= line.keys() for line in lines)
    assert [line["step"] for line in lines] == list(range(1, 7))
    assert os.path.realpath(tmp_path / "checkpoints" / "last").endswith("step-6")
    assert (tmp_path / "checkpoints" / "last" / "trainer_state.pt").exists()
    assert (tmp_path / "checkpoints" / "last" / "config.json").exists()
    assert json.loads((tmp_path / "summary.json").read_text())["steps"] == 6 == summary["steps"]


@pytest.mark.parametrize("option", ["ppo.advantage=turn", "ppo.kl=reward-turn"])
def test_multi_turn_options_are_refused_on_a_single_turn_task(tmp_path, option):
    from rlpr.config import ConfigError

    with pytest.raises(ConfigError, match="multi-turn"):
        train(tiny_config(tmp_path, option), task=LowercaseTask())
    assert not (tmp_path / "metrics.jsonl").exists()


def test_an_unquoted_off_is_the_word_not_yamls_false():
    from rlpr.config import ConfigError

    assert build_config("sentiment", "tiny", overrides=["ppo.kl=off"]).ppo.kl == "off"
    with pytest.raises(ConfigError, match="ppo.kl: expected one of"):
        build_config("sentiment", "tiny", overrides=["ppo.kl=no-such"])
    with pytest.raises(ConfigError, match="ppo.advantage: expected str"):  # only where "off" is a choice
        build_config("sentiment", "tiny", overrides=["ppo.advantage=off"])


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
def test_learning_rate_schedules_warm_up_then_decay_to_zero_at_the_last_optimiser_step(schedule):
    import torch

    from rlpr.config import PPOConfig
    from rlpr.rl.trainer import make_optimizer

    # 10 steps x 2 epochs x (4 prompts x 2 samples / mini-batches of 4) = 40 optimiser steps, 4 of warm-up
    ppo = PPOConfig(steps=10, ppo_epochs=2, batch_size=4, group_size=2, mini_batch_size=4, lr=0.5, warmup_steps=4,
                    lr_schedule=schedule)
    optimizer, scheduler = make_optimizer([torch.nn.Parameter(torch.zeros(1))], ppo)
    rates = []
    for _ in range(40):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert rates[:4] == pytest.approx([0.125, 0.25, 0.375, 0.5])
    if schedule == "constant":
        assert rates[4:] == pytest.approx([0.5] * 36)
    else:
        assert rates[4] == pytest.approx(0.5) and all(a > b for a, b in zip(rates[4:], rates[5:]))
        assert 0 < rates[-1] < 0.5 / 30 and scheduler.get_last_lr()[0] == pytest.approx(0.0, abs=1e-12)
        middle = 0.25 if schedule == "linear" else 0.5 * 0.5 * (1 + math.cos(math.pi * 0.5))
        assert rates[4 + 18] == pytest.approx(middle)
