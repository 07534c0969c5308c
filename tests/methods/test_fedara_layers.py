"""FedARA's SVD adapter on every layer type LoRA adapts: nn.Linear, GPT-2's Conv1D, fused projections (c_attn,
qkv_proj); exact bytes from the shapes; pruning puts the original layer back."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from edgebench.fl.codec import decode, encode, header_bytes
from edgebench.methods import get_method
from edgebench.methods.base import ClientReply, TrainSettings
from edgebench.methods.fedara.adapter import SVDLinear, adapters_of
from edgebench.methods.fedara.config import FedARAParams
from edgebench.models import ModelConfig, resolve_model
from edgebench.models.targets import in_head, in_out_features
from tests.methods.fedara_pruning import prune_first_module
from tests.models.tiny_archs import arch_params, save_tiny

R0, LABELS = 3, 3


def test_an_adapter_over_conv1d_computes_what_it_computes_over_the_equivalent_linear() -> None:
    torch.manual_seed(0)
    conv = Conv1D(nf=12, nx=8)  # GPT-2's layer: weight 8 x 12 (in x out), y = x W + b
    linear = nn.Linear(8, 12)
    with torch.no_grad():
        linear.weight.copy_(conv.weight.T)
        linear.bias.copy_(conv.bias)
    a, b = SVDLinear(conv, r0=4, scaling=0.5, dropout=0.0), SVDLinear(linear, r0=4, scaling=0.5, dropout=0.0)
    assert a.P.shape == b.P.shape == (12, 4) and a.Q.shape == b.Q.shape == (4, 8)
    with torch.no_grad():
        for part in ("P", "lam", "Q"):
            value = torch.randn(getattr(a, part).shape)
            getattr(a, part).copy_(value)
            getattr(b, part).copy_(value)
    x = torch.randn(2, 5, 8)
    assert torch.allclose(a(x), b(x), atol=1e-6)
    assert torch.allclose(a(x), conv(x) + 0.5 * ((x @ a.Q.T) * a.lam) @ a.P.T, atol=1e-6)


def test_svd_init_over_conv1d_spans_the_weight_as_out_x_in() -> None:
    torch.manual_seed(0)
    conv = Conv1D(nf=6, nx=10)
    adapter = SVDLinear(conv, r0=6, scaling=1.0, dropout=0.0)
    adapter.init_svd()
    singular = torch.linalg.svdvals(conv.weight.T)
    rebuilt = adapter.P @ torch.diag(singular) @ adapter.Q  # full rank: P diag(s) Q = W as out x in
    assert torch.allclose(rebuilt, conv.weight.T, atol=1e-5)
    assert torch.allclose(adapter.P.T @ adapter.P, torch.eye(6), atol=1e-5)


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fedara_archs")
    return {name: save_tiny(name, root / name) for name in ("gpt2", "llama", "phi3", "distilbert")}


def _setup(folder: Path, rounds: int = 4):
    resolved = resolve_model(ModelConfig(name=str(folder)), num_labels=LABELS, seed=0)
    originals = {n: m for n, m in resolved.model.named_modules()}
    params = FedARAParams(r0=R0, r_target=1, t_init=1, t_final=1)
    spec = get_method("fedara")
    client = spec.client_cls(params, seed=0)
    model = client.build(resolved.model)
    server = spec.server_cls(params, total_rounds=rounds)
    server.initialize(client.initial_parameters(model))
    ids = resolved.tokenizer(["stocks fell on monday", "the team won", "a new chip"], truncation=True)["input_ids"]
    width = max(len(r) for r in ids)
    pad = resolved.tokenizer.pad_token_id
    batch = {
        "input_ids": torch.tensor([r + [pad] * (width - len(r)) for r in ids]),
        "attention_mask": torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in ids]),
        "labels": torch.tensor([0, 1, 2]),
    }
    return client, server, model, batch, originals


@pytest.mark.parametrize("name", arch_params(["gpt2", "llama", "phi3", "distilbert"]))
def test_bytes_equal_the_shape_formula_and_pruning_restores_the_original_layer(name, tiny_dirs) -> None:
    client, server, model, batch, originals = _setup(tiny_dirs[name])
    adapters = adapters_of(model)
    assert adapters and all(type(a.base) in (nn.Linear, Conv1D) for a in adapters.values())
    # P is out x r0 (the whole fused output for c_attn and qkv_proj), lambda r0, Q r0 x in.
    shapes = {n: in_out_features(a.base) for n, a in adapters.items()}
    if name == "gpt2":
        assert {type(a.base) for a in adapters.values()} == {Conv1D} and all(o == 3 * i for i, o in shapes.values())
    if name == "phi3":
        assert all(o == i + 2 * 16 for i, o in shapes.values())  # fused q (32) + k, v (one 16-wide head each)
    head = {k: v for k, v in client.initial_parameters(model).items() if in_head(k)}
    head_floats = sum(v.numel() for v in head.values())
    for rnd in (1, 2):
        ranks = server.module_ranks()
        down = encode(server.configure_round(rnd, [0])[0])
        fit = client.fit(model, decode(down), [batch], TrainSettings(lr=1e-2), None)
        up = encode(fit.payload)
        adapter_floats = sum(o * r + r + r * i for m, r in ranks.items() for i, o in [shapes[m]] if r > 0)
        assert len(down) - header_bytes(down) == (adapter_floats + head_floats) * 4
        assert len(up) - header_bytes(up) == (adapter_floats + head_floats + sum(ranks.values())) * 4
        server.aggregate(rnd, [ClientReply(0, 3, decode(up))])
    # Prune the first module: the client puts the very layer it wrapped back, of its original type.
    victim, restored = prune_first_module(client, server, model, batch, budget=1)
    assert restored is originals[victim] and type(restored) in (nn.Linear, Conv1D)
    assert not any(p.requires_grad for p in restored.parameters())
    assert victim not in adapters_of(model)


def test_distilbert_trains_its_whole_head_as_lora_does(tiny_dirs) -> None:
    """DistilBERT's head is pre_classifier + classifier; FedARA trains both, as PEFT's modules_to_save does."""
    _, _, model, _, _ = _setup(tiny_dirs["distilbert"])
    trained = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad and "." in n}
    assert {"pre_classifier", "classifier"} <= trained
    resolved = resolve_model(ModelConfig(name=str(tiny_dirs["distilbert"])), num_labels=LABELS, seed=0)
    lora = get_method("lora")
    peft_model = lora.client_cls(lora.params_model(r=2), seed=0).build(resolved.model)
    state = lora.client_cls(lora.params_model(r=2), seed=0).initial_parameters(peft_model)
    assert {k for k in state if in_head(k)} == {
        "pre_classifier.weight",
        "pre_classifier.bias",
        "classifier.weight",
        "classifier.bias",
    }
