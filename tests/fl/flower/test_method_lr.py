"""A method's own `lr` (config `methods[i].lr`) reaches the Flower client, as it does in-process."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

pytest.importorskip("flwr")

from edgebench.config import load_config
from edgebench.fl.engine import run_experiment
from edgebench.fl.flower import client_app
from edgebench.fl.flower.executor import SIMULATION
from edgebench.fl.flower.server_app import run_server
from edgebench.fl.progress import Progress
from tests.fl.flower.localgrid import LocalGrid


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_methods_own_lr_trains_the_flower_clients(flower_config, tmp_path: Path, monkeypatch) -> None:
    # federation.lr is 0.005 (tests/conftest.py); the method asks for 100x that.
    path = flower_config({"methods": [{"method": "lora", "r": 4, "lr": 0.5}], "federation": {"rounds": 1}})
    config = load_config(path)
    assert config.federation.lr != 0.5

    seen_lr: list[float] = []
    real_round = client_app.run_client_round

    def spy(client, model, downlink, batches, settings, *rest):
        seen_lr.append(settings.lr)
        return real_round(client, model, downlink, batches, settings, *rest)

    monkeypatch.setattr(client_app, "run_client_round", spy)
    inproc, _ = run_experiment(config, out=tmp_path / "inproc", progress=Progress(quiet=True))
    grid = LocalGrid(client_app.app, [{"partition-id": i, "num-partitions": 2} for i in range(2)])
    run_server(grid, config, tmp_path / "flower", runtime=SIMULATION, progress=Progress(quiet=True))

    assert seen_lr == [0.5, 0.5]  # both clients of the one round
    a_clients, b_clients = _rows(inproc / "clients.csv"), _rows(tmp_path / "flower" / "clients.csv")
    assert len(a_clients) == len(b_clients) == 2
    for a, b in zip(a_clients, b_clients, strict=True):
        assert float(b["train_loss"]) == pytest.approx(float(a["train_loss"]), rel=1e-5)
    (a_round,), (b_round,) = _rows(inproc / "rounds.csv"), _rows(tmp_path / "flower" / "rounds.csv")
    assert float(b_round["eval_loss"]) == pytest.approx(float(a_round["eval_loss"]), rel=1e-5)
