"""What a projection writes: documented columns, provenance, extrapolation, idle power, availability, figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from edgebench.cli import main
from edgebench.projection import load_runs, parse_fleet, project, run_projection
from edgebench.projection.columns import CLASS_COLUMNS, ROUND_COLUMNS, SUMMARY_COLUMNS
from edgebench.projection.doc_tables import main as doc_tables_main
from edgebench.projection.doc_tables import render
from tests.projection.helpers import fleet_dict, identical_clients, write_fleet, write_run
from tests.report.helpers import assert_valid_png

REPO = Path(__file__).resolve().parents[2]
CONTRACT = REPO / "docs" / "results-contract.md"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_run(
        tmp_path / "run",
        methods={
            "fedara": {"rounds": identical_clients(4, 2, nbytes=500_000), "accuracy": [0.5, 0.85]},
            "lora": {"rounds": identical_clients(4, 2, total_s=12.0), "accuracy": [0.6, 0.7]},
        },
    )


def _two_classes(**updates) -> dict:
    boards = {**fleet_dict()["classes"][0], "share": 0.6}
    pis = {
        "name": "pis",
        "profile": "raspberry-pi-5",
        "share": 0.4,
        "cost": {"scaled_from": "boards", "time_factor": 2.0, "power_factor": 0.5, "source": "test factors"},
        "idle_power_w": 3.0,
    }
    return fleet_dict(classes=[boards, pis], **updates)


def test_every_table_has_exactly_its_documented_columns_and_the_contract_is_current(tmp_path, run_dir) -> None:
    out = run_projection(write_fleet(tmp_path / "f.yaml", _two_classes()), [run_dir], tmp_path / "out").out
    for name, columns in (
        ("rounds.csv", ROUND_COLUMNS),
        ("classes.csv", CLASS_COLUMNS),
        ("summary.csv", SUMMARY_COLUMNS),
    ):
        assert list(pd.read_csv(out / name, nrows=0).columns) == [c.name for c in columns], name
    text = CONTRACT.read_text()
    assert text.count("<!-- projection columns: ") == 3
    assert render(text) == text, "run: python -m edgebench.projection.doc_tables docs/results-contract.md"
    assert doc_tables_main([str(CONTRACT), "--check"]) == 0


def test_scaled_classes_apply_their_factors_and_say_so(tmp_path, run_dir) -> None:
    fleet = parse_fleet(_two_classes(), tmp_path / "f.yaml")
    out = project(fleet, load_runs([run_dir]))
    classes = out.classes.set_index(["method", "round", "class"])
    boards, pis = classes.loc[("lora", 1, "boards")], classes.loc[("lora", 1, "pis")]
    assert boards["compute_s_mean"] == pytest.approx(12.0) and pis["compute_s_mean"] == pytest.approx(24.0)
    assert boards["compute_energy_j"] / boards["clients_selected"] == pytest.approx(50.0)
    assert pis["compute_energy_j"] / pis["clients_selected"] == pytest.approx(50.0 * 2.0 * 0.5)
    assert boards["compute_energy_provenance"] == "measured"
    assert pis["compute_energy_provenance"] == "measured; scaled"
    assert set(out.rounds["compute_energy_provenance"]) == {"measured; scaled"}
    assert set(out.rounds["time_provenance"]) == {"measured; scaled"}
    per_round = out.classes.groupby(["method", "round"])[["compute_energy_j", "bytes_up", "clients_selected"]].sum()
    rounds = out.rounds.set_index(["method", "round"])
    pd.testing.assert_frame_equal(per_round, rounds[per_round.columns], check_dtype=False)
    assert (rounds["energy_j"] == rounds["compute_energy_j"] + rounds["radio_energy_j"] + rounds["idle_energy_j"]).all()
    pis_meta = next(c for c in out.meta["classes"] if c["name"] == "pis")
    assert pis_meta["cost"] | {} == {
        "source_profile": "x86-cpu",
        "provenance": "scaled",
        "time_factor": 2.0,
        "power_factor": 0.5,
        "memory_factor": 1.0,
        "source": "test factors",
    }


def test_rounds_past_the_measured_ones_hold_the_last_costs_flagged_extrapolated(tmp_path, run_dir) -> None:
    fleet = parse_fleet(fleet_dict(rounds=4, target_accuracy=0.8), tmp_path / "f.yaml")
    out = project(fleet, load_runs([run_dir]))
    fedara = out.rounds[out.rounds["method"] == "fedara"]
    assert list(fedara["model_round"]) == [1, 2, 3, 4] and list(fedara["costs_round"]) == [1, 2, 2, 2]
    assert list(fedara["bytes_provenance"]) == ["exact", "exact", "exact; extrapolated", "exact; extrapolated"]
    assert fedara["compute_energy_provenance"].iloc[3] == "measured; extrapolated"
    assert fedara["accuracy"].iloc[:2].tolist() == [0.5, 0.85] and fedara["accuracy"].iloc[2:].isna().all()
    summary = out.summary.set_index("method")
    assert summary.loc["fedara", "rounds_extrapolated"] == 2
    assert summary.loc["fedara", "target_round"] == 2
    assert summary.loc["fedara", "time_to_target_s"] == pytest.approx(fedara["round_s"].iloc[:2].sum())
    assert summary.loc["fedara", "energy_to_target_j"] == pytest.approx(fedara["energy_j"].iloc[:2].sum())
    assert summary.loc["fedara", "bytes_up_to_target"] == fedara["bytes_up"].iloc[:2].sum()
    assert math.isnan(summary.loc["lora", "target_round"]), "lora never reaches 0.8"


def test_a_round_before_the_first_measured_one_is_costed_from_it_flagged_extrapolated(tmp_path) -> None:
    """The runs' clients on this profile start at round 2 (as on a Flower run that sampled none in round 1)."""
    late = [[dict(c, round=2) for c in clients] for clients in identical_clients(4, 2)]
    run = write_run(tmp_path / "run", methods={"lora": {"rounds": late, "accuracy": [0.5, 0.6]}})
    rounds = project(parse_fleet(fleet_dict(), tmp_path / "f.yaml"), load_runs([run])).rounds
    assert list(rounds["costs_round"]) == [2, 2]
    assert list(rounds["bytes_provenance"]) == ["exact; extrapolated", "exact"]
    assert rounds["compute_energy_provenance"].iloc[0] == "measured; extrapolated"


def test_without_idle_power_idle_wait_energy_is_unavailable_not_zero(tmp_path, run_dir) -> None:
    cls = {k: v for k, v in fleet_dict()["classes"][0].items() if k not in ("idle_power_w", "idle_source")}
    slow_and_fast = [
        [{"client_id": i, "total_s": 1.0 + i, "energy_j": 5.0, "bytes_down": 8, "bytes_up": 8} for i in range(4)]
    ]
    run = write_run(tmp_path / "mixed", methods={"lora": {"rounds": slow_and_fast, "accuracy": [0.5]}})
    out = project(parse_fleet(fleet_dict(classes=[cls]), tmp_path / "f.yaml"), load_runs([run]))
    row = out.rounds.iloc[0]
    assert math.isnan(row["idle_energy_j"]) and math.isnan(row["energy_j"])
    assert row["idle_energy_provenance"] == "unavailable: no idle power for boards"
    assert row["compute_energy_j"] == pytest.approx(50.0)


def test_a_measured_idle_baseline_of_the_run_is_used_for_its_own_class(tmp_path) -> None:
    baseline = {"power_w": 4.5, "source": "measured", "meter": "test", "scope": "board"}
    run = write_run(
        tmp_path / "run",
        methods={"lora": {"rounds": identical_clients(4, 1), "accuracy": [0.5]}},
        idle_baseline=baseline,
    )
    cls = {k: v for k, v in fleet_dict()["classes"][0].items() if k not in ("idle_power_w", "idle_source")}
    out = project(parse_fleet(fleet_dict(classes=[cls]), tmp_path / "f.yaml"), load_runs([run]))
    assert out.meta["classes"][0]["idle_power_w"] == 4.5
    assert out.meta["classes"][0]["idle_provenance"].startswith("measured: run.json idle_baseline")
    assert out.rounds.iloc[0]["idle_energy_provenance"] == "measured"


def test_unmeasured_client_energy_makes_the_round_energy_unavailable(tmp_path) -> None:
    clients = [
        [
            {"client_id": i, "total_s": 2.0, "energy_j": None if i == 0 else 5.0, "bytes_down": 8, "bytes_up": 8}
            for i in range(4)
        ]
    ]
    run = write_run(tmp_path / "run", methods={"lora": {"rounds": clients, "accuracy": [0.5]}})
    out = project(parse_fleet(fleet_dict(), tmp_path / "f.yaml"), load_runs([run]))
    row = out.rounds.iloc[0]
    assert math.isnan(row["compute_energy_j"])
    assert row["compute_energy_provenance"].startswith("unavailable: ")


def test_availability_limits_who_can_be_selected(tmp_path, run_dir) -> None:
    scarce = parse_fleet(fleet_dict(clients=20, availability=0.25, rounds=6), tmp_path / "f.yaml")
    rounds = project(scarce, load_runs([run_dir])).rounds
    assert (rounds["clients_selected"] == rounds["clients_online"].clip(upper=10)).all()
    assert rounds["clients_online"].max() < 20
    cycle = {"daily": {"low": 0.0, "high": 1.0, "peak_hour": 12}}
    night = parse_fleet(fleet_dict(availability=cycle, start_hour=0.0, rounds=2), tmp_path / "g.yaml")
    rounds = project(night, load_runs([run_dir])).rounds
    assert (rounds["clients_online"] == 0).all() and (rounds["status"] != "ok").all(), "nobody is online at midnight"


def test_cli_writes_tables_json_and_figures(tmp_path, run_dir, capsys) -> None:
    fleet = write_fleet(tmp_path / "f.yaml", _two_classes(target_accuracy=0.8))
    out = tmp_path / "out"
    assert main(["project", str(fleet), "--runs", str(run_dir), "--out", str(out), "--report"]) == 0
    printed = capsys.readouterr().out
    assert "fedara: 2 rounds (0 failed)" in printed and "target 0.8 reached at round 2" in printed
    assert f"projection: {out}" in printed
    meta = json.loads((out / "projection.json").read_text())
    assert meta["clients"] == 1000 and meta["seed"] == 0 and meta["runs"][0]["path"] == str(run_dir)
    assert [c["clients"] for c in meta["classes"]] == [600, 400]
    assert any("does not model how a larger" in line for line in meta["limits"])
    figures = {"time_to_accuracy", "energy_to_accuracy", "class_energy", "client_energy"}
    assert {Path(p).stem for p in meta["outputs"]["figures"]} == figures
    for stem in figures:
        assert_valid_png(out / "figures" / f"{stem}.png")
