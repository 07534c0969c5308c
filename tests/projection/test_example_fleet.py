"""The shipped example fleet projects the committed quickstart run; the benchmark's smoke mode runs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from benchmarks import projection_scaling
from edgebench.cli import main
from edgebench.projection import load_fleet

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "runners" / "fleets" / "mixed-edge.yaml"
QUICKSTART_RUN = REPO / "benchmarks" / "results" / "fp16-wire" / "runs" / "quickstart-fp32"


def test_the_example_fleet_is_valid_and_every_guess_says_where_it_comes_from() -> None:
    fleet = load_fleet(EXAMPLE)
    assert {c.profile for c in fleet.classes} == {"x86-cpu", "jetson-orin-nano", "raspberry-pi-5"}
    assert sum(fleet.counts) == 10_000
    for cls in fleet.classes:
        assert cls.idle_source.startswith("rough"), cls.name
        if cls.cost.scaled:
            assert cls.cost.source.startswith("rough"), cls.name
    assert "ROUGH" in EXAMPLE.read_text(), "the file says plainly that its factors are rough"


@pytest.mark.skipif(not QUICKSTART_RUN.is_dir(), reason="committed quickstart run not present")
def test_the_example_fleet_projects_the_committed_quickstart_run(tmp_path: Path, capsys) -> None:
    out = tmp_path / "fleet"
    assert main(["project", str(EXAMPLE), "--runs", str(QUICKSTART_RUN), "--out", str(out)]) == 0
    assert "lora-r12: 12 rounds" in capsys.readouterr().out
    rounds = pd.read_csv(out / "rounds.csv")
    assert set(rounds["method"]) == {"fedara", "lora-r12", "lora-r4"} and len(rounds) == 36
    assert (rounds["clients_selected"] == 130).all()
    assert set(rounds["compute_energy_provenance"].str.split("; ").explode()) <= {"estimated", "scaled", "extrapolated"}
    assert rounds["energy_j"].notna().all() and (rounds["radio_energy_j"] > 0).all()
    classes = pd.read_csv(out / "classes.csv")
    assert set(classes["class"]) == {"laptop", "jetson-orin-nano", "raspberry-pi-5"}
    meta = json.loads((out / "projection.json").read_text())
    raw = yaml.safe_load(EXAMPLE.read_text())
    assert meta["fleet"]["classes"][1]["cost"] == raw["classes"][1]["cost"] | {"measured": None, "memory_factor": 1.0}
    summary = pd.read_csv(out / "summary.csv").set_index("method")
    measured = pd.read_csv(QUICKSTART_RUN / "rounds.csv")
    first = measured[measured["eval_accuracy"] >= 0.8].groupby("method")["round"].min()
    for method, model_round in first.items():
        assert summary.loc[method, "target_model_round"] == model_round


def test_the_scaling_benchmark_smoke_mode_runs(tmp_path: Path, capsys) -> None:
    assert projection_scaling.main(["--smoke", "--out", str(tmp_path / "scaling.json")]) == 0
    result = json.loads((tmp_path / "scaling.json").read_text())
    assert {"by_fleet_size", "by_rounds", "headline", "ratios"} <= set(result)
    assert "ratio: time x2 rounds" in capsys.readouterr().out
