"""Data-parallel training (rlpr.distributed) on the CPU with gloo: two ranks take the PPO steps one process takes
on the same global batch, rank 0 alone writes the run directory, and one process resumes a two-rank run."""

import os
import socket
import subprocess
import sys
from dataclasses import fields

import pytest
import torch
import torch.multiprocessing as mp

from rlpr import build_config, checkpoint, distributed, models, train
from rlpr.generate import Rollout
from rlpr.rl import trainer
from rlpr.rl.kl import KLController
from rlpr.tracking import read_metrics

ROWS, PROMPT, RESPONSE = 8, 5, 6


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


def one_update(rows: slice):
    """`build_batch` + `ppo_update` (2 epochs of one mini-batch of all ROWS) on `rows` of the fixed rollout ->
    (statistics averaged over the ranks, this rank's advantages, the updated weights)."""
    config = build_config("sentiment", "tiny", overrides=[
        "batch_size=8", "mini_batch_size=8", "ppo.ppo_epochs=2", "ppo.lr=1e-3", "ppo.entropy_coef=0.01",
        "ppo.track_kl=false", "ppo.advantage=gae", "model.value=head"])  # fmt: skip
    rollout, scores = fixed_rollout()
    shard = Rollout(*(getattr(rollout, f.name)[rows] for f in fields(Rollout)))
    policy = models.load_model("tiny", seed=0)
    head = models.ValueHead(models.hidden_size(policy))
    params = [*policy.parameters(), *head.parameters()]
    optimizer, scheduler = trainer.make_optimizer(params, config.ppo)
    batch, batch_stats, _ = trainer.build_batch(policy, head, None, None, shard, scores[rows], config, KLController(0.0),
                                                lora=False)
    stats = trainer.ppo_update(policy, head, None, None, batch, config, 0.0, optimizer, scheduler, params,
                               torch.Generator().manual_seed(0))
    weights = policy.state_dict() | {f"value_head.{k}": v for k, v in head.state_dict().items()}
    return distributed.mean_metrics(batch_stats | stats), batch.advantages, weights


def _rank(rank: int, world: int, port: int, out: str) -> None:
    """One rank of `torch.multiprocessing.spawn`: the environment torchrun would set, then the update on its rows."""
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world))
    assert distributed.init() == world
    size = ROWS // world
    torch.save(one_update(slice(rank * size, (rank + 1) * size)), os.path.join(out, f"rank{rank}.pt"))


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
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    # one writer: each step logged once, one TensorBoard event file, the checkpoints and the end-of-run files
    assert [m["step"] for m in read_metrics(out / "metrics.jsonl")] == [1, 2]
    assert len(os.listdir(out / "tb")) == 1
    assert checkpoint.list_checkpoints(str(out)) == [1, 2]
    assert {"config.yaml", "summary.json", "reward.png"} <= set(os.listdir(out))
    # the checkpoint does not depend on the number of ranks: one process continues the two-rank run
    summary = train(build_config("sentiment", "tiny", overrides=["steps=3", "tensorboard=false", *overrides]), resume=True)
    assert [m["step"] for m in read_metrics(out / "metrics.jsonl")] == [1, 2, 3]
    assert summary["steps"] == 3
