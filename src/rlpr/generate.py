"""Batched sampling from a causal LM with left padding and the KV cache.

Layout shared with the trainer: prompts are left-padded to P tokens, responses right-padded to R tokens,
and position ids count only real tokens (`cumsum(mask) - 1`), so a row's logits do not depend on how
much padding its batch needed. The trainer re-scores the same layout, so the two agree.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch
from transformers.cache_utils import Cache, CacheLayerMixin


@dataclass
class SamplingConfig:
    max_new_tokens: int = 16
    min_new_tokens: int = 0  # EOS is blocked before this many tokens
    random_length: bool = False  # each row's budget drawn uniformly from [min_new_tokens, max_new_tokens]
    temperature: float = 1.0
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1.0 = off
    stop: list[str] = field(default_factory=list)  # stop strings; the text up to and including one is kept
    chat: bool = False  # wrap prompts in the tokenizer's chat template as a user turn


@dataclass
class Rollout:
    """Token ids and masks of one sampled batch. Shapes: prompt (B, P), response (B, R)."""

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    response_ids: torch.Tensor  # right-padded with pad_id
    response_mask: torch.Tensor  # 1 on generated tokens, an ending EOS included
    logprobs: torch.Tensor  # log-prob of each sampled token under the sampling distribution, 0 on padding

    @property
    def input_ids(self) -> torch.Tensor:
        return torch.cat([self.prompt_ids, self.response_ids], dim=1)

    @property
    def attention_mask(self) -> torch.Tensor:
        return torch.cat([self.prompt_mask, self.response_mask], dim=1)


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def leading_padding(mask: torch.Tensor) -> int:
    """How many leading columns of a left-padded (B, T) mask are padding in every row (argmax: a row's first 1)."""
    return int(mask.argmax(-1).min())


def shared_rows(ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """When rows repeat (a prompt sampled G times): `(first, inverse)` with one row index per distinct row and
    each row's distinct row, so that `ids[first][inverse]` equals `ids`; None when every row differs.

    Work on a repeated row's tokens can then run once per distinct row and be expanded with `inverse`.
    """
    rows = torch.cat([ids, mask.to(ids.dtype)], dim=1)
    distinct, inverse = torch.unique(rows, dim=0, return_inverse=True)
    if distinct.size(0) == rows.size(0):
        return None
    order = torch.arange(rows.size(0), device=rows.device)
    first = torch.full((distinct.size(0),), rows.size(0), device=rows.device).scatter_reduce(0, inverse, order, "amin")
    return first, inverse


def encode_prompts(tokenizer, prompts: list[str], chat: bool = False, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded (ids, mask) for a list of prompt strings, optionally through the chat template."""
    if chat:
        prompts = [
            tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
            for p in prompts
        ]
    tokenizer.padding_side = "left"
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=not chat)
    return batch["input_ids"].to(device), batch["attention_mask"].to(device)


def filter_logits(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Mask logits (B, V) outside the top-k / nucleus with -inf."""
    if top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.size(-1)), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        remove = cumulative - sorted_logits.softmax(-1) >= top_p  # keep the token that crosses top_p
        logits = logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))
    return logits


def draw_on(generator: torch.Generator | None):
    """The device random numbers must be drawn on: a generator draws only on its own."""
    return generator.device if generator is not None else "cpu"


def draw_tokens(probs: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """One token per row of `probs` (A, V) by inverting its cumulative distribution at `uniform` (A,) in [0, 1).

    `torch.multinomial` draws V exponential variates per row (1.5M a step for 32 rows of a 49k vocabulary):
    on the CPU that was 30% of sampling time. One uniform per row and a cumulative sum give the same
    distribution. The sum runs in float64 so that small probabilities keep their share, and `right=True`
    never lands on a token of probability 0 (its cumulative value equals its predecessor's).
    """
    cdf = probs.double().cumsum(-1)
    target = (uniform.double() * cdf[:, -1]).unsqueeze(-1)
    return torch.searchsorted(cdf, target, right=True).squeeze(-1).clamp_(max=probs.size(-1) - 1)


@torch.no_grad()
def sample(
    model,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    config: SamplingConfig,
    eos_ids: list[int],
    pad_id: int,
    generator: torch.Generator | None = None,
    banned_ids: list[int] | None = None,
    tokenizer=None,
) -> Rollout:
    """Sample up to `config.max_new_tokens` tokens for each left-padded prompt row.

    A row stops at an EOS id, at its length budget, or (given a tokenizer) when its text ends in a stop string.
    Finished rows leave the computed batch (and the KV cache) at once, together with any leading padding that
    no remaining row needs; the cache is written in place (`InPlaceCache`). Neither changes a row's tokens:
    each step still draws one uniform per batch row, so a row gets the same random draws as when every row
    was computed to the end.
    """
    batch, device = prompt_ids.size(0), prompt_ids.device
    max_new = config.max_new_tokens
    if config.random_length:
        budget = torch.randint(config.min_new_tokens, max_new + 1, (batch,), generator=generator,
                               device=draw_on(generator))
        budget = budget.to(device)
    else:
        budget = torch.full((batch,), max_new, device=device)
    eos = torch.tensor(eos_ids, dtype=torch.long, device=device)
    banned = torch.tensor(banned_ids or [], dtype=torch.long, device=device)

    cache = InPlaceCache(capacity=prompt_ids.size(1) + max_new)
    mask = prompt_mask  # (A, L): the rows still computed, in cache order
    # A prompt sampled G times is read once: its logits and cache rows are copied to the G rows afterwards.
    shared = shared_rows(prompt_ids, prompt_mask)
    first = shared[0] if shared is not None else slice(None)
    out = model(
        input_ids=prompt_ids[first], attention_mask=mask[first], position_ids=position_ids(mask[first]),
        cache=cache, use_cache=True, logits_to_keep=1,
    )
    last_logits = out.logits[:, -1, :]
    if shared is not None:
        last_logits = last_logits[shared[1]]
        if max_new > 1:
            cache.keep(shared[1])
    next_position = position_ids(mask)[:, -1:] + 1
    rows = torch.arange(batch, device=device)  # (A,) batch row of each computed row; exactly the unfinished rows
    response = torch.full((batch, max_new), pad_id, dtype=torch.long, device=device)
    logprobs = torch.zeros(batch, max_new, device=device)
    alive = torch.zeros(batch, max_new, dtype=torch.long, device=device)
    steps = 0
    for step in range(max_new):
        logits = last_logits.float()  # (A, V)
        if config.temperature != 1.0:
            logits = logits / max(config.temperature, 1e-5)
        if banned.numel():
            logits[:, banned] = float("-inf")
        if step < config.min_new_tokens and eos.numel():
            logits[:, eos] = float("-inf")
        logits = filter_logits(logits, config.top_k, config.top_p)
        logp = logits.log_softmax(-1)
        if config.temperature <= 1e-5:
            token = logp.argmax(-1)
        else:
            # one uniform per batch row, finished rows included: the generator advances as when all rows ran
            uniform = torch.rand(batch, generator=generator, device=draw_on(generator)).to(device)
            token = draw_tokens(logp.exp(), uniform[rows])
        response[rows, step] = token
        logprobs[rows, step] = logp.gather(-1, token[:, None]).squeeze(-1)
        alive[rows, step] = 1
        steps = step + 1
        finished = torch.isin(token, eos) | (budget[rows] <= steps)
        if config.stop and tokenizer is not None:
            finished = finished | _hit_stop(tokenizer, response[rows, :steps], finished, config.stop)
        if bool(finished.all()):
            break
        if bool(finished.any()):
            keep = torch.nonzero(~finished).flatten()
            mask = mask.index_select(0, keep)
            start = leading_padding(mask)  # columns no remaining row needs
            mask = mask[:, start:]
            cache.keep(keep, start)
            rows, token, next_position = rows[keep], token[keep], next_position[keep]
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        out = model(
            input_ids=token[:, None], attention_mask=mask, position_ids=next_position,
            cache=cache, use_cache=True,
        )
        last_logits = out.logits[:, -1, :]
        next_position = next_position + 1
    return Rollout(
        prompt_ids=prompt_ids,
        prompt_mask=prompt_mask,
        response_ids=response[:, :steps],
        response_mask=alive[:, :steps],
        logprobs=logprobs[:, :steps],
    )


class _InPlaceLayer(CacheLayerMixin):
    """One layer's keys and values (A, H, T, D) in buffers allocated once, written in place.

    `DynamicLayer` concatenates at every step, copying the whole cache; here a step writes one position and
    attention reads a view of the filled part.
    """

    is_sliding = False
    is_compileable = False
    is_croppable = False

    def __init__(self, capacity: int):
        super().__init__()
        self.capacity = capacity
        self.length = 0

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        batch, heads, _, _ = key_states.shape
        self.device = key_states.device
        self.key_buffer = key_states.new_empty(batch, heads, self.capacity, key_states.size(-1))
        self.value_buffer = value_states.new_empty(batch, value_states.size(1), self.capacity, value_states.size(-1))
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.size(-2)
        if end > self.key_buffer.size(2):  # more tokens than announced: grow (copies, but only here)
            self.key_buffer = self._resized(self.key_buffer, max(end, 2 * self.key_buffer.size(2)))
            self.value_buffer = self._resized(self.value_buffer, max(end, 2 * self.value_buffer.size(2)))
        self.key_buffer[:, :, self.length : end] = key_states
        self.value_buffer[:, :, self.length : end] = value_states
        self.length = end
        self.keys, self.values = self.key_buffer[:, :, :end], self.value_buffer[:, :, :end]
        return self.keys, self.values

    def _resized(self, buffer: torch.Tensor, size: int) -> torch.Tensor:
        new = buffer.new_empty(*buffer.shape[:2], size, buffer.size(-1))
        new[:, :, : self.length] = buffer[:, :, : self.length]
        return new

    def keep(self, rows: torch.Tensor, start: int) -> None:
        """Keep batch rows `rows` (in that order) and drop the first `start` positions."""
        if not self.is_initialized:
            return
        self.key_buffer = self._kept(self.key_buffer, rows, start)
        self.value_buffer = self._kept(self.value_buffer, rows, start)
        self.length -= start
        self.keys, self.values = self.key_buffer[:, :, : self.length], self.value_buffer[:, :, : self.length]

    def _kept(self, buffer: torch.Tensor, rows: torch.Tensor, start: int) -> torch.Tensor:
        new = buffer.new_empty(rows.numel(), buffer.size(1), buffer.size(2) - start, buffer.size(-1))
        new[:, :, : self.length - start] = buffer[rows, :, start : self.length]
        return new

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.length + query_length, 0

    def get_seq_length(self) -> int:
        return self.length

    def get_max_length(self) -> int:
        return -1


class InPlaceCache(Cache):
    """A KV cache with room for `capacity` positions per layer, written in place; `keep` drops rows and columns."""

    def __init__(self, capacity: int):
        super().__init__(layer_class_to_replicate=functools.partial(_InPlaceLayer, capacity))

    def keep(self, rows: torch.Tensor, start: int = 0) -> None:
        for layer in self.layers:
            layer.keep(rows, start)


def _hit_stop(tokenizer, tokens: torch.Tensor, done: torch.Tensor, stops: list[str]) -> torch.Tensor:
    """Rows (not yet done) whose recent text contains a stop string. Decodes only a short tail."""
    tail = max(len(s) for s in stops) + 4  # tokens are at least one character, bar specials
    hit = torch.zeros_like(done)
    for row in torch.nonzero(~done).flatten().tolist():
        text = tokenizer.decode(tokens[row, -tail:], skip_special_tokens=True)
        hit[row] = any(s in text for s in stops)
    return hit


def decode_responses(tokenizer, rollout: Rollout, stop: list[str] | None = None) -> list[str]:
    """Response texts without padding or special tokens, cut just after the first stop string."""
    texts = []
    for ids, mask in zip(rollout.response_ids, rollout.response_mask):
        text = tokenizer.decode(ids[mask.bool()], skip_special_tokens=True)
        for s in stop or []:
            if s in text:
                text = text[: text.index(s) + len(s)]
        texts.append(text)
    return texts
