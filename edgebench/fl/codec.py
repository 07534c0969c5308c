"""Payload codec: safetensors on the wire, a JSON header in its metadata, never pickle.

Every download and upload in every runner goes through :func:`encode` and :func:`decode`, and the
length of the encoded bytes is what the results report as ``bytes_down`` / ``bytes_up``.
"""

from __future__ import annotations

import json
import struct
from typing import Literal

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from edgebench.methods.base import Payload

WireDtype = Literal["float32", "float16", "bfloat16"]
META_KEY = "edgebench"
_WIRE_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_HEADER_LEN_BYTES = 8


class PayloadError(ValueError):
    """Bytes that are not a well-formed edgebench payload."""


def encode(payload: Payload, wire_dtype: WireDtype = "float32") -> bytes:
    """Serialize tensors (floating ones cast to `wire_dtype`) and the JSON meta into one blob."""
    target = _WIRE_DTYPES[wire_dtype]
    tensors = {
        name: (t.to(target) if t.is_floating_point() else t).detach().cpu().contiguous()
        for name, t in payload.tensors.items()
    }
    meta = json.dumps(payload.meta, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return st_save(tensors, metadata={META_KEY: meta})


def decode(blob: bytes) -> Payload:
    """Inverse of :func:`encode`; tensors come back in their wire dtype. Raises PayloadError."""
    header = header_of(blob)
    meta_text = header.get("__metadata__", {}).get(META_KEY)
    if meta_text is None:
        raise PayloadError("payload has no edgebench metadata")
    try:
        meta = json.loads(meta_text)
        tensors = st_load(blob)
    except (json.JSONDecodeError, SafetensorError) as exc:
        raise PayloadError(f"payload could not be decoded: {exc}") from exc
    return Payload(tensors=dict(tensors), meta=meta)


def header_of(blob: bytes) -> dict:
    """The safetensors JSON header of `blob` (tensor offsets plus ``__metadata__``)."""
    if len(blob) < _HEADER_LEN_BYTES:
        raise PayloadError(f"payload is {len(blob)} bytes, shorter than the 8-byte header length")
    (size,) = struct.unpack("<Q", blob[:_HEADER_LEN_BYTES])
    if size > len(blob) - _HEADER_LEN_BYTES:
        raise PayloadError(f"payload header claims {size} bytes but only {len(blob) - 8} follow")
    try:
        header = json.loads(blob[_HEADER_LEN_BYTES : _HEADER_LEN_BYTES + size])
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PayloadError(f"payload header is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise PayloadError("payload header is not a JSON object")
    return header


def header_bytes(blob: bytes) -> int:
    """Bytes of `blob` that are not tensor data: the length prefix plus the JSON header."""
    (size,) = struct.unpack("<Q", blob[:_HEADER_LEN_BYTES])
    return _HEADER_LEN_BYTES + size
