"""`rlpr experiment arithmetic` on a tiny grid: one shared supervised start per seed, results.md, curves.png."""

import json
import os

import yaml

from rlpr.cli import main
from rlpr.config import build_config, read_preset
from rlpr.experiments import arithmetic as experiment

COLUMNS = "| config | seed | accuracy | reward | first step >= 50% | top answer share | sampled top share | SFT accuracy | wall s |"


def test_tiny_grid_writes_the_table_and_the_curves(tmp_path, capsys):
    out = tmp_path / "grid"
    argv = ["experiment", "arithmetic", "--out", str(out), "--preset", "tiny", "--seeds", "0", "steps=2", "eval_every=1"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    table = (out / "results.md").read_text()
    assert COLUMNS in table and table in printed
    for row in experiment.ROWS:
        assert f"| {row} | 0 |" in table
    assert (out / "curves.png").stat().st_size > 10_000
    results = json.loads((out / "results.json").read_text())
    assert [r["row"] for r in results["runs"]] == list(experiment.ROWS)
    for run in results["runs"]:
        assert 0 <= run["accuracy"] <= 1 and 0 <= run["reward_mean"] <= 1 and 0 < run["top_answer_share"] <= 1
        assert run["curves"]["step"] == [1, 2] and run["curves"]["eval_step"] == [0, 1, 2]
        config = yaml.safe_load(open(os.path.join(run["run_dir"], "config.yaml")))
        assert config["model"]["name"] == os.path.abspath(out / "sft" / "seed-0")  # every row starts from the same model
    assert sorted(os.listdir(out / "sft")) == ["seed-0"]

    # A second call finds every run finished and only rewrites the results.
    mtime = os.path.getmtime(out / "runs" / "plain-ppo-seed0" / "summary.json")
    assert main([*argv, "--rows", "plain PPO"]) == 0
    assert os.path.getmtime(out / "runs" / "plain-ppo-seed0" / "summary.json") == mtime
    assert "| batch entropy |" not in (out / "results.md").read_text()
    assert "(1 of 1 runs had finished before this call and are not in it)" in (out / "results.md").read_text()


def test_unknown_rows_and_bad_seeds_are_one_line_errors(tmp_path, capsys):
    assert main(["experiment", "arithmetic", "--out", str(tmp_path), "--rows", "magic"]) == 2
    assert "unknown rows ['magic']" in capsys.readouterr().err
    assert main(["experiment", "arithmetic", "--out", str(tmp_path), "--seeds", "a,b"]) == 2
    assert "--seeds: expected comma-separated integers" in capsys.readouterr().err
    assert main(["experiment", "chess"]) == 2
    assert "unknown experiment 'chess'" in capsys.readouterr().err


def test_best_preset_is_plain_plus_the_last_row():
    """`--preset best` and the grid's last row are the same configuration."""
    best = build_config("arithmetic", "best")
    row = build_config("arithmetic", experiment.BASE_PRESET, overrides=experiment.ROWS["batch entropy + fix"])
    assert best == row
    assert read_preset("arithmetic", "plain")["model"]["name"] == "sft"
