"""A batch's rewards, checked: in this process, or split over worker processes for CPU-heavy rewards.

`checked_rewards` calls the task and turns any failure into a `RewardError` naming the task and the sample.
`RewardPool` runs that same function on contiguous chunks of the batch in `reward.workers` spawned processes
(`concurrent.futures`), each holding its own copy of the task, and puts the rewards back in order. Chunking
assumes what `checked_rewards` already assumes when it hunts for the failing sample: a response's reward depends
on that response alone, not on the rest of the batch.

Each worker gets the task once, at start: rebuilt from its name and options (`TaskSpec`) when the run built it
from the config, else the task object itself, pickled (a task passed to `train(task=...)` must pickle).

Overlap: `submit` returns at once and `PendingRewards.result()` waits, so the trainer can run the policy's
scoring passes of a batch while the workers reward that same batch (`reward.overlap`). Overlapping the rewards of
batch k with the sampling of batch k+1 is not done: in this loop batch k+1 is sampled from the policy that batch
k's rewards update, so it cannot start before they are in.
"""

from __future__ import annotations

import math
import multiprocessing
import pickle
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field


@dataclass
class RewardConfig:
    workers: int = 0  # processes computing rewards; 0 = in the training process
    overlap: bool = False  # workers reward a batch while the trainer runs its scoring passes (needs workers >= 1)


class RewardError(RuntimeError):
    """A task's reward raised or returned a non-finite value; the message names the task and the sample."""


def checked_rewards(task, prompts: list[str], responses: list[str]) -> list[float]:
    """The task's rewards, or a RewardError naming the task and the first offending sample."""
    try:
        rewards = [float(r) for r in task.reward(prompts, responses)]
    except Exception as err:  # find the sample that breaks it, one at a time
        for p, r in zip(prompts, responses):
            try:
                task.reward([p], [r])
            except Exception as single:
                raise RewardError(f"task {task.name}: reward raised {type(single).__name__}: {single} "
                                  f"on prompt {p!r}, response {r!r}") from single
        raise RewardError(f"task {task.name}: reward raised {type(err).__name__}: {err}") from err
    if len(rewards) != len(responses):
        raise RewardError(f"task {task.name}: reward returned {len(rewards)} values for {len(responses)} responses")
    for p, r, value in zip(prompts, responses, rewards):
        if not math.isfinite(value):
            raise RewardError(f"task {task.name}: reward is {value} on prompt {p!r}, response {r!r}")
    return rewards


@dataclass(frozen=True)
class TaskSpec:
    """A task by name and options, rebuilt in each worker (`rlpr.tasks.make_task`)."""

    name: str
    options: dict = field(default_factory=dict)

    def build(self):
        from rlpr.tasks import make_task

        return make_task(self.name, self.options)


class PendingRewards:
    """Rewards being computed; `result()` waits for them (and keeps how long it waited in `wait_s`)."""

    def __init__(self, task_name: str, futures: list[Future]):
        self.task_name, self.futures, self.wait_s = task_name, futures, 0.0
        self.values: list[float] | None = None

    def result(self) -> list[float]:
        if self.values is not None:
            return self.values
        start = time.perf_counter()
        try:
            self.values = [value for future in self.futures for value in future.result()]
            return self.values
        except BrokenProcessPool as err:  # a worker died (killed, out of memory, a crash in native code)
            raise RewardError(f"task {self.task_name}: a reward worker process died ({err}); "
                              "run with reward.workers=0 to see the failure in this process") from err
        finally:
            self.wait_s += time.perf_counter() - start


class RewardPool:
    """`checked_rewards` for `task`, in this process (`config.workers` 0) or in worker processes that rebuild the
    task from `source` (a TaskSpec or the task object). Close it when done."""

    def __init__(self, task, config: RewardConfig, source=None):
        from rlpr.config import ConfigError  # rlpr.config imports this module

        self.task, self.workers, self.executor = task, config.workers, None
        if config.workers < 0:
            raise ConfigError(f"reward.workers: expected 0 or more, got {config.workers}")
        if config.overlap and not config.workers:
            raise ConfigError("reward.overlap needs reward.workers >= 1 (the rewards run beside the trainer)")
        if not config.workers:
            return
        source = task if source is None else source
        try:
            pickle.dumps(source)
        except Exception as err:
            raise ConfigError(f"reward.workers={config.workers}: task {task.name} cannot be sent to worker processes "
                              f"({type(err).__name__}: {err}); use a task named by config.task, or reward.workers=0") from None
        # spawn, not fork: the trainer holds torch threads (and maybe CUDA), which a forked child must not inherit.
        self.executor = ProcessPoolExecutor(config.workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_start_worker, initargs=(source,))

    def submit(self, prompts: list[str], responses: list[str]) -> PendingRewards:
        """Start rewarding the batch; in this process (workers 0) the rewards are computed before it returns."""
        if self.executor is None:
            done: Future = Future()
            done.set_result(checked_rewards(self.task, prompts, responses))
            return PendingRewards(self.task.name, [done])
        size = max(1, math.ceil(len(prompts) / (4 * self.workers)))  # a few chunks per worker evens out slow samples
        futures = [self.executor.submit(_reward_chunk, prompts[i : i + size], responses[i : i + size])
                   for i in range(0, len(prompts), size)]
        return PendingRewards(self.task.name, futures)

    def __call__(self, prompts: list[str], responses: list[str]) -> list[float]:
        return self.submit(prompts, responses).result()

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.executor = None


# ---------------------------------------------------------------- in the worker processes

_TASK = None
_START_ERROR: str | None = None


def _start_worker(source) -> None:
    # An initializer that raises breaks the whole pool with a message that does not say why: keep the reason
    # and report it with the first chunk instead.
    global _TASK, _START_ERROR
    try:
        _TASK = source.build() if isinstance(source, TaskSpec) else source
    except Exception as err:
        _START_ERROR = f"{type(err).__name__}: {err}"


def _reward_chunk(prompts: list[str], responses: list[str]) -> list[float]:
    if _START_ERROR is not None:
        raise RewardError(f"a reward worker could not build its task: {_START_ERROR}")
    return checked_rewards(_TASK, prompts, responses)
