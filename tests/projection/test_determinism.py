"""The same seed gives identical outputs; a different seed changes only what is sampled."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from edgebench.projection import run_projection
from tests.projection.helpers import fleet_dict, write_fleet, write_run

SAMPLED = ["compute_energy_j", "close_s", "clients_online"]
FIXED_BY_FLEET = ["round", "model_round", "clients_selected", "bytes_down", "bytes_up", "accuracy", "status"]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """Clients that differ in time and energy (so that which measurement is drawn shows), same bytes."""
    clients = [
        [
            {
                "client_id": i,
                "total_s": 5.0 + 3 * i + rnd,
                "energy_j": 20.0 + 7 * i,
                "bytes_down": 1000,
                "bytes_up": 900,
            }
            for i in range(4)
        ]
        for rnd in range(3)
    ]
    return write_run(tmp_path / "run", methods={"lora": {"rounds": clients, "accuracy": [0.4, 0.5, 0.6]}})


def _fleet(seed: int) -> dict:
    cls = fleet_dict()["classes"][0]
    link = {"uplink_mbit_s": {"lognormal": {"median": 10, "sigma": 0.8}}, "downlink_mbit_s": 50, "source": "test"}
    return fleet_dict(seed=seed, availability=0.8, classes=[{**cls, "link": link}])


def _run(tmp_path: Path, run_dir: Path, seed: int, name: str) -> Path:
    fleet = write_fleet(tmp_path / f"{name}.yaml", _fleet(seed))
    return run_projection(fleet, [run_dir], tmp_path / name, figures=False).out


def test_the_same_seed_gives_byte_identical_tables(tmp_path: Path, run_dir: Path) -> None:
    first, second = _run(tmp_path, run_dir, 1, "a"), _run(tmp_path, run_dir, 1, "b")
    for name in ("rounds.csv", "classes.csv", "summary.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_a_different_seed_changes_only_what_is_sampled(tmp_path: Path, run_dir: Path) -> None:
    one = pd.read_csv(_run(tmp_path, run_dir, 1, "a") / "rounds.csv")
    two = pd.read_csv(_run(tmp_path, run_dir, 2, "b") / "rounds.csv")
    pd.testing.assert_frame_equal(one[FIXED_BY_FLEET], two[FIXED_BY_FLEET])
    for col in SAMPLED:
        assert not one[col].equals(two[col]), f"{col} did not change with the seed"
