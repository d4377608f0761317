"""Data-parallel training (rlpr.distributed) on the CPU with gloo: two ranks take the PPO steps one process takes
on the same global batch, rank 0 alone writes the run directory, and one process resumes a two-rank run."""

import json
import os
import socket
import subprocess
import sys
from dataclasses import fields

import pytest
import torch
import torch.multiprocessing as mp

from rlpr import build_config, checkpoint, distributed, fsdp, models, train
from rlpr.config import ConfigError
from rlpr.generate import Rollout
from rlpr.rl import trainer
from rlpr.rl.kl import KLController
from rlpr.tracking import read_metrics

ROWS, PROMPT, RESPONSE = 8, 5, 6


def launch_failure(done: subprocess.CompletedProcess) -> str:
    """What a failed torchrun printed. The rank that died first (often by a C++ abort, without a Python
    traceback) is buried under the others' connection errors, so its lines and any abort message come first."""
    first = [line for line in done.stderr.splitlines()
             if "[rank0]" in line or "terminate called" in line or "what():" in line or "Fatal" in line][:40]
    return "\n".join([*first, "...", done.stdout[-2000:], done.stderr[-3000:]])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_without_a_launcher_every_helper_is_the_single_process_identity():
    assert distributed.init() == 1 and distributed.rank() == 0 and distributed.is_main()
    items = list(range(6))
    assert distributed.shard(items) == items
    assert distributed.gather(items, ["a"]) == (items, ["a"])
    assert distributed.mean_metrics({"loss": 0.5, "step": 3}) == {"loss": 0.5, "step": 3}
    assert distributed.global_sum(torch.tensor([1.0, 2.0])).item() == 3.0
    assert distributed.from_main("summary") == "summary"


EXIT_UNDER_A_GROUP = """
import atexit, sys, torch.distributed as dist
from rlpr import distributed
dist.init_process_group("gloo", init_method="tcp://127.0.0.1:{port}", rank=0, world_size=1)
atexit.register(lambda: print("exit handler ran; group destroyed:", not dist.is_initialized()))
atexit.register(dist.destroy_process_group)
print("buffered line", end="")
distributed.exit_process(3)
print("not reached")
"""


def test_a_rank_exits_with_its_status_after_the_exit_handlers_and_flushed_output():
    """`exit_process` skips the interpreter's finalisation (where a gloo thread can abort the process), but
    not what a normal exit does before it: exit handlers run, in order, and buffered output is written."""
    done = subprocess.run([sys.executable, "-c", EXIT_UNDER_A_GROUP.format(port=free_port())], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert done.stdout == "buffered lineexit handler ran; group destroyed: True\n", done.stdout


def fixed_rollout() -> tuple[Rollout, list[float]]:
    """ROWS left-padded prompts and RESPONSE sampled tokens each, with rewards: a rollout both settings share.

    Every response has the same length, so the token means of the loss are means over rows and the step does
    not depend on how the rows are split into micro-batches (one process) or ranks (two)."""
    g = torch.Generator().manual_seed(0)
    prompt_mask = (torch.arange(PROMPT) >= torch.randint(0, 4, (ROWS, 1), generator=g)).long()
    prompt_ids = torch.randint(3, 200, (ROWS, PROMPT), generator=g) * prompt_mask
    response_ids = torch.randint(3, 200, (ROWS, RESPONSE), generator=g)
    rollout = Rollout(prompt_ids, prompt_mask, response_ids, torch.ones_like(response_ids), torch.zeros(ROWS, RESPONSE))
    return rollout, torch.rand(ROWS, generator=g).tolist()


def one_update(rows: slice, overrides: tuple[str, ...] = ("model.value=head",)):
    """`build_batch` + `ppo_update` (2 epochs of one mini-batch of all ROWS) on `rows` of the fixed rollout ->
    (statistics averaged over the ranks, this rank's advantages, the updated weights: whole on rank 0, {} on the
    other ranks under distributed.strategy=fsdp)."""
    config = build_config("sentiment", "tiny", overrides=[
        "batch_size=8", "mini_batch_size=8", "ppo.ppo_epochs=2", "ppo.lr=1e-3", "ppo.entropy_coef=0.01",
        "ppo.track_kl=false", "ppo.advantage=gae", *overrides])  # fmt: skip
    rollout, scores = fixed_rollout()
    shard = Rollout(*(getattr(rollout, f.name)[rows] for f in fields(Rollout)))
    policy = models.load_policy(config.model, seed=0)
    top = trainer.update_blocks(policy, config.model)
    head = models.ValueHead(models.hidden_size(policy)) if config.model.value == "head" else None
    critic = models.Critic(models.load_model("tiny", seed=0)) if config.model.value == "separate" else None
    if config.distributed.strategy == "fsdp":
        fsdp.shard_models(policy, head, critic)
    modules = {"": policy, "value_head.": head, "critic.": critic}
    params = [p for m in modules.values() if m is not None for p in m.parameters() if p.requires_grad]
    optimizer, scheduler = trainer.make_optimizer(params, config.ppo)
    batch, batch_stats, _ = trainer.build_batch(policy, head, critic, None, shard, scores[rows], config, KLController(0.0),
                                                lora=False, top=top)
    stats = trainer.ppo_update(policy, head, critic, None, batch, config, 0.0, optimizer, scheduler, params,
                               torch.Generator().manual_seed(0))
    weights = {prefix + k: v for prefix, m in modules.items() if m is not None for k, v in fsdp.full_state(m).items()}
    return distributed.mean_metrics(batch_stats | stats), batch.advantages, weights


def _rank(rank: int, world: int, port: int, out: str, overrides: tuple[str, ...] = ("model.value=head",)) -> None:
    """One rank of `torch.multiprocessing.spawn`: the environment torchrun would set, then the update on its rows."""
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world))
    assert distributed.init() == world
    size = ROWS // world
    torch.save(one_update(slice(rank * size, (rank + 1) * size), overrides), os.path.join(out, f"rank{rank}.pt"))
    distributed.exit_process(0)  # as a rank of the CLI leaves: no finalisation for a gloo thread to abort


def test_two_ranks_take_the_ppo_steps_one_process_takes_on_the_whole_batch(tmp_path):
    mp.spawn(_rank, args=(2, free_port(), str(tmp_path)), nprocs=2)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    stats, advantages, weights = one_update(slice(None))
    # whitened with the statistics of all 8 rows, not of each rank's 4
    torch.testing.assert_close(torch.cat([r[1] for r in ranks]), advantages, atol=1e-5, rtol=0)
    # batch entropy averages distributions over the rows of a forward pass (4 per rank, 8 here): not comparable
    for key in stats.keys() - {"batch_entropy", "batch_max_action"}:
        assert ranks[0][0][key] == pytest.approx(stats[key], abs=1e-5), key
    assert stats["approx_kl"] > 1e-3, stats  # the second epoch ran on moved weights
    for name, value in weights.items():
        torch.testing.assert_close(ranks[0][2][name], value, atol=1e-5, rtol=0)
        assert torch.equal(ranks[1][2][name], ranks[0][2][name]), name  # the ranks stay in step


def test_torchrun_writes_the_run_directory_from_rank_0_and_one_process_resumes_it(tmp_path):
    out = tmp_path / "run"
    overrides = [f"out={out}", "checkpoint_every=1", "progress=false"]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                "--master_port", str(free_port())]  # fmt: skip
    done = subprocess.run([*launcher, "-m", "rlpr", "train", "sentiment", "--preset", "tiny", "steps=2", *overrides],
                          env=os.environ | {"OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, launch_failure(done)
    # one writer: each step logged once, one TensorBoard event file, the checkpoints and the end-of-run files
    assert [m["step"] for m in read_metrics(out / "metrics.jsonl")] == [1, 2]
    assert len(os.listdir(out / "tb")) == 1
    assert checkpoint.list_checkpoints(str(out)) == [1, 2]
    assert {"config.yaml", "summary.json", "reward.png"} <= set(os.listdir(out))
    assert json.loads((out / "summary.json").read_text())["ranks"] == 2
    # the checkpoint does not depend on the number of ranks: one process continues the two-rank run
    summary = train(build_config("sentiment", "tiny", overrides=["steps=3", "tensorboard=false", *overrides]), resume=True)
    assert [m["step"] for m in read_metrics(out / "metrics.jsonl")] == [1, 2, 3]
    assert summary["steps"] == 3 and summary["ranks"] == 1


@pytest.mark.parametrize("value", ["head", "separate"])
def test_fsdp_ranks_take_the_ppo_steps_one_process_takes_on_the_whole_batch(tmp_path, value):
    """distributed.strategy=fsdp: each rank holds half of every parameter; the same loss and updated weights.
    With the value head only the top block trains on the frozen block's cached output (model.train_layers)."""
    model = [f"model.value={value}", *(["model.train_layers=1"] if value == "head" else [])]
    mp.spawn(_rank, args=(2, free_port(), str(tmp_path), ("distributed.strategy=fsdp", *model)), nprocs=2)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    stats, advantages, weights = one_update(slice(None), tuple(model))
    torch.testing.assert_close(torch.cat([r[1] for r in ranks]), advantages, atol=1e-5, rtol=0)
    for key in stats.keys() - {"batch_entropy", "batch_max_action"}:
        assert ranks[0][0][key] == pytest.approx(stats[key], abs=1e-5), key
    assert stats["approx_kl"] > 1e-3 and stats["vf_loss"] > 0, stats
    assert ranks[0][2].keys() == weights.keys() and ranks[1][2] == {}  # whole tensors, on rank 0 alone
    for name, value in weights.items():
        torch.testing.assert_close(ranks[0][2][name], value, atol=1e-5, rtol=0)


def test_accelerate_launch_runs_the_same_data_parallel_training(tmp_path):
    """`accelerate launch --multi_gpu` sets the environment torchrun sets, on a CPU machine too: two ranks,
    one writer."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(free_port()),
               "-m", "rlpr", "train", "sentiment", "--preset", "tiny", "steps=1", f"out={out}", "progress=false"]  # fmt: skip
    done = subprocess.run(command, env=os.environ | {"OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, launch_failure(done)
    assert [m["step"] for m in read_metrics(out / "metrics.jsonl")] == [1]
    assert json.loads((out / "summary.json").read_text())["ranks"] == 2


def test_an_fsdp_run_resumes_in_one_process_and_a_one_process_run_resumes_under_fsdp(tmp_path):
    out = tmp_path / "run"
    overrides = [f"out={out}", "checkpoint_every=1", "progress=false", "model.value=separate"]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1"]

    def torchrun(*args):
        command = [*launcher, "--master_port", str(free_port()), "-m", "rlpr", "train", "sentiment", "--preset", "tiny",
                   *args, "distributed.strategy=fsdp", *overrides]  # fmt: skip
        done = subprocess.run(command, capture_output=True,
                              env=os.environ | {"OMP_NUM_THREADS": "1"}, text=True, timeout=600)
        assert done.returncode == 0, launch_failure(done)

    torchrun("steps=2")
    assert [m["step"] for m in read_metrics(out / "metrics.jsonl")] == [1, 2]
    last = checkpoint.latest_checkpoint(str(out))
    state = checkpoint.load_state(last)
    # whole tensors in the one-process format: the policy a Hugging Face model directory, the critic and the
    # optimiser state keyed as an unsharded run keys them
    loaded = models.load_model(last)
    policy, critic = models.load_model("tiny"), models.Critic(models.load_model("tiny"))
    assert {k: v.shape for k, v in loaded.state_dict().items()} == {k: v.shape for k, v in policy.state_dict().items()}
    assert not torch.equal(loaded.lm_head.weight, policy.lm_head.weight)  # trained
    assert {k: v.shape for k, v in state["critic"].items()} == {k: v.shape for k, v in critic.state_dict().items()}
    params = [*policy.parameters(), *critic.parameters()]
    assert [state["optimizer"]["state"][i]["exp_avg"].shape for i in range(len(params))] == [p.shape for p in params]
    train(build_config("sentiment", "tiny", overrides=["steps=3", "tensorboard=false", *overrides]), resume=True)
    torchrun("--resume", "steps=4")
    assert [m["step"] for m in read_metrics(out / "metrics.jsonl")] == [1, 2, 3, 4]
    assert checkpoint.list_checkpoints(str(out))[-1] == 4


def test_fsdp_refuses_lora_at_config_time():
    config = build_config("sentiment", "tiny", overrides=["distributed.strategy=fsdp", "model.lora_rank=4"])
    with pytest.raises(ConfigError, match="^model.lora_rank: "):
        train(config)
