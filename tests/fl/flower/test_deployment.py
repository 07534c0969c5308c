"""Loopback deployments: a SuperLink and two SuperNodes as subprocesses, `edgebench server` submitting.

Slow (each Flower round starts a fresh ClientApp process per client: ~20 s a round on a 2-core VM);
run with `pytest -m slow tests/fl/flower`. Every process a test starts is stopped by pid in the
fixture's teardown, and the test fails if any of them (or anything they spawned) survives.
"""

from __future__ import annotations

import csv
import json
import subprocess
import time
from pathlib import Path

import pytest

pytest.importorskip("flwr")

from edgebench.config import load_config
from edgebench.fl.engine import run_experiment
from edgebench.fl.progress import Progress
from edgebench.results import CLIENT_COLUMNS, ROUND_COLUMNS
from tests.fl.flower.conftest import make_node_key, make_tls
from tests.fl.flower.deploy import Loopback, Processes

pytestmark = pytest.mark.slow


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _check_contract(run_dir: Path, methods: list[str], rounds: int, clients: int) -> None:
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "complete", meta["status"]
    assert meta["runtime"]["engine"] == "flower-deployment"
    assert sorted(meta["runtime"]["nodes"]) == [str(c) for c in range(clients)]
    assert meta["device"]["name"] == "+".join(meta["device"]["clients"])
    client_rows, round_rows = _rows(run_dir / "clients.csv"), _rows(run_dir / "rounds.csv")
    assert list(client_rows[0]) == CLIENT_COLUMNS and list(round_rows[0]) == ROUND_COLUMNS
    assert [(r["method"], int(r["round"])) for r in round_rows] == [
        (m, r) for m in methods for r in range(1, rounds + 1)
    ]
    assert (run_dir / "ranks.csv").exists() and (run_dir / "partition.csv").exists()
    for m in methods:
        assert (run_dir / "checkpoints" / f"{m}.safetensors").exists()


def _accuracy(run_dir: Path) -> dict[tuple[str, str], tuple[float, float]]:
    rows = _rows(run_dir / "rounds.csv")
    return {(r["method"], r["round"]): (float(r["eval_accuracy"]), float(r["eval_loss"])) for r in rows}


def test_two_supernodes_lora_and_fedara_match_the_in_process_engine(procs: Processes, flower_config) -> None:
    config = flower_config()
    link = Loopback(procs)
    link.start_superlink()
    for cid in range(2):
        link.start_client(cid, 2)
    started = time.monotonic()
    result = link.run_server(config, procs.folder / "run")
    wall_s = time.monotonic() - started
    assert result.returncode == 0, procs.logs()
    run_dir = procs.folder / "run"
    _check_contract(run_dir, ["lora", "fedara"], rounds=2, clients=2)
    clients = _rows(run_dir / "clients.csv")
    assert {c["status"] for c in clients} == {"accepted"}
    for c in clients:
        # our payload bytes, and Flower's count of the same message (payload + its records' overhead)
        assert int(c["flower_bytes_down"]) > int(c["bytes_down"]) > 0
        assert int(c["flower_bytes_up"]) > int(c["bytes_up"]) > 0
        assert float(c["flower_reply_s"]) >= float(c["total_s"]) > 0
        assert c["client_device"]

    # The same config on the in-process engine: same clients, same accuracy trajectory.
    inproc, _ = run_experiment(load_config(config), out=procs.folder / "inproc", progress=Progress(quiet=True))
    flower_acc, inproc_acc = _accuracy(run_dir), _accuracy(inproc)
    assert flower_acc.keys() == inproc_acc.keys()
    for key, (acc, loss) in flower_acc.items():
        assert acc == pytest.approx(inproc_acc[key][0], abs=1e-9)
        assert loss == pytest.approx(inproc_acc[key][1], rel=1e-4)

    def same_clients(rows: list[dict[str, str]]) -> list[tuple[str, ...]]:
        return [(c["method"], c["round"], c["client_id"], c["bytes_down"], c["bytes_up"]) for c in rows]

    assert same_clients(clients) == same_clients(_rows(inproc / "clients.csv"))
    print(f"\nloopback wall time, 2 methods x 2 rounds x 2 clients: {wall_s:.1f} s")
    for c in clients:
        print(
            f"{c['method']} r{c['round']} c{c['client_id']}: payload {c['bytes_down']}/{c['bytes_up']} B, "
            f"flower {c['flower_bytes_down']}/{c['flower_bytes_up']} B, client window {float(c['total_s']):.2f} s, "
            f"reply after {float(c['flower_reply_s']):.1f} s"
        )


def test_a_supernode_killed_mid_round_is_a_dropout(procs: Processes, flower_config) -> None:
    config = flower_config({"methods": [{"method": "lora", "r": 4}], "runtime": {"round_timeout_s": 60}})
    link = Loopback(procs)
    link.start_superlink()
    link.start_client(0, 2)
    victim = link.start_client(1, 2)
    server = link.start_server(config, procs.folder / "run")
    # Kill client 1's SuperNode (its whole process group: a device losing power) once round 2 reached it.
    deadline = time.monotonic() + 400
    while "ROUND lora/2" not in victim.log.read_text(errors="replace"):
        assert server.proc.poll() is None, procs.logs()
        assert time.monotonic() < deadline, procs.logs()
        time.sleep(0.2)
    procs.kill("client1")
    try:
        server.proc.wait(timeout=400)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the server did not finish after the dropout\n{procs.logs()}")
    assert server.proc.returncode == 0, procs.logs()
    run_dir = procs.folder / "run"
    _check_contract(run_dir, ["lora"], rounds=2, clients=2)
    round2 = {c["client_id"]: c for c in _rows(run_dir / "clients.csv") if c["round"] == "2"}
    assert round2["0"]["status"] == "accepted"
    assert round2["1"]["status"].startswith("dropout: "), round2["1"]["status"]
    assert round2["1"]["bytes_up"] == "" and round2["1"]["train_s"] == ""
    rounds = {r["round"]: r for r in _rows(run_dir / "rounds.csv")}
    assert rounds["2"]["clients_dropped"] == "1" and rounds["1"]["clients_dropped"] == "0"
    assert rounds["2"]["eval_accuracy"] != ""
    print(f"\ndropout recorded as: {round2['1']['status']}")


def test_tls_and_supernode_authentication(procs: Processes, flower_config) -> None:
    config = flower_config({"methods": [{"method": "fedara", "r0": 4, "r_target": 2, "t_init": 0, "t_final": 0}]})
    tls = make_tls(procs.folder / "certs")
    link = Loopback(procs, tls=tls, node_auth=True)
    link.start_superlink()
    keys = [make_node_key(procs.folder / "keys", f"node{cid}") for cid in range(2)]
    for _, public in keys:
        link.register(public)
    for cid, (private, _) in enumerate(keys):
        link.start_client(cid, 2, auth_key=private)
    # A SuperNode whose key was never registered must not get in.
    stranger, _ = make_node_key(procs.folder / "keys", "stranger")
    intruder = link.start_client(1, 2, auth_key=stranger, name="stranger")
    result = link.run_server(config, procs.folder / "run")
    assert result.returncode == 0, procs.logs()
    run_dir = procs.folder / "run"
    _check_contract(run_dir, ["fedara"], rounds=2, clients=2)
    assert {c["status"] for c in _rows(run_dir / "clients.csv")} == {"accepted"}
    log = intruder.log.read_text(errors="replace")
    assert intruder.proc.poll() is not None and intruder.proc.returncode != 0, log  # refused, gave up
    assert "ROUND" not in log, log  # it never received a message
    assert "No SuperNode found with the given public key" in procs.tail("superlink", 400)
    meta = json.loads((run_dir / "run.json").read_text())
    print(f"\nunregistered SuperNode: {log.strip().splitlines()[-1]}")
    print(f"nodes used: {sorted((k, v['node_id']) for k, v in meta['runtime']['nodes'].items())}")
