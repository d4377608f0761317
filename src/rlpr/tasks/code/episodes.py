"""Batched multi-turn rollouts of RLEF episodes: every live conversation answers in one round, tests run in the pool.

A round: each live episode's conversation goes through the chat template (`apply_chat_template(...,
add_generation_prompt=True)`) and is tokenized; the prompts are left-padded, sorted by length and sampled in
chunks of `batch_size` rows (one `sample` call when they all fit); the answers' programs run on the public
tests in one pool call; episodes whose tests pass, that used their last turn, or that have no room left in
`max_context` tokens for another turn, end and leave the batch; the others get the feedback as a user
message. At the end the last programs run on the private tests in one pool call and the rewards are set.

Each turn keeps what PPO needs: the prompt token ids (the whole conversation so far, as the template
renders it), the sampled response ids (an ending EOS included) and their log-probabilities under the
sampling distribution. A turn's prompt re-tokenizes the earlier answers from their text, as a chat model
sees them at inference time; each turn is scored as its own (prompt, response) sequence. `collate_turns`
pads the turns of many episodes into one `Rollout` with per-turn rewards and returns-to-go.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from rlpr.generate import Rollout, SamplingConfig, sample
from rlpr.tasks.code.problems import Problem
from rlpr.tasks.code.rlef import RlefTask, TurnCheck


@dataclass
class Turn:
    prompt_ids: torch.Tensor  # (P,) the conversation so far, generation prompt included, no padding
    response_ids: torch.Tensor  # (R,) sampled tokens, an ending EOS included
    logprobs: torch.Tensor  # (R,) log-probs of the sampled tokens under the sampling distribution
    text: str  # the decoded response (special tokens dropped)
    check: TurnCheck  # the program, its validity and its public-test results
    feedback: str | None = None  # the user message that followed; None on the last turn
    reward: float = 0.0  # the no-code penalty of this turn, plus +-1 on the last turn
    private_passed: bool | None = None  # this turn's program on the private tests (set when asked for)


@dataclass
class Episode:
    prompt: str
    problem: Problem
    messages: list[dict] = field(default_factory=list)  # the chat: user prompt, then answer / feedback ...
    turns: list[Turn] = field(default_factory=list)
    end: str = "running"  # passed (public tests) | max_turns | context (no room for another turn)
    private_passed: bool | None = None  # the last program on the private tests

    @property
    def rewards(self) -> list[float]:
        return [t.reward for t in self.turns]

    @property
    def total_reward(self) -> float:
        return sum(self.rewards)

    @property
    def final_code(self) -> str:
        return self.turns[-1].check.code if self.turns else ""


def eos_ids(tokenizer, model=None) -> list[int]:
    """The tokenizer's EOS id and the model's generation-config EOS ids."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if configured is not None:
        ids |= set(configured if isinstance(configured, list) else [configured])
    return sorted(ids)


def chat_ids(tokenizer, messages: list[dict]) -> list[int]:
    """Token ids of a conversation through the chat template, ready for the assistant's next answer."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def left_pad(rows: list[list[int]], pad_id: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, mask), both (B, max length), rows aligned to the right."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row) :] = 1
    return ids.to(device), mask.to(device)


@torch.no_grad()
def run_episodes(
    model,
    tokenizer,
    task: RlefTask,
    prompts: list[str],
    sampling: SamplingConfig,
    generator: torch.Generator | None = None,
    batch_size: int = 16,
    max_context: int | None = None,
    score_every_turn: bool = False,
    device=None,
    progress=None,
    timings: dict | None = None,
) -> list[Episode]:
    """Run one episode per prompt (repeat a prompt for several) and return them in order.

    `sampling.max_new_tokens` is the budget of each turn; `max_context` (default: the model's
    `max_position_embeddings`) bounds prompt + answer. `score_every_turn` also runs every turn's program on
    the private tests (`Turn.private_passed`), which evaluation uses to see whether later turns fix programs.
    `progress(text)`, when given, hears one line per round. `timings`, when given, gains the seconds spent
    sampling (`generate_s`) and running programs (`sandbox_s`), so a trainer can report time per phase.
    """
    timings = timings if timings is not None else {}
    clock = time.perf_counter
    device = device or next(model.parameters()).device
    max_context = max_context or getattr(model.config, "max_position_embeddings", None) or 1 << 30
    eos = eos_ids(tokenizer, model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    episodes = [
        Episode(prompt, task.problem(prompt), [{"role": "user", "content": prompt}]) for prompt in prompts
    ]
    for turn in range(1, task.config.max_turns + 1):
        live = [e for e in episodes if e.end == "running"]
        if not live:
            break
        ids = {id(e): chat_ids(tokenizer, e.messages) for e in live}
        for e in live:
            if e.turns and len(ids[id(e)]) + sampling.max_new_tokens > max_context:
                e.end = "context"  # the answer could not fit: score the last program as it stands
        live = [e for e in live if e.end == "running"]
        live.sort(key=lambda e: len(ids[id(e)]))  # similar lengths share a chunk: less padding
        answers: dict[int, tuple[torch.Tensor, torch.Tensor, str]] = {}
        started = clock()
        for start in range(0, len(live), batch_size):
            chunk = live[start : start + batch_size]
            prompt_ids, prompt_mask = left_pad([ids[id(e)] for e in chunk], pad_id, device)
            rollout = sample(model, prompt_ids, prompt_mask, sampling, eos, pad_id, generator, tokenizer=tokenizer)
            for row, e in enumerate(chunk):
                keep = rollout.response_mask[row].bool()
                response = rollout.response_ids[row][keep].cpu()
                text = tokenizer.decode(response, skip_special_tokens=True)
                answers[id(e)] = (response, rollout.logprobs[row][keep].cpu(), text)
        timings["generate_s"] = timings.get("generate_s", 0.0) + clock() - started
        started = clock()
        checks = task.check_turns([e.problem for e in live], [answers[id(e)][2] for e in live])
        timings["sandbox_s"] = timings.get("sandbox_s", 0.0) + clock() - started
        for e, check in zip(live, checks):
            response, logprobs, text = answers[id(e)]
            penalty = 0.0 if check.valid else task.config.no_code_reward
            e.turns.append(Turn(torch.tensor(ids[id(e)]), response, logprobs, text, check, reward=penalty))
            e.messages.append({"role": "assistant", "content": text})
            feedback = task.feedback(check, turn)
            if feedback is None:
                e.end = "passed" if check.passed else "max_turns"
            else:
                e.turns[-1].feedback = feedback
                e.messages.append({"role": "user", "content": feedback})
        if progress is not None:
            tokens = sum(answers[id(e)][0].numel() for e in live)
            passed = sum(c.passed for c in checks)
            progress(f"turn {turn}: {len(live)} answers, {tokens} tokens, {passed} passed the public tests")
    for e in episodes:  # an episode cut short by the context keeps its last answer's feedback out
        if e.end == "context" and e.messages[-1]["role"] == "user":
            e.messages.pop()
            e.turns[-1].feedback = None
    started = clock()
    _score(task, episodes, score_every_turn)
    timings["sandbox_s"] = timings.get("sandbox_s", 0.0) + clock() - started
    return episodes


def _score(task: RlefTask, episodes: list[Episode], every_turn: bool) -> None:
    scored = [(e, t) for e in episodes for t in (e.turns if every_turn else e.turns[-1:])]
    passed = task.private_passed([e.problem for e, _ in scored], [t.check.code for _, t in scored])
    for (_, turn), ok in zip(scored, passed):
        turn.private_passed = ok
    for e in episodes:
        if e.turns:
            e.private_passed = e.turns[-1].private_passed
            e.turns[-1].reward += 1.0 if e.private_passed else -1.0


def episode_metrics(episodes: list[Episode]) -> dict[str, float]:
    """What a training step logs about its episodes: shares of solved episodes (the last program passes the
    private tests) and of how episodes ended, turns per episode, and the share of turns with valid code."""
    n = max(len(episodes), 1)
    turns = [t for e in episodes for t in e.turns]
    return {
        "solve_rate": sum(bool(e.private_passed) for e in episodes) / n,
        "public_pass_rate": sum(e.end == "passed" for e in episodes) / n,
        "context_end_share": sum(e.end == "context" for e in episodes) / n,
        "mean_turns": len(turns) / n,
        "valid_code_share": sum(t.check.valid for t in turns) / max(len(turns), 1),
    }


@dataclass
class TurnBatch:
    """All turns of some episodes as one padded batch: what a turn-level PPO update consumes."""

    rollout: Rollout  # prompts left-padded (N, P), responses right-padded (N, R), masks, sampling log-probs
    episode: torch.Tensor  # (N,) index of each turn's episode
    turn: torch.Tensor  # (N,) 0-based turn index
    rewards: torch.Tensor  # (N,) the turn's reward
    returns: torch.Tensor  # (N,) sum of the episode's rewards from this turn on (gamma 1)


def collate_turns(episodes: list[Episode], pad_id: int) -> TurnBatch:
    turns = [(i, k, t) for i, e in enumerate(episodes) for k, t in enumerate(e.turns)]
    prompt_ids, prompt_mask = left_pad([t.prompt_ids.tolist() for _, _, t in turns], pad_id)
    width = max(1, max(t.response_ids.numel() for _, _, t in turns))
    response_ids = torch.full((len(turns), width), pad_id, dtype=torch.long)
    response_mask = torch.zeros((len(turns), width), dtype=torch.long)
    logprobs = torch.zeros((len(turns), width))
    for row, (_, _, t) in enumerate(turns):
        n = t.response_ids.numel()
        response_ids[row, :n], response_mask[row, :n], logprobs[row, :n] = t.response_ids, 1, t.logprobs
    returns = []
    for i, k, _ in turns:
        returns.append(sum(episodes[i].rewards[k:]))
    return TurnBatch(
        rollout=Rollout(prompt_ids, prompt_mask, response_ids, response_mask, logprobs),
        episode=torch.tensor([i for i, _, _ in turns]),
        turn=torch.tensor([k for _, k, _ in turns]),
        rewards=torch.tensor([t.reward for _, _, t in turns]),
        returns=torch.tensor(returns, dtype=torch.float),
    )
