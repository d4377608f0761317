"""The vLLM rollout engine: vLLM on the training GPU, in the training process, fed the policy's weights in memory.

NOT TESTED HERE: the development machines have no GPU and no vLLM. Written against vLLM >= 0.10.2 (V1 engine):
`LLM(enable_sleep_mode=..., logprobs_mode=...)`, `LLM.apply_model`, `LLM.sleep(level=1)`, `LLM.wake_up(tags=...)`,
`LLM.reset_prefix_cache`. Kept thin on purpose: every rlpr-specific decision (tokenization, padding layout,
length budgets, seeds) is the hf engine's, so the two differ only in the sampler.

- Weights: the policy is saved once to a temporary directory for vLLM to start from; after that every update
  is pushed in memory with the model's own `load_weights` (Hugging Face parameter names), run on the model
  through `LLM.apply_model`. VLLM_ENABLE_V1_MULTIPROCESSING=0 keeps vLLM's engine core in this process, so
  the push hands it our GPU tensors instead of pickling them to another process.
- Memory: with `rollout.vllm_sleep`, `sleep()` (level 1) moves vLLM's weights to CPU memory and drops its KV
  cache while the trainer scores and updates. Waking restores the weights from that CPU copy, which would undo
  a push made while asleep, so pushes wait for `wake()`: weights first, then the new weights, then the cache.
- Log-probs: `logprobs_mode="processed_logprobs"` gives the sampled token's log-prob after temperature and
  top-k/top-p, as the hf engine reports it. The trainer does not use them for PPO (it re-scores every rollout
  with the policy); they differ from the policy's by vLLM's kernels and dtype.
"""

from __future__ import annotations

import os
import tempfile

import torch

from rlpr.generate import Rollout, SamplingConfig, encode_prompts


class VllmEngine:
    def __init__(self, config, policy, tokenizer, eos_ids: list[int], banned_ids: list[int] | None, seed: int):
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # before vLLM reads its environment
        from vllm import LLM

        self.config, self.policy, self.tokenizer, self.eos_ids = config, policy, tokenizer, eos_ids
        self.device = next(policy.parameters()).device
        # vLLM has no exact ban by id; allowing every other id is exact (the hf engine sets banned logits to -inf).
        vocab = policy.config.vocab_size
        self.allowed_ids = sorted(set(range(vocab)) - set(banned_ids)) if banned_ids else None
        # Kept for the engine's lifetime: vLLM may read the config or tokenizer files after it starts.
        self._directory = tempfile.TemporaryDirectory(prefix="rlpr-vllm-")
        policy.save_pretrained(self._directory.name)
        tokenizer.save_pretrained(self._directory.name)
        self.llm = LLM(
            model=self._directory.name,
            dtype=str(next(policy.parameters()).dtype).removeprefix("torch."),
            seed=seed,
            gpu_memory_utilization=config.vllm_gpu_memory,
            enable_sleep_mode=config.vllm_sleep,
            logprobs_mode="processed_logprobs",
        )
        self.asleep = False
        self.stale = False  # the policy has weights vLLM does not have yet

    def generate(self, prompts: list[str], sampling: SamplingConfig, generator: torch.Generator | None = None) -> Rollout:
        from vllm import SamplingParams

        self.wake()
        ids, mask = encode_prompts(self.tokenizer, prompts, sampling.chat, self.device)
        batch = ids.size(0)
        draw_device = generator.device if generator is not None else "cpu"
        if sampling.random_length:  # the same draw as the hf engine's budgets
            budgets = torch.randint(sampling.min_new_tokens, sampling.max_new_tokens + 1, (batch,), generator=generator,
                                    device=draw_device).tolist()
        else:
            budgets = [sampling.max_new_tokens] * batch
        seeds = torch.randint(2**31 - 1, (batch,), generator=generator, device=draw_device).tolist()
        params = [
            SamplingParams(
                n=1,
                temperature=sampling.temperature,
                top_k=sampling.top_k if sampling.top_k > 0 else -1,
                top_p=sampling.top_p,
                max_tokens=budget,
                min_tokens=min(sampling.min_new_tokens, budget),
                stop=list(sampling.stop) or None,
                include_stop_str_in_output=True,
                stop_token_ids=list(self.eos_ids),
                allowed_token_ids=self.allowed_ids,
                logprobs=0,  # the sampled token's log-prob only
                seed=seed,
            )
            for budget, seed in zip(budgets, seeds)
        ]
        rows = [row[keep.bool()].tolist() for row, keep in zip(ids, mask)]
        outputs = self.llm.generate([{"prompt_token_ids": r} for r in rows], params, use_tqdm=False)
        return _rollout(ids, mask, [o.outputs[0] for o in outputs], self.tokenizer.pad_token_id)

    def sync_weights(self, policy) -> None:
        self.policy, self.stale = policy, True  # pushed at the next wake (see the module docstring)

    def sleep(self) -> None:
        if self.config.vllm_sleep and not self.asleep:
            self.llm.sleep(level=1)
            self.asleep = True

    def wake(self) -> None:
        if self.asleep:
            self.llm.wake_up(tags=["weights"])  # the KV cache stays freed while the new weights come in
        if self.stale:
            weights = [(name, tensor.detach()) for name, tensor in self.policy.state_dict().items()]
            self.llm.apply_model(lambda model: model.load_weights(weights))
        if self.asleep:
            self.llm.wake_up(tags=["kv_cache"])
            self.asleep = False
        if self.stale:
            self.llm.reset_prefix_cache()  # cached prompt prefixes hold keys and values of the old weights
            self.stale = False


def _rollout(prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, completions, pad_id: int) -> Rollout:
    """vLLM completions (token ids, one {id: Logprob} dict per position) -> a Rollout in the hf engine's layout."""
    batch, device = prompt_ids.size(0), prompt_ids.device
    length = max((len(c.token_ids) for c in completions), default=0)
    response = torch.full((batch, length), pad_id, dtype=torch.long)
    alive = torch.zeros(batch, length, dtype=torch.long)
    logprobs = torch.zeros(batch, length)
    for row, c in enumerate(completions):
        tokens = list(c.token_ids)
        response[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        alive[row, : len(tokens)] = 1
        logprobs[row, : len(tokens)] = torch.tensor([step[t].logprob for t, step in zip(tokens, c.logprobs)])
    return Rollout(prompt_ids, prompt_mask, response.to(device), alive.to(device), logprobs.to(device))
