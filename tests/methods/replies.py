"""One method's server half with a genuine uplink from its client half, on the tiny BERT (reply tests)."""

from __future__ import annotations

import copy
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass

import torch

from edgebench.fl.codec import WireDtype, encode, header_bytes, header_of
from edgebench.methods import get_method
from edgebench.methods.base import MethodParams, MethodServer, Payload, TrainSettings
from edgebench.methods.fedadalora.config import FedAdaLoraParams
from edgebench.methods.fedara.config import FedARAParams
from edgebench.methods.lora.config import LoraParams
from edgebench.models import ModelConfig, TinyBertConfig, resolve_model

METHODS = ["lora", "ffa_lora", "fedara", "fedadalora"]
ROUNDS, LOCAL_STEPS = 4, 2
CORPUS = ["stocks fell sharply on monday", "the team won the cup final", "new chip doubles battery life"] * 4


def _params(method: str) -> MethodParams:
    if method in ("lora", "ffa_lora"):
        return LoraParams(r=4)
    if method == "fedara":  # t_init = 1: round 1 keeps the full budget, so aggregating it allocates nothing
        return FedARAParams(r0=4, r_target=2, t_init=1, t_final=1)
    return FedAdaLoraParams(r0=4, r_target=2)


@dataclass
class ReplyCase:
    """A method's server state at the start of round 1, and one client's genuine round-1 uplink."""

    method: str
    start: Payload  # the server half's state_dict
    uplink: bytes  # encoded in `wire_dtype`
    wire_dtype: WireDtype

    def fresh_server(self) -> MethodServer:
        """A new server half in the `start` state, on its own copy of it (nothing it does reaches `start`)."""
        server = get_method(self.method).server_cls(_params(self.method), ROUNDS)
        server.load_state_dict(copied(self.start))
        return server


def build_case(method: str, wire_dtype: WireDtype = "float32") -> ReplyCase:
    spec = get_method(method)
    resolved = resolve_model(
        ModelConfig(tiny=TinyBertConfig(layers=2, hidden=32, heads=2, intermediate=64, vocab_size=200)), 4, seed=0
    )
    params = _params(method)
    client = spec.client_cls(params, seed=0, rounds=ROUNDS, local_steps=LOCAL_STEPS)
    model = client.build(resolved.model)
    server = spec.server_cls(params, ROUNDS)
    server.initialize(client.initial_parameters(model))
    enc = resolved.tokenizer(CORPUS[:8], padding=True, return_tensors="pt")
    batch = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": torch.arange(8) % 4}
    down = server.configure_round(1, [0])[0]
    fit = client.fit(model, down, [batch] * LOCAL_STEPS, TrainSettings(lr=5e-2), None)
    return ReplyCase(method, copied(server.state_dict()), encode(fit.payload, wire_dtype), wire_dtype)


def copied(state: Payload) -> Payload:
    """`state` with its tensors cloned and its metadata deep-copied."""
    return Payload({k: v.clone() for k, v in state.tensors.items()}, copy.deepcopy(state.meta))


def server_state(server: MethodServer) -> tuple[dict[str, torch.Tensor], dict]:
    """The server's whole state (tensors cloned), for bit-exact before/after comparisons."""
    state = copied(server.state_dict())
    return state.tensors, state.meta


def same_state(a: tuple[dict[str, torch.Tensor], dict], b: tuple[dict[str, torch.Tensor], dict]) -> bool:
    """Bit-identical tensors (names, dtypes, shapes, bytes) and equal JSON state."""
    if set(a[0]) != set(b[0]) or a[1] != b[1]:
        return False
    return all(
        x.dtype == b[0][k].dtype
        and x.shape == b[0][k].shape
        and torch.equal(x.reshape(-1).view(torch.uint8), b[0][k].reshape(-1).view(torch.uint8))
        for k, x in a[0].items()
    )


def rewrite_header(blob: bytes, change: Callable[[dict], object]) -> bytes:
    """`blob` with its safetensors JSON header replaced by `change(header)` (the tensor data kept as is)."""
    text = json.dumps(change(header_of(blob))).encode()
    return struct.pack("<Q", len(text)) + text + blob[header_bytes(blob) :]
