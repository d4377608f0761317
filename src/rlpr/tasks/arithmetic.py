"""Arithmetic chains task (Padula & Soemers): prompts, word-level tokenizer, reward, accuracy.

A chain writes a sum of small operands and merges one randomly chosen adjacent pair per step, with
single spaces between words; the prompt is everything up to and including the last ``=`` and the model
answers with ONE token, the final number::

    prompt: "6 + 0 + 8 + 6 + 7 = 6 + 8 + 6 + 7 = 6 + 8 + 13 = 14 + 13 ="
    answer: "27"

Reward ``2 / (1 + exp(err / 10))`` with ``err = |true - answer|`` capped at 500 (exact -> 1, off by
10 -> 0.54, unparsable -> 0); the evaluation metric is exact-match accuracy.
"""

from __future__ import annotations

import math
import os
import random
from collections import Counter
from dataclasses import dataclass, field

import torch
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import WhitespaceSplit
from transformers import GPT2Config, PreTrainedTokenizerFast

# --- vocabulary (the paper's ids; [UNK] is ours, appended after them) ------------------------------
MAX_NUMBER = 99  # every number in a chain, and so every answer, is one token "0".."99"
PLUS_TOKEN, TIMES_TOKEN, EQUALS_TOKEN = "+", "*", "="
BOS_TOKEN, EOS_TOKEN, PAD_TOKEN, UNK_TOKEN = "[BOS]", "[EOS]", "[PAD]", "[UNK]"
VOCAB: dict[str, int] = {str(i): i for i in range(MAX_NUMBER + 1)} | {
    PLUS_TOKEN: 100,
    TIMES_TOKEN: 101,
    EQUALS_TOKEN: 102,
    BOS_TOKEN: 103,
    EOS_TOKEN: 104,
    PAD_TOKEN: 105,
    UNK_TOKEN: 106,
}
BOS_ID, EOS_ID, PAD_ID, UNK_ID = (VOCAB[t] for t in (BOS_TOKEN, EOS_TOKEN, PAD_TOKEN, UNK_TOKEN))
VOCAB_SIZE = len(VOCAB)  # 107
BANNED_TOKEN_IDS: tuple[int, ...] = (PAD_ID, BOS_ID, EOS_ID, UNK_ID)  # never sampled

ERROR_CAP = 500  # err is capped before the reward is computed
SPLITS = ("train", "validation", "test")


def build_tokenizer() -> PreTrainedTokenizerFast:
    """The word-level tokenizer of the paper: "0".."99" -> 0-99, "+" 100, "*" 101, "=" 102,
    [BOS] 103, [EOS] 104, [PAD] 105, plus [UNK] 106 (WordLevel needs one; any word outside the
    vocabulary, e.g. "6+0" written without spaces, maps to it). Words are split on whitespace, decoding
    joins them with single spaces, padding is on the left, no special tokens are added when encoding.
    Saves with ``save_pretrained`` and loads back with ``AutoTokenizer.from_pretrained``.
    """
    backend = Tokenizer(WordLevel(vocab=dict(VOCAB), unk_token=UNK_TOKEN))
    backend.pre_tokenizer = WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        padding_side="left",
        model_input_names=["input_ids", "attention_mask"],
        clean_up_tokenization_spaces=False,
    )


def max_prompt_tokens(n_terms: int) -> int:
    """Tokens in the prompt of an ``n_terms`` chain: expressions of n_terms..2 numbers, each with its "="."""
    return sum(2 * k for k in range(2, n_terms + 1))  # (2k - 1 words + "=") per expression


def gpt2_config(
    n_layer: int = 12, n_head: int = 12, n_embd: int = 768, max_terms: int = 5, dropout: float = 0.1
) -> GPT2Config:
    """A GPT-2-shaped config for this task's vocabulary (12/12/768 is the paper's GPT-2 small, ~85M
    parameters). ``n_positions`` fits the longest prompt of ``max_terms`` terms plus BOS, answer and
    EOS, rounded up to a multiple of 8 (32 for 5 terms). ``dropout`` is GPT-2's default 0.1 for all
    three dropouts; PPO usually wants 0.
    """
    n_positions = -(-(max_prompt_tokens(max_terms) + 3) // 8) * 8
    return GPT2Config(
        vocab_size=VOCAB_SIZE,
        n_positions=n_positions,
        n_layer=n_layer,
        n_head=n_head,
        n_embd=n_embd,
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=PAD_ID,
    )


# --- chains ----------------------------------------------------------------------------------------
def _format(numbers: list[int], ops: list[str]) -> str:
    words = [str(numbers[0])]
    for op, number in zip(ops, numbers[1:]):
        words += [op, str(number)]
    return " ".join(words)


def generate_chain(
    rng: random.Random,
    terms: dict[int, float] | None = None,
    operand_max: int = 10,
    use_mul: bool = False,
) -> tuple[str, int]:
    """Draw one chain: (prompt ending in "=", answer).

    The number of terms is drawn from ``terms`` ({n: weight}, default {4: 0.04, 5: 0.96}), operands
    from ``rng.randint(0, operand_max)`` (inclusive), operators "+" (or "+"/"*" at random when
    ``use_mul``). Each step merges one randomly chosen adjacent pair, a product while any "*" is left.
    A chain with any number above 99 is drawn again.
    """
    terms = terms if terms is not None else {4: 0.04, 5: 0.96}
    sizes, weights = list(terms), list(terms.values())
    while True:
        n_terms = rng.choices(sizes, weights=weights)[0]
        numbers = [rng.randint(0, operand_max) for _ in range(n_terms)]
        ops = [rng.choice((PLUS_TOKEN, TIMES_TOKEN)) if use_mul else PLUS_TOKEN for _ in range(n_terms - 1)]
        expressions, ok = [_format(numbers, ops)], max(numbers) <= MAX_NUMBER
        while ops and ok:
            pairs = [i for i, op in enumerate(ops) if op == TIMES_TOKEN] or list(range(len(ops)))
            i = rng.choice(pairs)
            a, b = numbers[i], numbers[i + 1]
            value = a * b if ops[i] == TIMES_TOKEN else a + b
            numbers, ops = numbers[:i] + [value] + numbers[i + 2 :], ops[:i] + ops[i + 1 :]
            ok = value <= MAX_NUMBER
            expressions.append(_format(numbers, ops))
        if ok:
            return " = ".join(expressions[:-1]) + " =", numbers[0]


def evaluate(expression: str) -> int:
    """Value of ``"a + b * c ..."`` (non-negative integers, "*" before "+").
    Raises ValueError on anything else."""
    words = expression.split()
    if len(words) % 2 == 0 or not all(w.isascii() and w.isdigit() for w in words[::2]):
        raise ValueError(f"not an arithmetic expression: {expression!r}")
    total, product = 0, int(words[0])
    for op, word in zip(words[1::2], words[2::2]):
        if op == TIMES_TOKEN:
            product *= int(word)
        elif op == PLUS_TOKEN:
            total, product = total + product, int(word)
        else:
            raise ValueError(f"unknown operator {op!r} in {expression!r}")
    return total + product


def true_answer(prompt: str) -> int:
    """The answer a chain prompt asks for: the value of its last expression (before the final "=")."""
    if not prompt.rstrip().endswith(EQUALS_TOKEN):
        raise ValueError(f"a chain prompt ends with '=': {prompt!r}")
    return evaluate(prompt.rstrip()[:-1].rsplit(EQUALS_TOKEN, 1)[-1])


def parse_answer(response: str) -> int | None:
    """The number a response states (surrounding whitespace ignored), or None if it is not one."""
    text = response.strip()
    return int(text) if text.isascii() and text.isdigit() else None


def answer_reward(error: float | None) -> float:
    """``2 / (1 + exp(err / 10))`` with err capped at 500; None (no valid answer) -> 0.
    err is the absolute error summed over a response's statements (one statement per prompt here)."""
    if error is None:
        return 0.0
    return 2.0 / (1.0 + math.exp(min(error, ERROR_CAP) / 10.0))


def top_answer(responses: list[str]) -> tuple[str, float]:
    """The most frequent stripped response of a batch and its share, ("", 0.0) for an empty batch."""
    if not responses:
        return "", 0.0
    answer, count = Counter(r.strip() for r in responses).most_common(1)[0]
    return answer, count / len(responses)


# --- splits and task -------------------------------------------------------------------------------
@dataclass
class ArithmeticConfig:
    """Options of the arithmetic task. Defaults follow the authors' scripts."""

    seed: int = 0  # fixes every split
    n_train: int = 100_000
    n_validation: int = 512
    n_test: int = 1024
    terms: dict[int, float] = field(default_factory=lambda: {4: 0.04, 5: 0.96})  # n_terms -> weight
    operand_max: int = 10  # operands are randint(0, operand_max), inclusive
    use_mul: bool = False  # "*" as well as "+" (products are merged first)
    # The supervised start (model.name=sft): a randomly initialised GPT-2-shaped model of this size,
    # fine-tuned on the first `sft_examples` train chains. The paper: 12/12/768, 256 chains, one epoch.
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 128
    sft_examples: int = 256
    sft_epochs: int = 1
    sft_lr: float = 1e-3
    sft_batch_size: int = 16
    # GPT-2's three dropouts. 0 leaves the model deterministic; 0.1 is GPT2Config's default, which the paper's
    # model had: SFT trains with it, and PPO uses it only with ppo.train_mode (TRL 0.9's behaviour).
    dropout: float = 0.0

    def __post_init__(self) -> None:
        self.terms = {int(n): float(w) for n, w in self.terms.items()}
        if (
            not self.terms
            or min(self.terms) < 2
            or min(self.terms.values()) < 0
            or sum(self.terms.values()) <= 0
        ):
            raise ValueError(f"terms must map term counts >= 2 to non-negative weights: {self.terms}")
        if not 0 <= self.operand_max <= MAX_NUMBER:
            raise ValueError(f"operand_max must be in 0..{MAX_NUMBER}: {self.operand_max}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1): {self.dropout}")
        if min(self.n_train, self.n_validation, self.n_test) < 0:
            raise ValueError("split sizes must be >= 0")


def make_splits(config: ArithmeticConfig) -> dict[str, list[str]]:
    """Disjoint train/validation/test prompts, fixed by ``config.seed``.

    One ``random.Random(seed)`` draws distinct chains (distinct as prompt strings) into one pool, taken
    in order as test, then validation, then train: the test set does not depend on the other sizes and
    the validation set only on ``n_test``, so a larger train split leaves both unchanged.
    """
    rng = random.Random(config.seed)
    sizes = {"test": config.n_test, "validation": config.n_validation, "train": config.n_train}
    seen: set[str] = set()
    splits: dict[str, list[str]] = {}
    for split, size in sizes.items():
        prompts: list[str] = []
        misses = 0
        while len(prompts) < size:
            prompt, _ = generate_chain(rng, config.terms, config.operand_max, config.use_mul)
            if prompt in seen:
                misses += 1
                if misses > 10_000:
                    raise ValueError(f"could not draw {sum(sizes.values())} distinct chains with {config}")
                continue
            misses = 0
            seen.add(prompt)
            prompts.append(prompt)
        splits[split] = prompts
    return splits


class ArithmeticTask:
    """Prompts, reward and metrics of the arithmetic chains task (one answer token per prompt)."""

    name = "arithmetic"
    banned_token_ids = list(BANNED_TOKEN_IDS)  # the trainer never samples these

    def __init__(self, config: ArithmeticConfig | None = None):
        self.config = config if config is not None else ArithmeticConfig()
        self._splits: dict[str, list[str]] | None = None  # drawn on first use

    def prompts(self, split: str) -> list[str]:
        """The prompts of ``split`` ("train", "validation" or "test"), in a fixed order."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}: {split!r}")
        if self._splits is None:
            self._splits = make_splits(self.config)
        return list(self._splits[split])

    def reward(self, prompts: list[str], responses: list[str]) -> list[float]:
        """One reward per (prompt, response): 1 for the exact answer, 2 / (1 + e^(err/10)) otherwise."""
        rewards = []
        for prompt, response in zip(prompts, responses, strict=True):
            answer = parse_answer(response)
            rewards.append(answer_reward(None if answer is None else abs(true_answer(prompt) - answer)))
        return rewards

    def metrics(self, prompts: list[str], responses: list[str], rewards: list[float]) -> dict[str, float]:
        """accuracy (exact match), top_answer_share (share of the most frequent answer: 1.0 means the
        policy answers every prompt the same), distinct_answers, invalid_share (unparsable answers)."""
        n = len(responses)
        if n == 0:
            return {"accuracy": 0.0, "top_answer_share": 0.0, "distinct_answers": 0.0, "invalid_share": 0.0}
        answers = [parse_answer(r) for r in responses]
        correct = sum(a == true_answer(p) for p, a in zip(prompts, answers, strict=True))
        return {
            "accuracy": correct / n,
            "top_answer_share": top_answer(responses)[1],
            "distinct_answers": float(len({r.strip() for r in responses})),
            "invalid_share": sum(a is None for a in answers) / n,
        }

    def sft_examples(self, n: int) -> list[tuple[str, str]]:
        """The first ``n`` train prompts with their answers, for the supervised start (the paper: 256
        chains, one epoch). The full text is ``f"{prompt} {answer}"``; the answer is one token."""
        train = self.prompts("train")
        if n > len(train):
            raise ValueError(f"asked for {n} SFT examples, the train split has {len(train)}")
        return [(p, str(true_answer(p))) for p in train[:n]]

    # --- the supervised start -------------------------------------------------------------------------
    def build_model(self, seed: int = 0):
        """A randomly initialised GPT-2-shaped model of the configured size and dropout, in eval mode."""
        from transformers import GPT2LMHeadModel

        c = self.config
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = GPT2LMHeadModel(gpt2_config(c.n_layer, c.n_head, c.n_embd, max(c.terms), c.dropout))
        return model.eval()

    def supervised_start(self, out_dir: str, seed: int = 0) -> dict:
        """Train a fresh model on ``sft_examples`` solved chains and save it (with the tokenizer) in ``out_dir``.

        Returns the SFT statistics (also written to ``out_dir/sft.json``)."""
        from rlpr.fileio import write_json_atomic
        from rlpr.sft import SFTConfig, sft

        c = self.config
        model = self.build_model(seed)
        sft_config = SFTConfig(epochs=c.sft_epochs, lr=c.sft_lr, batch_size=c.sft_batch_size, append_eos=False, seed=seed)
        stats = sft(model, build_tokenizer(), self.sft_examples(c.sft_examples), sft_config, out_dir)
        stats |= {"parameters": sum(p.numel() for p in model.parameters()), "seed": seed}
        write_json_atomic(os.path.join(out_dir, "sft.json"), stats)
        return stats

    def summary(self, start: dict, end: dict) -> dict:
        """Headline figures for summary.json: held-out (greedy) exact accuracy, mean reward and top-answer
        share at the end, and the accuracy of the starting (supervised) model."""
        return {
            "accuracy": end.get("eval_accuracy"),
            "reward_mean": end.get("eval_reward_mean"),
            "top_answer_share": end.get("eval_top_answer_share"),
            "sft_accuracy": start.get("eval_accuracy"),
        }
