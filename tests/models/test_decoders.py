"""Decoder-only models as sequence classifiers: a pad token, right padding, and the last real token pooled."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgebench.data.dataset import TextDataset
from edgebench.fl.batches import collate, tokenize
from edgebench.models import ModelConfig, resolve_model
from tests.models.tiny_archs import VOCAB, arch_params, decoder_tokenizer, save_tiny

TEXTS = ["stocks fell", "the team won the cup final on sunday night after extra time", "a new chip doubles life"]
DECODERS = arch_params(["gpt2", "llama", "qwen2", "mistral", "phi3", "gemma"], fast=("gpt2", "llama"))


def _logits(model, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
    extra = {"position_ids": positions} if positions is not None else {}
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask, **extra).logits


def _left_padded(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for k, row in enumerate(rows):
        ids[k, width - len(row) :] = torch.tensor(row)
        mask[k, width - len(row) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # count positions from each row's first real token
    return ids, mask, positions


def assert_pooling_ignores_padding(resolved) -> None:
    """Each row of a padded batch of different lengths (the engine's right padding, and left padding) gives
    the logits of its text alone: the head pools the last real token, whatever the padding."""
    model, tokenizer = resolved.model, resolved.tokenizer
    model.eval()
    split = tokenize(tokenizer, TextDataset(TEXTS, [0, 1, 2], ["a", "b", "c"]), max_seq_len=64)
    assert len({len(r) for r in split.input_ids}) == 3  # three different lengths
    alone = torch.cat(
        [_logits(model, torch.tensor([r]), torch.ones(1, len(r), dtype=torch.long)) for r in split.input_ids]
    )
    right = collate(split, [0, 1, 2])
    assert (right["input_ids"][:, -1] == tokenizer.pad_token_id).sum() == 2  # right-padded
    assert torch.allclose(_logits(model, right["input_ids"], right["attention_mask"]), alone, atol=1e-5)
    left = _logits(model, *_left_padded(split.input_ids, split.pad_id))
    assert torch.allclose(left, alone, atol=1e-5)


@pytest.mark.parametrize("name", DECODERS)
def test_a_decoder_without_pad_token_pads_with_eos_on_the_right(name, tmp_path: Path) -> None:
    resolved = resolve_model(ModelConfig(name=str(save_tiny(name, tmp_path / name))), num_labels=3, seed=0)
    tokenizer, config = resolved.tokenizer, resolved.model.config
    assert config.pad_token_id == tokenizer.pad_token_id is not None
    assert tokenizer.padding_side == "right" and not config.use_cache
    if name == "qwen2":  # transformers' Qwen2Tokenizer brings its own pad token, beyond the tiny vocabulary
        assert tokenizer.pad_token == "<|endoftext|>" and tokenizer.pad_token_id == VOCAB
        assert resolved.model.get_input_embeddings().num_embeddings == VOCAB + 1
        assert resolved.info["pad_token"].endswith(
            f"embeddings grown from {VOCAB} to the tokenizer's {VOCAB + 1} tokens"
        )
    else:
        assert tokenizer.pad_token == tokenizer.eos_token == "[SEP]"
        assert resolved.info["pad_token"] == "[SEP] (EOS: the tokenizer has no pad token)"
    assert resolved.info["padding_side"] == "right"
    assert_pooling_ignores_padding(resolved)


def test_a_tokenizer_without_pad_or_eos_gets_an_added_pad_token(tmp_path: Path) -> None:
    folder = save_tiny("gpt2", tmp_path / "gpt2")
    bare = decoder_tokenizer()
    bare.eos_token = None
    bare.save_pretrained(folder)
    resolved = resolve_model(ModelConfig(name=str(folder)), num_labels=3, seed=0)
    again = resolve_model(ModelConfig(name=str(folder)), num_labels=3, seed=0)
    assert resolved.tokenizer.pad_token == "<|pad|>" and resolved.tokenizer.pad_token_id == VOCAB
    assert resolved.model.config.pad_token_id == VOCAB
    embeddings = resolved.model.get_input_embeddings().weight
    assert embeddings.shape[0] == VOCAB + 1
    assert torch.equal(embeddings, again.model.get_input_embeddings().weight)  # the new row is seeded
    assert not any(p.requires_grad for p in resolved.model.parameters())  # the grown embedding stays frozen
    assert resolved.info["pad_token"].startswith("<|pad|> (added")
    assert_pooling_ignores_padding(resolved)


def test_an_encoder_keeps_its_own_pad_token(tmp_path: Path) -> None:
    resolved = resolve_model(ModelConfig(name=str(save_tiny("bert", tmp_path / "bert"))), num_labels=3, seed=0)
    assert resolved.tokenizer.pad_token == "[PAD]" and resolved.model.config.pad_token_id == 0
    assert resolved.info["pad_token"] == "[PAD] (the tokenizer's)"
