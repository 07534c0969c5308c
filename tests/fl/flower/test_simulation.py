"""`edgebench run CONFIG --engine flower-sim`: Flower's simulation runtime (Ray), 2 virtual clients.

Slow (Ray starts in ~15 s and takes ~1.3 GiB): run with `pytest -m slow tests/fl/flower`. The run is a
subprocess in its own session with an environment tag that Ray's processes inherit; afterwards no
tagged process may be left (Ray shut down), and any straggler is ended by pid.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("flwr")
pytest.importorskip("ray")

from edgebench.config import load_config
from edgebench.fl.engine import run_experiment
from edgebench.fl.progress import Progress
from edgebench.results import CLIENT_COLUMNS, RANK_COLUMNS, ROUND_COLUMNS
from tests.conftest import deep_update
from tests.fl.flower.deploy import BIN, Processes

pytestmark = pytest.mark.slow


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


SMOKE = Path(__file__).resolve().parents[3] / "runners" / "configs" / "smoke.yaml"


def test_smoke_config_on_flower_simulation(tmp_path: Path) -> None:
    """runners/configs/smoke.yaml (all its methods) on 2 virtual clients, both sampled every round."""
    updates = {
        "federation": {"num_clients": 2, "clients_per_round": 2},
        "runtime": {"simulation": {"client_num_cpus": 1, "ray_init": {"num_cpus": 2}}},
    }
    config = tmp_path / "smoke-2-clients.yaml"
    config.write_text(yaml.safe_dump(deep_update(yaml.safe_load(SMOKE.read_text()), updates), sort_keys=False))
    methods = [m["method"] for m in yaml.safe_load(SMOKE.read_text())["methods"]]
    procs = Processes(tmp_path)
    run_dir = tmp_path / "sim"
    try:
        started = time.monotonic()
        argv = [str(BIN / "edgebench"), "run", str(config), "--engine", "flower-sim", "--out", str(run_dir), "--quiet"]
        result = procs.run("sim", argv, timeout_s=600)
        wall_s = time.monotonic() - started
        assert result.returncode == 0, procs.tail("sim", 80)
        left = procs.survivors(wait_s=30)  # Ray's actors exit asynchronously after ray.shutdown()
    finally:
        procs.stop()
    assert not left, f"Ray (or other) processes outlived the run: {left}"
    assert not procs.survivors(wait_s=0)

    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "complete"
    assert meta["runtime"]["engine"] == "flower-simulation" and meta["runtime"]["ray"]
    assert sorted(meta["runtime"]["nodes"]) == ["0", "1"]
    clients, rounds, ranks = (_rows(run_dir / f) for f in ("clients.csv", "rounds.csv", "ranks.csv"))
    assert list(clients[0]) == CLIENT_COLUMNS and list(rounds[0]) == ROUND_COLUMNS and list(ranks[0]) == RANK_COLUMNS
    assert [(r["method"], r["round"]) for r in rounds] == [(m, str(r)) for m in methods for r in (1, 2)]
    assert {c["status"] for c in clients} == {"accepted"} and len(clients) == len(methods) * 2 * 2

    inproc, _ = run_experiment(load_config(config), out=tmp_path / "inproc", progress=Progress(quiet=True))
    for a, b in zip(_rows(inproc / "rounds.csv"), rounds, strict=True):
        assert float(b["eval_accuracy"]) == pytest.approx(float(a["eval_accuracy"]), abs=1e-9)
        assert float(b["eval_loss"]) == pytest.approx(float(a["eval_loss"]), rel=1e-4)
        assert (a["bytes_down"], a["bytes_up"], a["active_rank"]) == (b["bytes_down"], b["bytes_up"], b["active_rank"])
    print(f"\nflower-sim wall time (with Ray start-up), {len(methods)} methods x 2 rounds x 2 clients: {wall_s:.0f} s")
