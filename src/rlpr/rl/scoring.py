"""Re-score sampled sequences: per-token log-probs, logits and values over the response positions.

Sequences are [left-padded prompt (P) | right-padded response (R)]. With `logits_to_keep=R+1` the model
computes logits only for positions P-1 .. P+R-1, and position P-1+t predicts response token t.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rlpr.generate import position_ids


@dataclass
class Scored:
    logprobs: torch.Tensor  # (B, R) log pi(response token)
    logits: torch.Tensor  # (B, R, V) temperature-scaled
    values: torch.Tensor | None  # (B, R) value of the state before each response token


def score(
    policy,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    response_ids: torch.Tensor,
    temperature: float = 1.0,
    value_head=None,
    critic=None,
) -> Scored:
    """One forward pass of the policy (and critic) over full sequences; gradients flow if enabled."""
    length = response_ids.size(1)
    positions = position_ids(attention_mask)
    out = policy(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=positions,
        logits_to_keep=length + 1,
        output_hidden_states=value_head is not None,
        use_cache=False,
    )
    logits = out.logits[:, :-1].float()
    if temperature != 1.0:
        logits = logits / temperature
    logprobs = logits.log_softmax(-1).gather(-1, response_ids.unsqueeze(-1)).squeeze(-1)
    values = None
    if value_head is not None:
        values = value_head(out.hidden_states[-1][:, -(length + 1) : -1])
    elif critic is not None:
        values = critic(input_ids, attention_mask, positions)[:, -(length + 1) : -1]
    return Scored(logprobs=logprobs, logits=logits, values=values)
