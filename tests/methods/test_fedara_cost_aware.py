"""FedARA's cost-aware allocation (off by default): importance per unit of local step cost.

It must free whole lower layers when importance is close, keep a far more important triplet whatever its
layer, leave the default allocation exactly as it was, and measure its layer costs once per run when they
are not declared (the measurement leaving the model as it found it).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from edgebench.config import ConfigError, load_config
from edgebench.fl.engine import run_experiment
from edgebench.fl.progress import Progress
from edgebench.methods import get_method
from edgebench.methods.base import TrainSettings
from edgebench.methods.common.state import trainable_state
from edgebench.methods.fedara import calibration
from edgebench.methods.fedara.calibration import _costs
from edgebench.methods.fedara.config import FedARAParams
from edgebench.methods.fedara.costs import StepCosts, cost_aware_choice, layer_of
from edgebench.methods.fedara.server import FedARAServer
from edgebench.models import ModelConfig, TinyBertConfig, resolve_model
from tests.fl.stop_after import StopAfter
from tests.methods.fedara_scores import server_with_scores

EQUAL_COSTS = {"layer_backward_cost": [1.0, 1.0, 1.0], "step_base_cost": 1.0}


def _module(layer: int, part: str) -> str:
    return f"encoder.layer.{layer}.attention.self.{part}"


def _kept_layers(keep: dict[str, list[int]]) -> set[int]:
    return {layer_of(m) for m, ids in keep.items() if ids}


# -- the allocation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lower_layers_score", [1.0, 1.05])  # equal, then close (lower layers slightly ahead)
def test_with_close_importance_cost_aware_frees_whole_lower_layers_where_plain_fedara_does_not(
    lower_layers_score: float,
) -> None:
    scores = {
        _module(layer, part): [lower_layers_score if layer < 2 else 1.0] * 2 for layer in range(3) for part in "qv"
    }
    plain = server_with_scores(scores).select(4)
    assert _kept_layers(plain) == {0}  # ties (or the slight lead) keep layer 0: backprop reaches the bottom
    cost_aware = server_with_scores(scores, allocation="cost_aware", **EQUAL_COSTS).select(4)
    assert _kept_layers(cost_aware) == {2}  # layers 0 and 1 are freed whole: backprop stops at layer 2
    assert sum(len(v) for v in cost_aware.values()) == 4  # the budget is filled all the same


def test_with_importance_far_apart_cost_aware_keeps_the_important_lower_triplet() -> None:
    scores = {_module(layer, part): [1.0, 1.0] for layer in range(3) for part in "qv"}
    scores[_module(0, "q")] = [100.0, 1.0]
    keep = server_with_scores(scores, allocation="cost_aware", **EQUAL_COSTS).select(4)
    assert 0 in keep[_module(0, "q")]  # worth far more than the step time it costs
    assert sum(len(v) for v in keep.values()) == 4


def test_expensive_lower_layers_are_freed_before_cheap_ones() -> None:
    # Same scores everywhere; only the costs differ: freeing layer 0 saves 10x what freeing layer 1 does.
    choice = cost_aware_choice(
        [(1.0, i, 0, m) for i, m in enumerate(["l0", "l1", "l2"])],
        {"l0": 0, "l1": 1, "l2": 2},
        budget=2,
        costs=StepCosts((10.0, 1.0, 1.0), base=1.0),
        weight=1.0,
    )
    assert [c[3] for c in choice] == ["l1", "l2"]
    # With weight 0 the cost is ignored: plain global order (ties to the earlier module).
    plain = cost_aware_choice(
        [(1.0, i, 0, m) for i, m in enumerate(["l0", "l1", "l2"])],
        {"l0": 0, "l1": 1, "l2": 2},
        budget=2,
        costs=StepCosts((10.0, 1.0, 1.0), base=1.0),
        weight=0.0,
    )
    assert [c[3] for c in plain] == ["l0", "l1"]


def _allocation_trace(rounds: int = 10, **params) -> str:
    """Digest of the active triplets after every round of a 6-layer server fed seeded random scores."""
    modules = [_module(layer, part) for layer in range(6) for part in ("query", "value")]
    server = FedARAServer(FedARAParams(r0=4, r_target=1.5, **params), total_rounds=rounds)
    initial = {}
    for m in modules:
        initial |= {f"{m}.P": torch.zeros(3, 4), f"{m}.lam": torch.zeros(4), f"{m}.Q": torch.zeros(4, 3)}
    server.initialize(initial | {"classifier.weight": torch.zeros(2, 3)})
    g = torch.Generator().manual_seed(7)
    trace = []
    for rnd in range(1, rounds + 1):
        c = server.params.server_score_smoothing
        for m in modules:
            n = len(server.ids[m])
            server.smoothed[m] = c * server.smoothed[m] + (1 - c) * torch.rand(n, generator=g) * 1e-10
        server._allocate(server.budget(rnd))
        trace.append({m: list(v) for m, v in server.active.items()})
    return hashlib.sha256(json.dumps(trace, sort_keys=True).encode()).hexdigest()[:16]


# Digests recorded with the allocation code as it was before cost-aware allocation existed.
BEFORE = {
    "default": "310b6c3b04eb0f19",
    "uniform": "4f3580a5154fb936",
    "no_pruning": "38268c2f3fffc727",
    "threshold": "0764be9be18ff93e",
    "revival": "cb6ae0ac040230fd",
}


def test_with_the_switch_off_every_allocation_is_exactly_what_it_was() -> None:
    assert _allocation_trace() == BEFORE["default"]
    assert _allocation_trace(allocation="global") == BEFORE["default"]
    assert _allocation_trace(allocation="uniform") == BEFORE["uniform"]
    assert _allocation_trace(prune_modules=False) == BEFORE["no_pruning"]
    assert _allocation_trace(module_prune_threshold=0.05) == BEFORE["threshold"]
    assert _allocation_trace(allow_revival=True) == BEFORE["revival"]
    # cost-aware with the cost ignored (weight 0) allocates as plain FedARA too
    costs = {"layer_backward_cost": [1.0] * 6, "step_base_cost": 1.0}
    assert _allocation_trace(allocation="cost_aware", cost_weight=0.0, **costs) == BEFORE["default"]
    # ... and with weight 1 it does not (otherwise the test above would prove nothing)
    assert _allocation_trace(allocation="cost_aware", **costs) != BEFORE["default"]


def test_cost_aware_settings_that_cannot_work_are_config_errors(write_config) -> None:
    def methods_error(**fedara) -> str:
        with pytest.raises(ConfigError) as exc:
            load_config(write_config({"methods": [{"method": "fedara", "r0": 4, "r_target": 1, **fedara}]}))
        return str(exc.value)

    assert "methods[0].allow_revival: must be false with allocation: cost_aware" in methods_error(
        allocation="cost_aware", allow_revival=True
    )
    assert "methods[0].prune_modules: must be true" in methods_error(allocation="cost_aware", prune_modules=False)
    assert "methods[0].step_base_cost: layer_backward_cost and step_base_cost are declared together" in methods_error(
        allocation="cost_aware", layer_backward_cost=[1.0, 1.0]
    )
    assert "methods[0].allocation: layer costs are used only by allocation: cost_aware" in methods_error(
        layer_backward_cost=[1.0, 1.0], step_base_cost=1.0
    )


def test_a_server_refuses_costs_that_do_not_cover_its_layers() -> None:
    scores = {_module(layer, "q"): [1.0] for layer in range(3)}
    with pytest.raises(ValueError, match="layer_backward_cost has 2 entries but modules reach layer 2"):
        server_with_scores(scores, allocation="cost_aware", layer_backward_cost=[1.0, 1.0], step_base_cost=1.0)
    with pytest.raises(ValueError, match="'classifier_proj' has none"):
        server_with_scores(
            {"classifier_proj": [1.0]}, allocation="cost_aware", layer_backward_cost=[1.0], step_base_cost=1.0
        )


def test_layer_numbers_come_from_the_first_numeric_part_of_a_module_name() -> None:
    assert layer_of("bert.encoder.layer.11.attention.self.query") == 11
    assert layer_of("transformer.h.3.attn.c_attn") == 3
    assert layer_of("model.layers.0.self_attn.qkv_proj") == 0
    assert layer_of("classifier") is None and layer_of("layer12x.dense") is None


# -- the measurement ----------------------------------------------------------------------------------


def test_per_layer_costs_are_differences_of_neighbouring_fastest_cuts_never_negative() -> None:
    # cuts 0, 1 and 2 (= head only, on a 2-layer model); cut 1 measured below cut 2 by noise
    got = _costs({0: 0.30, 1: 0.18, 2: 0.20}, [0, 1, 2], top=2, steps=3, rows=8)
    assert got.step_base_s == pytest.approx(0.20)
    assert got.layer_backward_s == pytest.approx([0.10, 0.0])
    # adapters only in layers 1 and 3: layers 1-2 are charged to layer 1, layer 0 costs nothing
    sparse = _costs({1: 0.5, 3: 0.3, 4: 0.2}, [1, 3, 4], top=4, steps=3, rows=8)
    assert sparse.layer_backward_s == pytest.approx([0.0, 0.2, 0.0, 0.1])


@pytest.fixture
def tiny_fedara():
    cfg = ModelConfig(tiny=TinyBertConfig(layers=2, hidden=32, heads=2, intermediate=64, vocab_size=200))
    resolved = resolve_model(cfg, 4, seed=0)
    params = FedARAParams(r0=4, r_target=1, allocation="cost_aware", calibration_steps=2)
    client = get_method("fedara").client_cls(params, seed=0)
    model = client.build(resolved.model)
    enc = resolved.tokenizer(["stocks fell on monday", "the team won the cup"] * 4, padding=True, return_tensors="pt")
    batch = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": torch.arange(8) % 4}
    return client, model, batch


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_calibration_times_each_cut_with_backprop_stopping_there_and_leaves_the_model_as_it_was(
    tiny_fedara, monkeypatch
) -> None:
    client, model, batch = tiny_fedara
    layers = model.bert.encoder.layer
    reached: list[set[int]] = []
    hooks = [layer.register_full_backward_hook(lambda *_, i=i: reached[-1].add(i)) for i, layer in enumerate(layers)]
    real_train = calibration.local_train

    def recording_train(*args, **kwargs):
        reached.append(set())
        return real_train(*args, **kwargs)

    monkeypatch.setattr(calibration, "local_train", recording_train)
    before = trainable_state(model)
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    result = client.calibrate(model, batch, TrainSettings(lr=0.1))
    for hook in hooks:
        hook.remove()

    # (1 warm-up + 2 timed) passes over the cuts 0, 1 and "head only"
    assert reached == [{0, 1}, {1}, set()] * 3
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    after = trainable_state(model)
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)

    assert result is not None and result["source"] == "measured" and result["steps_per_cut"] == 2
    costs = result["params"]
    assert len(costs["layer_backward_cost"]) == 2 and all(c >= 0 for c in costs["layer_backward_cost"])
    assert costs["step_base_cost"] > 0
    assert set(result["cut_step_s"]) == {"0", "1", "2"}


def test_no_calibration_when_costs_are_declared_or_allocation_is_not_cost_aware(tiny_fedara) -> None:
    _, model, batch = tiny_fedara
    for params in (
        FedARAParams(r0=4, r_target=1),
        FedARAParams(r0=4, r_target=1, allocation="cost_aware", layer_backward_cost=[1.0, 1.0], step_base_cost=1.0),
    ):
        client = get_method("fedara").client_cls(params, seed=0)
        assert client.calibrate(model, batch, TrainSettings()) is None


def test_a_run_measures_the_costs_once_records_them_and_a_resume_reuses_them(write_config, tmp_path: Path) -> None:
    fedara = {"method": "fedara", "r0": 4, "r_target": 1, "t_init": 1, "t_final": 1, "allocation": "cost_aware"}
    config = load_config(write_config({"federation": {"rounds": 4}, "methods": [fedara]}))
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, out=run_dir, progress=StopAfter("fedara", 2))
    first = json.loads((run_dir / "run.json").read_text())["methods"]["fedara"]
    assert first["params"]["layer_backward_cost"] is None  # the declared parameters, as the config gave them
    measured = first["calibration"]
    assert len(measured["params"]["layer_backward_cost"]) == 2 and measured["params"]["step_base_cost"] > 0
    assert measured["wall_s"] > 0 and isinstance(measured["window_flags"], list)  # measured in a profiler window

    run_experiment(config, resume=run_dir, progress=Progress(quiet=True))
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "complete"
    assert meta["methods"]["fedara"]["calibration"] == measured  # not measured again mid-run
    ranks = [r for r in (run_dir / "ranks.csv").read_text().splitlines()[1:] if r.startswith("fedara,4,")]
    assert sum(int(r.rsplit(",", 1)[1]) for r in ranks) == 4  # bT = r_target x 4 modules


def test_methods_without_calibration_leave_no_calibration_key_in_run_json(write_config, tmp_path: Path) -> None:
    config = load_config(write_config({"federation": {"rounds": 1}, "methods": [{"method": "lora", "r": 2}]}))
    run_dir, _ = run_experiment(config, out=tmp_path / "run", progress=Progress(quiet=True))
    assert "calibration" not in json.loads((run_dir / "run.json").read_text())["methods"]["lora"]
