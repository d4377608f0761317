"""rlpr: reinforcement learning from programmed rewards.

    from rlpr import TrainConfig, train
    summary = train(TrainConfig(task="sentiment"))
"""

__version__ = "0.1.0"
__all__ = ["TrainConfig", "build_config", "train"]


def __getattr__(name):  # lazy, so `rlpr --help` does not import torch
    if name in ("TrainConfig", "build_config"):
        from rlpr import config

        return getattr(config, name)
    if name == "train":
        from rlpr.rl.trainer import train

        return train
    raise AttributeError(name)
