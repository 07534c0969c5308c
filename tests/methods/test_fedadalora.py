"""Naive federated AdaLoRA: local PEFT masks per client, full-rank FedAvg, no server allocation."""

from __future__ import annotations

import torch

from edgebench.fl.codec import decode, encode, header_bytes
from edgebench.methods import get_method
from edgebench.methods.base import ClientReply, TrainSettings
from edgebench.methods.fedadalora.config import FedAdaLoraParams
from edgebench.models import ModelConfig, TinyBertConfig, resolve_model

HIDDEN, LABELS, R0, MODULES = 32, 4, 6, 4
CORPUS = ["stocks fell sharply on monday", "the team won the cup final", "new chip doubles battery life"] * 20


def _setup():
    resolved = resolve_model(
        ModelConfig(tiny=TinyBertConfig(layers=2, hidden=HIDDEN, heads=2, intermediate=64, vocab_size=200)),
        LABELS,
        seed=0,
    )
    params = FedAdaLoraParams(r0=R0, r_target=2)
    spec = get_method("fedadalora")
    client = spec.client_cls(params, seed=0, rounds=3, local_steps=4)
    model = client.build(resolved.model)
    server = spec.server_cls(params, total_rounds=3)
    server.initialize(client.initial_parameters(model))
    enc = resolved.tokenizer(CORPUS[:8], padding=True, return_tensors="pt")
    batch = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": torch.arange(8) % 4}
    return client, server, model, batch


def test_full_rank_tensors_travel_every_round_and_clients_keep_their_own_masks() -> None:
    client, server, model, batch = _setup()
    states = {}
    full_floats = MODULES * (R0 * HIDDEN + HIDDEN * R0 + R0) + LABELS * HIDDEN + LABELS
    for rnd in (1, 2, 3):
        replies = []
        for cid in (0, 1):
            down = encode(server.configure_round(rnd, [cid])[cid])
            fit = client.fit(model, decode(down), [batch] * 4, TrainSettings(lr=5e-2), states.get(cid))
            states[cid] = fit.client_state
            up = encode(fit.payload)
            assert len(up) - header_bytes(up) == full_floats * 4  # masks are not savings
            assert len(down) - header_bytes(down) == full_floats * 4
            replies.append(ClientReply(cid, 10, decode(up)))
        outcome = server.aggregate(rnd, replies)
        assert outcome.budget is None and outcome.accepted == [0, 1]
    # by the last round AdaLoRA has masked E locally: each client's rank pattern keeps about r_target per module
    pattern = states[0].meta["rank_pattern"]
    assert len(pattern) == MODULES
    assert sum(sum(bool(x) for x in mask) for mask in pattern.values()) == 2 * MODULES
    ranks = server.module_ranks()
    assert set(ranks) == {k.removesuffix(".lora_E") for k in server.global_payload().tensors if k.endswith(".lora_E")}
    assert all(0 <= r <= R0 for r in ranks.values())


def test_run_shape_problems(write_config) -> None:
    import pytest

    from edgebench.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"methods\[0\].method: fedadalora schedules in local steps"):
        load_config(
            write_config(
                {"federation": {"local_steps": None, "local_epochs": 1}, "methods": [{"method": "fedadalora"}]}
            )
        )


def test_client_first_sampled_after_the_schedule_fixes_its_own_mask() -> None:
    client, server, model, batch = _setup()  # 3 rounds x 4 steps; final phase = global steps > 9
    down = decode(encode(server.configure_round(3, [5])[5]))
    fit = client.fit(model, down, [batch] * 4, TrainSettings(lr=5e-2), None)
    pattern = fit.client_state.meta["rank_pattern"]
    assert sum(sum(bool(x) for x in mask) for mask in pattern.values()) == 2 * MODULES
    e = {k: v for k, v in fit.payload.tensors.items() if k.endswith(".lora_E")}
    assert sum(int((v != 0).sum()) for v in e.values()) <= 2 * MODULES  # masked entries are zero on the wire
