"""Benchmark 3: peak RSS when simulating 2, 20 and 100 clients (target: 100 clients <= 1.2 x 2 clients).

Each client count runs in its own child process (so peaks do not mix): tiny-bert by default, every
client sampled every round so that each one's method state exists, with `fedadalora` (which keeps a
rank pattern per client) and `fedara` with `client_ema_persist` (which keeps importance EMAs per
client). The parent reads the child's peak RSS from the kernel (ru_maxrss of the reaped child).

    python -m benchmarks.memory_scaling                    # 2, 20, 100 clients, tiny-bert
    python -m benchmarks.memory_scaling --model minilm-l6 --clients 2,20
    python -m benchmarks.memory_scaling --smoke            # 2 and 4 clients
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path


def child(num_clients: int, model: str, out: Path) -> None:
    from edgebench.config import parse_config
    from edgebench.fl.engine import run_experiment
    from edgebench.fl.progress import Progress

    raw = {
        "model": {"name": model},
        "data": {"dataset": "ag_news_sample", "max_test_examples": 32},
        "partition": {"scheme": "iid", "min_samples": 1},
        "federation": {
            "num_clients": num_clients,
            "clients_per_round": num_clients,
            "rounds": 2,
            "local_steps": 1,
            "batch_size": 8,
            "max_seq_len": 32,
            "eval_every": 2,
        },
        "methods": [
            {"method": "fedadalora", "r0": 8, "r_target": 2, "t_init_steps": 0, "t_final_steps": 0},
            {"method": "fedara", "r0": 8, "r_target": 2, "t_init": 0, "t_final": 0, "client_ema_persist": True},
        ],
        "output": {"checkpoint": True},
    }
    run_experiment(parse_config(raw, out / "mem.yaml"), out=out / "run", progress=Progress(quiet=True))


def peak_rss_bytes(num_clients: int, model: str) -> int:
    """Run one child and return its peak RSS in bytes (Linux ru_maxrss is in KiB)."""
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.memory_scaling",
                "--child",
                str(num_clients),
                "--model",
                model,
                "--tmp",
                tmp,
            ],
            check=True,
            timeout=3600,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if after <= before:
        raise RuntimeError("child peak not above an earlier child's; run each count in a fresh parent (--clients N)")
    return after * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="2,20,100")
    parser.add_argument("--model", default="tiny-bert")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tmp", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child, args.model, args.tmp)
        return 0
    counts = [2, 4] if args.smoke else [int(x) for x in args.clients.split(",")]
    # RUSAGE_CHILDREN's ru_maxrss is the maximum over every child ever reaped, so each count is
    # measured from its own fresh parent interpreter.
    results = []
    for n in counts:
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                f"from benchmarks.memory_scaling import peak_rss_bytes; print(peak_rss_bytes({n}, {args.model!r}))",
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        results.append({"clients": n, "peak_rss_bytes": int(out.stdout.strip().splitlines()[-1])})
    base = results[0]["peak_rss_bytes"]
    for r in results:
        r["vs_first"] = r["peak_rss_bytes"] / base
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"model={args.model}; peak RSS of one child process per client count (target: last <= 1.2 x first)")
        for r in results:
            print(f"{r['clients']:5d} clients  {r['peak_rss_bytes'] / 2**20:8.1f} MiB  {r['vs_first']:.3f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
