"""Tasks: prompts plus a programmed reward. A task knows nothing about PPO.

Interface: `prompts(split) -> list[str]`, `reward(prompts, responses) -> list[float]`,
`metrics(prompts, responses, rewards) -> dict[str, float]`; a multi-turn task adds `step(conversation)`.
"""

from __future__ import annotations

import importlib

from rlpr.config import ConfigError, from_dict

# name -> (module, task class, config dataclass); imported lazily so `rlpr --help` stays fast.
TASKS = {
    "sentiment": ("rlpr.tasks.sentiment", "SentimentTask", "SentimentConfig"),
    "arithmetic": ("rlpr.tasks.arithmetic", "ArithmeticTask", "ArithmeticConfig"),
    "rlef": ("rlpr.tasks.code.rlef", "RlefTask", "RlefConfig"),
    "ludii": ("rlpr.tasks.ludii.task", "LudiiTask", "LudiiConfig"),
}


def make_task(name: str, options: dict | None = None):
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; tasks: {', '.join(TASKS)}")
    module_name, task_class, config_class = TASKS[name]
    module = importlib.import_module(module_name)
    config = from_dict(getattr(module, config_class), options or {}, prefix="task_config.")
    return getattr(module, task_class)(config)
