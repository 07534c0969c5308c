"""Closed forms the projection must reproduce exactly, on runs of identical clients."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from edgebench.projection import load_runs, parse_fleet, project
from tests.projection.helpers import fleet_dict, identical_clients, write_run

TOTAL_S, ENERGY_J, NBYTES = 10.0, 50.0, 1_000_000


@pytest.fixture
def runs(tmp_path: Path):
    run = write_run(
        tmp_path / "run",
        methods={"lora": {"rounds": identical_clients(4, 2), "accuracy": [0.5, 0.7]}},
    )
    return load_runs([run])


def _project(runs, tmp_path: Path, **updates) -> pd.DataFrame:
    fleet = parse_fleet(fleet_dict(**updates), tmp_path / "fleet.yaml")
    return project(fleet, runs).rounds


def _with_link(**link) -> list[dict]:
    cls = fleet_dict()["classes"][0]
    return [{**cls, "link": {**cls["link"], **link}}]


def test_identical_clients_round_time_is_one_clients_time_plus_link_time(runs, tmp_path: Path) -> None:
    rounds = _project(runs, tmp_path, server_s=3.0, classes=_with_link(latency_s=0.05))
    link_s = (0.05 + NBYTES * 8 / 100e6) + (0.05 + NBYTES * 8 / 10e6)
    assert list(rounds["close_s"]) == pytest.approx([TOTAL_S + link_s] * 2, rel=1e-12)
    assert list(rounds["round_s"]) == pytest.approx([TOTAL_S + link_s + 3.0] * 2, rel=1e-12)
    assert (rounds["clients_selected"] == 10).all() and (rounds["clients_completed"] == 10).all()
    # identical clients finish together: nobody waits, so idle-wait energy is zero
    assert (rounds["idle_energy_j"] == 0).all()
    assert list(rounds["bytes_up"]) == [10 * NBYTES] * 2
    assert list(rounds["compute_energy_j"]) == pytest.approx([10 * ENERGY_J] * 2)
    radio_j = 10 * ((NBYTES * 8 / 10e6 + 0.05) * 0.5 + (NBYTES * 8 / 100e6 + 0.05) * 0.5)  # x86-cpu: 0.5 W each way
    assert list(rounds["radio_energy_j"]) == pytest.approx([radio_j] * 2)
    assert list(rounds["accuracy"]) == [0.5, 0.7]


def test_doubling_every_uplink_halves_upload_time(runs, tmp_path: Path) -> None:
    down_s = NBYTES * 8 / 100e6
    base = _project(runs, tmp_path, classes=_with_link(uplink_mbit_s=10))
    doubled = _project(runs, tmp_path, classes=_with_link(uplink_mbit_s=20))
    upload = base["close_s"] - TOTAL_S - down_s
    upload_doubled = doubled["close_s"] - TOTAL_S - down_s
    assert list(upload) == pytest.approx([NBYTES * 8 / 10e6] * 2, rel=1e-9)
    assert list(upload_doubled) == pytest.approx(list(upload / 2), rel=1e-9)


def test_doubling_a_lognormal_uplink_median_halves_every_clients_upload_time(runs, tmp_path: Path) -> None:
    """Same seed, same draws: a distribution's median doubled doubles every client's rate."""
    down_s = NBYTES * 8 / 100e6
    slow = _project(runs, tmp_path, classes=_with_link(uplink_mbit_s={"lognormal": {"median": 10, "sigma": 0.7}}))
    fast = _project(runs, tmp_path, classes=_with_link(uplink_mbit_s={"lognormal": {"median": 20, "sigma": 0.7}}))
    # the slowest kept client decides the round: its upload time halves
    assert list(fast["client_s_max"] - TOTAL_S - down_s) == pytest.approx(
        list((slow["client_s_max"] - TOTAL_S - down_s) / 2), rel=1e-9
    )


def test_a_deadline_shorter_than_every_client_fails_every_round_visibly(runs, tmp_path: Path) -> None:
    fleet = parse_fleet(
        fleet_dict(
            rounds=3,
            target_accuracy=0.6,
            selection={"clients_per_round": 10, "deadline_s": 5.0, "min_replies": 8},
        ),
        tmp_path / "fleet.yaml",
    )
    out = project(fleet, runs)
    rounds = out.rounds
    assert (rounds["clients_completed"] == 0).all() and (rounds["clients_dropped"] == 10).all()
    assert list(rounds["status"]) == ["failed: 0 replies < min_replies 8"] * 3
    assert (rounds["close_s"] == 5.0).all()
    assert list(rounds["model_round"]) == [1, 1, 1], "a failed round does not advance the model"
    assert rounds["accuracy"].isna().all()
    # dropped clients still spent their bytes and energy
    assert (rounds["bytes_down"] == 10 * NBYTES).all()
    assert list(rounds["dropped_energy_j"]) == pytest.approx(
        list(rounds["compute_energy_j"] + rounds["radio_energy_j"])
    )
    summary = out.summary.iloc[0]
    assert summary["rounds_failed"] == 3 and summary["model_rounds"] == 0
    assert math.isnan(summary["target_round"]) and math.isnan(summary["time_to_target_s"])


def test_over_selection_keeps_the_fastest_replies_and_closes_at_the_last_kept_one(tmp_path: Path) -> None:
    slow = [{"client_id": i, "total_s": 10.0 + i, "energy_j": 1.0, "bytes_down": 8, "bytes_up": 8} for i in range(4)]
    runs = load_runs([write_run(tmp_path / "run", methods={"lora": {"rounds": [slow], "accuracy": [0.5]}})])
    fleet = parse_fleet(fleet_dict(selection={"clients_per_round": 10, "over_selection": 1.5}), tmp_path / "fleet.yaml")
    out = project(fleet, runs)
    row = out.rounds.iloc[0]
    assert row["clients_selected"] == 15 and row["clients_completed"] == 10 and row["clients_dropped"] == 5
    assert row["close_s"] == pytest.approx(row["client_s_max"])
    # kept clients waited for the last kept reply at the fleet file's 2 W idle power
    assert row["idle_energy_j"] > 0


def test_a_deadline_between_client_times_keeps_those_in_time_and_closes_at_the_deadline(tmp_path: Path) -> None:
    mixed = [
        {"client_id": i, "total_s": t, "energy_j": 1.0, "bytes_down": 8, "bytes_up": 8}
        for i, t in enumerate((1, 1, 100, 100))
    ]
    runs = load_runs([write_run(tmp_path / "run", methods={"lora": {"rounds": [mixed], "accuracy": [0.5]}})])
    fleet = parse_fleet(
        fleet_dict(seed=3, selection={"clients_per_round": 10, "deadline_s": 50.0}), tmp_path / "f.yaml"
    )
    row = project(fleet, runs).rounds.iloc[0]
    assert 0 < row["clients_completed"] < 10
    assert row["clients_completed"] + row["clients_dropped"] == 10
    assert row["close_s"] == 50.0 and row["status"] == "ok"
    assert row["client_s_max"] < 2
