"""The Ludii supervised start and evaluation: `rlpr sft ludii` then `rlpr eval ludii` on the tiny preset, a
tiny model that learns middles it was shown (so compile and exact-match rates move), exact match as the
reward cuts a middle, and the dataset filtered for RL without a second build."""

import json
from dataclasses import replace

import pytest

from rlpr import build_config, models
from rlpr.cli import main
from rlpr.generate import SamplingConfig
from rlpr.rl.trainer import generate_texts
from rlpr.tasks import make_task
from rlpr.tasks.ludii.fim import FimConfig, build_dataset
from rlpr.tasks.ludii.sft import LudiiSFTConfig, pick_examples, supervised_start
from rlpr.tasks.ludii.task import keep_long_middles

RATES = ("compile_rate", "play_rate", "unsupported_rate", "invalid_rate", "exact_match", "reward_mean")


def tiny_task(*overrides):
    return make_task("ludii", build_config("ludii", "tiny", overrides=list(overrides)).task_config)


def test_sft_then_eval_from_the_command_line(tmp_path, ludii_dir, capsys):
    out = tmp_path / "sft"
    assert main(["sft", "ludii", "--preset", "tiny", "--out", str(out), "task_config.sft_examples=4",
                 "task_config.sft_batch_size=2"]) == 0
    stats = json.loads((out / "sft.json").read_text())
    assert stats["examples"] == 4 and stats["steps"] == 2 and stats["model"] == "tiny"
    assert stats["wall_s"] >= 0 and stats["train_games"] == 2  # with the dataset's counts
    assert all(0.0 <= stats[k] <= 1.0 for k in RATES), stats  # held-out rates of the fresh start
    assert models.load_tokenizer(str(out))("(players 2)")["input_ids"]  # an ordinary HF directory
    capsys.readouterr()

    results = tmp_path / "eval.json"
    assert main(["eval", "ludii", "--preset", "tiny", "--model", str(out), "--limit", "3", "--json", str(results)]) == 0
    data = json.loads(results.read_text())
    assert data["n"] == 3 and data["split"] == "validation"
    assert all(0.0 <= data[k] <= 1.0 for k in RATES), data
    assert data["compile_rate"] == pytest.approx(1.0 - data["invalid_rate"])  # unsupported ones compile
    assert "exact_match" in capsys.readouterr().out


def test_a_tiny_model_learns_the_middles_it_is_shown(tmp_path, ludii_dir):
    """Before SFT the random model completes none of two train prompts; after, its greedy middles compile
    and are the true ones. Rates that did not move would mean the SFT trains on the wrong tokens."""
    task = tiny_task()
    data = task.full_dataset()
    shown = sorted(data.train, key=lambda e: len(e.middle))[10:12]  # two short middles, not the shortest
    config = LudiiSFTConfig(model="tiny", epochs=60, lr=3e-3, batch_size=2)
    prompts = [e.prompt for e in shown]
    greedy = SamplingConfig(max_new_tokens=max(len(e.completion) for e in shown) + 4, temperature=0.0)

    def rates(model_name):
        model, tok = models.load_model(model_name), models.load_tokenizer(model_name)
        responses = generate_texts(model, tok, prompts, greedy, "cpu", 0, task)
        return task.metrics(prompts, responses, [0.0] * len(prompts))

    before = rates("tiny")
    stats = supervised_start(config, replace(data, train=shown), str(tmp_path / "m"), "cpu")
    after = rates(str(tmp_path / "m"))
    assert stats["loss_last"] < stats["loss_first"] / 4, stats
    assert before["compile_rate"] == before["exact_match"] == 0.0, before
    assert after["exact_match"] == 1.0 and after["compile_rate"] == 1.0, after


def test_exact_match_cuts_the_middle_as_the_reward_does(ludii_dir):
    task = tiny_task()
    e = task.dataset().split("validation")[0]
    prompts = [e.prompt] * 4
    responses = [e.completion, e.completion + ") trailing text", " " + e.middle[:-1], e.completion.replace("(", "( ", 1)]
    assert task.exact_match(prompts, responses) == 0.5  # the true middle, with or without what follows it
    assert task.exact_match(["### PRE: (game) ### SUF:  ### MID:"], [e.completion]) == 0.0  # an unknown prompt


def test_filtering_short_middles_matches_the_builder(ludii_dir):
    task = tiny_task("task_config.min_middle_ratio=0.2")
    c = task.config
    built = build_dataset(FimConfig(seed=c.seed, validation_fraction=c.validation_fraction, max_chars=c.max_chars,
                                    min_middle_ratio=0.2, games=tuple(c.games)), c.data_dir)
    filtered = task.dataset()
    assert filtered.train == built.train and filtered.validation == built.validation
    assert filtered.short_middles == built.short_middles > 0
    assert len(task.full_dataset().train) > len(filtered.train)  # the SFT's examples keep the short middles
    assert keep_long_middles(task.full_dataset(), 0.0) is task.full_dataset()


def test_sft_examples_are_drawn_across_games_and_checked(ludii_dir):
    data = tiny_task().full_dataset()
    pairs = pick_examples(data.train, 10, seed=0)
    by_prompt = {e.prompt: e for e in data.train}
    assert len({by_prompt[p].game for p, _ in pairs}) == 2  # not the first ten of one game
    assert all(a == by_prompt[p].completion for p, a in pairs)
    assert pick_examples(data.train, 10, seed=0) == pairs != pick_examples(data.train, 10, seed=1)
    with pytest.raises(ValueError, match="SFT examples"):
        pick_examples(data.train, len(data.train) + 1, seed=0)


def test_train_from_the_supervised_start_in_the_run_directory(tmp_path, ludii_dir):
    from rlpr import train

    summary = train(build_config("ludii", "tiny", overrides=[
        f"out={tmp_path}", "progress=false", "tensorboard=false", "model.name=sft", "ppo.steps=1",
        "checkpoint_every=0", "task_config.sft_examples=2", "task_config.sft_batch_size=2"]))
    sft = json.loads((tmp_path / "sft" / "sft.json").read_text())
    assert sft["examples"] == 2 and summary["model"] == str(tmp_path / "sft")
    assert {"compile_rate", "unsupported_rate", "start_compile_rate", "start_unsupported_rate"} <= summary.keys()
