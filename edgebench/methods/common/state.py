"""Trainable tensors under stable, wrapper-independent names.

PEFT prefixes parameter names with ``base_model.model.`` and suffixes adapter weights with the
adapter name (``.default``); the wire and the checkpoints use the plain names instead, so that a
payload reads the same whatever wraps the backbone.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import torch
from torch import nn

from edgebench.methods.base import ClientReply

_PEFT_PREFIX = "base_model.model."
_ADAPTER_SEGMENT = re.compile(r"\.default(?=\.|$)")
_MODULES_TO_SAVE = ".modules_to_save"


def wire_name(param_name: str) -> str:
    """`base_model.model.x.lora_A.default.weight` -> `x.lora_A.weight`."""
    name = param_name.removeprefix(_PEFT_PREFIX)
    name = name.replace(_MODULES_TO_SAVE, "")
    return _ADAPTER_SEGMENT.sub("", name)


def trainable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """Every parameter with ``requires_grad``, keyed by wire name, in module order."""
    named = {wire_name(n): p for n, p in model.named_parameters() if p.requires_grad}
    return named


def trainable_state(model: nn.Module, names: list[str] | None = None) -> dict[str, torch.Tensor]:
    """Detached contiguous host-memory copies of the trainable tensors (all, or only `names`).

    Global state and payloads live on the CPU whatever device the model trains on.
    """
    params = trainable_parameters(model)
    keys = names if names is not None else list(params)
    return {k: params[k].detach().to("cpu", copy=True).contiguous() for k in keys}


def load_trainable_state(model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Copy `tensors` into the model's trainable parameters in place; names and shapes must match."""
    params = trainable_parameters(model)
    unknown = sorted(set(tensors) - set(params))
    if unknown:
        raise KeyError(f"payload names tensors the model does not train: {unknown[:3]}")
    with torch.no_grad():
        for name, value in tensors.items():
            target = params[name]
            if tuple(target.shape) != tuple(value.shape):
                raise ValueError(f"{name}: shape {tuple(value.shape)} != model's {tuple(target.shape)}")
            target.copy_(value.to(dtype=target.dtype, device=target.device))


#: What a reply must carry: name -> (shape, dtype) of each tensor, as broadcast.
Expected = dict[str, tuple[tuple[int, ...], torch.dtype]]


def expected_of(tensors: dict[str, torch.Tensor]) -> Expected:
    """Name -> (shape, dtype) of `tensors`, for checking replies against what was sent."""
    return {k: (tuple(v.shape), v.dtype) for k, v in tensors.items()}


#: Floating dtypes a reply may carry for a floating tensor: the wire dtypes (the codec holds a reply to
#: its run's one). Anything else (integers, bool, complex, float64, float8) is rejected, never averaged.
WIRE_FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _some(names: list[str]) -> str:
    """The first three of `names`, as a list, with ` ...` when there are more."""
    return f"{names[:3]}{' ...' if len(names) > 3 else ''}"


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def dtype_reason(name: str, expected: torch.dtype, got: torch.dtype) -> str | None:
    """Why a reply's `got` dtype cannot stand for a tensor broadcast as `expected`, or None when it can."""
    if got == expected or (expected.is_floating_point and got in WIRE_FLOAT_DTYPES):
        return None
    return f"{name}: dtype {_dtype_name(got)}, expected {_dtype_name(expected)}"


def mismatch_reason(expected: Expected, got: dict[str, torch.Tensor]) -> str | None:
    """Why `got` does not match the expected names, shapes and dtypes (as :func:`dtype_reason` allows),
    or holds NaN/Inf; None when it matches."""
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    if missing:
        return f"missing tensors {_some(missing)}"
    if extra:
        return f"unexpected tensors {_some(extra)}"
    for name, (shape, dtype) in expected.items():
        tensor = got[name]
        if tuple(tensor.shape) != shape:
            return f"{name}: shape {tuple(tensor.shape)}, expected {shape}"
        reason = dtype_reason(name, dtype, tensor.dtype)
        if reason is not None:
            return reason
        if not torch.isfinite(tensor).all():
            return f"{name}: contains NaN or Inf"
    return None


def meta_reason(meta: object, keys: dict[str, type]) -> str | None:
    """Why an uplink's metadata is not a JSON object holding exactly `keys` with their types, or None."""
    if not isinstance(meta, dict):
        return f"metadata is not a JSON object (a {type(meta).__name__})"
    unexpected = sorted(str(k) for k in set(meta) - set(keys))
    if unexpected:
        return f"unexpected metadata keys {_some(unexpected)}"
    for key, kind in keys.items():
        if key not in meta:
            return f"metadata {key!r} missing"
        if not isinstance(meta[key], kind):
            return f"metadata {key!r} must be a {kind.__name__}, not {type(meta[key]).__name__}"
    return None


def screen_replies(
    replies: list[ClientReply],
    expected: Expected,
    extra_check: Callable[[ClientReply], str | None] | None = None,
    meta_keys: dict[str, type] | None = None,
) -> tuple[list[ClientReply], dict[int, str]]:
    """Split replies into those fit to average and {client_id: reason} for the rest.

    A reply is rejected when its metadata is not a JSON object of exactly `meta_keys` (name -> type;
    none by default), when its tensors do not match `expected` (names, shapes, dtypes as
    :func:`dtype_reason` allows, finite values), when `extra_check` returns a reason, or when it claims no
    training examples. `extra_check` only sees replies whose metadata and tensors passed.
    """
    accepted: list[ClientReply] = []
    rejected: dict[int, str] = {}
    for reply in replies:
        reason = meta_reason(reply.payload.meta, meta_keys or {})
        if reason is None:
            reason = mismatch_reason(expected, reply.payload.tensors)
        if reason is None and extra_check is not None:
            reason = extra_check(reply)
        if reason is None and reply.num_examples <= 0:
            reason = f"num_examples must be positive (got {reply.num_examples})"
        if reason is None:
            accepted.append(reply)
        else:
            rejected[reply.client_id] = reason
    return accepted, rejected
