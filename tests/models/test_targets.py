"""Default adapter targets per architecture (PEFT's own mapping first), and one clear error when none is found."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_MAPPING
from torch import nn
from transformers.pytorch_utils import Conv1D

from edgebench.methods import get_method
from edgebench.models import ModelConfig, ModelError, resolve_model
from edgebench.models.targets import default_targets, describe_layers, peft_lora_mapping, resolve_targets
from tests.models.tiny_archs import ARCHITECTURES, EXPECTED_TARGETS, arch_params, available, save_tiny

ALL = arch_params()


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("archs")
    return {name: save_tiny(name, root / name) for name in ARCHITECTURES if available(name)}


def _resolve(path: Path, **model):
    return resolve_model(ModelConfig(name=str(path), **model), num_labels=3, seed=0)


@pytest.mark.parametrize("name", ALL)
def test_default_targets_per_architecture_come_from_peft_where_it_has_them(name, tiny_dirs) -> None:
    resolved = _resolve(tiny_dirs[name])
    model_type = ARCHITECTURES[name][0]
    info = resolved.info
    assert info["target_modules"] == EXPECTED_TARGETS[name]
    assert info["model_type"] == model_type
    if model_type in PEFT_MAPPING:
        assert info["target_modules"] == PEFT_MAPPING[model_type]  # PEFT's own entry, not a copy of it
        assert info["target_source"] == f"PEFT's LoRA mapping for model_type {model_type!r}"
    else:  # DistilBERT, ALBERT, Phi-3: PEFT has no entry; the model's own attention projection names
        assert info["target_source"].startswith("attention projections found in the model")
    targets, layers = resolve_targets(resolved.model, None)
    assert targets == EXPECTED_TARGETS[name] and layers
    assert all(isinstance(m, (nn.Linear, Conv1D)) for m in layers.values())
    assert not any(n.split(".")[0] in ("classifier", "score", "pre_classifier") for n in layers)


def test_the_mapping_is_peft_s_own_object() -> None:
    assert peft_lora_mapping() is PEFT_MAPPING


def test_an_explicit_target_list_overrides_the_default(tiny_dirs) -> None:
    resolved = _resolve(tiny_dirs["gpt2"])
    targets, layers = resolve_targets(resolved.model, ["c_fc"])
    assert targets == ["c_fc"] and list(layers) == ["transformer.h.0.mlp.c_fc", "transformer.h.1.mlp.c_fc"]
    # A dotted suffix selects like PEFT's list matching: only the attention's c_proj, not the MLP's.
    _, layers = resolve_targets(resolved.model, ["attn.c_proj"])
    assert list(layers) == ["transformer.h.0.attn.c_proj", "transformer.h.1.attn.c_proj"]


@pytest.mark.parametrize("method", ["lora", "ffa_lora", "fedara", "fedadalora"])
def test_targets_matching_nothing_are_one_clear_error_listing_what_could_be_targeted(method, tiny_dirs) -> None:
    spec = get_method(method)
    params = spec.params_model(target_modules=["query", "value"])  # BERT names on GPT-2
    client = spec.client_cls(params, seed=0, rounds=2, local_steps=2)
    with pytest.raises(ModelError) as info:
        client.build(_resolve(tiny_dirs["gpt2"]).model)
    message = str(info.value)
    assert "target_modules ['query', 'value'] match no Linear-like layer of GPT2ForSequenceClassification" in message
    assert "c_attn (Conv1D x2), c_fc (Conv1D x2), c_proj (Conv1D x4)" in message
    assert "score" not in message  # the head is trained whole, never a target


class _Custom(nn.Module):
    """An architecture neither PEFT nor the naming conventions know."""

    def __init__(self, linear: bool) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.mixer = nn.Linear(4, 4) if linear else nn.Identity()
        self.classifier = nn.Linear(4, 2)


def test_an_unknown_architecture_without_targets_lists_its_linear_layers() -> None:
    assert default_targets(_Custom(linear=True)) is None
    with pytest.raises(ModelError, match=r"no default target modules are known for _Custom .* mixer \(Linear x1\)$"):
        resolve_targets(_Custom(linear=True), None)
    assert resolve_targets(_Custom(linear=True), ["mixer"])[0] == ["mixer"]


def test_a_model_with_no_linear_like_layer_says_so() -> None:
    assert describe_layers(_Custom(linear=False)) == ""
    with pytest.raises(ModelError, match=r"it has no Linear-like layer .* outside its classification head"):
        resolve_targets(_Custom(linear=False), None)
    with pytest.raises(ModelError, match="it has no Linear-like layer"):
        get_method("fedara").client_cls(get_method("fedara").params_model(), seed=0).build(_Custom(linear=False))


def test_resolved_info_names_no_default_when_none_is_found(tiny_dirs, monkeypatch) -> None:
    monkeypatch.setattr("edgebench.models.targets.CONVENTIONS", ())
    info = _resolve(tiny_dirs["distilbert"]).info
    assert info["target_modules"] is None
    assert info["target_source"].startswith("none found; layers: k_lin (Linear x2), lin1 (Linear x2)")


def test_cli_exits_2_with_the_layer_list(write_config, tmp_path: Path, tiny_dirs, capsys) -> None:
    from edgebench.cli import main

    path = write_config(
        {
            "model": {"name": str(tiny_dirs["gpt2"])},
            "methods": [
                {"method": "fedara", "r0": 2, "r_target": 1, "target_modules": ["q_proj"], "t_init": 0, "t_final": 0}
            ],
            "federation": {"rounds": 2},
        }
    )
    rc = main(["run", str(path), "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("edgebench: error: target_modules ['q_proj'] match no Linear-like layer")
    assert err.endswith("c_attn (Conv1D x2), c_fc (Conv1D x2), c_proj (Conv1D x4)") and "\n" not in err
    assert "Traceback" not in err


def test_gradient_checkpointing_keeps_the_step_and_is_recorded(tiny_dirs) -> None:
    """Same loss and adapter gradients with and without checkpointing (LLaMA: no dropout), for PEFT and FedARA."""
    from edgebench.methods.common.state import trainable_parameters
    from edgebench.models.memory import checkpointing_on

    batch = {
        "input_ids": torch.tensor([[5, 60, 70, 80, 3], [5, 90, 100, 3, 3]]),
        "attention_mask": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]),
    }
    labels = torch.tensor([0, 2])
    for method in ("lora", "fedara"):
        grads = []
        for checkpointing in (False, True):
            resolved = _resolve(tiny_dirs["llama"], gradient_checkpointing=checkpointing)
            assert resolved.info["gradient_checkpointing"] is checkpointing
            spec = get_method(method)
            model = spec.client_cls(spec.params_model(), seed=0).build(resolved.model)
            model.train()
            loss = nn.functional.cross_entropy(model(**batch).logits, labels)
            loss.backward()
            grads.append((loss.detach(), {k: p.grad.clone() for k, p in trainable_parameters(model).items()}))
            assert checkpointing_on(resolved.model) is checkpointing
        (loss_a, grad_a), (loss_b, grad_b) = grads
        assert torch.allclose(loss_a, loss_b, atol=1e-6)
        assert grad_a.keys() == grad_b.keys() and any(".lora_" in k or k.endswith(".P") for k in grad_a)
        assert all(torch.allclose(grad_a[k], grad_b[k], atol=1e-6) for k in grad_a)
