"""A fleet made of exactly a measured run's clients reproduces that run.

Always online, the run's own per-round selection (`scheme: replay`), no deadline, the run's own device
profile (whose link model the run used for its own `comm_*_est` columns): per-round bytes and compute
energy exactly, the slowest client's time within 1 %.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from edgebench.config import load_config
from edgebench.fl.engine import run_experiment
from edgebench.fl.progress import Progress
from edgebench.projection import load_runs, parse_fleet, project
from tests.conftest import TINY_EXPERIMENT, deep_update

REPO = Path(__file__).resolve().parents[2]
PAPER_QUICK_RUN = REPO / "benchmarks" / "results" / "paper_quick" / "runs" / "ag_news-a0.1-s0"


def replay_fleet(run_dir: Path, profile: str, clients: int) -> dict:
    return {
        "clients": clients,
        "selection": {"scheme": "replay"},
        "classes": [{"name": "run", "profile": profile, "share": 1.0, "cost": {"measured": profile}}],
    }


@pytest.fixture(scope="module")
def engine_run(tmp_path_factory) -> Path:
    """A real run of the in-process engine: tiny model, lora + ffa_lora, 2 rounds, CPU-time energy estimate."""
    tmp = tmp_path_factory.mktemp("engine")
    path = tmp / "exp.yaml"
    raw = deep_update(
        TINY_EXPERIMENT,
        {"device": {"name": "x86-cpu"}, "profiler": {"meters": ["estimate"]}, "federation": {"rounds": 2}},
    )
    path.write_text(yaml.safe_dump(raw))
    run_dir, _ = run_experiment(load_config(path), out=tmp / "run", progress=Progress(quiet=True))
    return run_dir


def _replay(run_dir: Path, tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    meta = yaml.safe_load((run_dir / "run.json").read_text())
    fleet = parse_fleet(
        replay_fleet(run_dir, meta["device"]["profile"], meta["config"]["federation"]["num_clients"]),
        tmp_path / "fleet.yaml",
    )
    projected = project(fleet, load_runs([run_dir])).rounds
    return projected, pd.read_csv(run_dir / "rounds.csv"), pd.read_csv(run_dir / "clients.csv")


def test_replaying_an_engine_run_reproduces_its_bytes_energy_and_client_times(engine_run: Path, tmp_path) -> None:
    projected, rounds, clients = _replay(engine_run, tmp_path)
    key = ["method", "round"]
    merged = projected.merge(rounds, on=key, suffixes=("", "_run"), validate="one_to_one")
    assert len(merged) == len(rounds) == 4
    assert (merged["status"] == "ok").all() and (merged["clients_dropped"] == 0).all()
    assert (merged["clients_selected"] == merged["clients"]).all()
    # bytes: exact
    assert (merged["bytes_down"] == merged["bytes_down_run"]).all()
    assert (merged["bytes_up"] == merged["bytes_up_run"]).all()
    # compute energy: the run's per-round energy (sum of its clients' estimates), to float rounding
    np.testing.assert_allclose(merged["compute_energy_j"], merged["energy_j_run"], rtol=1e-12)
    assert (merged["compute_energy_provenance"] == "estimated").all()
    # radio energy: the run's own estimate from the same profile's link model
    np.testing.assert_allclose(merged["radio_energy_j"], merged["comm_energy_est_j"], rtol=1e-9)
    # slowest client: its window plus the link time the run estimated for it
    per_round = clients.assign(with_link=clients["total_s"] + clients["comm_time_est_s"]).groupby(key)
    slowest = merged.join(per_round["with_link"].max(), on=key)
    np.testing.assert_allclose(slowest["client_s_max"], slowest["with_link"], rtol=1e-9)
    np.testing.assert_allclose(merged["accuracy"], merged["eval_accuracy"])


@pytest.mark.skipif(not PAPER_QUICK_RUN.is_dir(), reason="committed paper_quick run not present")
def test_replaying_the_committed_paper_quick_run_matches_its_client_time_maximum_within_1_percent(tmp_path) -> None:
    projected, rounds, clients = _replay(PAPER_QUICK_RUN, tmp_path)
    merged = projected.merge(rounds, on=["method", "round"], suffixes=("", "_run"), validate="one_to_one")
    assert len(merged) == 40
    assert (merged["bytes_down"] == merged["bytes_down_run"]).all() and (
        merged["bytes_up"] == merged["bytes_up_run"]
    ).all()
    np.testing.assert_allclose(merged["compute_energy_j"], merged["energy_j_run"], rtol=1e-12)
    slowest = clients.groupby(["method", "round"])["total_s"].max()
    ratio = merged.set_index(["method", "round"])["client_s_max"] / slowest
    assert ((ratio >= 1.0) & (ratio <= 1.01)).all(), ratio.describe()
