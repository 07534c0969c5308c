"""Benchmark 2: engine overhead = round wall time / sum of the round's client windows (target <= 1.05).

The difference is everything the engine does outside client work: sampling, server-side encoding of
every downlink, decoding every uplink, aggregation (and FedARA's allocation), row writing. Global
evaluation is excluded from `round_s` by the results contract, so it is not counted here.

    python -m benchmarks.engine_overhead --model tiny-bert
    python -m benchmarks.engine_overhead --model minilm-l6 --rounds 3
    python -m benchmarks.engine_overhead --smoke
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import pandas as pd

from edgebench.config import parse_config
from edgebench.fl.engine import run_experiment
from edgebench.fl.progress import Progress


def measure(model: str, rounds: int, clients: int, local_steps: int, out: Path) -> pd.DataFrame:
    raw = {
        "model": {"name": model},
        "data": {"dataset": "ag_news_sample", "max_test_examples": 64},
        "partition": {"scheme": "iid"},
        "federation": {
            "num_clients": clients,
            "clients_per_round": clients,
            "rounds": rounds,
            "local_steps": local_steps,
            "batch_size": 16,
            "max_seq_len": 64,
            "eval_every": rounds,
        },
        "methods": [
            {"method": "lora", "r": 8},
            {"method": "fedara", "r0": 8, "r_target": 2, "t_init": 0, "t_final": 0},
        ],
    }
    run_dir, _ = run_experiment(
        parse_config(raw, out / "overhead.yaml"), out=out / "run", progress=Progress(quiet=True)
    )
    client_rows = pd.read_csv(run_dir / "clients.csv")
    round_rows = pd.read_csv(run_dir / "rounds.csv")
    windows = client_rows.groupby(["method", "round"])["total_s"].sum().rename("client_windows_s")
    table = round_rows.set_index(["method", "round"])[["round_s"]].join(windows)
    table["ratio"] = table["round_s"] / table["client_windows_s"]
    return table.reset_index()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny-bert")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--local-steps", type=int, default=10)
    parser.add_argument("--smoke", action="store_true", help="tiny-bert, 2 rounds, 2 clients, 2 steps")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        args.model, args.rounds, args.clients, args.local_steps = "tiny-bert", 2, 2, 2
    with tempfile.TemporaryDirectory() as tmp:
        table = measure(args.model, args.rounds, args.clients, args.local_steps, Path(tmp))
    summary = table.groupby("method")["ratio"].agg(["median", "min", "max", "count"]).reset_index()
    if args.json:
        print(json.dumps({"rounds": table.to_dict("records"), "summary": summary.to_dict("records")}, indent=2))
    else:
        print(f"model={args.model} rounds={args.rounds} clients/round={args.clients} local_steps={args.local_steps}")
        print(table.to_string(index=False, float_format="{:.4f}".format))
        print("round_s / sum(client total_s), per method (target <= 1.05):")
        print(summary.to_string(index=False, float_format="{:.4f}".format))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
