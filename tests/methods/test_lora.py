"""LoRA and FFA-LoRA: what is trained, what travels (exactly, from the model's dimensions), how it is averaged."""

from __future__ import annotations

import pytest
import torch

from edgebench.data.dataset import TextDataset
from edgebench.fl.batches import collate, tokenize
from edgebench.fl.codec import decode, encode, header_bytes
from edgebench.methods import get_method
from edgebench.methods.base import ClientReply, Payload, TrainSettings
from edgebench.methods.lora.config import LoraParams
from edgebench.models import ModelConfig, TinyBertConfig, resolve_model

HIDDEN, LAYERS, LABELS, RANK = 32, 2, 4, 4
CORPUS = ["stocks fell sharply on monday", "the team won the cup final", "new chip doubles battery life"] * 20


def _build(method: str):
    spec = get_method(method)
    params = LoraParams(r=RANK)
    resolved = resolve_model(
        ModelConfig(tiny=TinyBertConfig(layers=LAYERS, hidden=HIDDEN, heads=2, intermediate=64, vocab_size=200)),
        LABELS,
        seed=0,
    )
    client = spec.client_cls(params, seed=0)
    model = client.build(resolved.model)
    server = spec.server_cls(params, total_rounds=2)
    server.initialize(client.initial_parameters(model))
    data = TextDataset(texts=CORPUS[:8], labels=[0, 1, 2, 3] * 2, label_names=list("abcd"))
    batch = collate(tokenize(resolved.tokenizer, data, 16), list(range(8)))
    return client, server, model, batch


# Per adapted module (query and value of each layer): A is r x hidden, B is hidden x r; head: labels x hidden + labels.
MODULES = 2 * LAYERS
A_FLOATS = B_FLOATS = RANK * HIDDEN
HEAD_FLOATS = LABELS * HIDDEN + LABELS


@pytest.mark.parametrize(
    ("method", "floats"),
    [("lora", MODULES * (A_FLOATS + B_FLOATS) + HEAD_FLOATS), ("ffa_lora", MODULES * B_FLOATS + HEAD_FLOATS)],
)
def test_uplink_is_exactly_the_trainable_tensors_plus_header(method: str, floats: int) -> None:
    client, server, model, batch = _build(method)
    down = encode(server.configure_round(1, [0])[0])
    fit = client.fit(model, decode(down), [batch], TrainSettings(lr=1e-2), None)
    up = encode(fit.payload)
    assert len(up) - header_bytes(up) == floats * 4
    assert header_bytes(up) < 2048
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == floats


def test_ffa_adapter_part_is_half_of_lora() -> None:
    lora_adapter = MODULES * (A_FLOATS + B_FLOATS)
    ffa_adapter = MODULES * B_FLOATS
    assert ffa_adapter * 2 == lora_adapter
    _, server, _, _ = _build("ffa_lora")
    sent = server.global_payload().tensors
    assert not any(".lora_A." in k for k in sent)
    assert sum(t.numel() for k, t in sent.items() if ".lora_B." in k) == ffa_adapter


def test_ffa_keeps_a_frozen_and_lora_trains_it() -> None:
    for method, a_changes in (("lora", True), ("ffa_lora", False)):
        client, server, model, batch = _build(method)
        a_before = {n: p.detach().clone() for n, p in model.named_parameters() if ".lora_A." in n}
        # B starts at zero, so A only receives gradient from the second step on.
        client.fit(model, server.global_payload(), [batch, batch, batch], TrainSettings(lr=5e-2), None)
        changed = any(not torch.equal(p, a_before[n]) for n, p in model.named_parameters() if ".lora_A." in n)
        assert changed is a_changes, method


def test_server_averages_by_sample_count_and_rejects_mismatched_replies() -> None:
    _, server, _, _ = _build("lora")
    base = server.global_payload().tensors
    ones = {k: torch.ones_like(v) for k, v in base.items()}
    threes = {k: torch.full_like(v, 3.0) for k, v in base.items()}
    bad = dict(ones)
    key = next(k for k in bad if ".lora_A." in k)
    bad[key] = torch.ones(RANK + 1, HIDDEN)
    outcome = server.aggregate(
        1,
        [ClientReply(0, 30, Payload(ones)), ClientReply(1, 10, Payload(threes)), ClientReply(2, 50, Payload(bad))],
    )
    assert outcome.accepted == [0, 1]
    assert "shape (5, 32), expected (4, 32)" in outcome.rejected[2]
    for tensor in server.global_payload().tensors.values():
        assert torch.allclose(tensor, torch.full_like(tensor, 1.5))  # (30*1 + 10*3) / 40
    assert outcome.module_ranks and set(outcome.module_ranks.values()) == {RANK}
    assert outcome.active_rank == RANK * MODULES and outcome.active_modules == MODULES


def test_missing_tensor_and_nan_are_rejected() -> None:
    _, server, _, _ = _build("lora")
    base = server.global_payload().tensors
    missing = {k: v for k, v in list(base.items())[1:]}
    nan = {k: torch.full_like(v, float("nan")) for k, v in base.items()}
    outcome = server.aggregate(1, [ClientReply(0, 5, Payload(missing)), ClientReply(1, 5, Payload(nan))])
    assert outcome.accepted == []
    assert "missing tensors" in outcome.rejected[0] and "NaN" in outcome.rejected[1]
    assert all(torch.equal(server.global_payload().tensors[k], v) for k, v in base.items())
