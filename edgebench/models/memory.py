"""A client's training memory, *estimated* from parameter counts and the architecture's dimensions.

Nothing here measures: the profiler measures peak memory during a run. The estimate is what a run prints
before its first round (against the device profile's memory budget) and what docs/models.md tabulates for
models too big to try on a CPU. For one client's local step with a frozen backbone:

- weights: frozen parameters at the backbone's dtype (`compute.backbone_dtype`), trainable ones (adapters,
  head) at float32;
- gradients and optimizer state of the trainable parameters: 4 bytes (gradient) + 8 (AdamW's two moments)
  or + 4 (SGD with momentum) per parameter;
- activations kept for the backward pass. Adapters sit in every layer, so every layer's activations are
  kept: per token and layer ``9 h + 2 I`` values (``3 I`` for the gated MLPs of LLaMA, Qwen2, Mistral,
  Phi-3 and Gemma) plus ``6 a s`` for attention scores, probabilities and dropout, for hidden size ``h``,
  MLP size ``I``, ``a`` heads and ``s`` tokens. With gradient checkpointing, each layer's input (``h`` per
  token) plus three layers' worth while one is recomputed and differentiated (no saving for models of
  three layers or fewer). 4 bytes a value at float32,
  2.75 under bfloat16 or float16 autocast (softmax, layer norm and some casts stay float32).

The coefficients are calibrated on measured peaks (CPU, MiniLM-L6 and DistilBERT shapes, batch 1 to 16,
64 and 128 tokens): at batch 16 x 128 tokens the estimate came to 0.85-1.03 x the measured peak
(docs/models.md). Fused attention kernels on a GPU (SDPA's flash and
memory-efficient paths) keep no ``s x s`` scores, so there the ``6 a s`` term overestimates.

The runtime comes on top: about 400 MiB of host memory once Python has imported torch, transformers and
PEFT (measured here), a CUDA context on a GPU, the tokenized data set and evaluation batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
#: Bytes an activation value takes at each forward precision (under half autocast: calibrated on a measured CPU
#: peak, since softmax, layer norm and some casts stay float32).
ACTIVATION_BYTES = {"float32": 4.0, "bfloat16": 2.75, "float16": 2.75}
MIB = 2**20
OPTIMIZER_STATE_BYTES = {"adamw": 8, "sgd": 4}  # per trainable parameter; SGD without momentum keeps none


@dataclass(frozen=True)
class Dims:
    """The dimensions the activation estimate needs, read from a transformers config."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    gated: bool


def _first(config: Any, *names: str) -> int | None:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def dims_of(model: nn.Module) -> Dims:
    """Hidden size, layers, heads and MLP size of `model`'s config (BERT, GPT-2, DistilBERT and LLaMA names)."""
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "get_text_config"):
        config = config.get_text_config()
    hidden = _first(config, "hidden_size", "n_embd", "dim", "d_model")
    layers = _first(config, "num_hidden_layers", "n_layer", "n_layers", "num_layers")
    heads = _first(config, "num_attention_heads", "n_head", "n_heads")
    if hidden is None or layers is None or heads is None:
        raise ValueError(f"{type(model).__name__}: its config names no hidden size, layer count or head count")
    intermediate = _first(config, "intermediate_size", "n_inner", "hidden_dim", "ffn_dim") or 4 * hidden
    gated = any(name.endswith(("gate_proj", "gate_up_proj")) for name, _ in model.named_modules())
    return Dims(hidden, layers, heads, intermediate, gated)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one client's local training step needs, by part (an estimate: see the module docstring)."""

    frozen_parameters: int
    trainable_parameters: int
    weight_bytes: int
    optimizer_bytes: int
    activation_bytes: int
    batch_size: int
    seq_len: int
    backbone_dtype: str
    activation_dtype: str
    gradient_checkpointing: bool

    @property
    def total_bytes(self) -> int:
        return self.weight_bytes + self.optimizer_bytes + self.activation_bytes

    @property
    def total_mib(self) -> float:
        return self.total_bytes / MIB

    def describe(self) -> str:
        """`~ 312 MiB (weights 87 MiB at float32, gradients + optimizer 1 MiB, activations 224 MiB at ...)`."""
        checkpointing = ", gradient checkpointing" if self.gradient_checkpointing else ""
        return (
            f"~ {mib(self.total_bytes)} MiB (weights {mib(self.weight_bytes)} MiB with the backbone at "
            f"{self.backbone_dtype}, gradients + optimizer state {mib(self.optimizer_bytes)} MiB, "
            f"activations {mib(self.activation_bytes)} MiB at {self.activation_dtype} for batch "
            f"{self.batch_size} x {self.seq_len} tokens{checkpointing})"
        )


def activation_values(dims: Dims, batch_size: int, seq_len: int, gradient_checkpointing: bool) -> int:
    """Activation values kept for the backward pass of one step (see the module docstring)."""
    per_layer = 9 * dims.hidden + (3 if dims.gated else 2) * dims.intermediate + 6 * dims.heads * seq_len
    kept = dims.layers * per_layer
    if gradient_checkpointing:  # never more than without: a model of 3 layers or fewer saves nothing
        kept = min(kept, dims.layers * dims.hidden + 3 * per_layer)
    return batch_size * seq_len * (kept + dims.hidden)  # + the embeddings' output


def checkpointing_on(model: nn.Module) -> bool:
    """Whether `model` (a transformers model, or a PEFT model around one) has gradient checkpointing on."""
    flag = getattr(model, "is_activation_checkpointing", None)  # transformers >= 5; the old name warns there
    if flag is None:
        flag = getattr(model, "is_gradient_checkpointing", False)
    return bool(flag)


def mib(num_bytes: float) -> str:
    """`0.4`, `12`, `1,234`: MiB with a decimal only where it matters."""
    value = num_bytes / MIB
    return f"{value:.1f}" if value < 10 else f"{value:,.0f}"


def estimate_training_memory(
    model: nn.Module,
    batch_size: int,
    seq_len: int,
    backbone_dtype: str = "float32",
    activation_dtype: str = "float32",
    optimizer: str = "adamw",
    momentum: float = 0.0,
    gradient_checkpointing: bool | None = None,
) -> MemoryEstimate:
    """Estimate one client's training memory for `model` as built by a method (frozen backbone + trainable parts).

    `gradient_checkpointing` defaults to whether the model has it switched on.
    """
    if gradient_checkpointing is None:
        gradient_checkpointing = checkpointing_on(model)
    frozen = trainable = 0
    for param in model.parameters():
        if param.requires_grad:
            trainable += param.numel()
        else:
            frozen += param.numel()
    state = OPTIMIZER_STATE_BYTES.get(optimizer, 8) if optimizer != "sgd" or momentum > 0 else 0
    values = activation_values(dims_of(model), batch_size, seq_len, gradient_checkpointing)
    return MemoryEstimate(
        frozen_parameters=frozen,
        trainable_parameters=trainable,
        weight_bytes=frozen * DTYPE_BYTES[backbone_dtype] + trainable * 4,
        optimizer_bytes=trainable * (4 + state),
        activation_bytes=round(values * ACTIVATION_BYTES[activation_dtype]),
        batch_size=batch_size,
        seq_len=seq_len,
        backbone_dtype=backbone_dtype,
        activation_dtype=activation_dtype,
        gradient_checkpointing=gradient_checkpointing,
    )
