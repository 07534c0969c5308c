"""Payload codec: exact round-trips, counted sizes, no pickle, malformed input rejected."""

from __future__ import annotations

import struct

import pytest
import torch

from edgebench.fl.codec import PayloadError, decode, encode, header_bytes
from edgebench.methods.base import Payload


def _payload() -> Payload:
    g = torch.Generator().manual_seed(0)
    return Payload(
        tensors={
            "a.lora_A.weight": torch.randn(4, 16, generator=g),
            "idx": torch.arange(5),
            "head.bias": torch.randn(3),
        },
        meta={"round": 3, "ranks": {"m": [0, 2, 5]}, "note": "é"},
    )


def test_round_trip_is_exact() -> None:
    original = _payload()
    back = decode(encode(original))
    assert back.meta == original.meta
    assert set(back.tensors) == set(original.tensors)
    for name, tensor in original.tensors.items():
        assert torch.equal(back.tensors[name], tensor)
        assert back.tensors[name].dtype == tensor.dtype


def test_size_is_tensor_bytes_plus_header() -> None:
    payload = _payload()
    blob = encode(payload)
    assert len(blob) == payload.tensor_bytes() + header_bytes(blob)
    assert header_bytes(blob) < 512


@pytest.mark.parametrize(("dtype", "element_size"), [("float16", 2), ("bfloat16", 2), ("float32", 4)])
def test_wire_dtype_casts_floats_only(dtype: str, element_size: int) -> None:
    payload = _payload()
    back = decode(encode(payload, wire_dtype=dtype))
    assert back.tensors["a.lora_A.weight"].element_size() == element_size
    assert back.tensors["idx"].dtype == torch.int64
    assert torch.allclose(back.tensors["a.lora_A.weight"].float(), payload.tensors["a.lora_A.weight"], atol=1e-2)


def test_no_pickle_in_the_blob() -> None:
    blob = encode(_payload())
    assert b"\x80\x04" not in blob[:16] and not blob.startswith(b"PK")  # neither pickle nor torch.save zip
    assert blob[8:9] == b"{"  # safetensors: 8-byte length, then a JSON header


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"\x01\x02", "shorter than the 8-byte header length"),
        (struct.pack("<Q", 999) + b"{}", "claims 999 bytes"),
        (struct.pack("<Q", 4) + b"nope", "not JSON"),
        (struct.pack("<Q", 2) + b"{}", "no edgebench metadata"),
    ],
)
def test_malformed_blobs_are_rejected(blob: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        decode(blob)


def test_truncated_tensor_data_is_rejected() -> None:
    blob = encode(_payload())
    with pytest.raises(PayloadError):
        decode(blob[:-7])
