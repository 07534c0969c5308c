"""Fuzzing the reply path: random mutations of a genuine uplink through decode and each method's server half.

For every method (lora, ffa_lora, fedara, fedadalora on the tiny BERT; lora also on a float16 wire) a
seeded RNG applies one to three mutations to a valid uplink blob: bytes flipped (anywhere, in the header,
in the tensor data), the blob truncated or extended, the length prefix changed, header fields changed
(dtype, shape, offsets, names, entries added or removed, ``__metadata__`` mangled), tensors added,
removed, reshaped or retyped, values made NaN/Inf, and the edgebench metadata mangled.

Each mutant goes through ``decode`` (with the run's wire dtype, as the executors call it) and, when it
decodes, through ``aggregate`` as the round's only reply. The invariants:

- nothing raises but a PayloadError from ``decode``; ``aggregate`` never raises;
- a rejected reply leaves the server's whole state bit-identical to a round with no reply at all;
- a reply is averaged only if it is a valid reply: the same tensor names, shapes and dtypes as the
  genuine one, finite values, the same metadata; and then the new global state is exactly its tensors.
  (A flipped byte inside tensor data that still gives finite numbers *is* such a reply: without an
  integrity code nothing tells it from a client that trained differently, so it may be averaged.)
"""

from __future__ import annotations

import json
import struct
import zlib
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest
import torch
from safetensors.torch import save as st_save

from edgebench.fl.codec import META_KEY, PayloadError, decode, header_bytes, header_of
from edgebench.methods.base import ClientReply, Payload
from tests.methods.replies import METHODS, build_case, same_state, server_state

MUTANTS = 400
Rng = np.random.Generator
Mutation = Callable[[Rng, bytes], bytes | None]  # None: not applicable to this blob

ST_DTYPES = ["F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "U16", "U32", "U64", "BOOL"]
ST_DTYPES += ["F8_E4M3", "F8_E5M2", "C64", "F4", "XX", ""]
TORCH_DTYPES = [torch.int64, torch.int32, torch.int8, torch.uint8, torch.bool, torch.float64, torch.float32]
TORCH_DTYPES += [torch.float16, torch.bfloat16, torch.complex64, torch.float8_e4m3fn, torch.uint16]
JUNK_JSON = [None, 0, -1, 1.5, "", "x", [], [1, "a"], {}, {"a": {"b": []}}, True, 10**30, "NaN"]


def _pick(rng: Rng, items: list):
    return items[int(rng.integers(len(items)))]


# -- raw bytes -----------------------------------------------------------------------------------


def _flip(rng: Rng, blob: bytes, lo: int, hi: int) -> bytes | None:
    if hi <= lo:
        return None
    out = bytearray(blob)
    for _ in range(int(rng.integers(1, 9))):
        out[int(rng.integers(lo, hi))] ^= int(rng.integers(1, 256))
    return bytes(out)


def flip_anywhere(rng: Rng, blob: bytes) -> bytes | None:
    return _flip(rng, blob, 0, len(blob))


def flip_header(rng: Rng, blob: bytes) -> bytes | None:
    return _flip(rng, blob, 8, min(len(blob), _header_end(blob)))


def flip_data(rng: Rng, blob: bytes) -> bytes | None:
    return _flip(rng, blob, _header_end(blob), len(blob))


def truncate(rng: Rng, blob: bytes) -> bytes | None:
    return blob[: int(rng.integers(0, len(blob)))] if blob else None


def extend(rng: Rng, blob: bytes) -> bytes | None:
    return blob + rng.bytes(int(rng.integers(1, 64)))


def length_prefix(rng: Rng, blob: bytes) -> bytes | None:
    if len(blob) < 8:
        return None
    (size,) = struct.unpack("<Q", blob[:8])
    new = _pick(rng, [0, 1, 2, size - 1, size + 1, size + 8, len(blob), 2**63, 2**64 - 1, int(rng.integers(0, 4096))])
    return struct.pack("<Q", max(0, new) % 2**64) + blob[8:]


def _header_end(blob: bytes) -> int:
    try:
        return header_bytes(blob)
    except struct.error:
        return len(blob)


# -- header fields -------------------------------------------------------------------------------


def _with_header(blob: bytes, change: Callable[[dict], object | None]) -> bytes | None:
    """`blob` with its JSON header replaced by `change(header)` (None when the header cannot be read)."""
    try:
        header = header_of(blob)
    except PayloadError:
        return None
    new = change(header)
    return None if new is None else _put_header(blob, new)


def _put_header(blob: bytes, header: object) -> bytes:
    """`blob` with `header`, as JSON, in place of its header (the tensor data kept as is)."""
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + blob[_header_end(blob) :]


def _entries(header: dict) -> list[str]:
    return sorted(k for k, v in header.items() if k != "__metadata__" and isinstance(v, dict))


def _entry_mutation(change: Callable[[Rng, dict, list[str]], None]) -> Mutation:
    """A mutation that edits the header in place through `change(rng, header, tensor entry names)`; not
    applicable to a header without tensor entries."""

    def mutate(rng: Rng, blob: bytes) -> bytes | None:
        def edit(h: dict):
            names = _entries(h)
            if not names:
                return None
            change(rng, h, names)
            return h

        return _with_header(blob, edit)

    return mutate


def _set_dtype(rng: Rng, h: dict, names: list[str]) -> None:
    h[_pick(rng, names)]["dtype"] = _pick(rng, ST_DTYPES)


def _set_shape(rng: Rng, h: dict, names: list[str]) -> None:
    entry = h[_pick(rng, names)]
    shape = list(entry.get("shape", []))
    how = int(rng.integers(6))
    if how == 0 and len(shape) > 1:
        shape = shape[::-1]
    elif how == 1:
        shape = [*shape, 1]
    elif how == 2 and shape:
        shape = shape[:-1]
    elif how == 3:
        shape = [int(np.prod(shape))] if shape else [1]
    elif how == 4 and shape:
        shape[int(rng.integers(len(shape)))] = _pick(rng, [0, 1, -1, 2**40, "2", None])
    else:
        shape = _pick(rng, [[], None, "4", [[4]]])
    entry["shape"] = shape


def _set_offsets(rng: Rng, h: dict, names: list[str]) -> None:
    a, b = _pick(rng, names), _pick(rng, names)
    how = int(rng.integers(4))
    if how == 0:  # swap two tensors' data (a valid-looking reply when their sizes agree)
        h[a]["data_offsets"], h[b]["data_offsets"] = h[b].get("data_offsets"), h[a].get("data_offsets")
    elif how == 1:
        start, end = h[a].get("data_offsets", [0, 0])
        shift = int(rng.integers(-8, 9))
        h[a]["data_offsets"] = [start + shift, end + shift]
    elif how == 2:
        h[a]["data_offsets"] = [int(rng.integers(0, 2**20)), int(rng.integers(0, 2**20))]
    else:
        h[a]["data_offsets"] = _pick(rng, [None, [], [0], "0,4", [0, 4, 8], [-4, 0]])


def _change_entry(rng: Rng, h: dict, names: list[str]) -> None:
    name = _pick(rng, names)
    how = int(rng.integers(5))
    if how == 0:
        del h[name]
    elif how == 1:
        h[name + ".extra"] = dict(h[name])
    elif how == 2:
        h[name[::-1]] = h.pop(name)
    elif how == 3:
        h[name] = _pick(rng, JUNK_JSON)
    else:
        h[name]["unexpected_field"] = 1


def header_metadata(rng: Rng, blob: bytes) -> bytes | None:
    def change(h: dict):
        meta = h.get("__metadata__", {})
        text = meta.get(META_KEY, "{}") if isinstance(meta, dict) else "{}"
        how = int(rng.integers(7))
        if how == 0:
            h["__metadata__"] = _pick(rng, JUNK_JSON)
        elif how == 1:
            h["__metadata__"] = {META_KEY: _pick(rng, JUNK_JSON)}
        elif how == 2:
            h["__metadata__"] = {META_KEY: text, "other": _pick(rng, [1, None, [], {"a": "b"}])}
        elif how == 3:
            h.pop("__metadata__", None)
        elif how == 4:
            h["__metadata__"] = {META_KEY: _pick(rng, ["", "{", "[" * 5000, "NaN", "null", "[]", '"x"', "{}{}"])}
        elif how == 5:
            h["__metadata__"] = {META_KEY: json.dumps(_pick(rng, JUNK_JSON))}
        else:
            h["__metadata__"] = {"not_edgebench": text}
        return h

    return _with_header(blob, change)


def header_not_an_object(rng: Rng, blob: bytes) -> bytes | None:
    return _put_header(blob, _pick(rng, JUNK_JSON[:8]))


# -- decoded tensors and metadata ----------------------------------------------------------------


def _save(tensors: dict[str, torch.Tensor], meta: object) -> bytes:
    return st_save({k: v.contiguous() for k, v in tensors.items()}, metadata={META_KEY: json.dumps(meta)})


def _decoded(blob: bytes) -> Payload | None:
    try:
        return decode(blob)
    except PayloadError:
        return None


def _tensor_mutation(change: Callable[[Rng, dict[str, torch.Tensor], dict], object | None]) -> Mutation:
    def mutate(rng: Rng, blob: bytes) -> bytes | None:
        payload = _decoded(blob)
        if payload is None or not payload.tensors:
            return None
        tensors = dict(payload.tensors)
        meta = change(rng, tensors, payload.meta)
        return None if meta is None else _save(tensors, meta)

    return mutate


def _name(rng: Rng, tensors: dict[str, torch.Tensor]) -> str:
    return _pick(rng, sorted(tensors))


def _remove(rng: Rng, tensors: dict, meta: dict):
    del tensors[_name(rng, tensors)]
    return meta


def _add(rng: Rng, tensors: dict, meta: dict):
    name = _name(rng, tensors)
    new = _pick(rng, [name + ".copy", name.rsplit(".", 1)[0] + ".scores", "classifier.extra", name.upper()])
    tensors[new] = tensors[name].clone() if rng.random() < 0.5 else torch.zeros(3)
    return meta


def _reshape(rng: Rng, tensors: dict, meta: dict):
    name = _name(rng, tensors)
    t = tensors[name]
    how = int(rng.integers(4))
    if how == 0:
        tensors[name] = t.reshape(-1)
    elif how == 1:
        tensors[name] = t.reshape(*t.shape, 1)
    elif how == 2:
        tensors[name] = t[..., :-1] if t.shape and t.shape[-1] > 1 else t.reshape(1, -1)
    else:
        tensors[name] = torch.cat([t, t], dim=0) if t.dim() else t.reshape(1)
    return meta


def _retype(rng: Rng, tensors: dict, meta: dict):
    dtype = _pick(rng, TORCH_DTYPES)
    names = sorted(tensors) if rng.random() < 0.3 else [_name(rng, tensors)]
    for name in names:
        tensors[name] = tensors[name].to(dtype)
    return meta


def _poison(rng: Rng, tensors: dict, meta: dict):
    name = _name(rng, tensors)
    t = tensors[name].clone()
    if t.numel() == 0 or not t.is_floating_point():
        return None
    t.view(-1)[int(rng.integers(t.numel()))] = _pick(rng, [float("nan"), float("inf"), float("-inf"), 1e4])
    tensors[name] = t
    return meta


def _meta(rng: Rng, tensors: dict, meta: dict):
    how = int(rng.integers(5))
    if how == 0:
        return {"__junk__": _pick(rng, JUNK_JSON)} if rng.random() < 0.5 else _pick(rng, [None, [], "x", 1, [meta]])
    if how == 1:
        return {**meta, "ranks": _pick(rng, ["q,v", [0, 1], {"m": "0"}, None])}
    if how == 2:
        return {k: _pick(rng, JUNK_JSON) for k in meta} or {"mask_digest": _pick(rng, JUNK_JSON)}
    if how == 3:
        return {}
    return {k: (v[::-1] if isinstance(v, str) else v) for k, v in meta.items()} or {"round": 1}


MUTATIONS: dict[str, Mutation] = {
    "flip_anywhere": flip_anywhere,
    "flip_header": flip_header,
    "flip_data": flip_data,
    "truncate": truncate,
    "extend": extend,
    "length_prefix": length_prefix,
    "header_dtype": _entry_mutation(_set_dtype),
    "header_shape": _entry_mutation(_set_shape),
    "header_offsets": _entry_mutation(_set_offsets),
    "header_entries": _entry_mutation(_change_entry),
    "header_metadata": header_metadata,
    "header_not_an_object": header_not_an_object,
    "remove_tensor": _tensor_mutation(_remove),
    "add_tensor": _tensor_mutation(_add),
    "reshape_tensor": _tensor_mutation(_reshape),
    "retype_tensor": _tensor_mutation(_retype),
    "poison_value": _tensor_mutation(_poison),
    "mangle_meta": _tensor_mutation(_meta),
}


def _mutant(rng: Rng, blob: bytes) -> tuple[list[str], bytes]:
    kinds: list[str] = []
    for _ in range(int(rng.integers(1, 4))):
        kind = _pick(rng, sorted(MUTATIONS))
        out = MUTATIONS[kind](rng, blob)
        if out is not None:
            kinds.append(kind)
            blob = out
    return kinds, blob


# -- the invariants ------------------------------------------------------------------------------


def _is_valid_reply(got: Payload, genuine: Payload) -> bool:
    if got.meta != genuine.meta or set(got.tensors) != set(genuine.tensors):
        return False
    for name, tensor in genuine.tensors.items():
        other = got.tensors[name]
        if other.shape != tensor.shape or other.dtype != tensor.dtype or not torch.isfinite(other).all():
            return False
    return True


@pytest.mark.filterwarnings("ignore:Casting complex values to real:UserWarning")
@pytest.mark.parametrize(
    ("method", "wire"), [*((m, "float32") for m in METHODS), ("lora", "float16")], ids=lambda v: str(v)
)
def test_mutated_uplinks_are_rejected_or_are_valid_replies(method: str, wire: str) -> None:
    case = build_case(method, wire)  # type: ignore[arg-type]
    genuine = decode(case.uplink, case.wire_dtype)
    nothing = case.fresh_server()
    nothing.aggregate(1, [])
    no_reply = server_state(nothing)

    rng = np.random.default_rng(zlib.crc32(f"{method}/{wire}".encode()))
    seen: Counter[str] = Counter()
    for i in range(MUTANTS):
        kinds, blob = _mutant(rng, case.uplink)
        where = f"mutant {i} ({'+'.join(kinds)})"
        try:
            payload = decode(blob, case.wire_dtype)
        except PayloadError:
            seen["undecodable"] += 1
            continue
        except Exception as exc:
            pytest.fail(f"{where}: decode raised {type(exc).__name__}: {exc}")
        server = case.fresh_server()  # on its own copy of the start state
        try:
            outcome = server.aggregate(1, [ClientReply(0, 10, payload)])
        except Exception as exc:
            pytest.fail(f"{where}: aggregate raised {type(exc).__name__}: {exc}")
        if outcome.accepted:
            assert outcome.accepted == [0] and not outcome.rejected, where
            assert _is_valid_reply(payload, genuine), f"{where}: an invalid reply was averaged"
            for key, tensor in server.global_payload().tensors.items():
                assert torch.equal(tensor, payload.tensors[key]), f"{where}: {key} is not the reply's"
            seen["accepted"] += 1
        else:
            assert isinstance(outcome.rejected.get(0), str) and outcome.rejected[0], where
            assert same_state(server_state(server), no_reply), f"{where}: a rejected reply changed the state"
            seen["rejected by the server"] += 1
    # the mutations reach every layer: the codec, the server's screening, and (rarely) valid replies
    assert seen["undecodable"] >= MUTANTS // 5 and seen["rejected by the server"] >= MUTANTS // 10, seen
    assert seen["accepted"] < MUTANTS // 4, seen
