"""PPO over multi-turn episodes (RLEF, Gehring et al. 2024): policy per token, value per turn, KL per turn.

One step, top to bottom: `batch_size` prompts, each run as `group_size` episodes (`run_episodes`: answer, see
the feedback, answer again) -> every turn becomes its own (prompt, response) row -> re-score the rows (old
log-probs, reference log-probs, values) -> turn rewards minus the KL penalty -> advantages -> PPO epochs
(`trainer.ppo_update`) -> log -> checkpoint. Checkpoints, RNG state and the run directory are the single-turn
trainer's, so `--resume` and the run-directory contract are the same.

Advantages, `ppo.advantage` (N turn rows, R response positions, gamma = `ppo.gamma`, 1 in the paper):
- `turn` (the paper): a separate critic, initialised from the policy with a fresh linear head, predicts V_k at
  the last token of turn k's prompt (the whole conversation so far). G_k = r_k + gamma G_{k+1} over the turns of
  the episode, and every token of turn k gets A_k = G_k - V_k. The value loss is the clipped loss on the N turn
  predictions against G_k.
- `gae` (the paper's token-level ablation): a value per response token (value head or critic); GAE runs along
  the episode's response tokens concatenated over its turns, so a turn bootstraps from the next turn's value.
- `group` | `rloo` | `best` (critic-free): the group baselines of `trainer.GROUP_ADVANTAGES` over the episode
  returns of each prompt's `group_size` episodes; every token of an episode gets its episode's advantage.

KL to the initial policy, `ppo.kl`, with kl_t = `kl_estimate(log pi_t, log pi_ref_t)` (k1: log pi_t - log pi_ref_t):
- `reward-turn` (the paper, beta 0.05): r_k -= beta * mean_t kl_t over turn k's tokens. With k1 this is the log
  ratio of the geometric means of the turn's token probabilities under pi and pi_ref.
- `reward-response`: r_k -= beta * sum_t kl_t (the log ratio of the whole response's probabilities).
- `reward-token`: -beta * kl_t on each token with `gae`; with turn-level or group advantages tokens of a turn
  share one advantage, so it is the same as `reward-response`. `loss`: in the loss, as in the trainer.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
import torch
import yaml

from rlpr import distributed, models, tracking
from rlpr.config import ConfigError, TrainConfig, to_dict
from rlpr.fileio import write_text_atomic
from rlpr.generate import leading_padding, position_ids
from rlpr.rl import advantages as adv
from rlpr.rl import losses
from rlpr.rl.kl import KLController
from rlpr.rl.schedules import coefficient
from rlpr.rl.scoring import length_chunks, score, score_by_length
from rlpr.rl.trainer import (
    GROUP_ADVANTAGES,
    Batch,
    _save,
    eval_sampling,
    explained_variance,
    finish_run,
    load_trainable,
    make_optimizer,
    open_run,
    ppo_loss,
    ppo_update,
    restore_training,
)
from rlpr.tasks.code.episodes import Episode, collate_turns, episode_metrics, run_episodes


@dataclass
class TurnLevelBatch(Batch):
    """`trainer.Batch` over turn rows (old_values/returns None: the values are per turn), plus what the critic needs."""

    prompt_ids: torch.Tensor | None = None  # (N, P) each turn's conversation so far, left-padded
    prompt_mask: torch.Tensor | None = None  # (N, P)
    turn_old_values: torch.Tensor | None = None  # (N,) V_k at the rollout
    turn_returns: torch.Tensor | None = None  # (N,) G_k
    critic_top: int = 0  # > 0: the critic runs only its top blocks, on block_input (its blocks below = the policy's)


# ---------------------------------------------------------------- turn-level quantities


def turn_returns(rewards: torch.Tensor, episode: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """G_k = r_k + gamma G_{k+1} within each episode. (N,) -> (N,); the rows of an episode are consecutive, in turn order."""
    returns = torch.zeros_like(rewards)
    ids, values = episode.tolist(), rewards.tolist()
    following = 0.0
    for k in reversed(range(len(values))):
        last_turn = k + 1 == len(values) or ids[k + 1] != ids[k]
        following = values[k] + (0.0 if last_turn else gamma * following)
        returns[k] = following
    return returns


def turn_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, mask: torch.Tensor, estimator: str = "k1",
            reduce: str = "mean") -> torch.Tensor:
    """Per-turn KL: the mean (paper: log ratio of geometric-mean probabilities) or sum over the turn's tokens.
    (N, R) log-probs -> (N,)."""
    token_kl = losses.kl_estimate(logprobs, ref_logprobs, estimator) * mask
    total = token_kl.sum(1)
    return total / mask.sum(1).clamp(min=1.0) if reduce == "mean" else total


def turn_values(critic, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, block_input: torch.Tensor | None = None,
                top: int = 0, chunk: int = 0) -> torch.Tensor:
    """V_k at the last token of each left-padded prompt: (N, P) -> (N,). Causal attention makes this the value the
    critic gives that position inside the full (prompt, response) sequence, so the response is not run; for the
    same reason the prompt columns of the full sequences' `block_input` are the input its top `top` blocks need."""
    if 0 < chunk < prompt_ids.size(0):  # `chunk` prompts of similar length at a time, each cut to its own padding
        values = None
        for idx in length_chunks(prompt_mask, chunk):
            part = turn_values(critic, prompt_ids[idx], prompt_mask[idx],
                               block_input[idx] if block_input is not None else None, top)
            values = part.new_zeros(prompt_ids.size(0)) if values is None else values
            values[idx] = part
        return values
    left = leading_padding(prompt_mask)  # columns that are padding in every row: cut, as `score` does
    prompt_ids, prompt_mask = prompt_ids[:, left:], prompt_mask[:, left:]
    if block_input is not None:
        block_input = block_input[:, left : left + prompt_ids.size(1)]
    return critic(prompt_ids, prompt_mask, position_ids(prompt_mask), block_input, top)[:, -1]


def _episode_columns(mask: torch.Tensor, episode: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Where each response token of a turn row sits in its episode's concatenated responses: (N, R) columns, width."""
    lengths = mask.sum(1).long().tolist()
    starts, used = [], {}
    for row, e in enumerate(episode.tolist()):
        starts.append(used.get(e, 0))
        used[e] = starts[-1] + lengths[row]
    columns = torch.tensor(starts, device=mask.device)[:, None] + torch.arange(mask.size(1), device=mask.device)
    return columns, max(max(used.values(), default=1), 1)


def episode_gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, episode: torch.Tensor,
                gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE along each episode's response tokens, turns concatenated in order: (N, R) -> (advantages, returns), (N, R)."""
    columns, width = _episode_columns(mask, episode)
    n_episodes = int(episode.max().item()) + 1
    rows = episode[:, None].expand_as(mask)
    on = mask.bool()

    def pack(x):
        packed = x.new_zeros(n_episodes, width)
        packed[rows[on], columns[on]] = x[on]
        return packed

    advantages, returns = adv.gae(pack(rewards), pack(values), pack(mask), gamma, lam)
    unpack = lambda packed: packed[rows, columns.clamp(max=width - 1)] * mask  # noqa: E731
    return unpack(advantages), unpack(returns)


# ---------------------------------------------------------------- batch and loss


def build_turn_batch(policy, value_head, critic, reference, turns, config: TrainConfig, kl_coef: float, lora: bool,
                     top: int = 0, device=None, shared_top: tuple[int, int] = (0, 0)):
    """Old log-probs, values and advantages of the collated turns (`episodes.TurnBatch`) -> (batch, stats, ref_logprobs).
    `shared_top` = (reference, critic): K > 0 runs only that model's top K blocks on the policy's kept block input
    (`frozen_sharing`)."""
    ref_top, critic_top = shared_top
    ppo = config.ppo
    rollout = turns.rollout
    prompt_ids, prompt_mask = rollout.prompt_ids.to(device), rollout.prompt_mask.to(device)
    response_ids, response_mask = rollout.response_ids.to(device), rollout.response_mask.to(device)
    input_ids, attention_mask = torch.cat([prompt_ids, response_ids], 1), torch.cat([prompt_mask, response_mask], 1)
    mask = response_mask.float()
    temperature = config.sampling.temperature
    token_level = ppo.advantage == "gae"
    # Turn rows differ a lot in length (a first turn's prompt is a fraction of a third's): the passes without
    # values run a micro-batch of similar rows at a time, each cut to its own padding.
    chunk = ppo.micro_batch_size or ppo.mini_batch_size
    with torch.no_grad():
        if token_level:
            scored = score(policy, input_ids, attention_mask, response_ids, temperature, value_head, critic, top_blocks=top)
        else:
            scored = score_by_length(policy, input_ids, attention_mask, response_ids, chunk, temperature, top)
        ref_logprobs = None
        if lora and (ppo.kl != "off" or ppo.track_kl):
            with policy.disable_adapter():
                ref_logprobs = score_by_length(policy, input_ids, attention_mask, response_ids, chunk, temperature).logprobs
        elif reference is not None:
            ref_logprobs = score_by_length(reference, input_ids, attention_mask, response_ids, chunk, temperature, ref_top,
                                           scored.block_input if ref_top else None).logprobs
        old_values = None
        if ppo.advantage == "turn":
            old_values = turn_values(critic, prompt_ids, prompt_mask, scored.block_input if critic_top else None, critic_top,
                                     chunk)
    rewards = turns.rewards.to(device, mask.dtype) * ppo.reward_scale
    episode = turns.episode.to(device)
    stats: dict[str, float] = {}
    token_penalty = None
    if ref_logprobs is not None:
        stats["kl"] = turn_kl(scored.logprobs, ref_logprobs, mask, "k1", "sum").mean().item()  # per turn, as `trainer`
        stats["kl_turn"] = turn_kl(scored.logprobs, ref_logprobs, mask, "k1", "mean").mean().item()  # per token
        if ppo.kl == "reward-turn":
            rewards = rewards - kl_coef * turn_kl(scored.logprobs, ref_logprobs, mask, ppo.kl_estimator, "mean")
        elif ppo.kl == "reward-response" or (ppo.kl == "reward-token" and not token_level):
            rewards = rewards - kl_coef * turn_kl(scored.logprobs, ref_logprobs, mask, ppo.kl_estimator, "sum")
        elif ppo.kl == "reward-token":
            token_penalty = kl_coef * losses.kl_estimate(scored.logprobs, ref_logprobs, ppo.kl_estimator) * mask
    returns = None
    if ppo.advantage == "turn":
        returns = turn_returns(rewards, episode, ppo.gamma)
        advantages = (returns - old_values)[:, None] * mask
        stats["explained_variance"] = explained_variance(old_values, returns, torch.ones_like(returns))
        stats["value_mean"] = old_values.mean().item()
    elif token_level:
        token_rewards = torch.zeros_like(mask)
        token_rewards[torch.arange(mask.size(0), device=mask.device), losses.last_positions(mask)] = rewards
        if token_penalty is not None:
            token_rewards = token_rewards - token_penalty
        advantages, token_returns = episode_gae(token_rewards, scored.values, mask, episode, ppo.gamma, ppo.lam)
        stats["explained_variance"] = explained_variance(scored.values, token_returns, mask)
    else:
        totals = torch.zeros(int(episode.max().item()) + 1, device=device).index_add_(0, episode, rewards)
        advantages = GROUP_ADVANTAGES[ppo.advantage](totals, ppo.group_size)[episode][:, None] * mask
    if ppo.whiten_advantages:
        advantages = adv.whiten(advantages, mask)
    batch = TurnLevelBatch(
        input_ids, attention_mask, response_ids, mask, scored.logprobs,
        scored.values if token_level else None, advantages, token_returns if token_level else None,
        scored.block_input, top, prompt_ids=prompt_ids, prompt_mask=prompt_mask, turn_old_values=old_values,
        turn_returns=returns, critic_top=critic_top,
    )  # fmt: skip
    return batch, stats, ref_logprobs


def turn_ppo_loss(policy, value_head, critic, reference_logprobs, batch: TurnLevelBatch, idx, config: TrainConfig,
                  kl_coef: float, coefs: tuple[float, float]):
    """`trainer.ppo_loss` for the policy plus vf_coef * the clipped value loss on the critic's turn values."""
    loss, stats = ppo_loss(policy, None, None, reference_logprobs, batch, idx, config, kl_coef, coefs)
    shared = batch.block_input[idx] if batch.critic_top else None
    values = turn_values(critic, batch.prompt_ids[idx], batch.prompt_mask[idx], shared, batch.critic_top)
    vf_loss = losses.value_loss(values, batch.turn_old_values[idx], batch.turn_returns[idx], torch.ones_like(values),
                                config.ppo.value_clip)
    stats["vf_loss"] = vf_loss.item()
    return loss + config.ppo.vf_coef * vf_loss, stats


# ---------------------------------------------------------------- evaluation


def evaluate_episodes(policy, tokenizer, task, prompts: list[str], config: TrainConfig, device) -> tuple[dict, list[Episode]]:
    """Held-out episodes at the evaluation sampling (own seeded generator) -> (`eval_` metrics, episodes)."""
    if not prompts:
        return {}, []
    generator = torch.Generator(device).manual_seed(config.seed)
    policy.eval()
    episodes = run_episodes(policy, tokenizer, task, prompts, eval_sampling(config), generator, len(prompts), device=device)
    metrics = {"eval_reward_mean": float(np.mean([e.total_reward for e in episodes]))}
    metrics.update({f"eval_{k}": v for k, v in episode_metrics(episodes).items()})
    return metrics, episodes


def _samples(episodes: list[Episode]) -> list[dict]:
    return [{"answers": [t.text for t in e.turns], "reward": e.total_reward} for e in episodes]


# ---------------------------------------------------------------- the loop


def _check(config: TrainConfig) -> None:
    ppo, value = config.ppo, config.model.value
    if distributed.init() > 1:  # episodes give ranks unequal numbers of turn rows; the update needs equal shards
        raise ConfigError(f"multi-turn training (task {config.task}) runs in one process, not "
                          f"{distributed.world_size()}: launch it without torchrun / accelerate")
    if ppo.advantage == "turn" and value != "separate":
        raise ConfigError("ppo.advantage=turn predicts values with a separate critic: set model.value=separate")
    if ppo.advantage == "gae" and value == "none":
        raise ConfigError("ppo.advantage=gae needs a value model: set model.value to head or separate")
    if ppo.train_mode:
        raise ConfigError("ppo.train_mode (dropout in the update, as TRL 0.9) is for single-turn tasks")
    if config.sampling.random_length:
        raise ConfigError("sampling.random_length: multi-turn episodes give every turn the full max_new_tokens")


def frozen_sharing(policy, reference, critic, top: int) -> tuple[int, int]:
    """(reference, critic): `top` for each that has the policy's embeddings and frozen blocks below its top `top`
    blocks, so it runs only those on the block input the policy's scoring pass keeps (3 full passes over every
    turn become 1 full pass and 2 x `top` blocks); 0 for one that must run whole."""
    return tuple(top if m is not None and models.same_frozen_blocks(policy, m, top) else 0 for m in (reference, critic))


def load_critic(model_config, seed: int):
    """The separate value network: the starting policy's trunk and a zero-initialised head. With
    `model.train_layers` only its top blocks train too, like the policy's (CPU-sized runs)."""
    lm = models.load_model(model_config.name, model_config.dtype, seed)
    if model_config.train_layers:
        models.freeze_below(lm, model_config.train_layers)
    return models.Critic(lm)


def train(config: TrainConfig, resume: bool = False, task=None) -> dict:
    """Run multi-turn PPO for `config.ppo.steps` steps (continuing `config.out` when `resume`); returns the summary."""
    _check(config)
    ppo = config.ppo
    run_dir, resume_from, state, device, task = open_run(config, resume, task)
    model_config, tokenizer, policy, top = load_trainable(task, config, run_dir, device, resume_from)
    lora = bool(model_config.lora_rank)
    uses_critic = ppo.advantage == "turn" or (ppo.advantage == "gae" and model_config.value == "separate")
    critic = load_critic(model_config, config.seed).to(device) if uses_critic else None
    value_head = None
    if ppo.advantage == "gae" and model_config.value == "head":
        value_head = models.ValueHead(models.hidden_size(policy)).to(device)
    reference = None
    if not lora and (ppo.kl != "off" or ppo.track_kl):
        reference = models.load_model(model_config.name, model_config.dtype, config.seed).to(device).requires_grad_(False)

    trained = [policy] + [m for m in (value_head, critic) if m is not None]
    params = [p for m in trained for p in m.parameters() if p.requires_grad]
    optimizer, scheduler = make_optimizer(params, ppo)  # warm-up counted in optimiser steps, as the paper does
    kl_ctl = KLController(ppo.kl_coef, ppo.kl_target, ppo.kl_horizon)
    cpu_gen = torch.Generator().manual_seed(config.seed)  # prompt picks and mini-batch order
    device_gen = torch.Generator(device).manual_seed(config.seed + 1)  # sampling
    start_step, elapsed_before = restore_training(state, optimizer, scheduler, value_head, critic, kl_ctl, cpu_gen, device_gen)
    shared_top = frozen_sharing(policy, reference, critic, top)

    os.makedirs(run_dir, exist_ok=True)
    write_text_atomic(os.path.join(run_dir, "config.yaml"), yaml.safe_dump(to_dict(config) | {"out": run_dir}, sort_keys=False))
    train_prompts = task.prompts("train")
    eval_prompts = task.prompts("validation")[: config.eval_size]
    start_metrics, samples_before = state.get("start_metrics"), state.get("samples_before")
    if start_metrics is None:  # held-out episodes of the starting model; the first few are the run's samples
        start_metrics, shown = evaluate_episodes(policy, tokenizer, task, eval_prompts, config, device)
        samples_before = _samples(shown[: config.show_samples])
    loss_fn = turn_ppo_loss if ppo.advantage == "turn" else None
    tracker = tracking.Tracker(run_dir, ppo.steps, start_step, config.tensorboard, config.progress)
    started = time.perf_counter()
    eval_metrics, eval_episodes = {}, None
    try:
        for step in range(start_step, ppo.steps):
            # 1. rollout: batch_size prompts, each run as group_size episodes (consecutive), all in one batch
            t0 = time.perf_counter()
            eval_episodes = None  # set when this step evaluates: the end of the run reuses the last step's
            picks = torch.randint(len(train_prompts), (ppo.batch_size,), generator=cpu_gen).tolist()
            prompts = [train_prompts[i] for i in picks for _ in range(ppo.group_size)]
            policy.eval()
            timings: dict[str, float] = {}
            episodes = run_episodes(policy, tokenizer, task, prompts, config.sampling, device_gen, len(prompts),
                                    device=device, timings=timings)
            # 2. score the turns, rewards with the KL penalty, advantages
            t1 = time.perf_counter()
            turns = collate_turns(episodes, tokenizer.pad_token_id)
            batch, batch_stats, ref_logprobs = build_turn_batch(policy, value_head, critic, reference, turns, config,
                                                                kl_ctl.coef, lora, top, device, shared_top)
            # 3. PPO epochs over mini-batches of turns
            t2 = time.perf_counter()
            coefs = (coefficient(ppo.entropy_coef, ppo.coef_schedule, step, ppo.steps, ppo.coef_decay_steps),
                     coefficient(ppo.batch_entropy_coef, ppo.coef_schedule, step, ppo.steps, ppo.coef_decay_steps))
            update_stats = ppo_update(policy, value_head, critic, ref_logprobs, batch, config, kl_ctl.coef, optimizer,
                                      scheduler, params, cpu_gen, coefs, loss_fn)
            t3 = time.perf_counter()
            # 4. log
            if "kl" in batch_stats:
                kl_ctl.update(batch_stats["kl"], len(turns.episode))
            scores = [e.total_reward for e in episodes]
            generated = int(turns.rollout.response_mask.sum().item())
            metrics = {
                "step": step + 1,
                "time_s": round(elapsed_before + time.perf_counter() - started, 3),
                "reward_mean": float(np.mean(scores)),  # episode return, KL penalty not included
                "reward_std": float(np.std(scores)),
                "lr": scheduler.get_last_lr()[0],
                "kl_coef": kl_ctl.coef,
                "entropy_coef": coefs[0],
                "batch_entropy_coef": coefs[1],
                "tokens_per_s": generated / max(timings.get("generate_s", 0.0), 1e-9),
                "response_length": generated / max(len(turns.episode), 1),  # tokens per turn
                "time_rollout_s": t1 - t0,
                "time_generate_s": timings.get("generate_s", 0.0),
                "time_sandbox_s": timings.get("sandbox_s", 0.0),
                "time_score_s": t2 - t1,
                "time_update_s": t3 - t2,
                **batch_stats,
                **update_stats,
                **episode_metrics(episodes),
            }
            if config.eval_every and (step + 1) % config.eval_every == 0:
                t4 = time.perf_counter()
                eval_metrics, eval_episodes = evaluate_episodes(policy, tokenizer, task, eval_prompts, config, device)
                metrics.update(eval_metrics, time_eval_s=time.perf_counter() - t4)
            tracker.log(metrics)
            # 5. checkpoint
            if config.checkpoint_every and (step + 1) % config.checkpoint_every == 0 and step + 1 < ppo.steps:
                _save(run_dir, step + 1, policy, tokenizer, value_head, critic, optimizer, scheduler, kl_ctl,
                      cpu_gen, device_gen, elapsed_before + time.perf_counter() - started, samples_before, start_metrics, config)
        wall = elapsed_before + time.perf_counter() - started
        if start_step < ppo.steps:
            _save(run_dir, ppo.steps, policy, tokenizer, value_head, critic, optimizer, scheduler, kl_ctl,
                  cpu_gen, device_gen, wall, samples_before, start_metrics, config)
        if eval_episodes is None:
            eval_metrics, eval_episodes = evaluate_episodes(policy, tokenizer, task, eval_prompts, config, device)
    finally:
        tracker.close()
        if hasattr(task, "close"):  # the sandbox pool's worker processes
            task.close()
    samples = [  # the model's answers in each turn of the first held-out episodes, before and after training
        {"prompt": p, "before": b["answers"], "after": a["answers"], "reward_before": b["reward"], "reward_after": a["reward"]}
        for p, b, a in zip(eval_prompts, samples_before, _samples(eval_episodes[: config.show_samples]))
    ]
    return finish_run(run_dir, config, model_config.name, task, tracker.history, wall, eval_metrics, start_metrics, samples)
