"""Dataclass configs, YAML presets and `key=value` overrides, with one-line errors naming the key.

A run's config is built in layers: defaults <- preset YAML (`presets/TASK-NAME.yaml`) <- --config FILE <- overrides.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from importlib import resources

import yaml

from rlpr.generate import SamplingConfig
from rlpr.models import ModelConfig
from rlpr.rollout import RolloutConfig
from rlpr.rollout.rewards import RewardConfig


class ConfigError(ValueError):
    """A user error in a config: the message is one line naming the key, file or expected type."""


@dataclass
class PPOConfig:
    steps: int = 100
    batch_size: int = 32  # prompts per step; each is sampled group_size times
    group_size: int = 1
    mini_batch_size: int = 32  # sequences per optimiser step
    micro_batch_size: int = 0  # sequences per forward pass (gradient accumulation); 0 = mini_batch_size
    ppo_epochs: int = 4
    lr: float = 1.41e-5
    weight_decay: float = 0.0
    adam_eps: float = 1e-8
    warmup_steps: int = 0
    lr_schedule: str = "constant"  # after warm-up: constant | linear | cosine decay to 0 at the last optimiser step
    max_grad_norm: float | None = 1.0  # null: gradients not clipped (TRL 0.9's default)
    clip: float = 0.2
    value_clip: float = 0.2
    vf_coef: float = 0.1
    gamma: float = 1.0
    lam: float = 0.95
    advantage: str = "gae"  # gae (value function) | group (GRPO-style mean/std) | rloo (leave-one-out) | best (top-1 of the group) | turn (multi-turn: a value per turn, rlpr.rl.turns)
    whiten_advantages: bool = True
    reward_scale: float = 1.0
    entropy_coef: float = 0.0
    batch_entropy_coef: float = 0.0
    batch_entropy_position: str = "final"  # final (the paper) | mean (over response positions)
    coef_schedule: str = "constant"  # entropy and batch-entropy coefficients: constant | linear | cosine decay to 0
    coef_decay_steps: int = 0  # steps the decay takes (0 = the whole run); 0 from then on
    kl: str = "off"  # off | reward-token | reward-response | loss | reward-turn (multi-turn: per turn, geometric mean; rlpr.rl.turns)
    kl_estimator: str = "k1"  # k1 | k2 | k3 (Schulman's estimators)
    kl_coef: float = 0.2
    kl_target: float | None = None  # set for an adaptive coefficient (TRL default target 6)
    kl_horizon: int = 10000
    track_kl: bool = True  # measure KL to the initial policy even when it is not penalised
    # Run the policy's dropout as TRL 0.9's PPOTrainer (the paper's) does: the update's forward passes in train
    # mode, and sampling too from the second step on (TRL leaves the model in train mode after an update); the
    # no-grad scoring pass that gives the old log-probs stays in eval mode. Off: eval mode throughout.
    train_mode: bool = False


@dataclass
class DistributedConfig:
    # How a run under torchrun splits the model (rlpr.distributed): ddp (each rank holds the whole model, the
    # gradients are averaged) | fsdp (parameters, gradients and optimiser state sharded over the ranks, rlpr.fsdp)
    strategy: str = "ddp"


@dataclass
class TrainConfig:
    task: str = "sentiment"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    out: str | None = None  # run directory; default runs/TASK-TIMESTAMP
    checkpoint_every: int = 0  # steps between checkpoints; 0 = only at the end
    keep_checkpoints: int = 2  # newest N kept, 0 = all
    eval_every: int = 0  # steps between held-out evaluations; 0 = only at start and end
    eval_size: int = 64
    eval_temperature: float | None = None  # held-out sampling temperature (0 = greedy); None = sampling.temperature
    show_samples: int = 3
    tensorboard: bool = True
    progress: bool = True
    keep_freed_memory: bool = True  # on the CPU, glibc keeps freed memory for the next step (rlpr/malloc.py)
    model: ModelConfig = field(default_factory=ModelConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)  # which engine samples (hf | vllm)
    reward: RewardConfig = field(default_factory=RewardConfig)  # where rewards are computed (worker processes)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)  # data-parallel strategy (torchrun)
    task_config: dict = field(default_factory=dict)  # the task's own options, checked by the task


CHOICES = {
    "ppo.advantage": ["gae", "group", "rloo", "best", "turn"],
    "ppo.lr_schedule": ["constant", "linear", "cosine"],
    "ppo.batch_entropy_position": ["final", "mean"],
    "ppo.coef_schedule": ["constant", "linear", "cosine"],
    "ppo.kl": ["off", "reward-token", "reward-response", "loss", "reward-turn"],
    "ppo.kl_estimator": ["k1", "k2", "k3"],
    "model.value": ["head", "separate", "none"],
    "model.dtype": ["float32", "bfloat16", "float16"],
    "rollout.engine": ["hf", "vllm"],
    "distributed.strategy": ["ddp", "fsdp"],
}


# ---------------------------------------------------------------- building configs from dicts


def from_dict(cls, data: dict, prefix: str = ""):
    """Build dataclass `cls` from a (nested) dict, checking every key and type."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(f"unknown key '{prefix}{key}'; valid keys: {', '.join(sorted(names))}")
        kwargs[key] = _check(hints[key], value, prefix + key)
    return cls(**kwargs)


def _check(hint, value, key: str):
    if dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else from_dict(hint, value, key + ".")
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _check(inner, value, key)
    if origin is tuple and isinstance(value, list):
        value = tuple(value)  # YAML has lists only
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if hint is str and value is False and "off" in CHOICES.get(key, ()):
        value = "off"  # YAML 1.1 reads an unquoted off (`ppo.kl=off`, `kl: off`) as false
    expected = origin or hint
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{key}: expected {_type_name(hint)}, got {value!r}")
    if origin in (list, tuple) and args:  # list[T] or tuple[T, ...]
        return origin(_check(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    if key in CHOICES and value not in CHOICES[key]:
        raise ConfigError(f"{key}: expected one of {', '.join(CHOICES[key])}, got {value!r}")
    return value


def _type_name(hint) -> str:
    return getattr(hint, "__name__", None) if typing.get_origin(hint) is None else str(hint).replace("typing.", "")


def to_dict(config) -> dict:
    return dataclasses.asdict(config)


def merge(base: dict, update: dict) -> dict:
    """Recursive dict merge; `update` wins. task_config and other dicts merge key by key."""
    out = dict(base)
    for key, value in update.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


# ---------------------------------------------------------------- presets, files, overrides


def preset_names(task: str) -> list[str]:
    files = resources.files("rlpr") / "presets"
    prefix = f"{task}-"
    return sorted(f.name[len(prefix) : -5] for f in files.iterdir() if f.name.startswith(prefix) and f.name.endswith(".yaml"))


def read_yaml(path: str) -> dict:
    if not os.path.exists(path):
        raise ConfigError(f"config file not found: {path}")
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(err, 'problem', err)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys at the top level")
    return data


def read_preset(task: str, name: str) -> dict:
    path = resources.files("rlpr") / "presets" / f"{task}-{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r} for task {task!r}; presets: {', '.join(preset_names(task)) or 'none'}")
    return yaml.safe_load(path.read_text()) or {}


def parse_override(text: str) -> tuple[list[str], object]:
    """`ppo.lr=1e-5` -> (["ppo", "lr"], 1e-5). Values are YAML scalars or lists."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key=value")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str) and _looks_like_float(value):
        value = float(value)  # YAML 1.1 reads 1e-5 as a string
    return key.strip().split("."), value


def _looks_like_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip().lower() not in {"nan", "inf", "-inf", "infinity"}


def _expand_bare_key(path: list[str]) -> list[str]:
    """Let `lr=...` stand for `ppo.lr=...` when exactly one section has that key."""
    if len(path) != 1 or path[0] in {f.name for f in dataclasses.fields(TrainConfig)}:
        return path
    hints = typing.get_type_hints(TrainConfig)
    owners = [
        f.name
        for f in dataclasses.fields(TrainConfig)
        if dataclasses.is_dataclass(hints[f.name]) and path[0] in {g.name for g in dataclasses.fields(hints[f.name])}
    ]
    if len(owners) == 1:
        return [owners[0], path[0]]
    if len(owners) > 1:
        raise ConfigError(f"override key {path[0]!r} is ambiguous; write one of: {', '.join(o + '.' + path[0] for o in owners)}")
    return path


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    for text in overrides:
        path, value = parse_override(text)
        path = _expand_bare_key(path)
        nested: dict = value
        for part in reversed(path):
            nested = {part: nested}
        data = merge(data, nested)
    return data


def build_config(
    task: str, preset: str | None = None, config_file: str | None = None, overrides: list[str] | None = None
) -> TrainConfig:
    data: dict = {}
    if preset:
        data = merge(data, read_preset(task, preset))
    if config_file:
        data = merge(data, read_yaml(config_file))
    data = merge(data, {"task": task})
    data = apply_overrides(data, overrides or [])
    return from_dict(TrainConfig, data)
