"""Payload codec: exact round-trips, counted sizes, no pickle, malformed input rejected."""

from __future__ import annotations

import json
import struct

import pytest
import torch
from safetensors.torch import save as st_save

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


def _raw_blob(header: dict, data: bytes = b"") -> bytes:
    """A safetensors blob with an arbitrary JSON header (what a hostile client can send)."""
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


_ONE_FLOAT = {"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ([1, 2], "__metadata__ is not an object of strings"),
        ("edgebench", "__metadata__ is not an object of strings"),
        ({"edgebench": 5}, "__metadata__ is not an object of strings"),
        ({"edgebench": "{}", "other": {"a": 1}}, "__metadata__ is not an object of strings"),
        ({"edgebench": "[1, 2]"}, "metadata is a JSON list, not an object"),
        ({"edgebench": '"text"'}, "metadata is a JSON str, not an object"),
        ({"edgebench": "null"}, "metadata is a JSON NoneType, not an object"),
        ({"edgebench": "{not json"}, "metadata is not JSON"),
        ({"edgebench": "[" * 100_000}, "metadata is not JSON"),
    ],
)
def test_malformed_metadata_is_a_payload_error(metadata, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        decode(_raw_blob({"__metadata__": metadata, **_ONE_FLOAT}, b"\x00" * 4))


def test_a_metadata_list_from_encode_is_rejected() -> None:
    blob = encode(Payload(tensors={"x": torch.ones(2)}, meta=["not", "an", "object"]))  # type: ignore[arg-type]
    with pytest.raises(PayloadError, match="not an object"):
        decode(blob)


def test_unknown_tensor_dtypes_and_deep_headers_are_payload_errors() -> None:
    meta = {"edgebench": "{}"}
    with pytest.raises(PayloadError):  # safetensors' torch loader raises KeyError on F4
        decode(_raw_blob({"__metadata__": meta, "x": {"dtype": "F4", "shape": [2], "data_offsets": [0, 1]}}, b"\0"))
    deep = b"[" * 100_000
    with pytest.raises(PayloadError, match="not JSON"):
        decode(struct.pack("<Q", len(deep)) + deep)


@pytest.mark.parametrize("wire", ["float32", "float16", "bfloat16"])
def test_decode_checks_floating_tensors_against_the_wire_dtype(wire: str) -> None:
    payload = _payload()
    back = decode(encode(payload, wire_dtype=wire), wire_dtype=wire)
    assert back.tensors["idx"].dtype == torch.int64  # integers are not cast on the wire, nor checked here
    for other in {"float32", "float16", "bfloat16"} - {wire}:
        with pytest.raises(PayloadError, match=rf"tensor '[a-z_A.]+' is {other}, but the wire dtype is {wire}$"):
            decode(encode(payload, wire_dtype=other), wire_dtype=wire)
    f64 = Payload(tensors={"w": torch.ones(2, dtype=torch.float64)}, meta={})
    blob = st_save(f64.tensors, metadata={"edgebench": "{}"})
    with pytest.raises(PayloadError, match="'w' is float64"):
        decode(blob, wire_dtype=wire)
