"""Batched sampling from a causal LM with left padding and the KV cache.

Layout shared with the trainer: prompts are left-padded to P tokens, responses right-padded to R tokens,
and position ids count only real tokens (`cumsum(mask) - 1`), so a row's logits do not depend on how
much padding its batch needed. The trainer re-scores the same layout, so the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from transformers import DynamicCache


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
    """
    batch, device = prompt_ids.size(0), prompt_ids.device
    max_new = config.max_new_tokens
    if config.random_length:
        budget = torch.randint(config.min_new_tokens, max_new + 1, (batch,), generator=generator, device="cpu").to(device)
    else:
        budget = torch.full((batch,), max_new, device=device)
    eos = torch.tensor(eos_ids, dtype=torch.long, device=device)
    banned = torch.tensor(banned_ids or [], dtype=torch.long, device=device)

    cache = DynamicCache()
    mask = prompt_mask.clone()
    out = model(
        input_ids=prompt_ids, attention_mask=mask, position_ids=position_ids(mask),
        cache=cache, use_cache=True, logits_to_keep=1,
    )
    next_position = position_ids(mask)[:, -1:] + 1
    tokens, logprobs, alive = [], [], []
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    for step in range(max_new):
        logits = out.logits[:, -1, :].float()
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
            token = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(-1)
        alive.append(~done)
        tokens.append(torch.where(done, torch.full_like(token, pad_id), token))
        logprobs.append(torch.where(done, torch.zeros_like(logp[:, 0]), logp.gather(-1, token[:, None]).squeeze(-1)))
        done = done | torch.isin(token, eos) | (budget <= step + 1)
        if config.stop and tokenizer is not None:
            done = done | _hit_stop(tokenizer, torch.stack(tokens, 1), done, config.stop)
        if bool(done.all()):
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        out = model(
            input_ids=tokens[-1][:, None], attention_mask=mask, position_ids=next_position,
            cache=cache, use_cache=True,
        )
        next_position = next_position + 1
    return Rollout(
        prompt_ids=prompt_ids,
        prompt_mask=prompt_mask,
        response_ids=torch.stack(tokens, 1),
        response_mask=torch.stack(alive, 1).long(),
        logprobs=torch.stack(logprobs, 1),
    )


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
