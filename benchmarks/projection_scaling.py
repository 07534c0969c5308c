"""Benchmark: how `edgebench project` time grows with fleet size and rounds.

The headline case is the issue's: 100,000 clients, 1,000 selected per round (x1.3 over-selection), 500
rounds, two methods, a three-class fleet with log-normal links, a daily availability cycle and a deadline
(target: at most 10 s and 1 GiB on a 2-core machine). The measured runs are synthetic (two methods, 20
measured rounds of 10 clients, so rounds past 20 are extrapolated, as they would be in practice); their
numbers do not matter for the timing. Times are of projecting (numpy) plus writing the CSV files, best of
`--repeat`; the ratios printed are between cases timed in this one process.

    python -m benchmarks.projection_scaling                 # the grid and the headline case
    python -m benchmarks.projection_scaling --smoke         # seconds: tiny sizes, for the test suite
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgebench.projection import load_runs, parse_fleet, project
from edgebench.projection.writer import write_projection
from edgebench.results import CLIENT_COLUMNS, RANK_COLUMNS, ROUND_COLUMNS

MEASURED_ROUNDS, MEASURED_CLIENTS = 20, 10


def write_synthetic_run(path: Path, seed: int = 0) -> Path:
    """A run directory on the x86-cpu profile: methods `fedara` and `lora`, measured energy, 20 rounds."""
    import csv

    rng = np.random.default_rng(seed)
    path.mkdir(parents=True)
    clients, rounds = [], []
    for method, nbytes in (("fedara", 300_000), ("lora", 450_000)):
        for rnd in range(1, MEASURED_ROUNDS + 1):
            for cid in range(MEASURED_CLIENTS):
                total_s = float(rng.lognormal(np.log(10.0), 0.3))
                clients.append(
                    {
                        "method": method,
                        "round": rnd,
                        "client_id": cid,
                        "total_s": total_s,
                        "energy_j": 12.0 * total_s,
                        "energy_provenance": "measured-counter: synthetic",
                        "bytes_down": nbytes,
                        "bytes_up": nbytes,
                        "peak_rss_bytes": 2**30,
                        "status": "accepted",
                    }
                )
            rounds.append({"method": method, "round": rnd, "eval_accuracy": min(0.9, 0.3 + 0.03 * rnd)})
    for name, columns, rows in (
        ("clients.csv", CLIENT_COLUMNS, clients),
        ("rounds.csv", ROUND_COLUMNS, rounds),
        ("ranks.csv", RANK_COLUMNS, []),
    ):
        with (path / name).open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(columns))
            writer.writeheader()
            writer.writerows([{k: row.get(k, "") for k in columns} for row in rows])
    meta = {
        "status": "complete",
        "config_file": None,
        "config_hash": "0" * 64,
        "config": {"federation": {"num_clients": MEASURED_CLIENTS}},
        "run_dir": str(path),
        "device": {"name": "x86-cpu", "profile": "x86-cpu"},
        "methods": {},
    }
    (path / "run.json").write_text(json.dumps(meta))
    return path


def fleet(clients: int, per_round: int, rounds: int) -> dict[str, Any]:
    def scaled(name: str, profile: str, time_factor: float) -> dict[str, Any]:
        return {
            "name": name,
            "profile": profile,
            "share": 0.35,
            "cost": {"scaled_from": "laptop", "time_factor": time_factor, "power_factor": 0.7, "source": "benchmark"},
            "link": {"uplink_mbit_s": {"lognormal": {"median": 10, "sigma": 0.8}}, "source": "benchmark"},
            "idle_power_w": 3.0,
        }

    return {
        "clients": clients,
        "rounds": rounds,
        "target_accuracy": 0.8,
        "availability": {"daily": {"low": 0.3, "high": 0.9, "peak_hour": 20}},
        "selection": {
            "clients_per_round": per_round,
            "over_selection": 1.3,
            "deadline_s": 30,
            "min_replies": max(1, per_round // 2),
        },
        "classes": [
            {
                "name": "laptop",
                "profile": "x86-cpu",
                "share": 0.3,
                "cost": {"measured": "x86-cpu"},
                "link": {"uplink_mbit_s": {"lognormal": {"median": 20, "sigma": 0.8}}, "source": "benchmark"},
                "idle_power_w": 6.0,
            },
            scaled("jetson", "jetson-orin-nano", 0.5),
            scaled("pi", "raspberry-pi-5", 2.0),
        ],
    }


def time_case(runs, folder: Path, clients: int, per_round: int, rounds: int, repeat: int) -> dict[str, Any]:
    """Best-of-`repeat` seconds to project and to write the CSVs, for one fleet size and round count."""
    spec = parse_fleet(fleet(clients, per_round, rounds), folder / "fleet.yaml")
    best_project, best_total = float("inf"), float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        projection = project(spec, runs)
        projected = time.perf_counter()
        write_projection(Path(tempfile.mkdtemp(dir=folder)) / "out", projection, spec, runs)
        end = time.perf_counter()
        best_project = min(best_project, projected - start)
        best_total = min(best_total, end - start)
    return {
        "clients": clients,
        "per_round": per_round,
        "rounds": rounds,
        "methods": 2,
        "project_s": round(best_project, 3),
        "project_and_write_s": round(best_total, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds")
    parser.add_argument("--repeat", type=int, default=3, help="timings per case (best is kept)")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.smoke:
        sizes, round_counts, per_round, headline, repeat = (1_000, 10_000), (5, 10), 50, (10_000, 50, 10), 1
    else:
        sizes, round_counts, per_round, headline, repeat = (
            (10_000, 100_000, 1_000_000),
            (100, 250, 500),
            1_000,
            (100_000, 1_000, 500),
            args.repeat,
        )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs = load_runs([write_synthetic_run(folder / "run")])
        by_size = [time_case(runs, folder, n, per_round, round_counts[0], repeat) for n in sizes]
        by_rounds = [time_case(runs, folder, sizes[0], per_round, r, repeat) for r in round_counts]
        head = time_case(runs, folder, *headline, repeat)
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "by_fleet_size": by_size,
        "by_rounds": by_rounds,
        "headline": head,
        "ratios": {
            f"time x{sizes[-1] // sizes[0]} clients": round(by_size[-1]["project_s"] / by_size[0]["project_s"], 2),
            f"time x{round_counts[-1] // round_counts[0]} rounds": round(
                by_rounds[-1]["project_s"] / by_rounds[0]["project_s"], 2
            ),
        },
        "process_peak_rss_mib": round(peak_rss_mib, 1),
    }
    for row in [*by_size, *by_rounds]:
        print(
            f"{row['clients']:>9} clients x {row['rounds']:>4} rounds ({row['per_round']} per round, 2 methods): "
            f"project {row['project_s']:.3f} s, + write {row['project_and_write_s']:.3f} s"
        )
    print(
        f"headline {head['clients']} clients, {head['per_round']} per round, {head['rounds']} rounds, 2 methods: "
        f"project {head['project_s']:.3f} s, with CSVs {head['project_and_write_s']:.3f} s; "
        f"process peak RSS {result['process_peak_rss_mib']:.0f} MiB"
    )
    for name, ratio in result["ratios"].items():
        print(f"ratio: {name}: {ratio}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
