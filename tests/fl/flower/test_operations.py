"""A federation that operates itself, on loopback: warm ClientApp workers, a SuperLink killed and resumed
mid-run, a device restarted mid-run, and Ctrl-C on ``edgebench server``.

Slow (real SuperLink, SuperNodes and ServerApp processes; minutes on a 2-core VM): ``pytest -m slow
tests/fl/flower/test_operations.py``. Every process a test starts is stopped by pid in the fixture's
teardown, and the test fails if any of them survives.
"""

from __future__ import annotations

import csv
import json
import re
import signal
import time
from pathlib import Path

import pytest

pytest.importorskip("flwr")

from edgebench.config import load_config
from edgebench.fl.engine import run_experiment
from edgebench.fl.progress import Progress
from edgebench.fl.sampling import sample_clients
from tests.fl.flower.deploy import Loopback, Processes, Started

pytestmark = pytest.mark.slow

# FedARA keeps per-client EMAs (client_ema_persist) that decide its pruning in rounds 1-3.
STATEFUL = {
    "federation": {"num_clients": 2, "clients_per_round": 2, "rounds": 4},
    "methods": [{"method": "fedara", "r0": 4, "r_target": 2, "t_init": 0, "t_final": 1, "client_ema_persist": True}],
    "runtime": {"round_timeout_s": 240, "wait_for_nodes_s": 240},
}
RECONNECT = ("--reconnect", "--backoff-max-s", "4")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _wait_for(started: Started, pattern: str, procs: Processes, timeout_s: float = 600, watch: Started | None = None):
    """Wait until `pattern` (a regex) appears in `started`'s log; fail with every log when it does not."""
    deadline = time.monotonic() + timeout_s
    while not re.search(pattern, started.log.read_text(errors="replace")):
        if watch is not None:
            assert watch.proc.poll() is None, procs.logs()
        assert time.monotonic() < deadline, f"no {pattern!r} in {started.name}'s log\n{procs.logs()}"
        time.sleep(0.3)


def _same_as_in_process(config: Path, run_dir: Path, folder: Path) -> None:
    """Every round's accuracy and every client's row equal the uninterrupted in-process run's."""
    inproc, _ = run_experiment(load_config(config), out=folder / "inproc", progress=Progress(quiet=True))
    a_rounds, b_rounds = _rows(inproc / "rounds.csv"), _rows(run_dir / "rounds.csv")
    assert [(r["method"], r["round"]) for r in a_rounds] == [(r["method"], r["round"]) for r in b_rounds]
    for a, b in zip(a_rounds, b_rounds, strict=True):
        assert float(b["eval_accuracy"]) == pytest.approx(float(a["eval_accuracy"]), abs=1e-9)
        assert float(b["eval_loss"]) == pytest.approx(float(a["eval_loss"]), rel=1e-5)
        assert (a["bytes_up"], a["active_rank"], a["budget"]) == (b["bytes_up"], b["active_rank"], b["budget"])
    keys = ("method", "round", "client_id", "bytes_down", "bytes_up", "active_rank", "status")
    a_clients, b_clients = _rows(inproc / "clients.csv"), _rows(run_dir / "clients.csv")
    assert [[c[k] for k in keys] for c in a_clients] == [[c[k] for k in keys] for c in b_clients]
    for a, b in zip(a_clients, b_clients, strict=True):
        assert float(b["train_loss"]) == pytest.approx(float(a["train_loss"]), rel=1e-5)
    assert _rows(inproc / "ranks.csv") == _rows(run_dir / "ranks.csv")


def _server_host_dies(procs: Processes) -> None:
    """SIGKILL the SuperLink's process group, `edgebench server`'s, and the SuperExec and ServerApp processes
    (Flower starts them outside the SuperLink's process group: they would outlive it and carry on the run)."""
    procs.kill("superlink")
    procs.kill("server")
    server_side = ("flower-superexec", "flwr-serverapp")
    for p in procs.tagged():
        if any(name in " ".join(p.cmdline()) for name in server_side):
            p.kill()
            p.wait(timeout=30)


def test_a_warm_worker_serves_every_message_in_one_process(procs: Processes, flower_config) -> None:
    config = flower_config({"methods": [{"method": "lora", "r": 4}]})
    link = Loopback(procs)
    link.start_superlink()
    clients = [link.start_client(cid, 2) for cid in range(2)]
    result = link.run_server(config, procs.folder / "run")
    assert result.returncode == 0, procs.logs()
    for started in clients:
        log = started.log.read_text(errors="replace")
        assert len(re.findall(r"warm worker: ready in", log)) == 1, log  # one process, started once
        tasks = re.findall(r"task \d+ \((\w+) ([\w/]+)\): done", log)
        assert tasks == [("query", "hello"), ("train", "lora/1"), ("train", "lora/2")], log
        assert "prewarmed model 'lora'" in log
        assert "Start `flwr-clientapp` process" not in log and "flwr-clientapp" not in log
    rows = _rows(procs.folder / "run" / "clients.csv")
    assert {r["status"] for r in rows} == {"accepted"}
    print("\nwarm per-message overhead (flower_reply_s - total_s):")
    for r in rows:
        print(
            f"  {r['method']} r{r['round']} c{r['client_id']}: {float(r['flower_reply_s']) - float(r['total_s']):.2f} s"
        )


def test_superlink_killed_mid_run_and_resumed_gives_the_uninterrupted_results(procs: Processes, flower_config) -> None:
    config = flower_config(STATEFUL)
    run_dir = procs.folder / "run"
    link = Loopback(procs, database=procs.folder / "superlink.db")
    link.start_superlink()
    for cid in range(2):
        link.start_client(cid, 2, client_args=RECONNECT)
    server = link.start_server(config, run_dir)
    # Both clients trained round 3 (their state files for round 3 are written): the server host dies.
    _wait_for(server, r"\[fedara\] round 2/4", procs, watch=server)
    for cid in range(2):
        _wait_for(procs.started[1 + cid], r"task \d+ \(train fedara/3\): done", procs)
    _server_host_dies(procs)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "running"  # killed: nothing recorded the end
    assert [r["round"] for r in _rows(run_dir / "rounds.csv")] == ["1", "2"]
    # The SuperLink comes back on its database; the devices reconnect by themselves; the run resumes.
    link.start_superlink()
    result = link.run_server(config, run_dir, flag="--resume")
    assert result.returncode == 0, procs.logs()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"
    for cid in range(2):  # round 3 trained twice (before the crash and after the resume), by the same worker
        log = procs.started[1 + cid].log.read_text(errors="replace")
        assert len(re.findall(r"\(train fedara/3\): done", log)) == 2, log
    _same_as_in_process(config, run_dir, procs.folder)


def test_a_device_restarted_mid_run_rejoins_with_its_client_state(procs: Processes, flower_config) -> None:
    # Four clients, two per round: the victim trains in round r, then sits out the most rounds in a row (time
    # for its device to reboot), then trains again.
    seed, rounds, num = 0, 7, 4
    sampled = {r: set(sample_clients(seed, r, num, 2)) for r in range(1, rounds + 1)}
    gaps = [
        (nxt - r, r, c, nxt)
        for r in range(1, rounds)
        for c in sampled[r]
        for nxt in [next((q for q in range(r + 1, rounds + 1) if c in sampled[q]), None)]
        if nxt is not None
    ]
    _, r, victim, back = max(gaps)
    assert back - r >= 3
    updates = {**STATEFUL, "federation": {"num_clients": num, "clients_per_round": 2, "rounds": rounds}, "seed": seed}
    config = flower_config(updates)
    link = Loopback(procs)
    link.start_superlink()
    clients = {cid: link.start_client(cid, num, client_args=RECONNECT) for cid in range(num)}
    server = link.start_server(config, procs.folder / "run")
    # Once its SuperNode has sent the round-r reply on to the SuperLink, the device reboots (SIGTERM: the
    # SuperNode leaves the federation; the worker and its caches go too).
    sent = rf"ROUND fedara/{r}\][^\n]*\n[^\n]*Sending: train message[^\n]*\n[^\n]*Sent successfully"
    _wait_for(clients[victim], sent, procs, watch=server)
    procs.kill(f"client{victim}", signal.SIGTERM)
    link.start_client(victim, num, name=f"client{victim}-again", client_args=RECONNECT)
    server.proc.wait(timeout=900)
    assert server.proc.returncode == 0, procs.logs()
    run_dir = procs.folder / "run"
    rows = _rows(run_dir / "clients.csv")
    assert {c["status"] for c in rows} == {"accepted"}, procs.tail("server", 300)
    assert any(c["client_id"] == str(victim) and int(c["round"]) == back for c in rows)
    _same_as_in_process(config, run_dir, procs.folder)


def test_ctrl_c_stops_the_run_on_the_superlink_and_records_it_interrupted(procs: Processes, flower_config) -> None:
    config = flower_config({"methods": [{"method": "lora", "r": 4}], "federation": {"rounds": 6}})
    run_dir = procs.folder / "run"
    link = Loopback(procs)
    superlink = link.start_superlink()
    for cid in range(2):
        link.start_client(cid, 2)
    server = link.start_server(config, run_dir)
    _wait_for(server, r"\[lora\] round 1/6", procs, watch=server)
    server.proc.send_signal(signal.SIGINT)  # Ctrl-C on `edgebench server` only (the SuperLink has its own session)
    server.proc.wait(timeout=180)
    log = server.log.read_text(errors="replace")
    assert server.proc.returncode == 130, log
    assert "stopped; run.json status: interrupted" in log, log
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "interrupted" and meta["interruption"]["signal"] in ("SIGINT", "SIGTERM")
    assert meta["interruption"]["rounds_done"]["lora"] >= 1
    deadline = time.monotonic() + 60  # the ServerApp process ended (flwr stop reached it)
    while any("flwr-serverapp" in " ".join(p.cmdline()) for p in procs.tagged()):
        assert time.monotonic() < deadline, procs.logs()
        time.sleep(0.5)
    assert superlink.proc.poll() is None  # still serving: the next experiment or --resume needs no restart
