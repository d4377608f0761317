"""Supervised fine-tuning: loss only on answer tokens, learning a toy mapping, atomic save, the arithmetic start."""

import os

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rlpr import models
from rlpr.generate import position_ids
from rlpr.sft import IGNORE, SFTConfig, answer_loss, collate, encode_examples, save_model, sft
from rlpr.tasks.arithmetic import ArithmeticConfig, ArithmeticTask, build_tokenizer


def test_encoding_puts_labels_on_the_answer_only():
    tok = build_tokenizer()
    rows = encode_examples(tok, [("1 + 2 =", "3"), ("4 + 5 + 1 = 9 + 1 =", "10")], append_eos=True)
    assert rows[0] == ([1, 100, 2, 102, 3, tok.eos_token_id], 4)
    ids, mask, labels = collate(rows, tok.pad_token_id)
    assert ids.shape == mask.shape == labels.shape == (2, 12)
    assert ids[0, 6:].tolist() == [tok.pad_token_id] * 6 and mask[0].tolist() == [1] * 6 + [0] * 6  # right padding
    assert labels[0].tolist() == [IGNORE] * 4 + [3, tok.eos_token_id] + [IGNORE] * 6
    assert labels[1].tolist() == [IGNORE] * 10 + [10, tok.eos_token_id]
    assert encode_examples(tok, [("1 + 2 =", "3")], append_eos=False)[0] == ([1, 100, 2, 102, 3], 4)


def test_answer_loss_from_the_first_answer_position_equals_the_loss_over_all_logits(tiny):
    """The loss computes logits only from the batch's first labelled position; the number is the full one's."""
    model, tokenizer = tiny
    rows = encode_examples(tokenizer, [("a long prompt here=", "ab"), ("short=", "xyz"), ("mid prompt=", "q")])
    ids, mask, labels = collate(rows, tokenizer.pad_token_id)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask)).logits
    full = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), ignore_index=IGNORE)
    assert answer_loss(model, ids, mask, labels).item() == pytest.approx(full.item(), rel=1e-5)
    labels[:, 0] = ids[:, 0]  # a label at position 0 has no position before it to predict it: ignored, as before
    assert answer_loss(model, ids, mask, labels).item() == pytest.approx(full.item(), rel=1e-5)


def test_sft_learns_a_mapping_and_saves_a_loadable_directory(tmp_path):
    """A tiny random model learns to answer "x y" with the byte after y, shown only the answers' loss."""
    tokenizer = models.load_tokenizer("tiny")
    model = models.load_model("tiny", seed=0)
    examples = [(f"{a}{b}=", chr(ord(b) + 1)) for a in "abc" for b in "abcdefgh"]
    out = tmp_path / "model"
    stats = sft(model, tokenizer, examples, SFTConfig(epochs=15, lr=1e-2, batch_size=8), str(out))
    assert stats["loss_last"] < 0.3 < stats["loss_first"], stats
    loaded = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok("ac=", return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        assert tok.decode(loaded(input_ids=ids).logits[0, -1].argmax().item()) == "d"
    assert not any(name.startswith(".tmp-") for name in os.listdir(tmp_path))


def test_save_replaces_an_existing_directory_and_a_failed_save_keeps_it(tmp_path, tiny):
    model, tok = tiny
    out = str(tmp_path / "m")
    save_model(model, tok, out)
    (tmp_path / "m" / "marker").write_text("old")
    save_model(model, tok, out)
    assert not (tmp_path / "m" / "marker").exists() and (tmp_path / "m" / "config.json").exists()

    class Broken:
        def save_pretrained(self, directory):
            raise OSError("disk full")

    (tmp_path / "m" / "marker").write_text("old")
    with pytest.raises(OSError, match="disk full"):
        save_model(model, Broken(), out)
    assert (tmp_path / "m" / "marker").read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["m"]


def test_arithmetic_supervised_start_is_a_seeded_hf_directory_with_the_task_tokenizer(tmp_path):
    task = ArithmeticTask(ArithmeticConfig(n_train=500, n_validation=10, n_test=10, n_layer=1, n_head=2, n_embd=32,
                                           sft_examples=64))
    stats = task.supervised_start(str(tmp_path / "a"), seed=3)
    task.supervised_start(str(tmp_path / "b"), seed=3)
    assert stats["examples"] == 64 and stats["steps"] == 4 and stats["seed"] == 3
    tok = models.load_tokenizer(str(tmp_path / "a"))
    assert tok("14 + 13 = 27")["input_ids"] == [14, 100, 13, 102, 27] and tok.padding_side == "left"
    a, b = (models.load_model(str(tmp_path / d)) for d in "ab")
    assert not a.training and a.config.resid_pdrop == 0.0 and a.config.n_layer == 1
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
