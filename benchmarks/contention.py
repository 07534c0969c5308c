"""Benchmark: how much one competing torch process slows a run, with OMP_WAIT_POLICY ACTIVE vs PASSIVE.

Runs an experiment (default: the smoke config) with ``edgebench run`` in a fresh process per run, so that
``profiler.omp_wait_policy`` is in place before torch starts its OpenMP pool, under four conditions per
repeat: each policy alone, and each policy next to a competitor, a separate torch process multiplying
small matrices in a loop with torch's default threads (one per core) and, by default, no
``OMP_WAIT_POLICY`` of its own (a process we do not control; ``--competitor-policy same`` gives it the
run's policy). The competitor is started, and has imported torch, before the run starts.

Figures per condition, from the run directories: median ``round_s`` (rounds.csv) and client ``train_s``
(clients.csv) over every round of every repeat, the run's wall time (process start to exit, imports
included), the share of client windows flagged ``contended`` and their median ``other_cpu_cores``, and
the competitor's CPU use meanwhile. Ratios: competing / alone per policy (the slowdown), and PASSIVE /
ACTIVE alone and competing (what the policy buys). ``unset`` (no OMP_WAIT_POLICY at all: edgebench's
behaviour before issue 13) can be added to ``--policies``.

Run it on an otherwise quiet machine (it says how busy the machine was when each run started)::

    python -m benchmarks.contention                                   # smoke config, 3 repeats
    python -m benchmarks.contention --policies unset,ACTIVE,PASSIVE --repeats 5
    python -m benchmarks.contention --smoke --json                    # seconds; for the test suite
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import yaml

from edgebench.yamlfile import read_yaml

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "runners" / "configs" / "smoke.yaml"
COMPETITOR_CODE = """
import torch

x = torch.randn(256, 256)
print("ready", flush=True)
while True:
    y = torch.relu(x @ x)
    x = y / (y.norm() + 1.0) + 0.01
"""


def _env(policy: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.setdefault("HF_HUB_OFFLINE", "1")
    if policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    return env


def start_competitor(policy: str | None) -> subprocess.Popen[str]:
    """A torch process spinning through small matrix products; returns once it has imported torch."""
    proc = subprocess.Popen(
        [sys.executable, "-c", COMPETITOR_CODE], stdout=subprocess.PIPE, text=True, env=_env(policy), cwd=REPO
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError("the competing torch process did not start")
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def write_config(source: Path, policy: str | None, folder: Path, smoke: bool) -> Path:
    raw = read_yaml(source)
    raw.setdefault("profiler", {})["omp_wait_policy"] = policy
    raw.setdefault("output", {})["dir"] = str(folder / "runs")
    if smoke:
        raw["methods"] = raw["methods"][:1]
        raw["federation"].update({"rounds": 2, "local_steps": 2, "clients_per_round": 1})
        raw["data"].update({"max_train_examples": 80, "max_test_examples": 40})
    path = folder / f"config-{policy or 'unset'}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run_once(config: Path, out: Path, competitor: subprocess.Popen[str] | None) -> dict[str, Any]:
    """One ``edgebench run`` in a fresh process; its figures and the competitor's CPU use meanwhile."""
    rival = psutil.Process(competitor.pid) if competitor is not None else None
    rival_cpu = sum(rival.cpu_times()[:2]) if rival is not None else 0.0
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "edgebench.cli", "run", str(config), "--out", str(out), "--quiet"],
        env=_env(None),
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    wall_s = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"edgebench run failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    rounds = pd.read_csv(out / "rounds.csv")
    clients = pd.read_csv(out / "clients.csv")
    measurement = json.loads((out / "run.json").read_text())["measurement"]
    flags = clients["window_flags"].astype(object).fillna("").astype(str)
    return {
        "wall_s": wall_s,
        "round_s": rounds["round_s"].tolist(),
        "train_s": clients["train_s"].tolist(),
        "contended_windows": int(flags.str.split(";").apply(lambda f: "contended" in f).sum()),
        "client_windows": len(clients),
        "other_cpu_cores": clients["other_cpu_cores"].dropna().tolist(),
        "competitor_cores": (sum(rival.cpu_times()[:2]) - rival_cpu) / wall_s if rival is not None else None,
        "host_load_at_start": measurement.get("host_load", {}).get("start"),
        "omp_wait_policy": measurement.get("threads", {}).get("omp_wait_policy"),
        "torch_threads": (measurement.get("threads", {}).get("torch") or {}).get("intra_op"),
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over every round / client window of every repeat of one condition."""
    rounds = [x for r in runs for x in r["round_s"]]
    train = [x for r in runs for x in r["train_s"]]
    other = [x for r in runs for x in r["other_cpu_cores"]]
    rival = [r["competitor_cores"] for r in runs if r["competitor_cores"] is not None]
    return {
        "runs": len(runs),
        "round_s": statistics.median(rounds),
        "train_s": statistics.median(train),
        "wall_s": statistics.median(r["wall_s"] for r in runs),
        "contended_share": sum(r["contended_windows"] for r in runs) / max(1, sum(r["client_windows"] for r in runs)),
        "other_cpu_cores": statistics.median(other) if other else None,
        "competitor_cores": statistics.median(rival) if rival else None,
    }


def ratios(summary: dict[str, dict[str, Any]], policies: list[str]) -> dict[str, float]:
    """competing / alone per policy, and each policy / the first one, alone and competing (median round_s)."""
    out: dict[str, float] = {}
    for p in policies:
        out[f"{p}: competing / alone"] = summary[f"{p} + competitor"]["round_s"] / summary[f"{p} alone"]["round_s"]
    base = policies[0]
    for p in policies[1:]:
        for case in ("alone", "+ competitor"):
            out[f"{p} / {base}, {case.removeprefix('+ ')}"] = (
                summary[f"{p} {case}"]["round_s"] / summary[f"{base} {case}"]["round_s"]
            )
    return out


def _policy(name: str) -> str | None:
    """The OMP_WAIT_POLICY a --policies / --competitor-policy name stands for (``unset``: none)."""
    return None if name == "unset" else name


def measure(
    config: Path, policies: list[str], repeats: int, competitor_policy: str, smoke: bool, folder: Path
) -> dict[str, Any]:
    raw_runs: dict[str, list[dict[str, Any]]] = {}
    configs = {p: write_config(config, _policy(p), folder, smoke) for p in policies}
    for repeat in range(repeats):
        order = policies if repeat % 2 == 0 else policies[::-1]  # alternate, so drift cancels
        for p in order:
            out = folder / f"r{repeat}-{p}-alone"
            raw_runs.setdefault(f"{p} alone", []).append(run_once(configs[p], out, None))
        for p in order:
            rival = start_competitor(_policy(p if competitor_policy == "same" else competitor_policy))
            try:
                out = folder / f"r{repeat}-{p}-competing"
                raw_runs.setdefault(f"{p} + competitor", []).append(run_once(configs[p], out, rival))
            finally:
                stop(rival)
    summary = {name: summarise(runs) for name, runs in raw_runs.items()}
    return {
        "config": str(config),
        "smoke": smoke,
        "repeats": repeats,
        "policies": policies,
        "competitor_policy": competitor_policy,
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "conditions": summary,
        "ratios": ratios(summary, policies),
        "runs": raw_runs,
    }


def _print(result: dict[str, Any]) -> None:
    print(
        f"contention benchmark: {result['config']}{' (smoke)' if result['smoke'] else ''}, {result['repeats']} "
        f"repeat(s), {result['cpus']} CPUs; competitor: torch matmul loop, OMP_WAIT_POLICY "
        f"{result['competitor_policy']}"
    )
    rows = []
    for name, s in result["conditions"].items():
        rows.append(
            {
                "condition": name,
                "round_s": s["round_s"],
                "train_s": s["train_s"],
                "wall_s": s["wall_s"],
                "contended": f"{s['contended_share']:.0%}",
                "other_cores": s["other_cpu_cores"],
                "competitor_cores": s["competitor_cores"],
            }
        )
    print(pd.DataFrame(rows).to_string(index=False, float_format="{:.3f}".format))
    print("ratios of median round_s:")
    for name, value in result["ratios"].items():
        print(f"  {name:<32} {value:.2f}x")
    loads = [r["host_load_at_start"] for runs in result["runs"].values() for r in runs if r["host_load_at_start"]]
    alone = [x["other_cpu_cores"] for x in loads if x.get("other_cpu_cores") is not None]
    if alone:
        print(f"other processes' cores when runs started: median {statistics.median(alone):.2f}, max {max(alone):.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=SMOKE, help="experiment file (default: the smoke config)")
    parser.add_argument("--policies", default="ACTIVE,PASSIVE", help="comma-separated: ACTIVE, PASSIVE, unset")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--competitor-policy",
        default="unset",
        help="the competitor's OMP_WAIT_POLICY: unset (default), same (as the run), ACTIVE or PASSIVE",
    )
    parser.add_argument("--smoke", action="store_true", help="one method, 2 rounds of 1 client, 1 repeat")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    bad = [p for p in policies if p not in ("ACTIVE", "PASSIVE", "unset")]
    if bad or not policies or args.competitor_policy not in ("unset", "same", "ACTIVE", "PASSIVE"):
        parser.error(f"unknown policy: {bad or args.competitor_policy}")
    repeats = 1 if args.smoke else args.repeats
    with tempfile.TemporaryDirectory(prefix="edgebench-contention-") as tmp:
        result = measure(args.config, policies, repeats, args.competitor_policy, args.smoke, Path(tmp))
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        _print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
