"""Benchmark: warm ClientApp workers against Flower's per-message ClientApp processes, on loopback.

One SuperLink and ``--clients`` SuperNodes on 127.0.0.1 (insecure), started with ``edgebench client``
either ``--cold`` (Flower's default: a fresh ``flwr-clientapp`` process for every message) or warm (the
default: ``--isolation process`` plus one long-lived worker per node, edgebench.fl.flower.warm). Once
every node is connected (and, warm, its worker is ready), ``edgebench server CONFIG`` runs the workload;
modes alternate over ``--repeats``, each with fresh processes.

Measured per run:
  wall_s            ``edgebench server`` start to exit (submit, hello, every round, results)
  overhead_s        per train message, ``flower_reply_s - total_s`` (clients.csv): everything between the
                    server pushing the message and the reply arriving that is not the client's own
                    window (delivery, process start, imports, model and data, reply); reported as the
                    median over each node's messages after its first, and for its first message
  first_train_s     median over nodes of their first message's ``flower_reply_s``
  worker_overhead_s warm only: median over train messages of the worker's task time (claim to reply pushed,
                    from its log) minus the client window: the node's own cost per message beyond training
  accuracy          final accuracy per method (both modes must agree: same seed, same clients)

Then warm/cold ratios. Flower 1.42's SuperNode polls the SuperLink every 3 s when idle
(``flwr/supernode/start_client_internal.py``), so part of the delivery cost is not ours to remove.

    python -m benchmarks.flower_warm --out benchmarks/results/flower_warm          # tiny BERT, 2 x 2 x 2, 2 repeats
    python -m benchmarks.flower_warm --smoke --out /tmp/fw                          # 1 repeat, 1 method, 2 rounds
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

BIN = Path(sys.executable).parent
MODES = ("cold", "warm")
# Server log lines marking phases of `edgebench server` (seconds since submission in the results).
PHASES = {
    "submitted_s": "Successfully started run",
    "serverapp_started_s": "edgebench ServerApp: results in",
    "nodes_greeted_s": "serves client",
    "first_round_s": "round 1/",
}


def workload(rounds: int, clients: int, methods: list[str], local_steps: int) -> dict[str, Any]:
    """The experiment (tiny BERT, bundled AG News sample, every client sampled every round)."""
    entries = {
        "lora": {"method": "lora", "r": 4},
        "fedara": {"method": "fedara", "r0": 4, "r_target": 2, "t_init": 0, "t_final": 0},
    }
    return {
        "model": {"name": "tiny-bert"},
        "data": {"dataset": "ag_news_sample", "max_test_examples": 64},
        "partition": {"scheme": "iid"},
        "federation": {
            "num_clients": clients,
            "clients_per_round": clients,
            "rounds": rounds,
            "local_steps": local_steps,
            "batch_size": 8,
            "lr": 0.01,
            "max_seq_len": 32,
        },
        "methods": [entries[m] for m in methods],
        "runtime": {"round_timeout_s": 300, "wait_for_nodes_s": 300},
        "output": {"checkpoint": False},
        "seed": 0,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


class Loopback:
    """SuperLink + SuperNodes as subprocesses, each in its own session, stopped by process group."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: list[subprocess.Popen] = []
        self.port = _free_port()

    def env(self, home: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
                "HF_HUB_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1",
                "FLWR_TELEMETRY_ENABLED": "0",
                "FLWR_DISABLE_UPDATE_CHECK": "1",
                "FLWR_HOME": str(self.folder / home),
            }
        )
        return env

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = (self.folder / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=self.env(f"home-{name}"), start_new_session=True
        )
        self.procs.append(proc)
        return proc

    def superlink(self) -> None:
        proc = self.start(
            "superlink",
            [
                str(BIN / "flower-superlink"),
                "--insecure",
                "--port",
                str(self.port),
                "--disable-runtime-dependency-installation",
            ],
        )
        _wait_port(self.port)
        assert proc.poll() is None

    def client(self, cid: int, num: int, mode: str, threads: int) -> None:
        argv = [str(BIN / "edgebench"), "client", "--insecure", "--superlink", f"127.0.0.1:{self.port}"]
        argv += ["--partition-id", str(cid), "--num-partitions", str(num), "--port", str(_free_port())]
        argv += ["--torch-threads", str(threads), "--state-dir", str(self.folder / f"state-{cid}")]
        if mode == "cold":
            argv.append("--cold")
        self.start(f"client{cid}", argv)

    def wait_ready(self, clients: int, mode: str, timeout_s: float = 300.0) -> float:
        """Seconds until every SuperNode registered (and, warm, every worker said it is ready)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            logs = [(self.folder / f"client{c}.log").read_text(errors="replace") for c in range(clients)]
            if all("SuperNode ID" in t and (mode == "cold" or "serving ClientApp tasks" in t) for t in logs):
                return time.monotonic() - started
            time.sleep(0.5)
        raise TimeoutError("the SuperNodes did not come up")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            try:  # helpers left in the group (SuperExec, ClientApp processes)
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


TASK_LINE = re.compile(r"task \d+ \(train (\S+)/(\d+)\): done in ([0-9.]+) s")


def worker_overheads(folder: Path, clients: list[dict[str, str]]) -> list[float]:
    """Warm runs: per train message, the worker's task time (claim to reply pushed) minus the client window:
    what the node spends besides training, waiting for the SuperNode to finish receiving the message included."""
    window = {(c["client_id"], c["method"], c["round"]): float(c["total_s"]) for c in clients}
    out = []
    for log in sorted(folder.glob("client*.log")):
        cid = log.stem.removeprefix("client")
        for method, rnd, seconds in TASK_LINE.findall(log.read_text(errors="replace")):
            if (cid, method, rnd) in window:
                out.append(float(seconds) - window[(cid, method, rnd)])
    return out


def measure(run_dir: Path) -> dict[str, Any]:
    """Per-message overheads and accuracy from a finished run directory."""
    clients = [c for c in _rows(run_dir / "clients.csv") if c["status"] == "accepted"]
    by_node: dict[str, list[dict[str, str]]] = {}
    for c in clients:  # file order = message order per client
        by_node.setdefault(c["client_id"], []).append(c)
    first, later = [], []
    for rows in by_node.values():
        overheads = [float(r["flower_reply_s"]) - float(r["total_s"]) for r in rows]
        first.append(overheads[0])
        later += overheads[1:]
    final = {}
    for r in _rows(run_dir / "rounds.csv"):
        final[r["method"]] = r["eval_accuracy"]
    return {
        "messages": len(clients),
        "overhead_first_s": statistics.median(first) if first else None,
        "overhead_later_median_s": statistics.median(later) if later else None,
        "overhead_later_max_s": max(later) if later else None,
        "first_train_s": statistics.median(float(rows[0]["flower_reply_s"]) for rows in by_node.values()),
        "client_window_median_s": statistics.median(float(c["total_s"]) for c in clients),
        "final_accuracy": final,
    }


def run_once(folder: Path, config: Path, mode: str, clients: int, threads: int) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    link = Loopback(folder)
    try:
        link.superlink()
        for cid in range(clients):
            link.client(cid, clients, mode, threads)
        ready_s = link.wait_ready(clients, mode)
        argv = [str(BIN / "edgebench"), "server", str(config), "--out", str(folder / "run")]
        argv += ["--superlink", f"127.0.0.1:{link.port}", "--insecure"]
        started = time.monotonic()
        marks: dict[str, float] = {}
        with (folder / "server.log").open("w") as log:
            proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=link.env("home-cli"), text=True
            )
            assert proc.stdout is not None
            for line in proc.stdout:  # each line stamped with seconds since submission
                now = time.monotonic() - started
                log.write(f"{now:8.2f} {line}")
                for key, text in PHASES.items():
                    if text in line and key not in marks:
                        marks[key] = now
            rc = proc.wait()
        wall_s = time.monotonic() - started
    finally:
        link.stop()
    if rc != 0:
        raise RuntimeError(f"edgebench server exited with {rc}; see {folder / 'server.log'}")
    measured = measure(folder / "run")
    accepted = [c for c in _rows(folder / "run" / "clients.csv") if c["status"] == "accepted"]
    node_side = worker_overheads(folder, accepted) if mode == "warm" else []
    measured["worker_overhead_median_s"] = statistics.median(node_side) if node_side else None
    return {"mode": mode, "wall_s": wall_s, "nodes_ready_s": ready_s, **marks, **measured}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for configs, logs, run directories, results")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--local-steps", type=int, default=2)
    parser.add_argument("--methods", default="lora,fedara")
    parser.add_argument("--torch-threads", type=int, default=1, help="per node (the nodes share this machine)")
    parser.add_argument("--smoke", action="store_true", help="1 repeat, lora only, 2 rounds, 1 local step")
    args = parser.parse_args(argv)
    if args.smoke:
        args.repeats, args.methods, args.local_steps = 1, "lora", 1
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    config = out / "experiment.yaml"
    experiment = workload(args.rounds, args.clients, args.methods.split(","), args.local_steps)
    config.write_text(yaml.safe_dump(experiment, sort_keys=False))
    results = []
    for rep in range(args.repeats):
        order = MODES if rep % 2 == 0 else MODES[::-1]
        for mode in order:
            result = run_once(out / f"{mode}-{rep}", config, mode, args.clients, args.torch_threads)
            results.append(result)
            print(json.dumps(result), flush=True)

    def med(mode: str, key: str) -> float:
        values = [r[key] for r in results if r["mode"] == mode and r[key] is not None]
        return statistics.median(values) if values else float("nan")

    summary = {m: {k: med(m, k) for k in ("wall_s", "overhead_first_s", "overhead_later_median_s")} for m in MODES}
    summary["ratio_warm_over_cold"] = {
        k: summary["warm"][k] / summary["cold"][k] if summary["cold"][k] else float("nan") for k in summary["cold"]
    }
    accuracies = {json.dumps(r["final_accuracy"], sort_keys=True) for r in results}
    summary["same_accuracy_in_every_run"] = len(accuracies) == 1
    summary["warm"]["worker_overhead_median_s"] = med("warm", "worker_overhead_median_s")
    (out / "results.json").write_text(json.dumps({"runs": results, "summary": summary}, indent=2) + "\n")
    for mode in MODES:
        s = summary[mode]
        print(
            f"{mode:>4}: wall {s['wall_s']:.1f} s, overhead per message: first {s['overhead_first_s']:.2f} s, "
            f"later (median) {s['overhead_later_median_s']:.2f} s"
        )
    print(
        f"warm worker, task time beyond the client window (median): {summary['warm']['worker_overhead_median_s']:.2f} s"
    )
    r = summary["ratio_warm_over_cold"]
    print(
        f"warm/cold: wall {r['wall_s']:.2f}x, first-message overhead {r['overhead_first_s']:.2f}x, "
        f"later-message overhead {r['overhead_later_median_s']:.2f}x; "
        f"same accuracy: {summary['same_accuracy_in_every_run']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
