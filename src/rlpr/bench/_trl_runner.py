"""TRL's side of `rlpr bench vs-trl`: train a few GRPO or PPO steps with TRL and print one JSON line.

Run with a TRL venv's python (see `rlpr.bench._trl_venvs`): it imports nothing from rlpr, so the process holds
TRL's stack alone and its peak RSS is TRL's own. rlpr imports only its standard-library helpers (the result
marker and the memory readings), so both sides measure alike.

    python _trl_runner.py SPEC.json   ->   stdout line `VS-TRL-RESULT {"step_s": [...], "reward": [...], ...}`

SPEC (written by `rlpr.bench.vs_trl`): algo (grpo | ppo), model_dir, prompts (one step's prompts after another,
in the order rlpr drew them), batch (prompts per step), group (samples per prompt, GRPO), new_tokens, steps,
lr, threads, seed, ppo_epochs, mini_batches, kl_coef (PPO).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time

MARKER = "VS-TRL-RESULT "


def rss_mb() -> float:
    """Resident memory now, MiB (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def vader_scores(analyzer, prompts: list[str], responses: list[str]) -> list[float]:
    """The reward of rlpr's sentiment task: VADER compound score of prompt + response."""
    return [analyzer.polarity_scores(p + r)["compound"] for p, r in zip(prompts, responses, strict=True)]


def step_timer(reward_key: str):
    """A TrainerCallback recording each optimiser step's wall time and the step's logged mean reward.

    A step is the time from the previous step's end (or the start of training) to this step's end: PPOTrainer
    never calls on_step_begin, so both trainers are timed the same way, logging included, as rlpr's time_s is.
    """
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.step_s: list[float] = []
            self.reward: list[float] = []
            self.rss_start_mb = 0.0
            self._last = 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            self.rss_start_mb = rss_mb()
            self._last = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            now = time.perf_counter()
            self.step_s.append(now - self._last)
            self._last = now

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and reward_key in logs:
                self.reward.append(float(logs[reward_key]))

    return StepTimer()


def load_policy(model_dir: str):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)


def load_tokenizer(model_dir: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"  # prompts are left-padded for generation, as in rlpr
    return tokenizer


def common_args(spec: dict, out: str) -> dict:
    """TrainingArguments both trainers share: fp32, no gradient checkpointing, constant lr, fused AdamW (their default, as rlpr's), no saving."""
    return dict(
        output_dir=out, learning_rate=spec["lr"], lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,
        optim="adamw_torch_fused", adam_epsilon=1e-8, bf16=False, fp16=False, gradient_checkpointing=False, use_cpu=True,
        seed=spec["seed"], logging_steps=1, save_strategy="no", report_to=[], disable_tqdm=True,
        dataloader_num_workers=0, gradient_accumulation_steps=1,
    )


# ---------------------------------------------------------------- GRPO (trl.GRPOTrainer)


def run_grpo(spec: dict, out: str) -> dict:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()

    def vader(prompts, completions, **kwargs):
        return vader_scores(analyzer, prompts, completions)

    n = spec["batch"] * spec["group"]
    args = GRPOConfig(
        **common_args(spec, out),
        per_device_train_batch_size=n,  # completions per optimiser step: batch prompts x group
        num_generations=spec["group"], steps_per_generation=1, num_iterations=1, max_steps=spec["steps"],
        max_completion_length=spec["new_tokens"],
        generation_kwargs={"min_new_tokens": spec["new_tokens"]},  # EOS blocked: every completion has new_tokens
        temperature=1.0, top_p=1.0, top_k=0,
        beta=0.0,  # no KL term and no reference model, as rlpr's ppo.kl=off
        loss_type="dapo", scale_rewards="group", epsilon=0.2, max_grad_norm=1.0,
        shuffle_dataset=False,  # the prompts come in rlpr's order
        disable_dropout=True,
    )
    timer = step_timer("reward")
    trainer = GRPOTrainer(
        model=load_policy(spec["model_dir"]), reward_funcs=vader, args=args,
        train_dataset=Dataset.from_dict({"prompt": spec["prompts"]}),
        processing_class=load_tokenizer(spec["model_dir"]), callbacks=[timer],
    )
    trainer.train()
    return {"step_s": timer.step_s, "reward": timer.reward, "rss_start_mb": timer.rss_start_mb}


# ---------------------------------------------------------------- PPO (trl.experimental.ppo.PPOTrainer)


def vader_reward_model(tokenizer, new_tokens: int):
    """PPOTrainer wants a reward *model*: it calls `getattr(rm, rm.base_model_prefix)(input_ids=...)` and reads
    `rm.score(hidden_states[-1])` at each row's last token. This module decodes the rows instead and puts the
    VADER compound score of prompt + response in every position, so the programmed reward goes in unchanged.

    Responses are exactly `new_tokens` long (PPOTrainer has no stop token here), so a row splits at -new_tokens.
    """
    import torch
    from torch import nn
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    class Backbone(nn.Module):
        def __init__(self):
            super().__init__()
            self.analyzer = SentimentIntensityAnalyzer()
            self.anchor = nn.Parameter(torch.zeros(()), requires_grad=False)  # gives the module a device

        def forward(self, input_ids, **kwargs):
            prompts = tokenizer.batch_decode(input_ids[:, :-new_tokens], skip_special_tokens=True)
            responses = tokenizer.batch_decode(input_ids[:, -new_tokens:], skip_special_tokens=True)
            scores = torch.tensor(vader_scores(self.analyzer, prompts, responses), dtype=torch.float32)
            hidden = scores[:, None, None].expand(-1, input_ids.size(1), 1).to(self.anchor.device)
            return type("Output", (), {"hidden_states": (hidden,)})()

    class VaderRewardModel(nn.Module):
        base_model_prefix = "backbone"

        def __init__(self):
            super().__init__()
            self.backbone = Backbone()
            self.score = nn.Identity()

    return VaderRewardModel()


def run_ppo(spec: dict, out: str) -> dict:
    import torch
    from datasets import Dataset
    from torch.utils.data import DataLoader
    from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    tokenizer = load_tokenizer(spec["model_dir"])
    batch = spec["batch"]
    args = PPOConfig(
        **common_args(spec, out),
        per_device_train_batch_size=batch, num_mini_batches=spec["mini_batches"], num_ppo_epochs=spec["ppo_epochs"],
        total_episodes=batch * spec["steps"], local_rollout_forward_batch_size=batch,
        response_length=spec["new_tokens"], temperature=1.0, stop_token=None, missing_eos_penalty=None,
        kl_coef=spec["kl_coef"], kl_estimator="k1", whiten_rewards=False,
        cliprange=0.2, cliprange_value=0.2, vf_coef=0.1, gamma=1.0, lam=0.95,
        num_sample_generations=0,  # no sample generations between steps
    )
    dataset = Dataset.from_dict({"input_ids": [tokenizer(p)["input_ids"] for p in spec["prompts"]]})
    timer = step_timer("objective/scores")
    value_model = AutoModelForSequenceClassification.from_pretrained(spec["model_dir"], num_labels=1, dtype=torch.float32)
    trainer = PPOTrainer(
        args=args, processing_class=tokenizer, model=load_policy(spec["model_dir"]),
        ref_model=load_policy(spec["model_dir"]), reward_model=vader_reward_model(tokenizer, spec["new_tokens"]),
        value_model=value_model, train_dataset=dataset, eval_dataset=dataset.select(range(batch)), callbacks=[timer],
    )
    # PPOTrainer shuffles its prompts with no option to turn it off; take them in rlpr's order instead.
    trainer.dataloader = DataLoader(dataset, batch_size=batch, shuffle=False, drop_last=True,
                                    collate_fn=DataCollatorWithPadding(tokenizer))
    trainer.train()
    return {"step_s": timer.step_s, "reward": timer.reward, "rss_start_mb": timer.rss_start_mb}


def versions() -> dict:
    import accelerate
    import datasets
    import torch
    import transformers
    import trl

    return {"trl": trl.__version__, "transformers": transformers.__version__, "accelerate": accelerate.__version__,
            "datasets": datasets.__version__, "torch": torch.__version__}


def main(spec_path: str) -> None:
    with open(spec_path) as f:
        spec = json.load(f)
    import torch

    torch.set_num_threads(spec["threads"])
    torch.manual_seed(spec["seed"])
    with tempfile.TemporaryDirectory() as out:
        result = {"grpo": run_grpo, "ppo": run_ppo}[spec["algo"]](spec, out)
    result.update(peak_rss_mb=peak_rss_mb(), versions=versions(), threads=torch.get_num_threads())
    print(MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
