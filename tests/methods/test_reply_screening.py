"""Every method's server half rejects (never averages) a reply of the wrong dtype or with malformed metadata.

Issue 12, items 2 and 3: an int64 reply used to turn the global model into integers, a metadata list
raised AttributeError deep in FedARA's server, and metadata keys no uplink carries (e.g. ``ranks`` as a
string) were silently accepted.
"""

from __future__ import annotations

import functools

import pytest
import torch

from edgebench.fl.codec import decode
from edgebench.methods.base import ClientReply, Payload
from tests.methods.replies import METHODS, ReplyCase, build_case, same_state, server_state


@functools.cache
def _case(method: str, wire_dtype: str = "float32") -> ReplyCase:
    return build_case(method, wire_dtype)  # type: ignore[arg-type]


def _valid(method: str) -> Payload:
    case = _case(method)
    return decode(case.uplink, case.wire_dtype)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "dtype", [torch.int64, torch.int32, torch.uint8, torch.bool, torch.float64, torch.complex64, torch.float8_e4m3fn]
)
def test_a_reply_in_another_dtype_is_rejected_and_the_global_keeps_its_dtype(method: str, dtype: torch.dtype) -> None:
    server = _case(method).fresh_server()
    before = server_state(server)
    valid = _valid(method)
    name = sorted(valid.tensors)[0]
    retyped = Payload({k: (v.to(dtype) if k == name else v) for k, v in valid.tensors.items()}, dict(valid.meta))
    everything = Payload({k: v.to(dtype) for k, v in valid.tensors.items()}, dict(valid.meta))
    outcome = server.aggregate(1, [ClientReply(0, 10, retyped), ClientReply(1, 10**6, everything)])
    assert outcome.accepted == []
    assert f"{name}: dtype {str(dtype).removeprefix('torch.')}, expected float32" in outcome.rejected[0]
    assert "dtype" in outcome.rejected[1]
    assert same_state(server_state(server), before)


@pytest.mark.parametrize("method", METHODS)
def test_an_int64_reply_next_to_a_valid_one_leaves_the_global_model_float(method: str) -> None:
    server = _case(method).fresh_server()
    valid = _valid(method)
    ints = Payload({k: v.round().to(torch.int64) for k, v in valid.tensors.items()}, dict(valid.meta))
    outcome = server.aggregate(1, [ClientReply(0, 10, ints), ClientReply(1, 10, valid)])
    assert outcome.accepted == [1] and "dtype int64, expected float32" in outcome.rejected[0]
    state = server.global_payload().tensors
    assert state and all(t.dtype == torch.float32 for t in state.values())
    for key, tensor in state.items():  # the one accepted reply is the new global state, exactly
        assert torch.equal(tensor, valid.tensors[key])


@pytest.mark.parametrize("method", METHODS)
def test_a_half_precision_wire_reply_is_accepted(method: str) -> None:
    case = _case(method, "float16")
    server = case.fresh_server()
    outcome = server.aggregate(1, [ClientReply(0, 10, decode(case.uplink, "float16"))])
    assert outcome.accepted == [0] and outcome.rejected == {}


def _bad_metas(method: str) -> list[tuple[object, str]]:
    valid = _valid(method).meta
    cases: list[tuple[object, str]] = [
        ([1, 2], "metadata is not a JSON object"),
        ("text", "metadata is not a JSON object"),
        (None, "metadata is not a JSON object"),
        ({**valid, "ranks": "q,v"}, "unexpected metadata keys ['ranks']"),
        ({**valid, "round": 1, "x": None}, "unexpected metadata keys ['round', 'x']"),
    ]
    if method == "fedara":
        cases += [
            ({}, "metadata 'mask_digest' missing"),
            ({"mask_digest": 12345}, "metadata 'mask_digest' must be a str, not int"),
            ({"mask_digest": [valid["mask_digest"]]}, "metadata 'mask_digest' must be a str, not list"),
            ({"mask_digest": None}, "metadata 'mask_digest' must be a str, not NoneType"),
        ]
    return cases


@pytest.mark.parametrize("method", METHODS)
def test_malformed_metadata_is_rejected_with_its_reason_and_the_round_goes_on(method: str) -> None:
    server = _case(method).fresh_server()
    before = server_state(server)
    valid = _valid(method)
    bad = _bad_metas(method)
    replies = [ClientReply(i, 10, Payload(dict(valid.tensors), meta)) for i, (meta, _) in enumerate(bad)]  # type: ignore[arg-type]
    outcome = server.aggregate(1, replies)
    assert outcome.accepted == []
    for i, (_, reason) in enumerate(bad):
        assert reason in outcome.rejected[i], (i, outcome.rejected[i])
    assert same_state(server_state(server), before)
    # ... and a valid reply in the same round is still averaged
    outcome = server.aggregate(1, [*replies, ClientReply(len(bad), 10, valid)])
    assert outcome.accepted == [len(bad)]
