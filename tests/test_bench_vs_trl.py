"""The pure parts of `rlpr bench vs-trl`: statistics, configs of the two sides, the table. No TRL, no network."""

import json
import math
import sys

import pytest

from rlpr.bench import format_table, run_bench, vs_trl
from rlpr.bench._rlpr_runner import RecordingTask
from rlpr.bench._trl_venvs import TrlEnv, TrlUnavailable, ensure
from rlpr.config import ConfigError, build_config

SHAPE = vs_trl.Shape(threads=2, steps=3, warmup=1, reward_window=1)


def test_median_after_warmup_drops_each_runs_first_steps():
    runs = [[30.0, 2.0, 4.0], [25.0, 3.0, 100.0]]
    assert vs_trl.median_after_warmup(runs, warmup=1) == 3.5  # median of 2, 4, 3, 100
    assert vs_trl.median_after_warmup(runs, warmup=0) == 14.5  # the warm-up steps count
    with pytest.raises(ValueError):
        vs_trl.median_after_warmup([[1.0]], warmup=1)


def test_ratio_is_ours_over_theirs():
    assert vs_trl.ratio(1.0, 4.0) == 0.25
    assert math.isnan(vs_trl.ratio(1.0, 0.0))


@pytest.mark.parametrize("algo", ["grpo", "ppo"])
def test_rlpr_overrides_build_a_valid_config(algo):
    config = build_config("sentiment", overrides=vs_trl.rlpr_overrides(algo, SHAPE, 8, 16, 5))
    assert config.model.train_layers == 0 and config.model.dtype == "float32"  # full fine-tuning, fp32
    assert config.sampling.min_new_tokens == config.sampling.max_new_tokens == 16
    assert not config.sampling.random_length
    if algo == "grpo":
        assert (config.ppo.advantage, config.ppo.kl, config.model.value) == ("group", "off", "none")
        assert config.ppo.mini_batch_size == 8 * SHAPE.group and config.ppo.ppo_epochs == 1  # one optimiser step
    else:
        assert (config.ppo.advantage, config.ppo.kl, config.model.value) == ("gae", "reward-token", "separate")
        assert config.ppo.kl_coef == SHAPE.kl_coef and config.ppo.kl_target is None


def test_trl_spec_matches_the_rlpr_side():
    spec = vs_trl.trl_spec("grpo", SHAPE, "/m", ["a"] * 40)
    assert (spec["batch"], spec["group"], spec["new_tokens"], spec["lr"]) == (8, 4, 16, SHAPE.lr)
    assert vs_trl.trl_spec("ppo", SHAPE, "/m", [])["group"] == 1
    json.dumps(spec)  # goes to the runner as a file


def _run(step_s, reward, peak=1000.0, start=800.0):
    return {"step_s": step_s, "reward": reward, "peak_rss_mb": peak, "rss_start_mb": start}


def test_assemble_gives_ratios_table_and_scaling_grid():
    grpo = {"rlpr": [_run([9, 1, 1], [0.1, 0.3]), _run([9, 1, 1], [0.1, 0.5])],
            "trl": [_run([9, 4, 4], [0.1, 0.2]), _run([9, 4, 4], [0.1, 0.2])],
            "trl_kept_memory": [_run([9, 2, 2], [0.1, 0.2])],
            "rlpr_extra": [_run([9, 0.5, 0.5], [0.1, 0.2])]}
    ppo = {"rlpr": [_run([9, 2, 2], [0.0, 0.1], peak=500)], "trl": [_run([9, 8, 8], [0.0, 0.1], peak=2000)],
           "rlpr_extra": []}
    grid = {(p, t): p * t / 100 for p in SHAPE.scale_prompts for t in SHAPE.scale_tokens}
    result = vs_trl.assemble(grpo, ppo, grid, SHAPE, {"trl (GRPO)": "1.16.0"})
    figures = result.figures
    assert figures["grpo_step_ratio"] == 0.25 and figures["ppo_step_ratio"] == 0.25
    assert figures["ppo_peak_memory_ratio"] == 0.25
    assert figures["grpo_reward_after_steps"]["rlpr"] == pytest.approx(0.4)
    assert figures["grpo_step_s_top_blocks_extra"]["ratio"] == 0.125
    assert figures["grpo_step_s_trl_kept_memory_extra"]["ratio"] == 0.5 and "ppo_step_s_trl_kept_memory_extra" not in figures
    assert [row[0] for row in result.rows][:4] == [
        "GRPO step s", "GRPO step s, TRL keeping freed memory as rlpr does (extra)",
        f"GRPO step s, rlpr top {SHAPE.extra_train_layers} blocks only (extra)", "GRPO reward after 3 steps"]
    assert figures["versions"] == {"trl (GRPO)": "1.16.0"}
    assert len(figures["scaling_step_s"]) == 9
    text = format_table(result)
    assert "GRPO step s" in text and "PPO peak RSS MiB" in text and f"{SHAPE.scale_prompts[-1]} prompts" in text and "32 tokens" in text
    json.dumps(figures)  # the JSON file holds them as they are


def test_recording_task_notes_training_steps_only():
    class Inner:
        name = "sentiment"

        def prompts(self, split):
            return ["a", "b"]

        def reward(self, prompts, responses):
            return [0.0] * len(prompts)

        def metrics(self, prompts, responses, rewards):
            return {}

    task = RecordingTask(Inner(), rows=4, group=2)
    task.prompts("train")
    task.reward(["x"], ["r"])  # held-out evaluation: one prompt
    task.reward(["a", "a", "b", "b"], ["r"] * 4)
    task.metrics(["a", "a", "b", "b"], ["r"] * 4, [0.0] * 4)
    assert task.step_prompts == [["a", "b"]]
    assert task.rss_start_mb > 0 and task.peak_rss_mb > 0


def test_a_venv_that_cannot_be_built_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("RLPR_BENCH_VENVS", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))  # fails before pip is reached
    with pytest.raises(TrlUnavailable, match="vs-trl needs a TRL venv") as err:
        ensure(TrlEnv("trl-x", ("trl==0",)), log=lambda _: None)
    assert isinstance(err.value, FileNotFoundError)  # printed by the CLI as one line, no traceback
    assert "\n" not in str(err.value)
    assert not list(tmp_path.iterdir())  # no half-built venv left behind


def test_settings_change_the_shape_and_bad_ones_name_the_field():
    shape = vs_trl.shape_from(["steps=30", "rounds=1", "reward_window=10", "scale_prompts=[]", "lr=2e-5"])
    assert (shape.steps, shape.rounds, shape.reward_window, shape.scale_prompts, shape.lr) == (30, 1, 10, (), 2e-5)
    assert vs_trl.shape_from(["scale_tokens=[4, 8]"]).scale_tokens == (4, 8)
    assert vs_trl.scaling(shape) == {}  # no grid points: nothing runs
    for bad, field in [("stepz=3", "stepz"), ("steps=x", "steps"), ("reward_window=11", "reward_window"),
                       ("warmup=10", "warmup"), ("scale_steps=1", "scale_steps"), ("scale_tokens=[a]", "scale_tokens")]:
        with pytest.raises(ConfigError, match=field):
            vs_trl.shape_from([bad])
    with pytest.raises(ConfigError, match="bench generate: takes no key=value settings"):
        run_bench("generate", None, ["steps=3"])


def test_reward_after_steps_averages_each_runs_last_window():
    runs = [_run([1, 1, 1], [0.0, 0.2, 0.4]), _run([1, 1, 1], [0.0, 0.4, 0.8])]
    assert vs_trl.final_reward(runs) == pytest.approx(0.6)  # the last step of each
    assert vs_trl.final_reward(runs, window=2) == pytest.approx(0.45)  # (0.3 + 0.6) / 2
