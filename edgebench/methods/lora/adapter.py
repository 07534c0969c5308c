"""Attaching LoRA adapters to a sequence-classification backbone with HF PEFT."""

from __future__ import annotations

import warnings

import torch
from peft import LoraConfig, TaskType, get_peft_model
from torch import nn

from edgebench.methods.lora.config import LoraParams


def attach_lora(base_model: nn.Module, params: LoraParams, seed: int, freeze_a: bool) -> nn.Module:
    """Wrap `base_model` with LoRA on `params.target_modules`; the classification head stays trainable.

    Adapter init is seeded so that every process (every simulated or real client) starts from the
    same A, which FFA-LoRA relies on since A never travels.
    """
    config = LoraConfig(
        r=params.r,
        lora_alpha=params.scaling_alpha,
        lora_dropout=params.dropout,
        target_modules=list(params.target_modules),
        task_type=TaskType.SEQ_CLS,
    )
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        # transformers 5 deprecation notice triggered inside PEFT; not actionable here.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        torch.manual_seed(seed)
        model = get_peft_model(base_model, config)
    if freeze_a:
        for name, param in model.named_parameters():
            if ".lora_A." in name:
                param.requires_grad_(False)
    return model


def module_of(wire_key: str) -> str | None:
    """`x.query.lora_B.weight` -> `x.query`; None for tensors that are not LoRA factors."""
    for marker in (".lora_A.", ".lora_B."):
        if marker in wire_key:
            return wire_key.split(marker)[0]
    return None
