"""Benchmark 4: the in-process engine against Flower's own Ray simulation, same workload, one script run.

Both engines run the same experiment file as a fresh process each,
``edgebench run CONFIG --engine {inprocess,flower-sim} --out DIR --quiet``, alternating which goes first
over ``--repeats``. Default workload: MiniLM-L6, bundled AG News sample, 10 clients all sampled every
round, 3 rounds x 4 local steps, LoRA r=8 and FedARA 8 -> 2. Flower's simulation gives each ClientApp a
Ray actor with ``--client-num-cpus`` CPUs (Flower's default 1), so on a 2-core machine two clients train
at once, each with its own copy of the model.

Measured by this script, per engine run:
  wall_s        process start to exit (imports, data, Ray start and shutdown included)
  rounds_s      sum over rounds.csv of round_s + eval_s (the federated loop itself)
  peak_pss      peak of the summed PSS (proportional set size: shared pages split between the processes
                that map them) over the child and every descendant (Ray's GCS, raylet, workers), sampled
                every --sample-s seconds; peak_rss is the same with RSS, which counts shared pages in
                every process that maps them
  accuracy      final accuracy per method, to check both engines computed the same thing

Without ``flwr[simulation]`` (``pip install -e .[flower-sim]``) only the in-process engine is measured and
the Flower side is reported as unavailable.

    python -m benchmarks.vs_flower --out benchmarks/results/vs_flower          # MiniLM-L6, 2 repeats
    python -m benchmarks.vs_flower --model tiny-bert --repeats 3
    python -m benchmarks.vs_flower --smoke --out DIR                            # tiny-bert, 4 clients, seconds
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import yaml

ENGINES = ("inprocess", "flower-sim")


def workload(model: str, clients: int, rounds: int, local_steps: int, client_num_cpus: float) -> dict[str, Any]:
    """The experiment both engines run (every client sampled every round)."""
    return {
        "model": {"name": model},
        "data": {"dataset": "ag_news_sample", "max_test_examples": 200},
        "partition": {"scheme": "dirichlet", "alpha": 0.5, "min_samples": 4},
        "federation": {
            "num_clients": clients,
            "clients_per_round": clients,
            "rounds": rounds,
            "local_steps": local_steps,
            "batch_size": 16,
            "lr": 0.01,
            "max_seq_len": 64,
        },
        "methods": [
            {"method": "lora", "r": 8},
            {"method": "fedara", "r0": 8, "r_target": 2, "t_init": 0, "t_final": 0},
        ],
        "runtime": {"simulation": {"client_num_cpus": client_num_cpus}},
        "output": {"checkpoint": False},
        "seed": 0,
    }


def flower_sim_available() -> str | None:
    """None when Flower's simulation runtime can run here, else why not."""
    missing = [name for name in ("flwr", "ray") if importlib.util.find_spec(name) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (pip install -e '.[flower-sim]')"
    return None


class TreeMemorySampler:
    """Samples the summed PSS and RSS of a process and all its descendants on a background thread."""

    def __init__(self, pid: int, interval_s: float) -> None:
        self.root = psutil.Process(pid)
        self.interval_s = interval_s
        self.peak_pss_bytes = 0
        self.peak_rss_bytes = 0
        self.peak_processes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TreeMemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        try:
            processes = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        pss = rss = alive = 0
        for proc in processes:
            try:
                info = proc.memory_full_info()
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
            pss += info.pss
            rss += info.rss
            alive += 1
        if alive:
            self.samples += 1
            self.peak_pss_bytes = max(self.peak_pss_bytes, pss)
            self.peak_rss_bytes = max(self.peak_rss_bytes, rss)
            self.peak_processes = max(self.peak_processes, alive)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)


def run_engine(engine: str, config: Path, run_dir: Path, sample_s: float, timeout_s: float) -> dict[str, Any]:
    """One engine run in a fresh process; returns what this script measured about it."""
    argv = [sys.executable, "-m", "edgebench.cli", "run", str(config), "--engine", engine]
    argv += ["--out", str(run_dir), "--quiet"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    with TreeMemorySampler(child.pid, sample_s) as sampler:
        try:
            output, _ = child.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            raise RuntimeError(f"{engine}: no result within {timeout_s:.0f} s") from None
    wall_s = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(f"{engine} exited with {child.returncode}:\n{output[-3000:]}")
    rounds = pd.read_csv(run_dir / "rounds.csv")
    accuracy = {
        method: float(group.sort_values("round")["eval_accuracy"].dropna().iloc[-1])
        for method, group in rounds.groupby("method", sort=False)
    }
    return {
        "engine": engine,
        "wall_s": wall_s,
        "rounds_s": float(rounds["round_s"].sum() + rounds["eval_s"].fillna(0).sum()),
        "peak_pss_bytes": sampler.peak_pss_bytes,
        "peak_rss_bytes": sampler.peak_rss_bytes,
        "peak_processes": sampler.peak_processes,
        "memory_samples": sampler.samples,
        "bytes_total": int(rounds["bytes_down"].sum() + rounds["bytes_up"].sum()),
        "final_accuracy": accuracy,
        "run_dir": str(run_dir),
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median (and range) per engine, and flower-sim / inprocess ratios of the medians."""
    per_engine: dict[str, dict[str, Any]] = {}
    for engine in ENGINES:
        mine = [r for r in runs if r["engine"] == engine]
        if not mine:
            continue
        per_engine[engine] = {"runs": len(mine)}
        for key in ("wall_s", "rounds_s", "peak_pss_bytes", "peak_rss_bytes"):
            values = [r[key] for r in mine]
            per_engine[engine][key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
        per_engine[engine]["peak_processes"] = max(r["peak_processes"] for r in mine)
    summary: dict[str, Any] = {"engines": per_engine}
    if len(per_engine) == 2:
        a, b = per_engine["inprocess"], per_engine["flower-sim"]
        summary["flower_sim_vs_inprocess"] = {
            key: b[key]["median"] / a[key]["median"]
            for key in ("wall_s", "rounds_s", "peak_pss_bytes", "peak_rss_bytes")
        }
        summary["same_results"] = all(
            r["final_accuracy"] == runs[0]["final_accuracy"] and r["bytes_total"] == runs[0]["bytes_total"]
            for r in runs
        )
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--local-steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2, help="runs per engine, alternating which goes first")
    parser.add_argument("--client-num-cpus", type=float, default=1.0, help="Ray CPUs per ClientApp actor")
    parser.add_argument("--sample-s", type=float, default=0.2, help="memory sampling period")
    parser.add_argument("--timeout-s", type=float, default=3600.0, help="per engine run")
    parser.add_argument("--smoke", action="store_true", help="tiny-bert, 4 clients, 2 rounds, 1 step, 1 repeat")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.smoke:
        args.model, args.clients, args.rounds, args.local_steps, args.repeats = "tiny-bert", 4, 2, 1, 1

    unavailable = flower_sim_available()
    engines = [e for e in ENGINES if not (e == "flower-sim" and unavailable)]
    args.out.mkdir(parents=True, exist_ok=True)
    config = args.out / "workload.yaml"
    spec = workload(args.model, args.clients, args.rounds, args.local_steps, args.client_num_cpus)
    config.write_text(yaml.safe_dump(spec, sort_keys=False))
    runs = []
    for repeat in range(args.repeats):
        order = engines if repeat % 2 == 0 else engines[::-1]
        for engine in order:
            run_dir = args.out / "runs" / f"{engine}-{repeat}"
            if run_dir.exists():
                raise SystemExit(f"{run_dir} exists: use a fresh --out")
            result = run_engine(engine, config, run_dir, args.sample_s, args.timeout_s)
            result["repeat"] = repeat
            runs.append(result)
            print(
                f"{engine:10s} repeat {repeat}: wall {result['wall_s']:7.1f} s  rounds {result['rounds_s']:7.1f} s  "
                f"peak PSS {result['peak_pss_bytes'] / 2**20:7.0f} MiB  "
                f"peak RSS {result['peak_rss_bytes'] / 2**20:7.0f} MiB  "
                f"processes {result['peak_processes']}  accuracy {result['final_accuracy']}",
                flush=True,
            )
    summary = summarize(runs)
    report = {
        "workload": spec,
        "repeats": args.repeats,
        "sample_s": args.sample_s,
        "flower_sim": unavailable or "measured",
        "host": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "runs": runs,
        "summary": summary,
    }
    (args.out / "vs_flower.json").write_text(json.dumps(report, indent=2))
    if unavailable:
        print(f"flower-sim: unavailable: {unavailable}")
    else:
        ratios = summary["flower_sim_vs_inprocess"]
        print(
            "flower-sim / inprocess (medians): "
            + ", ".join(f"{key} {value:.2f}x" for key, value in ratios.items())
            + f"; same accuracies and bytes: {summary['same_results']}"
        )
    print(f"results: {args.out / 'vs_flower.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
