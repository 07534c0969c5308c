"""Synthetic run directories that follow docs/results-contract.md, with hand-chosen numbers.

Two methods over four rounds, two clients (ids 0 and 1) per round:

* `lora` (fixed rank 8 on 4 modules): 1000 bytes down and up per client per round, train_s 1.0 / 2.0,
  energy 10 / 14 J (net 6 / 8 J), accuracy 0.50 0.60 0.70 0.72, no budget.
* `fedara`: bytes per client 800 600 400 400 (each way), train_s 0.8 / 1.2, energy 7 / 9 J (net 4 / 5 J),
  accuracy 0.55 0.65 0.74 0.75, ranks shrinking to 0 for modules m1 and m2, budget 32 24 16 12.

`acc_shift` adds to every accuracy (a second seed); `energy=None` leaves energy cells empty
(unavailable), `energy="estimated"` writes the same numbers with an estimated provenance.

Every client window also has an *estimated* link time of (bytes_down + bytes_up) / 10^6 s and radio energy
of half that in J, per-phase energy (download 0.5 J, train energy_j - 1.5 J, upload 1 J), and run.json
records test label counts with a majority-class rate of 30 %. `spec` adds or overrides methods (a label
mapped to METHODS-like entries, `params` included); `flags` sets `window_flags` per (label, round,
client_id); `clients` sets how many clients each round has (ids 0..n-1, cycling over the two profiles).
`engine` writes run.json `runtime.engine` (a Flower run; none: in-process); `statuses` sets a client's
`status` per (label, round, client_id), e.g. `dropout: ...` (its measurement cells are then empty and the
round counts it in `clients_dropped`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgebench.results import CLIENT_COLUMNS, RANK_COLUMNS, ROUND_COLUMNS

MODULES = ("enc.layer.0.query", "enc.layer.0.value", "enc.layer.1.query", "enc.layer.1.value")
MEASURED = "measured-counter: INA3221 VDD_IN rail, whole board"
ESTIMATED = "estimated: 4.5 W x CPU utilisation (device profile), whole board"
UNAVAILABLE = "unavailable: no energy meter configured"
MIB = 2**20

METHODS: dict[str, dict[str, Any]] = {
    "lora": {
        "registry": "lora",
        "bytes": [1000, 1000, 1000, 1000],
        "train_s": [1.0, 2.0],
        "energy_j": [10.0, 14.0],
        "energy_net_j": [6.0, 8.0],
        "rss_mib": [100, 120],
        "accel_mib": [300, 310],
        "accuracy": [0.50, 0.60, 0.70, 0.72],
        "ranks": {m: [8, 8, 8, 8] for m in MODULES},
        "budget": [None, None, None, None],
    },
    "fedara": {
        "registry": "fedara",
        "bytes": [800, 600, 400, 400],
        "train_s": [0.8, 1.2],
        "energy_j": [7.0, 9.0],
        "energy_net_j": [4.0, 5.0],
        "rss_mib": [90, 95],
        "accel_mib": [200, 220],
        "accuracy": [0.55, 0.65, 0.74, 0.75],
        "ranks": {
            MODULES[0]: [8, 6, 4, 4],
            MODULES[1]: [8, 4, 0, 0],
            MODULES[2]: [8, 2, 0, 0],
            MODULES[3]: [8, 8, 8, 8],
        },
        "budget": [32, 24, 16, 12],
    },
}
DOWNLOAD_S, UPLOAD_S = 0.1, 0.2
LABEL_COUNTS = {"World": 30, "Sports": 25, "Business": 25, "Sci/Tech": 20}


def _write_csv(path: Path, columns: Sequence[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})


def write_run(
    path: Path,
    *,
    seed: int = 0,
    device: str = "auto",
    hostname: str = "edge-a",
    status: str = "complete",
    methods: Sequence[str] = ("lora", "fedara"),
    rounds_done: dict[str, int] | None = None,
    acc_shift: float = 0.0,
    energy: str | None = "measured",
    net_energy: bool = True,
    accel: bool = True,
    empty: bool = False,
    spec: dict[str, dict[str, Any]] | None = None,
    flags: dict[tuple[str, int, int], str] | None = None,
    clients: int = 2,
    engine: str | None = None,
    statuses: dict[tuple[str, int, int], str] | None = None,
) -> Path:
    """Write one run directory; `rounds_done` limits a method's rounds (its status is then `running`)."""
    path.mkdir(parents=True, exist_ok=True)
    rounds_done = rounds_done or {}
    table = {**METHODS, **(spec or {})}
    flags = flags or {}
    client_rows: list[dict[str, Any]] = []
    rounds: list[dict[str, Any]] = []
    ranks: list[dict[str, Any]] = []
    meta_methods: dict[str, Any] = {}
    for label in methods:
        spec = table[label]
        done = rounds_done.get(label, 4)
        meta_methods[label] = {
            "method": spec["registry"],
            "summary": f"synthetic {label}",
            "params": spec.get("params", {"r": 8}),
            "trainable_parameters": 1234,
            "status": "complete" if done == 4 else "running",
        }
        for rnd in range(1, done + 1):
            rank_now = {m: r[rnd - 1] for m, r in spec["ranks"].items()}
            active_rank = sum(rank_now.values())
            active_modules = sum(1 for r in rank_now.values() if r > 0)
            round_clients = []
            for cid in range(clients):
                k = cid % 2
                e = spec["energy_j"][k] if energy else None
                link_s = 2 * spec["bytes"][rnd - 1] / 1e6
                row = {
                    "method": label,
                    "round": rnd,
                    "client_id": cid,
                    "num_examples": 10,
                    "num_steps": 2,
                    "download_s": DOWNLOAD_S,
                    "train_s": spec["train_s"][k],
                    "upload_s": UPLOAD_S,
                    "total_s": DOWNLOAD_S + spec["train_s"][k] + UPLOAD_S + 0.01,
                    "bytes_down": spec["bytes"][rnd - 1],
                    "bytes_up": spec["bytes"][rnd - 1],
                    "train_loss": 1.0 / rnd,
                    "energy_j": e,
                    "energy_provenance": {"measured": MEASURED, "estimated": ESTIMATED, None: UNAVAILABLE}[energy],
                    "power_avg_w": None if e is None else 5.0,
                    "peak_rss_bytes": spec["rss_mib"][k] * MIB,
                    "peak_accel_bytes": spec["accel_mib"][k] * MIB if accel else None,
                    "memory_provenance": "host measured-counter: VmHWM; accelerator "
                    + (
                        "measured-counter: torch.cuda.max_memory_allocated" if accel else "unavailable: CUDA not in use"
                    ),
                    "active_rank": active_rank,
                    "active_modules": active_modules,
                    "status": "accepted",
                    "energy_net_j": spec["energy_net_j"][k] if energy and net_energy else None,
                    "download_energy_j": 0.5 if e is not None else None,
                    "train_energy_j": e - 1.5 if e is not None else None,
                    "upload_energy_j": 1.0 if e is not None else None,
                    "comm_time_est_s": link_s,
                    "comm_energy_est_j": link_s / 2,
                    "window_flags": flags.get((label, rnd, cid)),
                }
                outcome = (statuses or {}).get((label, rnd, cid))
                if outcome is not None:  # a dropout or rejected reply: nothing measured, nothing aggregated
                    keep = ("method", "round", "client_id", "num_examples", "active_rank", "active_modules")
                    row = {k: (row[k] if k in keep else None) for k in row} | {"status": outcome}
                round_clients.append(row)
            client_rows += round_clients
            used = [c for c in round_clients if c["status"] == "accepted"]
            measured = all(c["energy_j"] is not None for c in used)
            rounds.append(
                {
                    "method": label,
                    "round": rnd,
                    "clients": clients,
                    "clients_rejected": sum(1 for c in round_clients if str(c["status"]).startswith("rejected")),
                    "bytes_down": sum(c["bytes_down"] for c in used),
                    "bytes_up": sum(c["bytes_up"] for c in used),
                    "round_s": 3.0,
                    "eval_s": 0.5,
                    "eval_accuracy": round(spec["accuracy"][rnd - 1] + acc_shift, 6),
                    "eval_loss": 1.0,
                    "eval_examples": 100,
                    "energy_j": sum(c["energy_j"] for c in used) if measured else None,
                    "energy_provenance": used[0]["energy_provenance"],
                    "active_rank": active_rank,
                    "active_modules": active_modules,
                    "budget": spec["budget"][rnd - 1],
                    "comm_time_est_s": sum(c["comm_time_est_s"] for c in used),
                    "comm_energy_est_j": sum(c["comm_energy_est_j"] for c in used),
                    "clients_dropped": sum(1 for c in round_clients if str(c["status"]).startswith("dropout"))
                    if engine
                    else None,
                }
            )
            ranks += [{"method": label, "round": rnd, "module": m, "rank": r} for m, r in rank_now.items()]
    extra = ["energy_net_j"] if net_energy else []
    _write_csv(path / "clients.csv", [*CLIENT_COLUMNS, *extra], [] if empty else client_rows)
    _write_csv(path / "rounds.csv", ROUND_COLUMNS, [] if empty else rounds)
    _write_csv(path / "ranks.csv", RANK_COLUMNS, [] if empty else ranks)
    meta = {
        "status": status,
        "started_at": "2026-01-01T00:00:00+00:00",
        "ended_at": "2026-01-01T00:10:00+00:00",
        "edgebench_version": "0.1.0",
        "git_commit": None,
        "config_file": "synthetic.yaml",
        "config_hash": "0" * 64,
        "config": {
            "model": {"name": "tiny-bert"},
            "data": {"dataset": "ag_news_sample"},
            "partition": {"scheme": "dirichlet", "alpha": 0.5},
            "federation": {"num_clients": clients, "clients_per_round": clients, "rounds": 4, "local_steps": 2},
            "profiler": {"enabled": True},
            "device": {"name": device},
            "output": {"dir": "runs"},
            "seed": seed,
            "methods": [
                {"method": table[m]["registry"], "name": m, **table[m].get("params", {"r": 8})} for m in methods
            ],
        },
        "packages": {"torch": "2.13.0"},
        "host": {
            "hostname": hostname,
            "os": "Linux",
            "machine": "aarch64",
            "cpu_model": "ARMv8",
            "board_model": None,
            "logical_cpus": 6,
            "physical_cpus": 6,
            "memory_total_bytes": 8 * 2**30,
            "cuda_available": accel,
            "cuda_devices": ["Orin"] if accel else [],
        },
        "device": {"name": device},
        "data": {
            "name": "synthetic",
            "label_names": list(LABEL_COUNTS),
            "train_examples": 400,
            "test_examples": sum(LABEL_COUNTS.values()),
            "test_label_counts": LABEL_COUNTS,
        },
        "methods": meta_methods,
    }
    if engine is not None:
        meta["runtime"] = {"engine": engine, "flwr": "1.42.0", "nodes": {}}
    (path / "run.json").write_text(json.dumps(meta, indent=2))
    return path
