"""`rlpr train ludii` end to end on the tiny preset (three small library games), and the task's reward on
true and broken middles: the reward the trainer sees is the game's, not a stand-in."""

import json

from rlpr import build_config, train
from rlpr.tasks import make_task
from rlpr.tracking import read_metrics


def test_task_rewards_the_true_middle_and_zeroes_a_broken_one(ludii_dir):
    config = build_config("ludii", "tiny")
    task = make_task("ludii", config.task_config)
    example = next(e for e in task.dataset().split("train") if len(e.middle) > 20)
    rewards = task.reward([example.prompt] * 2, [example.middle, example.middle[: len(example.middle) // 2]])
    assert rewards[0] > 0.05, example  # a real game, played: balance, completion and drawishness
    assert rewards[1] == 0.0  # cut in half: does not compile
    assert task.metrics([example.prompt] * 2, [example.middle, "("], rewards)["compile_rate"] == 0.5


def test_tiny_ludii_run_writes_the_run_directory(tmp_path, ludii_dir):
    summary = train(build_config("ludii", "tiny", overrides=[f"out={tmp_path}", "progress=false", "tensorboard=false"]))
    lines = read_metrics(tmp_path / "metrics.jsonl")
    assert [m["step"] for m in lines] == [1, 2]
    assert all(0.0 <= m["reward_mean"] <= 1.0 and "compile_rate" in m for m in lines)
    assert json.loads((tmp_path / "summary.json").read_text())["steps"] == summary["steps"] == 2
    assert (tmp_path / "checkpoints" / "last").exists()
