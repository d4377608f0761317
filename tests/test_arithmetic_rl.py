"""PPO on the arithmetic chains: a short seeded run from the supervised start learns, plus the pieces it adds
to the core (top-1 group advantages, coefficient schedules, greedy held-out evaluation, the supervised start under model.name=sft)."""

import json
import math

import pytest
import torch

from rlpr import build_config, train
from rlpr.rl import advantages as adv
from rlpr.rl.schedules import coefficient
from rlpr.rl.trainer import eval_sampling, prepared_model
from rlpr.tasks.arithmetic import ArithmeticConfig, ArithmeticTask
from rlpr.tracking import read_metrics

# An easy variant (three terms, operands 0..6: answers 0..18) that the 2-layer model learns in seconds.
EASY = ["task_config.terms={3: 1.0}", "task_config.operand_max=6", "task_config.n_train=300", "task_config.n_validation=128",
        "task_config.n_layer=2", "task_config.n_head=4", "task_config.n_embd=64",
        "task_config.sft_examples=300", "task_config.sft_epochs=2", "task_config.sft_lr=3e-3"]
RL = ["batch_size=16", "ppo.group_size=8", "mini_batch_size=128", "ppo.ppo_epochs=2", "ppo.advantage=best",
      "ppo.whiten_advantages=false", "ppo.lr=1e-3", "eval_every=10", "eval_size=128", "seed=0"]


def test_a_short_rl_run_raises_held_out_accuracy_above_the_supervised_start(tmp_path):
    overrides = [f"out={tmp_path}", "progress=false", "tensorboard=false", *EASY, *RL]
    summary = train(build_config("arithmetic", "tiny", overrides=[*overrides, "steps=50"]))
    assert summary["model"] == str(tmp_path / "sft")  # the supervised start, trained into the run directory
    assert summary["accuracy"] >= summary["sft_accuracy"] + 0.2, (summary["sft_accuracy"], summary["accuracy"])
    assert json.loads((tmp_path / "summary.json").read_text())["sft_accuracy"] == summary["sft_accuracy"]
    lines = read_metrics(tmp_path / "metrics.jsonl")
    assert all(line["response_length"] == 1.0 for line in lines)  # one answer token per prompt
    assert [line["step"] for line in lines if "eval_accuracy" in line] == [10, 20, 30, 40, 50]
    # A resumed run reuses the supervised start instead of training it again.
    before = (tmp_path / "sft" / "model.safetensors").stat().st_mtime_ns
    train(build_config("arithmetic", "tiny", overrides=[*overrides, "steps=51"]), resume=True)
    assert (tmp_path / "sft" / "model.safetensors").stat().st_mtime_ns == before
    assert [line["step"] for line in read_metrics(tmp_path / "metrics.jsonl")][-2:] == [50, 51]


def test_supervised_start_only_for_the_sft_alias(tmp_path):
    config = build_config("arithmetic", "tiny", overrides=["model.name=tiny"])
    assert prepared_model(ArithmeticTask(), config, str(tmp_path)) is config.model
    assert not (tmp_path / "sft").exists()

    class NoSupervisedStart:
        pass

    sft = build_config("arithmetic", "tiny", overrides=["model.name=sft"])
    assert prepared_model(NoSupervisedStart(), sft, str(tmp_path)) is sft.model
    assert prepared_model(NoSupervisedStart(), config, str(tmp_path)) is config.model


def test_eval_sampling_is_greedy_when_asked_and_full_length():
    config = build_config("arithmetic", "tiny", overrides=["sampling.random_length=true", "sampling.temperature=0.7"])
    assert eval_sampling(config).temperature == 0.0 and not eval_sampling(config).random_length
    config = build_config("sentiment", "tiny")
    assert config.eval_temperature is None and eval_sampling(config).temperature == config.sampling.temperature


def test_best_of_group_advantages_reward_only_the_top_samples():
    scores = torch.tensor([0.2, 1.0, 0.5, 1.0, 0.7, 0.7, 0.7, 0.7, 0.1, 0.9, 0.3, 0.2])  # three prompts, four samples
    a = adv.best_of_group_advantages(scores, 4)
    assert a.tolist() == [0.0, 0.5, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]


@pytest.mark.parametrize("schedule, values", [
    ("constant", [0.3, 0.3, 0.3, 0.3, 0.3]),
    ("linear", [0.3, 0.15, 0.0, 0.0, 0.0]),
    ("cosine", [0.3, 0.15, 0.0, 0.0, 0.0]),
])
def test_coefficient_schedules(schedule, values):
    got = [coefficient(0.3, schedule, step, total_steps=100, decay_steps=40) for step in (0, 20, 40, 60, 99)]
    assert all(math.isclose(g, v, abs_tol=1e-12) for g, v in zip(got, values)), got
    assert coefficient(0.3, "linear", 50, total_steps=100) == pytest.approx(0.15)  # decay over the whole run
    with pytest.raises(ValueError, match="coef_schedule"):
        coefficient(0.3, "sometimes", 1, 10)


def _dropout_start(tmp_path) -> str:
    """A tiny supervised start trained with GPT-2's dropout 0.1 (its config keeps it for PPO)."""
    path = str(tmp_path / "sft")
    ArithmeticTask(ArithmeticConfig(n_layer=1, n_head=2, n_embd=32, sft_examples=64, dropout=0.1)).supervised_start(path)
    return path


def _forward_modes(tmp_path, name: str, extra: list[str]) -> str:
    """One letter per forward pass of the policy's GPT-2 trunk during a 2-step PPO run from a dropout-trained
    start: 'e' eval mode without gradients, 's' train mode without gradients (sampling with dropout), 'U' train
    mode with gradients (an update with dropout), 'u' eval mode with gradients."""
    letters = {(False, False): "e", (True, False): "s", (True, True): "U", (False, True): "u"}
    modes = []

    def record(module, args, output):
        if type(module).__name__ == "GPT2Model":
            modes.append(letters[module.training, torch.is_grad_enabled()])

    handle = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        train(build_config("arithmetic", "tiny", overrides=[
            f"model.name={tmp_path / 'sft'}", f"out={tmp_path / name}", "progress=false", "tensorboard=false",
            "steps=2", "ppo.ppo_epochs=2", "show_samples=0", *extra]))
    finally:
        handle.remove()
    return "".join(modes)


def test_train_mode_runs_dropout_where_trl_does(tmp_path):
    """ppo.train_mode (TRL 0.9, the paper's trainer): the update's forward passes run with dropout, and so does
    sampling from the second step on (TRL leaves the model in train mode after an update); the scoring pass that
    gives the old log-probs and the held-out evaluation do not. Without it no PPO forward pass has dropout."""
    _dropout_start(tmp_path)
    on = _forward_modes(tmp_path, "on", ["ppo.train_mode=true", "ppo.max_grad_norm=null"])
    # held-out eval | step 1: sample, score (policy and reference), 2 updates | step 2: sample with dropout,
    # score, 2 updates | held-out eval
    assert on == "eeeeUUseeUUe", on
    assert _forward_modes(tmp_path, "off", []) == "eeeeuueeeuue"


def test_a_dropout_run_is_the_same_from_its_own_supervised_start_or_a_shared_one(tmp_path):
    """Dropout draws from torch's global generator. SFT seeds it and puts it back, so `--preset plain seed=N` (the
    start trained inside the run) and the experiment grid (one start per seed, trained beforehand in another
    state of the generator) give the same start and the same PPO run."""
    overrides = ["progress=false", "tensorboard=false", "task_config.dropout=0.1", "ppo.train_mode=true",
                 "ppo.max_grad_norm=null", "steps=3", "show_samples=0", "eval_size=8"]
    own = build_config("arithmetic", "tiny", overrides=[*overrides, f"out={tmp_path / 'own'}"])
    train(own)
    torch.manual_seed(12345)  # other work moved the global generator
    ArithmeticTask(ArithmeticConfig(**own.task_config)).supervised_start(str(tmp_path / "shared"), seed=0)
    torch.rand(100)
    train(build_config("arithmetic", "tiny", overrides=[*overrides, f"model.name={tmp_path / 'shared'}",
                                                        f"out={tmp_path / 'from-shared'}"]))
    assert (tmp_path / "own/sft/model.safetensors").read_bytes() == (tmp_path / "shared/model.safetensors").read_bytes()
    steps = [[(m["reward_mean"], m["pg_loss"], m["entropy"]) for m in read_metrics(tmp_path / run / "metrics.jsonl")]
             for run in ("own", "from-shared")]
    assert steps[0] == steps[1]
