"""Which layers the methods adapt: per-architecture defaults from PEFT's own mapping, checked against the model.

Every method (lora, ffa_lora, fedara, fedadalora) adapts the same layers of a run's model:

1. `target_modules` from the method's parameters when set;
2. else PEFT's LoRA mapping for the model's `config.model_type`
   (``TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING``, imported from the installed PEFT, never copied),
   when its names match layers of this model;
3. else the first attention-projection naming convention of :data:`CONVENTIONS` the model has (for
   architectures PEFT's mapping does not list, such as DistilBERT, ALBERT and Phi-3).

A name matches a layer as PEFT matches a list: the full module name equals it or ends with ``.`` + it.
Only Linear-like layers (``nn.Linear`` and GPT-2's ``Conv1D``) outside the classification head are
adapted; a fused projection (GPT-2's ``c_attn``, Phi-3's ``qkv_proj``) gets one adapter over its whole
fused output. When nothing matches, :class:`~edgebench.models.errors.ModelError` lists the layers that could.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn
from transformers.pytorch_utils import Conv1D

from edgebench.models.errors import ModelError

#: Layer types the methods can adapt. GPT-2's Conv1D stores its weight transposed (in x out).
LINEAR_LIKE: tuple[type[nn.Module], ...] = (nn.Linear, Conv1D)
#: Top-level modules of a sequence-classification model that form its (newly initialised, trainable) head:
#: DistilBERT has `pre_classifier` + `classifier`, encoders `classifier`, decoder-only models `score`.
HEAD_NAMES = ("pre_classifier", "classifier", "score")
#: Attention projection names tried in order when PEFT's mapping has no entry for the architecture
#: (query + value projections where they are separate, else the fused projection).
CONVENTIONS: tuple[tuple[str, ...], ...] = (
    ("query", "value"),  # BERT family, ALBERT
    ("q_proj", "v_proj"),  # LLaMA family
    ("q_lin", "v_lin"),  # DistilBERT
    ("qkv_proj",),  # Phi-3 (fused)
    ("c_attn",),  # GPT-2 (fused Conv1D)
    ("query_key_value",),  # GPT-NeoX, Falcon, BLOOM (fused)
    ("Wqkv",),  # MPT, ModernBERT (fused)
)


@dataclass(frozen=True)
class TargetChoice:
    """Target module names and where they came from (printed at run start, recorded in run.json)."""

    modules: list[str]
    source: str


def in_head(name: str) -> bool:
    """Whether the module called `name` belongs to the classification head (never an adapter target)."""
    return name.split(".", 1)[0] in HEAD_NAMES


def head_modules(model: nn.Module) -> dict[str, nn.Module]:
    """The top-level modules of :data:`HEAD_NAMES` that `model` has, by name (its classification head)."""
    return {name: m for name in HEAD_NAMES if isinstance(m := getattr(model, name, None), nn.Module)}


def linear_like_modules(model: nn.Module) -> dict[str, nn.Module]:
    """Every Linear-like layer outside the classification head, by module name, in model order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, LINEAR_LIKE) and not in_head(name)}


def matches(name: str, targets: Sequence[str]) -> bool:
    """PEFT's rule for a list of target names: `name` equals one or ends with ``.`` + one."""
    return any(name == t or name.endswith("." + t) for t in targets)


def in_out_features(layer: nn.Module) -> tuple[int, int]:
    """(in, out) features of a Linear-like layer (Conv1D's weight is in x out, Linear's out x in)."""
    if isinstance(layer, Conv1D):
        return int(layer.weight.shape[0]), int(layer.weight.shape[1])
    if isinstance(layer, nn.Linear):
        return layer.in_features, layer.out_features
    raise TypeError(f"{type(layer).__name__} is not a Linear-like layer (nn.Linear or Conv1D)")


def model_type(model: nn.Module) -> str | None:
    return getattr(getattr(model, "config", None), "model_type", None)


def peft_lora_mapping() -> dict[str, list[str]]:
    """PEFT's own per-architecture LoRA targets (``TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING``)."""
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

    return TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING


def default_targets(model: nn.Module) -> TargetChoice | None:
    """The layers adapted when a method sets no `target_modules`; None when no rule finds any."""
    layers = linear_like_modules(model)
    kind = model_type(model)
    mapped = peft_lora_mapping().get(kind or "")
    if mapped and any(matches(name, mapped) for name in layers):
        return TargetChoice(list(mapped), f"PEFT's LoRA mapping for model_type {kind!r}")
    leaves = {name.rpartition(".")[2] for name in layers}
    for convention in CONVENTIONS:
        if set(convention) <= leaves:
            why = "PEFT's mapping has no entry" if not mapped else "PEFT's mapping matches no layer"
            return TargetChoice(list(convention), f"attention projections found in the model; {why} for {kind!r}")
    return None


def describe_layers(model: nn.Module) -> str:
    """`c_attn (Conv1D x2), c_fc (Conv1D x2), ...`: the Linear-like layer names one could target."""
    counts = Counter((name.rpartition(".")[2], type(m).__name__) for name, m in linear_like_modules(model).items())
    return ", ".join(f"{leaf} ({kind} x{n})" for (leaf, kind), n in sorted(counts.items()))


def resolve_targets(model: nn.Module, requested: Sequence[str] | None) -> tuple[list[str], dict[str, nn.Module]]:
    """The target names (`requested`, or the architecture's default) and the layers they select, by name.

    ModelError, listing the layers that could be targeted, when no Linear-like layer matches.
    """
    arch = type(model).__name__
    if requested:
        targets, origin = list(requested), "target_modules"
    else:
        choice = default_targets(model)
        if choice is None:
            raise ModelError(
                _no_target_message(
                    model, f"no default target modules are known for {arch} (model_type {model_type(model)!r})"
                )
            )
        targets, origin = choice.modules, f"the default target modules ({choice.source})"
    selected = {name: m for name, m in linear_like_modules(model).items() if matches(name, targets)}
    if not selected:
        raise ModelError(_no_target_message(model, f"{origin} {targets} match no Linear-like layer of {arch}"))
    return targets, selected


def _no_target_message(model: nn.Module, problem: str) -> str:
    layers = describe_layers(model)
    if not layers:
        return (
            f"{problem}, and it has no Linear-like layer (nn.Linear or Conv1D) outside its classification head "
            "to adapt; choose another model"
        )
    return f"{problem}; set the method's target_modules to some of its Linear-like layers: {layers}"
