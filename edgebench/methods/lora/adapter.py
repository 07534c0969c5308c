"""Attaching LoRA adapters to a sequence-classification backbone with HF PEFT."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from peft import LoraConfig, TaskType, get_peft_model
from torch import nn
from transformers.pytorch_utils import Conv1D

from edgebench.methods.lora.config import LoraParams
from edgebench.models.targets import head_modules, resolve_targets


def attach_lora(base_model: nn.Module, params: LoraParams, seed: int, freeze_a: bool) -> nn.Module:
    """Wrap `base_model` with LoRA on `params.target_modules` (or the architecture's default targets);
    the classification head stays trainable.

    Adapter init is seeded so that every process (every simulated or real client) starts from the
    same A, which FFA-LoRA relies on since A never travels.
    """
    config = LoraConfig(
        r=params.r,
        lora_alpha=params.scaling_alpha,
        lora_dropout=params.dropout,
        task_type=TaskType.SEQ_CLS,
        **peft_targets(base_model, params.target_modules),
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


def peft_targets(base_model: nn.Module, requested: list[str] | None) -> dict[str, Any]:
    """PEFT config arguments that adapt exactly the layers edgebench's target rules select.

    The selected layers are passed by full name (so PEFT adapts the same layers as FedARA), with the
    head in `modules_to_save` and `fan_in_fan_out` set when they are GPT-2 Conv1D layers (weight in x out).
    ModelError, listing the layers one could target, when none is found.
    """
    _, layers = resolve_targets(base_model, requested)
    return {
        "target_modules": list(layers),
        "fan_in_fan_out": all(isinstance(m, Conv1D) for m in layers.values()),
        "modules_to_save": list(head_modules(base_model)),
    }


def module_of(wire_key: str) -> str | None:
    """`x.query.lora_B.weight` -> `x.query`; None for tensors that are not LoRA factors."""
    for marker in (".lora_A.", ".lora_B."):
        if marker in wire_key:
            return wire_key.split(marker)[0]
    return None
