"""Bad fleet files and runs: one clear error naming the file and the field, exit code 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgebench.cli import main
from edgebench.projection import ProjectionError, load_fleet
from tests.projection.helpers import fleet_dict, identical_clients, write_fleet, write_run


def _class(**updates: Any) -> dict[str, Any]:
    return {**fleet_dict()["classes"][0], **updates}


def _scaled(share: float | None = 0.5, count: int | None = None, **cost: Any) -> dict[str, Any]:
    base = {"scaled_from": "boards", "time_factor": 2.0, "power_factor": 0.5, "source": "spec sheet"}
    return _class(name="pis", profile="raspberry-pi-5", share=share, count=count, cost={**base, **cost})


CASES: dict[str, tuple[dict[str, Any], str]] = {
    "unknown top-level key": (fleet_dict(clinets=5), "clinets: unknown key; expected one of: name, clients"),
    "unknown nested key": (
        fleet_dict(classes=[_class(link={"uplink": 5})]),
        "classes[0].link.uplink: unknown key; expected one of: uplink_mbit_s",
    ),
    "shares do not sum to 1": (
        fleet_dict(classes=[_class(share=0.5), _scaled(share=0.3)]),
        "classes: shares must sum to 1 (got 0.8 = boards 0.5 + pis 0.3)",
    ),
    "negative time factor": (
        fleet_dict(classes=[_class(share=0.5), _scaled(time_factor=-2)]),
        "classes[1].cost.time_factor: expected greater than 0 (got -2)",
    ),
    "negative power factor": (
        fleet_dict(classes=[_class(share=0.5), _scaled(power_factor=-0.1)]),
        "classes[1].cost.power_factor: expected greater than 0 (got -0.1)",
    ),
    "scaled without a source": (
        fleet_dict(classes=[_class(share=0.5), _scaled(source="")]),
        "classes[1].cost: scaled_from needs source",
    ),
    "scaled from an unknown class": (
        fleet_dict(classes=[_class(share=0.5), _scaled(scaled_from="jetsons")]),
        "classes[1].cost.scaled_from: no class named 'jetsons'; have boards, pis",
    ),
    "neither measured nor scaled": (
        fleet_dict(classes=[_class(cost={"time_factor": 2.0})]),
        "classes[0].cost: give either measured: PROFILE or scaled_from: CLASS",
    ),
    "share and count mixed": (
        fleet_dict(classes=[_class(share=0.5), _scaled(share=None, count=10)]),
        "classes[1]: give share in every class or count in every class",
    ),
    "unknown profile": (
        fleet_dict(classes=[_class(profile="toaster")]),
        "classes[0].profile: unknown device profile 'toaster'",
    ),
    "negative link rate": (
        fleet_dict(classes=[_class(link={"uplink_mbit_s": -5})]),
        "classes[0].link.uplink_mbit_s.fixed: expected greater than or equal to 0 (got -5)",
    ),
    "availability above 1": (fleet_dict(availability=1.5), "availability.fixed: expected less than or equal to 1"),
    "random selection without clients_per_round": (
        fleet_dict(selection={"deadline_s": 10}),
        "selection.clients_per_round: required field is missing",
    ),
    "min_replies above clients_per_round": (
        fleet_dict(selection={"clients_per_round": 5, "min_replies": 6}),
        "selection.min_replies: must be <= clients_per_round (got 6 > 5)",
    ),
    "an infinite deadline": (
        fleet_dict(selection={"clients_per_round": 10, "deadline_s": float("inf")}),
        "selection.deadline_s: expected a finite number (got inf)",
    ),
    "NaN server time": (fleet_dict(server_s=float("nan")), "server_s: expected a finite number (got nan)"),
    "an infinite over-selection": (
        fleet_dict(selection={"clients_per_round": 10, "over_selection": float("inf")}),
        "selection.over_selection: expected a finite number (got inf)",
    ),
    "more clients per round than the fleet has": (
        fleet_dict(clients=50, selection={"clients_per_round": 60}),
        "selection.clients_per_round: must be <= the fleet's 50 clients (got 60)",
    ),
    "replay with over-selection": (
        fleet_dict(clients=4, selection={"scheme": "replay", "over_selection": 1.2}),
        "selection.over_selection: must be 1 with scheme replay (got 1.2)",
    ),
}


@pytest.mark.parametrize(("fleet", "expected"), CASES.values(), ids=list(CASES))
def test_a_bad_fleet_file_is_one_error_naming_file_and_field(tmp_path: Path, fleet: dict, expected: str) -> None:
    path = write_fleet(tmp_path / "fleet.yaml", fleet)
    with pytest.raises(ProjectionError) as caught:
        load_fleet(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert expected in message, message


def test_duplicate_keys_and_missing_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("seed: 1\nseed: 2\n")
    with pytest.raises(ProjectionError, match=r"fleet.yaml: duplicate key 'seed' at line 2"):
        load_fleet(path)
    with pytest.raises(ProjectionError, match="file not found"):
        load_fleet(tmp_path / "nope.yaml")


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_run(tmp_path / "run", methods={"lora": {"rounds": identical_clients(4, 2), "accuracy": [0.5, 0.6]}})


def _cli(tmp_path: Path, fleet: dict, runs: list[Path], capsys) -> tuple[int, str, Path]:
    path = write_fleet(tmp_path / "fleet.yaml", fleet)
    out = tmp_path / "out"
    code = main(["project", str(path), "--runs", *map(str, runs), "--out", str(out)])
    return code, capsys.readouterr().err, out


def test_cli_bad_fleet_file_exits_2_with_one_line_and_writes_nothing(tmp_path: Path, run_dir: Path, capsys) -> None:
    code, err, out = _cli(tmp_path, fleet_dict(classes=[_class(share=0.5), _scaled(time_factor=-1)]), [run_dir], capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        f"edgebench: error: {tmp_path / 'fleet.yaml'}: classes[1].cost.time_factor: expected greater than 0 (got -1)"
    ]
    assert not out.exists()
    assert {p.name for p in tmp_path.iterdir()} == {"fleet.yaml", "run"}, "no output, no temporary folder"


def test_cli_class_without_a_matching_run_exits_2_naming_the_field(tmp_path: Path, run_dir: Path, capsys) -> None:
    fleet = fleet_dict(classes=[_class(profile="jetson-orin-nano", cost={"measured": "jetson-orin-nano"})])
    code, err, out = _cli(tmp_path, fleet, [run_dir], capsys)
    assert code == 2
    assert err.strip() == (
        f"edgebench: error: {tmp_path / 'fleet.yaml'}: classes[0].cost.measured: no run given was measured on "
        "profile 'jetson-orin-nano' (runs measured on: x86-cpu)"
    )
    assert not out.exists()


def test_cli_unknown_method_and_missing_run_dir_exit_2(tmp_path: Path, run_dir: Path, capsys) -> None:
    code, err, _ = _cli(tmp_path, fleet_dict(methods=["fedara"]), [run_dir], capsys)
    assert code == 2 and "methods: no run given has method 'fedara'; have lora" in err
    code, err, _ = _cli(tmp_path, fleet_dict(), [tmp_path / "missing"], capsys)
    assert code == 2 and f"{tmp_path / 'missing'}: not a run directory" in err


def test_cli_refuses_an_output_folder_that_is_not_empty(tmp_path: Path, run_dir: Path, capsys) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    code, err, out = _cli(tmp_path, fleet_dict(), [run_dir], capsys)
    assert code == 2 and "--out: exists and is not an empty folder" in err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_replay_needs_the_runs_own_number_of_clients(tmp_path: Path, run_dir: Path, capsys) -> None:
    fleet = fleet_dict(clients=10, selection={"scheme": "replay"})
    code, err, _ = _cli(tmp_path, fleet, [run_dir], capsys)
    assert code == 2 and "classes[0].count: replay needs the run's own 4 clients" in err


def _edit_clients(run: Path, row: int, column: str, value: str) -> None:
    lines = (run / "clients.csv").read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[row + 1].split(",")
    cells[header.index(column)] = value
    lines[row + 1] = ",".join(cells)
    (run / "clients.csv").write_text("\n".join(lines) + "\n")


def test_runs_that_cannot_cost_a_fleet_exit_2_naming_run_file_and_field(tmp_path: Path, capsys) -> None:
    def fresh(name: str) -> Path:
        return write_run(tmp_path / name, methods={"lora": {"rounds": identical_clients(4, 2), "accuracy": [0.5, 0.6]}})

    no_rounds = fresh("no-rounds")
    (no_rounds / "rounds.csv").write_text((no_rounds / "rounds.csv").read_text().splitlines()[0] + "\n")
    negative = fresh("negative")
    _edit_clients(negative, 1, "total_s", "-5")
    infinite = fresh("infinite")
    _edit_clients(infinite, 2, "energy_j", "inf")
    not_a_mapping = fresh("list")
    (not_a_mapping / "run.json").write_text("[]")
    expected = {
        no_rounds: "rounds.csv: no round recorded",
        negative: "clients.csv total_s: expected a finite number >= 0 (got -5.0 for method lora, round 1, client 1)",
        infinite: "clients.csv energy_j: expected a finite number >= 0 (got inf for method lora, round 1, client 2)",
        not_a_mapping: "run.json: malformed",
    }
    for run, message in expected.items():
        code, err, out = _cli(tmp_path, fleet_dict(), [run], capsys)
        assert code == 2 and err.strip().startswith(f"edgebench: error: {run}: {message}"), err
        assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_runs_pooled_under_one_method_label_must_move_the_same_bytes(tmp_path: Path, capsys) -> None:
    """Pooling an fp16-wire run with an fp32 one would mix their byte counts: refused; another seed is fine."""
    runs = [
        write_run(tmp_path / name, methods={"lora": {"rounds": identical_clients(4, 2), "accuracy": [0.5, 0.6]}})
        for name in ("fp32", "fp16", "seed1")
    ]
    for run, key, value in ((runs[1], "federation", "float16"), (runs[2], "seed", 1)):
        meta = json.loads((run / "run.json").read_text())
        if key == "federation":
            meta["config"]["federation"]["wire_dtype"] = value
        else:
            meta["config"]["seed"] = value
        (run / "run.json").write_text(json.dumps(meta))
    code, err, _ = _cli(tmp_path, fleet_dict(), [runs[0], runs[1]], capsys)
    assert code == 2
    assert f"{runs[1]}: run.json config.federation.wire_dtype: 'float16' here but 'float32' in {runs[0]}" in err
    code, _, _ = _cli(tmp_path, fleet_dict(), [runs[0], runs[2]], capsys)
    assert code == 0
