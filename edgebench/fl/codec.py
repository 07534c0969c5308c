"""Payload codec: safetensors on the wire, a JSON header in its metadata, never pickle.

Every download and upload in every runner goes through :func:`encode` and :func:`decode`, and the
length of the encoded bytes is what the results report as ``bytes_down`` / ``bytes_up``.
"""

from __future__ import annotations

import json
import struct
from typing import Literal

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from edgebench.methods.base import Payload

WireDtype = Literal["float32", "float16", "bfloat16"]
META_KEY = "edgebench"
EXACT_KEY = "edgebench.exact"  # JSON list of the tensors that keep their own dtype on the wire
_WIRE_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_HEADER_LEN_BYTES = 8


class PayloadError(ValueError):
    """Bytes that are not a well-formed edgebench payload."""


def encode(payload: Payload, wire_dtype: WireDtype = "float32") -> bytes:
    """Serialize tensors (floating ones cast to `wire_dtype`, but those in `payload.exact`) and the JSON meta.

    Only exact tensors whose dtype differs from the wire's are listed in the header, so a float32 wire
    costs no extra bytes.
    """
    target = _WIRE_DTYPES[wire_dtype]
    kept = sorted(
        name
        for name in payload.exact
        if name in payload.tensors
        and payload.tensors[name].is_floating_point()
        and payload.tensors[name].dtype != target
    )
    tensors = {
        name: (t.to(target) if t.is_floating_point() and name not in kept else t).detach().cpu().contiguous()
        for name, t in payload.tensors.items()
    }
    meta = json.dumps(payload.meta, sort_keys=True, separators=(",", ":"), allow_nan=False)
    metadata = {META_KEY: meta}
    if kept:
        metadata[EXACT_KEY] = json.dumps(kept)
    return st_save(tensors, metadata=metadata)


def decode(blob: bytes, wire_dtype: WireDtype | None = None) -> Payload:
    """Inverse of :func:`encode`; tensors come back in their wire dtype (`exact` ones in their own).

    Anything that is not exactly what :func:`encode` writes is a PayloadError, never another exception:
    ``__metadata__`` must be an object of strings, the edgebench metadata a JSON object. With
    `wire_dtype` (the run's), every floating tensor must be in that dtype, as :func:`encode` casts them.
    """
    header = header_of(blob)
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise PayloadError("payload __metadata__ is not an object of strings")
    meta_text = metadata.get(META_KEY)
    if meta_text is None:
        raise PayloadError("payload has no edgebench metadata")
    try:
        meta = json.loads(meta_text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise PayloadError(f"payload metadata is not JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise PayloadError(f"payload metadata is a JSON {type(meta).__name__}, not an object")
    try:
        tensors = st_load(blob)
    except Exception as exc:  # any failure to parse untrusted bytes is a malformed payload
        raise PayloadError(f"payload could not be decoded: {type(exc).__name__}: {exc}") from exc
    exact = _exact_names(metadata.get(EXACT_KEY, "[]"), tensors)
    if wire_dtype is not None:
        target = _WIRE_DTYPES[wire_dtype]
        for name, tensor in tensors.items():
            if tensor.is_floating_point() and tensor.dtype != target and name not in exact:
                dtype = str(tensor.dtype).removeprefix("torch.")
                raise PayloadError(f"tensor {name!r} is {dtype}, but the wire dtype is {wire_dtype}")
    return Payload(tensors=dict(tensors), meta=meta, exact=exact)


def _exact_names(text: str, tensors: dict[str, torch.Tensor]) -> frozenset[str]:
    """The tensors a payload says keep their own dtype; PayloadError unless a list of its tensor names."""
    try:
        names = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise PayloadError(f"payload {EXACT_KEY} is not JSON: {exc}") from exc
    if not isinstance(names, list) or not all(isinstance(n, str) and n in tensors for n in names):
        raise PayloadError(f"payload {EXACT_KEY} must list tensors of the payload")
    return frozenset(names)


def header_of(blob: bytes) -> dict:
    """The safetensors JSON header of `blob` (tensor offsets plus ``__metadata__``)."""
    if len(blob) < _HEADER_LEN_BYTES:
        raise PayloadError(f"payload is {len(blob)} bytes, shorter than the 8-byte header length")
    (size,) = struct.unpack("<Q", blob[:_HEADER_LEN_BYTES])
    if size > len(blob) - _HEADER_LEN_BYTES:
        raise PayloadError(f"payload header claims {size} bytes but only {len(blob) - 8} follow")
    try:
        header = json.loads(blob[_HEADER_LEN_BYTES : _HEADER_LEN_BYTES + size])
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise PayloadError(f"payload header is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise PayloadError("payload header is not a JSON object")
    return header


def header_bytes(blob: bytes) -> int:
    """Bytes of `blob` that are not tensor data: the length prefix plus the JSON header."""
    (size,) = struct.unpack("<Q", blob[:_HEADER_LEN_BYTES])
    return _HEADER_LEN_BYTES + size
