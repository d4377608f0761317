"""Rollout engines: sample responses to prompts from the current policy, as the `Rollout` the trainer scores.

An engine is any object with these methods (two implementations, no base class):

- `generate(prompts, sampling, generator) -> Rollout`: left-padded prompt ids (B, P) exactly as
  `rlpr.generate.encode_prompts` writes them, right-padded responses (B, R), and the log-prob of each sampled
  token under the engine's sampling distribution. The trainer re-scores the same layout with the policy, so
  it does not care which engine sampled. `generator` is the trainer's seeded sampling generator: hf draws from
  it, vllm draws one seed per request from it, so a run is repeatable either way.
- `sync_weights(policy)`: called after every update; from the next `generate` on the engine samples from
  these weights.
- `sleep()` / `wake()`: give back / take back the engine's accelerator memory around the update phase.

`hf` (the reference) samples with the policy module itself (`rlpr.generate.sample`): nothing to copy, nothing
to free. `vllm` (`rlpr.rollout.vllm_engine`) keeps its own copy of the weights on the GPU, in this process.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import torch

from rlpr.generate import Rollout, SamplingConfig, encode_prompts, sample

ENGINES = ("hf", "vllm")
VLLM_INSTALL = "pip install 'rlpr[vllm]' (Linux with a CUDA GPU)"


@dataclass
class RolloutConfig:
    engine: str = "hf"  # hf (the policy module, rlpr.generate) | vllm (CUDA, one process; pip install 'rlpr[vllm]')
    vllm_gpu_memory: float = 0.3  # vllm: share of the GPU for its weights and KV cache; training needs the rest
    vllm_sleep: bool = True  # vllm: free its GPU memory while the trainer scores and updates (LLM.sleep(level=1))


@dataclass
class HfEngine:
    """Samples with the policy module itself: the reference engine, and the only one on a CPU."""

    policy: torch.nn.Module
    tokenizer: object
    eos_ids: list[int]
    banned_ids: list[int] | None = None

    def generate(self, prompts: list[str], sampling: SamplingConfig, generator: torch.Generator | None = None) -> Rollout:
        device = next(self.policy.parameters()).device
        ids, mask = encode_prompts(self.tokenizer, prompts, sampling.chat, device)
        return sample(self.policy, ids, mask, sampling, self.eos_ids, self.tokenizer.pad_token_id, generator,
                      self.banned_ids, self.tokenizer)

    def sync_weights(self, policy) -> None:
        self.policy = policy  # the same module the trainer updates: nothing to copy

    def sleep(self) -> None:
        pass

    def wake(self) -> None:
        pass


def check_engine(config: RolloutConfig, device: torch.device, world: int = 1, lora: bool = False) -> None:
    """Refuse an engine this run cannot use, in one line naming the key, before any model is loaded."""
    from rlpr.config import ConfigError  # rlpr.config imports this module

    if config.engine not in ENGINES:
        raise ConfigError(f"rollout.engine: expected one of {', '.join(ENGINES)}, got {config.engine!r}")
    if config.engine != "vllm":
        return
    if importlib.util.find_spec("vllm") is None:
        raise ConfigError(f"rollout.engine=vllm needs vLLM, which is not installed: {VLLM_INSTALL}")
    if device.type != "cuda":
        raise ConfigError(f"rollout.engine=vllm needs a CUDA device (device is {device}); use rollout.engine=hf")
    if world > 1:
        raise ConfigError("rollout.engine=vllm runs in one process; data-parallel runs use rollout.engine=hf")
    if lora:
        raise ConfigError("rollout.engine=vllm does not take LoRA adapters yet (model.lora_rank); use rollout.engine=hf")


def make_engine(config: RolloutConfig, policy, tokenizer, eos_ids: list[int], banned_ids: list[int] | None = None,
                seed: int = 0):
    """The engine `config.engine` names, sampling from `policy`'s current weights."""
    check_engine(config, next(policy.parameters()).device)
    if config.engine == "vllm":
        from rlpr.rollout.vllm_engine import VllmEngine  # lazily: vLLM is an optional extra

        return VllmEngine(config, policy, tokenizer, eos_ids, banned_ids, seed)
    return HfEngine(policy, tokenizer, eos_ids, banned_ids)
