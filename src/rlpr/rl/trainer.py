"""The PPO loop, top to bottom: rollout -> reward -> advantages -> PPO epochs over mini-batches -> log -> checkpoint.

The trainer knows nothing about any task: it asks the task for prompts and rewards and logs what the task
measures. Everything random draws from two seeded generators saved in each checkpoint, so a resumed run
repeats the uninterrupted one exactly on the CPU.

Data-parallel (`torchrun --nproc_per_node N -m rlpr train ...`, see `rlpr.distributed`): every rank draws the
same prompts and samples and scores its shard of them (whole groups), whitening and explained variance use
sums over all ranks, each optimiser step averages the ranks' gradients, and rank 0 logs the step's figures over
all ranks and alone evaluates and writes the run directory. The ranks' sampling generators are re-seeded from
(seed, step, rank) at each step, so a resumed run repeats the uninterrupted one on the same number of ranks;
checkpoints (rank 0's weights and optimiser) do not depend on it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import yaml

from rlpr import checkpoint, distributed, fsdp, malloc, models, optim, tracking
from rlpr.config import ConfigError, TrainConfig, to_dict
from rlpr.fileio import write_text_atomic
from rlpr.generate import SamplingConfig, decode_responses
from rlpr.rl import advantages as adv
from rlpr.rl import losses
from rlpr.rl.kl import KLController
from rlpr.rl.logprobs import sampling_logits
from rlpr.rl.schedules import coefficient
from rlpr.rl.scoring import Scored, score
from rlpr.rollout import RolloutConfig, check_engine, make_engine
from rlpr.rollout.rewards import RewardError, RewardPool, TaskSpec, checked_rewards  # noqa: F401 (RewardError: re-exported)
from rlpr.tasks import make_task

# Critic-free advantages from the G samples of each prompt: (N*G,) scores -> (N*G,) advantages.
GROUP_ADVANTAGES = {
    "group": adv.group_advantages,  # GRPO: minus the group mean, over the group std
    "rloo": adv.leave_one_out_advantages,  # minus the mean of the other samples
    "best": adv.best_of_group_advantages,  # 1 for the group's best sample(s), 0 for the rest
}


SFT_MODEL = "sft"  # model.name that asks for the task's supervised start
MULTI_TURN_ONLY = {"turn", "reward-turn"}  # ppo.advantage / ppo.kl values only rlpr.rl.turns implements


@dataclass
class Batch:
    """One step's rollout with everything PPO needs. B rows, R response positions."""

    input_ids: torch.Tensor  # (B, P+R)
    attention_mask: torch.Tensor  # (B, P+R)
    response_ids: torch.Tensor  # (B, R)
    mask: torch.Tensor  # (B, R) float, 1 on response tokens
    old_logprobs: torch.Tensor | None  # (B, R); None: on-policy, the update's own log-probs (`skips_scoring`)
    old_values: torch.Tensor | None  # (B, R)
    advantages: torch.Tensor  # (B, R)
    returns: torch.Tensor | None  # (B, R)
    block_input: torch.Tensor | None = None  # (B, P+R, H) input of the trainable top blocks (frozen below)
    top_blocks: int = 0  # how many blocks train; 0 = run the whole model in each update
    banned_ids: torch.Tensor | None = None  # tokens the sampler never draws: scored with probability 0


def default_run_dir(task: str) -> str:
    return os.path.join("runs", f"{task}-{time.strftime('%Y%m%d-%H%M%S')}")


def resolve_device(name: str) -> torch.device:
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name)
    if device.type == "cuda" and device.index is None and distributed.world_size() > 1:
        device = torch.device("cuda", distributed.local_rank())  # one GPU per rank
    return device


def generate_texts(policy, tokenizer, prompts: list[str], sampling: SamplingConfig, device, seed: int, task=None,
                   engine=None):
    """Sample one response per prompt with a private generator (leaves the training RNG untouched), through
    `engine` (by default the hf engine on `policy`)."""
    if not prompts:
        return []
    generator = torch.Generator(device).manual_seed(seed)
    if engine is None:
        engine = make_engine(RolloutConfig(), policy, tokenizer, _eos_ids(tokenizer, policy),
                             getattr(task, "banned_token_ids", None))
    return decode_responses(tokenizer, engine.generate(prompts, sampling, generator), sampling.stop)


def evaluate(policy, tokenizer, task, prompts: list[str], sampling: SamplingConfig, device, seed: int, engine=None,
             reward_pool: RewardPool | None = None) -> dict:
    """Held-out reward and task metrics, prefixed `eval_`; sampled by `engine`, rewarded by `reward_pool` if given."""
    responses = generate_texts(policy, tokenizer, prompts, sampling, device, seed, task, engine)
    rewards = reward_pool(prompts, responses) if reward_pool is not None else checked_rewards(task, prompts, responses)
    metrics = {"eval_reward_mean": float(np.mean(rewards))}
    metrics.update({f"eval_{k}": v for k, v in task.metrics(prompts, responses, rewards).items()})
    return metrics


def eval_sampling(config: TrainConfig) -> SamplingConfig:
    """Held-out sampling: the run's sampling at full length, at `eval_temperature` when set (0 = greedy)."""
    changes = {"random_length": False}
    if config.eval_temperature is not None:
        changes["temperature"] = config.eval_temperature
    return dataclasses.replace(config.sampling, **changes)


def prepared_model(task, config: TrainConfig, run_dir: str):
    """The model to train: `config.model`, or for `model.name=sft` the task's supervised start (its optional
    `supervised_start(out_dir, seed)`), trained once into `run_dir/sft` with the run's seed and reused on resume."""
    if config.model.name != SFT_MODEL or not hasattr(task, "supervised_start"):
        return config.model
    directory = os.path.join(run_dir, "sft")
    if not os.path.exists(os.path.join(directory, "config.json")):
        task.supervised_start(directory, config.seed)
    return dataclasses.replace(config.model, name=directory)


def _eos_ids(tokenizer, policy) -> list[int]:
    ids = {tokenizer.eos_token_id}
    eos = getattr(policy.generation_config, "eos_token_id", None) if hasattr(policy, "generation_config") else None
    ids.update(eos if isinstance(eos, list) else [eos])
    return sorted(i for i in ids if i is not None)


def update_blocks(policy, model_config) -> int:
    """How many top blocks an update needs to run: `train_layers` when the blocks below are frozen and the
    architecture can start at a block (see `models.top_blocks`), else 0 (the whole model)."""
    if (not model_config.train_layers or not model_config.reuse_frozen_blocks or model_config.lora_rank
            or not models.supports_top_blocks(policy)):
        return 0
    n_blocks = len(policy.get_decoder().layers)
    return model_config.train_layers if model_config.train_layers < n_blocks else 0


def build_batch(policy, value_head, critic, reference, rollout, scores, config: TrainConfig, kl_ctl, lora: bool,
                top: int = 0, ref_top: int = 0, banned_ids: torch.Tensor | None = None):
    """Old log-probs and values, per-token rewards (score at the last token, KL where configured), advantages.
    With `top` > 0 it also keeps the frozen blocks' output, which every update reuses, and with `ref_top` > 0 the
    reference runs only its top blocks on it (`models.same_frozen_blocks`). `scores` is a list, or a function
    that returns it: called after the scoring passes, so reward workers can run meanwhile (reward.overlap).
    `banned_ids`: the task's tokens the sampler never draws, left out of every distribution scored."""
    ppo = config.ppo
    mask = rollout.response_mask.float()
    temperature = config.sampling.temperature
    with torch.no_grad():
        if skips_scoring(config, rollout.input_ids.size(0)):
            scored = Scored(logprobs=None, entropy=None, logits=None, values=None)
            top = 0
        else:
            scored = score(policy, rollout.input_ids, rollout.attention_mask, rollout.response_ids, temperature,
                           value_head, critic, top_blocks=top, banned_ids=banned_ids)
        ref_logprobs = None
        if lora and (ppo.kl != "off" or ppo.track_kl):
            with policy.disable_adapter():
                ref_logprobs = score(policy, rollout.input_ids, rollout.attention_mask, rollout.response_ids, temperature,
                                     banned_ids=banned_ids).logprobs
        elif reference is not None:
            ref_logprobs = score(reference, rollout.input_ids, rollout.attention_mask, rollout.response_ids, temperature,
                                 top_blocks=ref_top, block_input=scored.block_input if ref_top else None,
                                 banned_ids=banned_ids).logprobs
    if callable(scores):
        scores = scores()
    last = losses.last_positions(mask)
    rows = torch.arange(mask.size(0), device=mask.device)
    rewards = torch.zeros_like(mask)
    rewards[rows, last] = torch.tensor(scores, device=mask.device, dtype=mask.dtype) * ppo.reward_scale
    stats = {}
    if ref_logprobs is not None:
        token_kl = losses.kl_estimate(scored.logprobs, ref_logprobs, ppo.kl_estimator) * mask
        stats["kl"] = losses.kl_estimate(scored.logprobs, ref_logprobs, "k1").mul(mask).sum(1).mean().item()
        if ppo.kl == "reward-token":
            rewards = rewards - kl_ctl.coef * token_kl
        elif ppo.kl == "reward-response":
            rewards[rows, last] -= kl_ctl.coef * token_kl.sum(1)
    if ppo.advantage == "gae":
        advantages, returns = adv.gae(rewards, scored.values, mask, ppo.gamma, ppo.lam)
        values = scored.values
        stats["explained_variance"] = explained_variance(values, returns, mask, distributed.global_sum)
    else:
        totals = rewards.sum(1)
        per_seq = GROUP_ADVANTAGES[ppo.advantage](totals, ppo.group_size)
        advantages, returns, values = per_seq[:, None] * mask, None, None
    if ppo.whiten_advantages:  # over all ranks' rows: the statistics of the whole batch
        advantages = adv.whiten(advantages, mask, total=distributed.global_sum)
    batch = Batch(rollout.input_ids, rollout.attention_mask, rollout.response_ids, mask, scored.logprobs, values, advantages,
                  returns, scored.block_input, top, banned_ids)
    return batch, stats, ref_logprobs


def skips_scoring(config: TrainConfig, rows: int) -> bool:
    """True when the step's update is one optimiser step on the whole batch (one epoch, one mini-batch), with
    no value and no reference: the old log-probs are then the update's own (ratio 1, as TRL's GRPO takes
    them on-policy), so the no-grad scoring pass over the batch has nothing to give and is skipped."""
    ppo = config.ppo
    one_step = ppo.ppo_epochs == 1 and ppo.mini_batch_size // distributed.world_size() >= rows
    return one_step and ppo.advantage != "gae" and ppo.kl == "off" and not ppo.track_kl


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, total=torch.sum) -> float:
    """1 - Var(G - V) / Var(G) over the masked entries, NaN when the returns do not vary (`total` as in
    `adv.masked_moments`)."""
    var = adv.masked_moments(returns, mask, total)[1]
    return float("nan") if var.item() == 0 else (1 - adv.masked_moments(returns - values, mask, total)[1] / var).item()


def ppo_update(policy, value_head, critic, reference_logprobs, batch: Batch, config: TrainConfig, kl_coef: float,
               optimizer, scheduler, params, generator: torch.Generator, coefs: tuple[float, float] | None = None,
               loss_fn=None) -> dict:
    """PPO epochs over shuffled mini-batches; returns the mean of each loss statistic.

    `coefs` = (entropy_coef, batch_entropy_coef) for this step; by default the config's. `loss_fn`: a loss with
    `ppo_loss`'s signature and return, by default `ppo_loss` (the multi-turn trainer adds turn-level values).

    With W ranks, `batch` is this rank's shard and each rank runs mini_batch_size / W of its rows per optimiser
    step (the same shuffle on every rank: `generator` is in the same state); the gradients are averaged over
    the ranks before clipping, so the step is the one a single process would take on the W slices together,
    with each slice as one of its micro-batches. The returned statistics are this rank's.
    """
    loss_fn = loss_fn or ppo_loss
    ppo = config.ppo
    coefs = coefs if coefs is not None else (ppo.entropy_coef, ppo.batch_entropy_coef)
    n = batch.input_ids.size(0)
    mini_size = ppo.mini_batch_size // distributed.world_size()  # this rank's slice of a global mini-batch
    micro = ppo.micro_batch_size or mini_size
    sums: dict[str, float] = {}
    count = 0
    for _ in range(ppo.ppo_epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, mini_size):
            mini = order[start : start + mini_size]
            optimizer.zero_grad(set_to_none=True)
            stats: dict[str, float] = {}
            for m_start in range(0, len(mini), micro):
                idx = mini[m_start : m_start + micro].to(batch.input_ids.device)
                weight = len(idx) / len(mini)
                loss, micro_stats = loss_fn(policy, value_head, critic, reference_logprobs, batch, idx, config, kl_coef, coefs)
                (loss * weight).backward()
                for k, v in micro_stats.items():
                    stats[k] = stats.get(k, 0.0) + v * weight
            distributed.average_gradients(params)
            max_norm = ppo.max_grad_norm if ppo.max_grad_norm is not None else math.inf
            stats["grad_norm"] = optim.clip_gradients(params, max_norm)
            optimizer.step()
            scheduler.step()
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1
    return {k: v / count for k, v in sums.items()}


def ppo_loss(policy, value_head, critic, reference_logprobs, batch: Batch, idx, config: TrainConfig, kl_coef: float,
             coefs: tuple[float, float]):
    ppo = config.ppo
    entropy_coef, batch_entropy_coef = coefs
    mask = batch.mask[idx]
    block_input = batch.block_input[idx] if batch.block_input is not None else None
    scored = score(policy, batch.input_ids[idx], batch.attention_mask[idx], batch.response_ids[idx],
                   config.sampling.temperature, value_head, critic, batch.top_blocks, block_input, batch.banned_ids)
    old_logprobs = batch.old_logprobs[idx] if batch.old_logprobs is not None else scored.logprobs.detach()
    pg_loss, stats = losses.policy_loss(scored.logprobs, old_logprobs, batch.advantages[idx], mask, ppo.clip)
    # Both entropies are logged every step; they need gradients only when their coefficient is on.
    entropy = losses.masked_mean(scored.entropy if entropy_coef else scored.entropy.detach(), mask)
    with nullcontext() if batch_entropy_coef else torch.no_grad():
        sampled = functools.partial(sampling_logits, temperature=config.sampling.temperature, banned_ids=batch.banned_ids)
        batch_entropy, batch_max = losses.batch_entropy(scored.logits[:, : mask.size(1)], mask,
                                                        ppo.batch_entropy_position, sampled)
    loss = pg_loss - entropy_coef * entropy - batch_entropy_coef * batch_entropy
    stats = {k: v.item() for k, v in stats.items()}
    if scored.values is not None:
        vf_loss = losses.value_loss(scored.values, batch.old_values[idx], batch.returns[idx], mask, ppo.value_clip)
        loss = loss + ppo.vf_coef * vf_loss
        stats["vf_loss"] = vf_loss.item()
    if ppo.kl == "loss":
        kl = losses.masked_mean(losses.kl_estimate(scored.logprobs, reference_logprobs[idx], ppo.kl_estimator), mask)
        loss = loss + kl_coef * kl
    stats.update(pg_loss=pg_loss.item(), entropy=entropy.item(), batch_entropy=batch_entropy.item(),
                 batch_max_action=batch_max.item())
    return loss, stats


def train(config: TrainConfig, resume: bool = False, task=None) -> dict:
    """Run PPO for `config.ppo.steps` steps (continuing the run in `config.out` when `resume`); returns the summary.

    `task` is any object with the task interface (prompts, reward, metrics); by default the one named by `config.task`.
    """
    reward_source = task if task is not None else TaskSpec(config.task, config.task_config)  # rebuilt by reward workers
    task = task if task is not None else make_task(config.task, config.task_config)
    if hasattr(task, "step"):  # a multi-turn task (RLEF) trains on whole episodes
        if config.rollout.engine != "hf" or config.reward.workers:
            raise ConfigError(f"rollout.engine and reward.workers are for single-turn tasks; {task.name} samples with "
                              "the hf engine and runs its tests in its own sandbox pool (task_config.workers)")
        from rlpr.rl import turns

        return turns.train(config, resume, task)
    ppo = config.ppo
    for key, value in (("ppo.advantage", ppo.advantage), ("ppo.kl", ppo.kl)):
        if value in MULTI_TURN_ONLY:
            raise ConfigError(f"{key}={value} is for multi-turn tasks (rlef); task {task.name} is single-turn")
    fsdp.check_config(config)
    world = distributed.init()  # launched by torchrun / accelerate: join the ranks; else one process, no group
    for key, value in (("ppo.batch_size", ppo.batch_size), ("ppo.mini_batch_size", ppo.mini_batch_size)):
        if value % world:
            raise ConfigError(f"{key}={value}: must be a multiple of the number of processes ({world})")
    main = distributed.is_main()
    run_dir, resume_from, state, device, task = open_run(config, resume, task)
    check_engine(config.rollout, device, world, bool(config.model.lora_rank))  # before any model loads
    if ppo.train_mode and config.rollout.engine != "hf":
        raise ConfigError(f"ppo.train_mode samples with dropout, which rollout.engine={config.rollout.engine} cannot; "
                          "use rollout.engine=hf")

    model_config, tokenizer, policy, top = load_trainable(task, config, run_dir, device, resume_from)
    lora = bool(model_config.lora_rank)
    use_values = ppo.advantage == "gae" and model_config.value != "none"
    if ppo.advantage == "gae" and not use_values:
        raise ValueError("ppo.advantage=gae needs a value model: set model.value to head or separate")
    value_head = models.ValueHead(models.hidden_size(policy)).to(device) if use_values and model_config.value == "head" else None
    critic = None
    if use_values and model_config.value == "separate":
        critic = models.Critic(models.load_model(model_config.name, model_config.dtype, config.seed)).to(device)
    reference = None
    if not lora and (ppo.kl != "off" or ppo.track_kl):
        reference = models.load_model(model_config.name, model_config.dtype, config.seed).to(device).requires_grad_(False)
    ref_top = top if reference is not None and models.same_frozen_blocks(policy, reference, top) else 0
    if config.distributed.strategy == "fsdp":  # before the optimiser: FSDP replaces the parameters by their shards
        fsdp.shard_models(policy, value_head, critic)

    params = [p for p in policy.parameters() if p.requires_grad]
    params += list(value_head.parameters()) if value_head is not None else []
    params += list(critic.parameters()) if critic is not None else []
    optimizer, scheduler = make_optimizer(params, ppo)
    kl_ctl = KLController(ppo.kl_coef, ppo.kl_target, ppo.kl_horizon)
    cpu_gen = torch.Generator().manual_seed(config.seed)
    device_gen = torch.Generator(device).manual_seed(config.seed + 1)
    start_step, elapsed_before = restore_training(state, optimizer, scheduler, value_head, critic, kl_ctl, cpu_gen, device_gen)
    distributed.broadcast_parameters(params)  # every rank starts from rank 0's weights
    banned = getattr(task, "banned_token_ids", None)
    engine = make_engine(config.rollout, policy, tokenizer, _eos_ids(tokenizer, policy), banned, config.seed)
    banned = torch.tensor(banned, dtype=torch.long, device=device) if banned else None  # scored as they are sampled
    reward_pool = RewardPool(task, config.reward, reward_source)  # closed after the last step

    if main:
        os.makedirs(run_dir, exist_ok=True)
        write_text_atomic(os.path.join(run_dir, "config.yaml"), yaml.safe_dump(to_dict(config) | {"out": run_dir}, sort_keys=False))
    train_prompts = task.prompts("train")
    eval_prompts = task.prompts("validation")[: config.eval_size]
    show = eval_prompts[: config.show_samples]
    held_out = eval_sampling(config)
    samples_before = state.get("samples_before")
    start_metrics = state.get("start_metrics")  # held-out metrics of the starting model
    with fsdp.gathered(policy):  # fsdp: every rank gathers the weights rank 0 samples with
        if samples_before is None and main:
            samples_before = generate_texts(policy, tokenizer, show, config.sampling, device, config.seed, task, engine)
        if start_metrics is None and main:
            start_metrics = evaluate(policy, tokenizer, task, eval_prompts, held_out, device, config.seed, engine,
                                     reward_pool)
    if main:
        tracker = tracking.Tracker(run_dir, ppo.steps, start_step, config.tensorboard, config.progress)
    else:
        tracker = tracking.NullTracker()
    started = time.perf_counter()
    eval_metrics = {}
    try:
        for step in range(start_step, ppo.steps):
            # 1. rollout: batch_size prompts, each sampled group_size times (consecutive rows); with W ranks every
            # rank draws the same prompts and samples its batch_size / W of them, whole groups, from its own stream
            t0 = time.perf_counter()
            picks = torch.randint(len(train_prompts), (ppo.batch_size,), generator=cpu_gen).tolist()
            prompts = [train_prompts[i] for i in distributed.shard(picks) for _ in range(ppo.group_size)]
            if world > 1:
                device_gen.manual_seed(distributed.step_seed(config.seed, step))
            policy.train(ppo.train_mode and step > 0)  # ppo.train_mode: TRL samples in the mode its update left
            with fsdp.gathered(policy):  # fsdp: ranks may stop sampling at different lengths
                rollout = engine.generate(prompts, config.sampling, device_gen)
            policy.eval()  # the scoring pass, as in TRL, runs without dropout
            engine.sleep()  # vllm: its GPU memory goes back to the trainer until the next rollout
            gen_time = time.perf_counter() - t0
            responses = decode_responses(tokenizer, rollout, config.sampling.stop)
            # 2. reward: in this process or in reward workers; with reward.overlap, during the scoring passes of step 3
            t1 = time.perf_counter()
            pending = reward_pool.submit(prompts, responses)
            if not config.reward.overlap:
                pending.result()
            # 3. advantages
            t2 = time.perf_counter()
            waited = pending.wait_s
            batch, batch_stats, ref_logprobs = build_batch(policy, value_head, critic, reference, rollout, pending.result,
                                                           config, kl_ctl, lora, top, ref_top, banned)
            scores = pending.result()
            overlap_wait = pending.wait_s - waited  # time step 3 spent waiting for rewards, counted as reward time
            batch_stats = distributed.mean_metrics(batch_stats)  # the KL coefficient must move alike on every rank
            # 4. PPO epochs
            t3 = time.perf_counter()
            coefs = (coefficient(ppo.entropy_coef, ppo.coef_schedule, step, ppo.steps, ppo.coef_decay_steps),
                     coefficient(ppo.batch_entropy_coef, ppo.coef_schedule, step, ppo.steps, ppo.coef_decay_steps))
            policy.train(ppo.train_mode)
            update_stats = distributed.mean_metrics(ppo_update(policy, value_head, critic, ref_logprobs, batch, config,
                                                               kl_ctl.coef, optimizer, scheduler, params, cpu_gen, coefs))
            policy.eval()
            engine.sync_weights(policy)
            t4 = time.perf_counter()
            # 5. log: reward and task figures over every rank's samples; timings are rank 0's
            lengths = rollout.response_mask.sum(1).tolist()
            prompts, responses, scores, lengths = distributed.gather(prompts, responses, scores, lengths)
            if "kl" in batch_stats:
                kl_ctl.update(batch_stats["kl"], len(prompts))
            metrics = {
                "step": step + 1,
                "time_s": round(elapsed_before + time.perf_counter() - started, 3),
                "reward_mean": float(np.mean(scores)),
                "reward_std": float(np.std(scores)),
                "lr": scheduler.get_last_lr()[0],
                "kl_coef": kl_ctl.coef,
                "entropy_coef": coefs[0],
                "batch_entropy_coef": coefs[1],
                "tokens_per_s": sum(lengths) / max(gen_time, 1e-9),
                "response_length": float(np.mean(lengths)),
                "time_generate_s": gen_time,
                "time_reward_s": t2 - t1 + overlap_wait,
                "time_score_s": t3 - t2 - overlap_wait,
                "time_update_s": t4 - t3,
                **batch_stats,
                **update_stats,
                **task.metrics(prompts, responses, scores),
            }
            if config.eval_every and (step + 1) % config.eval_every == 0:
                with fsdp.gathered(policy):
                    if main:
                        eval_metrics = evaluate(policy, tokenizer, task, eval_prompts, held_out, device, config.seed,
                                                engine, reward_pool)
                        metrics.update(eval_metrics)
            tracker.log(metrics)
            # 6. checkpoint
            if config.checkpoint_every and (step + 1) % config.checkpoint_every == 0 and step + 1 < ppo.steps:
                _save(run_dir, step + 1, policy, tokenizer, value_head, critic, optimizer, scheduler, kl_ctl,
                      cpu_gen, device_gen, elapsed_before + time.perf_counter() - started, samples_before, start_metrics, config)
    finally:
        tracker.close()
        reward_pool.close()
    wall = elapsed_before + time.perf_counter() - started
    if start_step < ppo.steps:
        _save(run_dir, ppo.steps, policy, tokenizer, value_head, critic, optimizer, scheduler, kl_ctl,
              cpu_gen, device_gen, wall, samples_before, start_metrics, config)
    with fsdp.gathered(policy):
        if main:  # rank 0 evaluates and writes the summary
            if not config.eval_every or ppo.steps % config.eval_every:  # rewarded in this process: the workers are gone
                eval_metrics = evaluate(policy, tokenizer, task, eval_prompts, held_out, device, config.seed, engine)
            samples_after = generate_texts(policy, tokenizer, show, config.sampling, device, config.seed, task, engine)
    if not main:
        return distributed.from_main(None)
    samples = [
        {"prompt": p, "before": b, "after": a,
         "reward_before": r_b, "reward_after": r_a}
        for p, b, a, r_b, r_a in zip(show, samples_before, samples_after,
                                     checked_rewards(task, show, samples_before), checked_rewards(task, show, samples_after))
    ]
    return distributed.from_main(finish_run(run_dir, config, model_config.name, task, tracker.history, wall, eval_metrics,
                                            start_metrics, samples))


def finish_run(run_dir: str, config: TrainConfig, model_name: str, task, history: list[dict], wall: float,
               eval_metrics: dict, start_metrics: dict, samples: list[dict]) -> dict:
    """Write summary.json (final and best step metrics, wall time, held-out metrics at the end and the start,
    samples before and after, the task's headline figures) and reward.png; returns the summary."""
    summary = tracking.summarise(history, wall, {
        "task": config.task,
        "run_dir": run_dir,
        "model": model_name,
        "ranks": distributed.world_size(),  # processes that trained it (torchrun / accelerate launch)
        **eval_metrics,
        "start": start_metrics,
        "samples": samples,
    })
    if hasattr(task, "summary"):  # the task's headline figures
        summary.update(task.summary(start_metrics, eval_metrics))
    tracking.write_summary(run_dir, summary)
    if history:
        tracking.plot_rewards(history, os.path.join(run_dir, "reward.png"), f"{config.task}: {config.model.name}")
    return summary


def open_run(config: TrainConfig, resume: bool, task=None):
    """Start or continue the run in `config.out` -> (run_dir, checkpoint to resume from or None, its trainer state
    or {}, device, task). Seeds the global RNGs; a resumed run then restores them (`restore_training`)."""
    run_dir = distributed.from_main(config.out or default_run_dir(config.task))  # the default's timestamp is rank 0's
    resume_from = checkpoint.latest_checkpoint(run_dir) if resume else None
    if resume and resume_from is None:
        raise FileNotFoundError(f"--resume: no checkpoint in {checkpoint.checkpoint_root(run_dir)}")
    state = checkpoint.load_state(resume_from) if resume_from else {}
    _seed_everything(config.seed)
    device = resolve_device(config.device)
    if device.type == "cpu" and config.keep_freed_memory:
        malloc.keep_freed_memory()
    task = task if task is not None else make_task(config.task, config.task_config)
    return run_dir, resume_from, state, device, task


def load_trainable(task, config: TrainConfig, run_dir: str, device, resume_from: str | None):
    """-> (model config after `prepared_model`, tokenizer, policy on `device` (the checkpoint's weights
    on resume), how many top blocks an update runs (`update_blocks`))."""
    with distributed.main_first():  # a model the task prepares in the run directory is built once, by rank 0
        model_config = prepared_model(task, config, run_dir)
    tokenizer = models.load_tokenizer(model_config.name)
    policy = models.load_policy(model_config, config.seed, resume_from).to(device)
    if model_config.gradient_checkpointing:
        policy.gradient_checkpointing_enable()
    return model_config, tokenizer, policy, update_blocks(policy, model_config)


def make_optimizer(params, ppo):
    """AdamW and its schedule: linear warm-up over `ppo.warmup_steps` optimiser steps, then `ppo.lr_schedule`
    (constant, or a linear or cosine decay that reaches 0 at the run's last optimiser step)."""
    optimizer = optim.adamw(params, lr=ppo.lr, weight_decay=ppo.weight_decay, eps=ppo.adam_eps)
    warmup = max(ppo.warmup_steps, 0)
    total = ppo.steps * ppo.ppo_epochs * math.ceil(ppo.batch_size * ppo.group_size / ppo.mini_batch_size)

    def factor(s: int) -> float:
        if s < warmup:
            return (s + 1) / warmup
        return coefficient(1.0, ppo.lr_schedule, s - warmup, total - warmup)

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def restore_training(state: dict, optimizer, scheduler, value_head, critic, kl_ctl, cpu_gen, device_gen) -> tuple[int, float]:
    """Load a checkpoint's trainer state (see `_save`) into the live objects -> (step, elapsed seconds); (0, 0.0)
    and nothing touched for a fresh run (`state` empty)."""
    if not state:
        return 0, 0.0
    fsdp.load_optimizer_state(optimizer, state["optimizer"])  # optimizer.load_state_dict, sharded under fsdp
    scheduler.load_state_dict(state["scheduler"])
    if value_head is not None:
        fsdp.load_state(value_head, state["value_head"])
    if critic is not None:
        fsdp.load_state(critic, state["critic"])
    kl_ctl.coef = state["kl_coef"]
    cpu_gen.set_state(state["cpu_gen"])
    device_gen.set_state(state["device_gen"])
    _restore_global_rng(state["rng"])
    return state["step"], state["elapsed_s"]


def _save(run_dir, step, policy, tokenizer, value_head, critic, optimizer, scheduler, kl_ctl, cpu_gen, device_gen,
          elapsed, samples_before, start_metrics, config: TrainConfig) -> None:
    """Checkpoint `step`, written by rank 0 (under ddp every rank holds the same weights and optimiser state;
    under fsdp every rank first helps gather the whole tensors) while the others wait."""
    state = {
        "step": step,
        "optimizer": fsdp.full_optimizer_state(optimizer),
        "scheduler": scheduler.state_dict(),
        "value_head": fsdp.full_state(value_head),
        "critic": fsdp.full_state(critic),
        "kl_coef": kl_ctl.coef,
        "cpu_gen": cpu_gen.get_state(),
        "device_gen": device_gen.get_state(),
        "rng": _global_rng(),
        "elapsed_s": elapsed,
        "samples_before": samples_before,
        "start_metrics": start_metrics,
    }
    weights = fsdp.full_state(policy) if fsdp.is_sharded(policy) else None  # None: the policy's own state_dict
    if distributed.is_main():
        checkpoint.save_checkpoint(run_dir, step, policy, tokenizer, state, keep=config.keep_checkpoints, weights=weights)
    distributed.barrier()


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _global_rng() -> dict:
    rng = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def _restore_global_rng(rng: dict) -> None:
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
