"""Every method on every common architecture, end to end: two rounds on the CPU with default targets.

GPT-2 (Conv1D, fused c_attn), LLaMA (gated MLP, no pad token; run with gradient checkpointing) and DistilBERT
(targets not in PEFT's mapping, two-module head) run by default; the other architectures with `-m slow`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml

from edgebench.config import load_config
from edgebench.fl.engine import run_experiment
from edgebench.fl.progress import Progress
from tests.conftest import TINY_EXPERIMENT, deep_update
from tests.models.tiny_archs import EXPECTED_TARGETS, arch_params, save_tiny

METHODS = [
    {"method": "lora", "r": 2},
    {"method": "ffa_lora", "r": 2},
    {"method": "fedara", "r0": 4, "r_target": 1, "t_init": 0, "t_final": 0},
    {"method": "fedadalora", "r0": 4, "r_target": 2},
]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("name", arch_params(fast=("gpt2", "llama", "distilbert")))
def test_every_method_runs_two_rounds_with_the_architecture_s_default_targets(name, tmp_path: Path) -> None:
    checkpointing = name in ("llama", "mistral")
    folder = save_tiny(name, tmp_path / name)
    updates = {
        "model": {"name": str(folder), "gradient_checkpointing": checkpointing},
        "data": {"max_train_examples": 160, "max_test_examples": 48},
        "federation": {"rounds": 2},
        "methods": METHODS,
    }
    config = deep_update(TINY_EXPERIMENT, updates)
    config["model"].pop("tiny")  # shapes only tiny-bert
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    stream = io.StringIO()
    run_dir, summaries = run_experiment(
        load_config(path), out=tmp_path / "run", progress=Progress(stream=stream, interactive=False)
    )
    labels = [m["method"] for m in METHODS]
    assert [s.label for s in summaries] == labels and all(s.rounds_run == 2 for s in summaries)

    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "complete"
    model = meta["model"]
    assert model["target_modules"] == EXPECTED_TARGETS[name] and model["target_source"]
    assert model["architecture"].endswith("ForSequenceClassification")
    assert model["padding_side"] == "right" and model["gradient_checkpointing"] is checkpointing
    assert all(meta["methods"][label]["params"]["target_modules"] is None for label in labels)

    rounds = _rows(run_dir / "rounds.csv")
    assert sorted((r["method"], r["round"]) for r in rounds) == sorted((m, str(t)) for m in labels for t in (1, 2))
    clients = _rows(run_dir / "clients.csv")
    assert clients and {c["status"] for c in clients} == {"accepted"}
    ranks = _rows(run_dir / "ranks.csv")
    fedara_modules = {r["module"] for r in ranks if r["method"] == "fedara"}
    assert fedara_modules and all(m.rpartition(".")[2] in EXPECTED_TARGETS[name] for m in fedara_modules)
    final = sum(int(r["rank"]) for r in ranks if r["method"] == "fedara" and r["round"] == "2")
    assert final == len(fedara_modules)  # r_target 1: the budget shrank to one triplet per module

    printed = stream.getvalue()
    for label in labels:
        assert f"[{label}] model {folder} (" in printed
        assert f"target modules {', '.join(EXPECTED_TARGETS[name])} (" in printed
        assert f"[{label}] training memory estimate per client ~ " in printed
    assert ("gradient checkpointing)" in printed) is checkpointing
    assert printed.index("[lora] training memory estimate") < printed.index("[lora] round 1/2")
