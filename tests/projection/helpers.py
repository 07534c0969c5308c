"""Small run directories with hand-chosen numbers, and fleet files, for the projection tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from edgebench.results import CLIENT_COLUMNS, RANK_COLUMNS, ROUND_COLUMNS
from tests.report.synth import _write_csv

MEASURED = "measured-counter: test meter, whole board"
PROFILE = "x86-cpu"


def write_run(
    path: Path,
    *,
    methods: dict[str, dict[str, Any]],
    profile: str = PROFILE,
    num_clients: int = 4,
    idle_baseline: dict[str, Any] | None = None,
) -> Path:
    """One run directory. `methods[label]` has `rounds` (list, one entry per round) of client lists, each
    client a dict of clients.csv cells (`client_id`, `total_s`, `energy_j`, `bytes_down`, `bytes_up`, ...),
    and `accuracy` (one per round, None = not evaluated)."""
    path.mkdir(parents=True, exist_ok=True)
    clients: list[dict[str, Any]] = []
    rounds: list[dict[str, Any]] = []
    for label, spec in methods.items():
        for rnd, round_clients in enumerate(spec["rounds"], start=1):
            for cid, cell in enumerate(round_clients):
                clients.append(
                    {
                        "method": label,
                        "round": rnd,
                        "client_id": cell.get("client_id", cid),
                        "num_examples": 10,
                        "num_steps": 2,
                        "train_s": cell["total_s"],
                        "energy_provenance": MEASURED,
                        "peak_rss_bytes": 100 * 2**20,
                        "status": "accepted",
                        **cell,
                    }
                )
            mine = clients[-len(round_clients) :]
            rounds.append(
                {
                    "method": label,
                    "round": rnd,
                    "clients": len(mine),
                    "clients_rejected": 0,
                    "bytes_down": sum(c["bytes_down"] for c in mine),
                    "bytes_up": sum(c["bytes_up"] for c in mine),
                    "round_s": sum(c["total_s"] for c in mine),
                    "eval_accuracy": spec["accuracy"][rnd - 1],
                }
            )
    _write_csv(path / "clients.csv", CLIENT_COLUMNS, clients)
    _write_csv(path / "rounds.csv", ROUND_COLUMNS, rounds)
    _write_csv(path / "ranks.csv", RANK_COLUMNS, [])
    meta = {
        "status": "complete",
        "config_file": "test.yaml",
        "config_hash": "0" * 64,
        "config": {"federation": {"num_clients": num_clients}, "seed": 0},
        "run_dir": str(path),
        "device": {"name": profile, "profile": profile},
        "methods": {
            label: {"method": "lora", "summary": "test", "params": {}, "trainable_parameters": 1, "status": "complete"}
            for label in methods
        },
        "measurement": {"idle_baseline": idle_baseline},
    }
    (path / "run.json").write_text(json.dumps(meta))
    return path


def identical_clients(
    n: int, rounds: int, *, total_s: float = 10.0, energy_j: float = 50.0, nbytes: int = 1_000_000
) -> list[list[dict[str, Any]]]:
    """`rounds` rounds of `n` identical clients."""
    one = {"total_s": total_s, "energy_j": energy_j, "bytes_down": nbytes, "bytes_up": nbytes}
    return [[dict(one, client_id=i) for i in range(n)] for _ in range(rounds)]


def fleet_dict(**updates: Any) -> dict[str, Any]:
    """A valid one-class fleet over the x86-cpu runs: 1,000 clients, 10 per round, fixed 10/100 Mbit/s
    links without latency, always online, no deadline."""
    fleet: dict[str, Any] = {
        "clients": 1000,
        "seed": 0,
        "selection": {"clients_per_round": 10},
        "classes": [
            {
                "name": "boards",
                "profile": PROFILE,
                "share": 1.0,
                "cost": {"measured": PROFILE},
                "link": {"uplink_mbit_s": 10, "downlink_mbit_s": 100, "latency_s": 0, "source": "test"},
                "idle_power_w": 2.0,
                "idle_source": "test",
            }
        ],
    }
    fleet.update(updates)
    return fleet


def write_fleet(path: Path, fleet: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(fleet, sort_keys=False))
    return path
