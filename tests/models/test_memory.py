"""The training-memory estimate: its arithmetic, what changes it, and the line a run prints before round 1."""

from __future__ import annotations

import pytest
from transformers import AutoConfig, AutoModelForSequenceClassification

from edgebench.config import FederationConfig, MethodEntry
from edgebench.devices.profiles import MemoryDefaults, get_profile
from edgebench.fl.model_summary import start_summary
from edgebench.methods import get_method
from edgebench.methods.base import Placement
from edgebench.models import ModelConfig, TinyBertConfig, resolve_model
from edgebench.models.memory import MIB, Dims, activation_values, dims_of, estimate_training_memory, mib
from tests.models.tiny_archs import ARCHITECTURES

TINY = TinyBertConfig(layers=2, hidden=32, heads=2, intermediate=64, vocab_size=200)


def _lora_model():
    resolved = resolve_model(ModelConfig(tiny=TINY), num_labels=4, seed=0)
    spec = get_method("lora")
    return resolved, spec.client_cls(spec.params_model(r=4), seed=0).build(resolved.model)


def test_weights_optimizer_and_activations_follow_the_counts_and_the_formula() -> None:
    _, model = _lora_model()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    fp32 = estimate_training_memory(model, batch_size=16, seq_len=64)
    assert (fp32.trainable_parameters, fp32.frozen_parameters) == (trainable, frozen)
    assert fp32.weight_bytes == 4 * frozen + 4 * trainable
    assert fp32.optimizer_bytes == 12 * trainable  # gradient + AdamW's two moments
    # per token and layer 9 h + 2 I + 6 a s, every layer kept, plus the embeddings' output; 4 bytes each
    per_layer = 9 * 32 + 2 * 64 + 6 * 2 * 64
    assert fp32.activation_bytes == 4 * 16 * 64 * (2 * per_layer + 32)
    assert fp32.total_bytes == fp32.weight_bytes + fp32.optimizer_bytes + fp32.activation_bytes

    half = estimate_training_memory(model, 16, 64, backbone_dtype="bfloat16", activation_dtype="bfloat16")
    assert half.weight_bytes == 2 * frozen + 4 * trainable  # adapters and head stay float32
    assert half.activation_bytes == round(fp32.activation_bytes * 2.75 / 4)
    sgd = estimate_training_memory(model, 16, 64, optimizer="sgd")
    assert sgd.optimizer_bytes == 4 * trainable
    assert estimate_training_memory(model, 16, 64, optimizer="sgd", momentum=0.9).optimizer_bytes == 8 * trainable
    doubled = estimate_training_memory(model, 32, 64)
    assert doubled.activation_bytes == 2 * fp32.activation_bytes and doubled.weight_bytes == fp32.weight_bytes


def test_gradient_checkpointing_keeps_layer_inputs_and_three_layers_worth() -> None:
    dims = Dims(hidden=384, layers=6, heads=12, intermediate=1536, gated=False)
    full = activation_values(dims, 16, 128, gradient_checkpointing=False)
    checkpointed = activation_values(dims, 16, 128, gradient_checkpointing=True)
    per_layer = 9 * 384 + 2 * 1536 + 6 * 12 * 128
    assert full == 16 * 128 * (6 * per_layer + 384)
    assert checkpointed == 16 * 128 * (6 * 384 + 3 * per_layer + 384) and checkpointed < full
    gated = activation_values(Dims(384, 6, 12, 1536, gated=True), 16, 128, False)
    assert gated == full + 16 * 128 * 6 * 1536  # a third MLP tensor per layer


def test_the_model_s_own_checkpointing_is_the_default() -> None:
    resolved = resolve_model(ModelConfig(tiny=TINY, gradient_checkpointing=True), num_labels=4, seed=0)
    estimate = estimate_training_memory(resolved.model, 16, 64)
    assert estimate.gradient_checkpointing and "gradient checkpointing" in estimate.describe()
    plain = estimate_training_memory(resolved.model, 16, 64, gradient_checkpointing=False)
    assert not plain.gradient_checkpointing
    assert estimate.activation_bytes == plain.activation_bytes  # two layers: checkpointing saves nothing here
    two_layers = Dims(hidden=32, layers=2, heads=2, intermediate=64, gated=False)
    assert activation_values(two_layers, 16, 64, True) == activation_values(two_layers, 16, 64, False)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gpt2", Dims(hidden=32, layers=2, heads=2, intermediate=128, gated=False)),  # n_inner None: 4 h
        ("distilbert", Dims(hidden=32, layers=2, heads=2, intermediate=64, gated=False)),
        ("llama", Dims(hidden=32, layers=2, heads=2, intermediate=64, gated=True)),
    ],
)
def test_dimensions_are_read_from_each_config_family(name, expected) -> None:
    model_type, kwargs, _ = ARCHITECTURES[name]
    config = AutoConfig.for_model(model_type, vocab_size=100, pad_token_id=0, bos_token_id=1, eos_token_id=2, **kwargs)
    assert dims_of(AutoModelForSequenceClassification.from_config(config)) == expected


def _summary(budget_mib: int | None, **model) -> str:
    resolved = resolve_model(ModelConfig(tiny=TINY, **model), num_labels=4, seed=0)
    entry = MethodEntry(method="fedara")
    spec = get_method("fedara")
    entry._params = spec.params_model(r0=4)
    built = spec.client_cls(entry.params, seed=0).build(resolved.model)
    profile = get_profile("x86-cpu")
    profile = profile.model_copy(update={"memory": MemoryDefaults(budget_mib=budget_mib)})
    return start_summary(
        entry, resolved.info, built, FederationConfig(batch_size=16, max_seq_len=64), Placement(), profile
    )


def test_the_run_start_lines_name_the_targets_and_compare_the_estimate_with_the_budget() -> None:
    fits = _summary(budget_mib=4000).splitlines()
    assert fits[0].startswith("[fedara] model tiny-bert (BertForSequenceClassification, ")
    assert fits[0].endswith("parameters): target modules query, value (PEFT's LoRA mapping for model_type 'bert')")
    assert fits[1].startswith("[fedara] training memory estimate per client ~ ")
    assert fits[1].endswith("; fits device profile x86-cpu's memory budget (4,000 MiB)")
    assert "for batch 16 x 64 tokens" in fits[1]

    tight = _summary(budget_mib=1).splitlines()
    assert tight[1].startswith("warning: [fedara] the training memory estimate (")
    assert "exceeds device profile x86-cpu's memory budget (1 MiB) and will likely not fit" in tight[1]
    assert "compute.backbone_dtype bfloat16" in tight[1] and "model.gradient_checkpointing: true" in tight[1]

    host = _summary(budget_mib=None).splitlines()
    assert "fits this host's memory (" in host[1]


def test_mib_of_the_summary_matches_the_estimate() -> None:
    _, model = _lora_model()
    estimate = estimate_training_memory(model, 16, 64)
    assert estimate.total_mib == estimate.total_bytes / MIB
    assert estimate.describe().startswith(f"~ {mib(estimate.total_bytes)} MiB (weights ")
    assert (mib(0.25 * MIB), mib(12.4 * MIB), mib(1234.4 * MIB)) == ("0.2", "12", "1,234")
