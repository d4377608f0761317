"""rlpr: reinforcement learning from programmed rewards."""

__version__ = "0.1.0"
