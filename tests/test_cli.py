"""The command line: one-line errors for bad input, and the train/eval/sample commands on the tiny preset."""

import json

import pytest

from rlpr.cli import main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "sentiment", "ppo.lrr=1"], "unknown key 'ppo.lrr'; valid keys: "),
        (["train", "sentiment", "ppo.lr=fast"], "ppo.lr: expected float, got 'fast'"),
        (["train", "sentiment", "ppo.steps=2.5"], "ppo.steps: expected int, got 2.5"),
        (["train", "sentiment", "ppo.kl=sometimes"], "ppo.kl: expected one of off, reward-token, reward-response, loss"),
        (["train", "sentiment", "--preset", "huge"], "unknown preset 'huge' for task 'sentiment'; presets: demo, tiny"),
        (["train", "sentiment", "--config", "/no/such.yaml"], "config file not found: /no/such.yaml"),
        (["train", "chess"], "unknown task 'chess'; tasks: sentiment, arithmetic"),
        (["train", "sentiment", "model.name=./no/such/dir"], "model path './no/such/dir' does not exist"),
        (["train", "sentiment", "task_config.source=web"], "task_config.source: expected builtin or imdb"),
        (["train", "sentiment", "steps"], "override 'steps': expected key=value"),
        (["train", "sentiment", "--resume"], "--resume needs --out DIR"),
        (["bench", "generate", "--json", "g.json", "steps=3"], "bench generate: takes no key=value settings"),
        (["bench", "vs-trl", "--json", "v.json", "stepz=3"], "unknown key 'stepz'; valid keys: "),
    ],
)
def test_bad_input_gives_one_line_naming_the_problem(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlpr: error: ") and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bad_yaml_names_file_and_line(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("ppo:\n  lr: [1,\n")
    assert main(["train", "sentiment", "--config", str(path)]) == 2
    assert f"{path}:" in capsys.readouterr().err


def test_train_then_eval_and_sample_from_the_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "sentiment", "--preset", "tiny", "--out", str(out), "progress=false", "tensorboard=false"]) == 0
    report = capsys.readouterr().out
    assert "first 5 steps (mean)" in report and "reward.png" in report and "before (" in report
    checkpoint = str(out / "checkpoints" / "last")
    results = tmp_path / "eval.json"
    assert main(["eval", "sentiment", "--model", checkpoint, "--limit", "4", "--json", str(results),
                 "sampling.max_new_tokens=4"]) == 0
    data = json.loads(results.read_text())
    assert data["n"] == 4 and -1 <= data["reward_mean"] <= 1
    capsys.readouterr()
    assert main(["sample", "--model", checkpoint, "--prompt", "The film", "--max-new-tokens", "5", "-n", "2"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2 and all(line["prompt"] == "The film" for line in lines)
