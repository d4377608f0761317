"""Tests for rlpr.tasks.arithmetic: chains, splits, tokenizer, reward, metrics, model config."""

from __future__ import annotations

import math
import random
import re
import statistics

import pytest
from transformers import AutoTokenizer

from rlpr.tasks.arithmetic import (
    BANNED_TOKEN_IDS,
    VOCAB_SIZE,
    ArithmeticConfig,
    ArithmeticTask,
    answer_reward,
    build_tokenizer,
    evaluate,
    generate_chain,
    gpt2_config,
    make_splits,
    max_prompt_tokens,
    parse_answer,
    top_answer,
    true_answer,
)

SMALL = dict(n_train=2000, n_validation=200, n_test=300)
CHAIN_FORMAT = re.compile(r"\d+( [+*] \d+)+( = \d+( [+*] \d+)+)* =")


@pytest.fixture(scope="module")
def task() -> ArithmeticTask:
    return ArithmeticTask(ArithmeticConfig(seed=1, **SMALL))


@pytest.mark.parametrize("use_mul", [False, True])
def test_chains_are_consistent_and_well_formed(use_mul: bool) -> None:
    rng = random.Random(0)
    for _ in range(500):
        prompt, answer = generate_chain(rng, use_mul=use_mul)
        assert CHAIN_FORMAT.fullmatch(prompt), prompt
        segments = prompt[:-2].split(" = ")
        assert all(evaluate(s) == answer for s in segments), prompt
        assert all(0 <= int(w) <= 99 for w in prompt.split() if w.isdigit())
        assert 0 <= answer < 100 and true_answer(prompt) == answer
        # each step merges exactly one adjacent pair
        lengths = [len(s.split()) for s in segments]
        assert lengths == list(range(lengths[0], 2, -2))
        if not use_mul:
            assert "*" not in prompt


def test_chain_merges_products_first() -> None:
    rng = random.Random(3)
    for _ in range(300):
        prompt, _ = generate_chain(rng, use_mul=True)
        segments = prompt[:-2].split(" = ")
        for before, after in zip(segments, segments[1:]):
            if "*" in before:  # a product is merged while any is left: the "+" count stays
                assert before.count("+") == after.count("+"), prompt


def test_term_distribution() -> None:
    rng = random.Random(0)
    counts = [generate_chain(rng)[0].count("=") + 1 for _ in range(3000)]
    assert set(counts) == {4, 5}
    assert 0.94 < counts.count(5) / len(counts) < 0.98
    rng = random.Random(0)
    assert {generate_chain(rng, terms={3: 1.0})[0].count("=") for _ in range(50)} == {2}


def test_example_chain_answer() -> None:
    prompt = "6 + 0 + 8 + 6 + 7 = 6 + 8 + 6 + 7 = 6 + 8 + 13 = 14 + 13 ="
    assert true_answer(prompt) == 27
    assert evaluate("2 + 3 * 4 * 2 + 1") == 27
    with pytest.raises(ValueError):
        evaluate("2 + + 3")


def test_splits_disjoint_sized_and_seeded(task: ArithmeticTask) -> None:
    splits = {s: task.prompts(s) for s in ("train", "validation", "test")}
    assert {s: len(p) for s, p in splits.items()} == {"train": 2000, "validation": 200, "test": 300}
    sets = {s: set(p) for s, p in splits.items()}
    assert all(len(sets[s]) == len(splits[s]) for s in splits)
    assert not sets["train"] & sets["validation"]
    assert not sets["train"] & sets["test"]
    assert not sets["validation"] & sets["test"]
    again = make_splits(ArithmeticConfig(seed=1, **SMALL))
    assert again == splits
    other = make_splits(ArithmeticConfig(seed=2, **SMALL))
    assert other["test"] != splits["test"] and other["train"] != splits["train"]
    # a bigger train split leaves validation and test unchanged
    bigger = make_splits(ArithmeticConfig(seed=1, n_train=4000, n_validation=200, n_test=300))
    assert bigger["test"] == splits["test"] and bigger["validation"] == splits["validation"]
    with pytest.raises(ValueError):
        task.prompts("dev")


def test_tokenizer_ids_and_round_trip(tmp_path) -> None:
    tok = build_tokenizer()
    ids = tok.convert_tokens_to_ids(["0", "99", "+", "*", "=", "[BOS]", "[EOS]", "[PAD]", "[UNK]"])
    assert ids == [0, 99, 100, 101, 102, 103, 104, 105, 106]
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, tok.unk_token_id) == (103, 104, 105, 106)
    assert len(tok) == VOCAB_SIZE == 107
    assert tok.padding_side == "left"
    text = "6 + 0 + 8 + 6 + 7 = 6 + 8 + 6 + 7 = 6 + 8 + 13 = 14 + 13 = 27"
    ids = tok(text)["input_ids"]
    assert ids[:4] == [6, 100, 0, 100] and ids[-1] == 27 and len(ids) == len(text.split())
    assert tok.decode(ids) == text
    assert tok("7+1 =")["input_ids"] == [106, 102]

    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded(text)["input_ids"] == ids and loaded.decode(ids) == text
    assert (loaded.bos_token_id, loaded.eos_token_id, loaded.pad_token_id) == (103, 104, 105)
    assert loaded.padding_side == "left"
    batch = loaded(["1 + 2 =", "1 + 2 + 3 = 3 + 3 ="], padding=True)
    assert batch["input_ids"][0] == [105] * 6 + [1, 100, 2, 102]
    assert batch["attention_mask"][0] == [0] * 6 + [1] * 4
    assert set(BANNED_TOKEN_IDS) == {103, 104, 105, 106}


def test_reward_formula(task: ArithmeticTask) -> None:
    prompt = "6 + 0 + 8 + 6 + 7 = 6 + 8 + 6 + 7 = 6 + 8 + 13 = 14 + 13 ="
    rewards = task.reward([prompt] * 6, ["27", "37", " 17\n", "x", "", "27 ="])
    assert rewards[0] == 1.0
    assert rewards[1] == pytest.approx(2 / (1 + math.e)) == rewards[2]
    assert rewards[1] == pytest.approx(0.5379, abs=1e-4)
    assert rewards[3:] == [0.0, 0.0, 0.0]
    assert answer_reward(500) == answer_reward(10_000) == pytest.approx(2 / (1 + math.exp(50)))
    assert answer_reward(None) == 0.0
    assert parse_answer(" 42 ") == 42 and parse_answer("-3") is None and parse_answer("4 2") is None


def test_metrics_on_a_hand_made_batch() -> None:
    prompts = ["1 + 2 =", "2 + 2 =", "3 + 3 =", "4 + 4 =", "1 + 1 ="]
    responses = ["3", "3", "6", "3", "+"]
    metrics = ArithmeticTask(ArithmeticConfig(**SMALL)).metrics(prompts, responses, [0.0] * 5)
    assert metrics["accuracy"] == pytest.approx(2 / 5)
    assert metrics["top_answer_share"] == pytest.approx(3 / 5)
    assert metrics["distinct_answers"] == 3.0
    assert metrics["invalid_share"] == pytest.approx(1 / 5)
    assert top_answer(responses) == ("3", pytest.approx(0.6))
    assert top_answer([]) == ("", 0.0)


def test_answer_distribution_and_naive_optimum(task: ArithmeticTask) -> None:
    prompts = task.prompts("train")
    answers = [true_answer(p) for p in prompts]
    assert 24.0 < statistics.mean(answers) < 25.5  # DESIGN.md: ~24.5 (exactly 24.8 in expectation)
    mean_reward = statistics.mean(task.reward(prompts, ["25"] * len(prompts)))
    assert 0.72 < mean_reward < 0.76  # DESIGN.md: ~0.75, the optimum of one constant answer


def test_sft_examples(task: ArithmeticTask) -> None:
    examples = task.sft_examples(256)
    assert len(examples) == 256 and [p for p, _ in examples] == task.prompts("train")[:256]
    assert all(a == str(true_answer(p)) for p, a in examples)
    with pytest.raises(ValueError):
        task.sft_examples(10**6)


def test_gpt2_config_fits_the_task() -> None:
    config = gpt2_config(n_layer=2, n_head=2, n_embd=32)
    assert config.vocab_size == len(build_tokenizer())
    assert (config.bos_token_id, config.eos_token_id, config.pad_token_id) == (103, 104, 105)
    assert max_prompt_tokens(5) == 28
    assert config.n_positions >= max_prompt_tokens(5) + 3
    assert (gpt2_config().n_layer, gpt2_config().n_head, gpt2_config().n_embd) == (12, 12, 768)


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        ArithmeticConfig(terms={1: 1.0})
    with pytest.raises(ValueError):
        ArithmeticConfig(operand_max=100)
    with pytest.raises(ValueError):  # not enough distinct chains of 2 terms with operands 0..1
        make_splits(ArithmeticConfig(terms={2: 1.0}, operand_max=1, n_train=10, n_validation=0, n_test=0))
