"""Tiny random-initialised checkpoints of common architectures, saved to a local directory at test time.

Each is what a user downloads, shrunk (2 layers, hidden 32): the backbone without a classification head
(edgebench adds and initialises the head), a config and a tokenizer. Encoders get the tiny WordPiece
tokenizer (with [PAD], [CLS], [SEP]); decoder-only models get a tokenizer with BOS and EOS but, like GPT-2's
and LLaMA's, no pad token. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
from transformers import AutoConfig, AutoModel, PreTrainedTokenizerFast
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from edgebench.models.resolver import TINY_VOCAB_PATH, tiny_tokenizer

VOCAB = 300
_ENCODER = {"num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64}
_DECODER = _ENCODER | {"num_key_value_heads": 1, "max_position_embeddings": 128}

#: name -> (model_type, config keywords, decoder-only)
ARCHITECTURES: dict[str, tuple[str, dict[str, Any], bool]] = {
    "bert": ("bert", _ENCODER | {"max_position_embeddings": 128}, False),
    "roberta": ("roberta", _ENCODER | {"max_position_embeddings": 130}, False),
    "distilbert": ("distilbert", {"n_layers": 2, "dim": 32, "n_heads": 2, "hidden_dim": 64}, False),
    "albert": ("albert", _ENCODER | {"embedding_size": 16}, False),
    "gpt2": ("gpt2", {"n_layer": 2, "n_embd": 32, "n_head": 2, "n_positions": 128}, True),
    "llama": ("llama", _DECODER, True),
    "qwen2": ("qwen2", _DECODER, True),
    "mistral": ("mistral", _DECODER, True),
    "phi3": ("phi3", _DECODER, True),
    "gemma": ("gemma", _DECODER | {"head_dim": 16}, True),
}
#: The default targets each architecture gets (PEFT's mapping where it has the architecture).
EXPECTED_TARGETS = {
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "distilbert": ["q_lin", "v_lin"],
    "albert": ["query", "value"],
    "gpt2": ["c_attn"],
    "llama": ["q_proj", "v_proj"],
    "qwen2": ["q_proj", "v_proj"],
    "mistral": ["q_proj", "v_proj"],
    "phi3": ["qkv_proj"],
    "gemma": ["q_proj", "v_proj"],
}


def available(name: str) -> bool:
    """Whether the installed transformers has the architecture."""
    return ARCHITECTURES[name][0] in CONFIG_MAPPING


def decoder_tokenizer() -> PreTrainedTokenizerFast:
    """The tiny WordPiece vocabulary with BOS ([CLS]) and EOS ([SEP]) but no pad token."""
    vocab = {tok: i for i, tok in enumerate(TINY_VOCAB_PATH.read_text().splitlines()[:VOCAB])}
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", bos_token="[CLS]", eos_token="[SEP]")


def save_tiny(name: str, folder: Path, seed: int = 0) -> Path:
    """Save a tiny random `name` backbone (no head) and its tokenizer into `folder`; returns `folder`."""
    model_type, kwargs, decoder = ARCHITECTURES[name]
    tokenizer = decoder_tokenizer() if decoder else tiny_tokenizer(VOCAB)
    ids = {
        "pad_token_id": tokenizer.pad_token_id,  # None for the decoders
        "bos_token_id": tokenizer.convert_tokens_to_ids("[CLS]"),
        "eos_token_id": tokenizer.convert_tokens_to_ids("[SEP]"),
    }
    config = AutoConfig.for_model(model_type, vocab_size=len(tokenizer), **ids, **kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModel.from_config(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def arch_params(names: list[str] | None = None, fast: tuple[str, ...] | None = None) -> list[Any]:
    """pytest parameters for `names` (all by default): skipped where transformers lacks the architecture,
    marked `slow` unless in `fast` (all fast by default)."""
    import pytest

    params = []
    for name in names or list(ARCHITECTURES):
        marks = [pytest.mark.skipif(not available(name), reason=f"transformers has no {name}")]
        if fast is not None and name not in fast:
            marks.append(pytest.mark.slow)
        params.append(pytest.param(name, marks=marks, id=name))
    return params
