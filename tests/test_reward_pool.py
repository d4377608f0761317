"""Rewards in worker processes: the same numbers as in the training process, and clear errors when they fail."""

import os

import pytest

from rlpr import build_config, train
from rlpr.config import ConfigError
from rlpr.rollout.rewards import RewardConfig, RewardError, RewardPool, TaskSpec, checked_rewards
from rlpr.tasks import make_task
from rlpr.tracking import read_metrics


class RaisingTask:
    """Rewards 0.5, but raises on one prompt. Defined at module level so that worker processes can unpickle it."""

    name = "raising"

    def reward(self, prompts, responses):
        if "p3" in prompts:
            raise KeyError("no score for this one")
        return [0.5] * len(prompts)


class WhereTask:
    """Reward 1 when computed in another process than the one that built the task, else 0."""

    name = "where"

    def __init__(self):
        self.home = os.getpid()

    def prompts(self, split):
        return [f"prompt {i}" for i in range(16)]

    def reward(self, prompts, responses):
        return [float(os.getpid() != self.home)] * len(prompts)

    def metrics(self, prompts, responses, rewards):
        return {}


def test_pool_rewards_equal_in_process_rewards_in_order():
    task = make_task("arithmetic")
    prompts = task.prompts("validation")[:30]
    responses = [str(i) for i in range(28)] + ["", "not a number"]  # right, wrong, far off and unparsable answers
    pool = RewardPool(task, RewardConfig(workers=2), TaskSpec("arithmetic"))
    try:
        pending = pool.submit(prompts, responses)
        assert len(pending.futures) > 2  # the batch really was split over the workers
        assert pending.result() == checked_rewards(task, prompts, responses)
        assert len(set(pending.result())) > 3
    finally:
        pool.close()


def test_a_reward_that_raises_in_a_worker_names_the_task_and_the_sample():
    pool = RewardPool(RaisingTask(), RewardConfig(workers=1))
    try:
        prompts = [f"p{i}" for i in range(6)]
        with pytest.raises(RewardError, match=r"task raising: reward raised KeyError: 'no score for this one' "
                                              r"on prompt 'p3', response 'r3'"):
            pool(prompts, [f"r{i}" for i in range(6)])
    finally:
        pool.close()


def test_a_worker_that_cannot_build_its_task_says_why():
    pool = RewardPool(make_task("arithmetic"), RewardConfig(workers=1), TaskSpec("arithmetic", {"no_such_option": 1}))
    try:
        with pytest.raises(RewardError, match=r"could not build its task: ConfigError: unknown key 'task_config.no_such_option'"):
            pool(["1 + 2 ="], ["3"])
    finally:
        pool.close()


def test_a_task_that_cannot_reach_the_workers_and_overlap_without_workers_are_refused():
    task = RaisingTask()
    task.scorer = lambda text: 0.0  # a lambda does not pickle
    with pytest.raises(ConfigError, match=r"reward.workers=2: task raising cannot be sent to worker processes"):
        RewardPool(task, RewardConfig(workers=2))
    with pytest.raises(ConfigError, match=r"reward.overlap needs reward.workers >= 1"):
        RewardPool(RaisingTask(), RewardConfig(overlap=True))


def test_a_run_with_reward_workers_and_overlap_matches_a_run_without(tmp_path):
    """Arithmetic rewards computed by two workers (each rebuilding the task from its name and the preset's options)
    while the trainer scores: the same run, number for number."""
    runs = {}
    for name, extra in {"inline": [], "pool": ["reward.workers=2", "reward.overlap=true"]}.items():
        out = tmp_path / name
        config = build_config("arithmetic", "tiny", overrides=[f"out={out}", "progress=false", "tensorboard=false",
                                                               "steps=3", "checkpoint_every=0", *extra])
        summary = train(config)
        runs[name] = (read_metrics(out / "metrics.jsonl"), summary)
    (inline, inline_summary), (pooled, pooled_summary) = runs["inline"], runs["pool"]
    assert len(inline) == len(pooled) == 3
    for a, b in zip(inline, pooled):
        for key in ("reward_mean", "reward_std", "pg_loss", "vf_loss", "approx_kl"):
            assert a[key] == b[key], (a["step"], key)
    assert inline_summary["start"] == pooled_summary["start"]  # the held-out start, rewarded by the pool
    assert inline_summary["eval_reward_mean"] == pooled_summary["eval_reward_mean"]
    assert any(m["reward_std"] > 0 for m in inline)  # the rewards vary, so equal numbers mean something


def test_a_run_with_reward_workers_rewards_its_steps_in_the_workers(tmp_path):
    """A task object passed to train() reaches the workers pickled; every step's rewards (and the held-out start)
    come from them. The final evaluation runs after the workers are shut down, in the trainer."""
    config = build_config("sentiment", "tiny", overrides=[f"out={tmp_path}", "progress=false", "tensorboard=false",
                                                          "steps=2", "checkpoint_every=0", "reward.workers=2"])
    summary = train(config, task=WhereTask())
    assert [m["reward_mean"] for m in read_metrics(tmp_path / "metrics.jsonl")] == [1.0, 1.0]
    assert summary["start"]["eval_reward_mean"] == 1.0
    assert summary["eval_reward_mean"] == 0.0
