"""Per-client method state on the node's disk: survives a server resume and a node restart.

The store itself (rounds, atomic files, pruning), then the Flower ServerApp and ClientApp end to end in
one process (LocalGrid): a server that stops in the middle of a round and resumes from its checkpoint,
and a SuperNode that restarts (fresh ``context.state``, new node id) between rounds, give the
same rows as the in-process engine, which checkpoints client state itself. Without the on-disk store
the same interruptions change the results (the control cases), so these tests fail if it is missing.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

pytest.importorskip("flwr")

from flwr.app import Context, RecordDict

from edgebench.config import load_config
from edgebench.fl.engine import run_experiment
from edgebench.fl.flower import client_app
from edgebench.fl.flower.executor import SIMULATION
from edgebench.fl.flower.node_state import NodeStateStore, run_key
from edgebench.fl.flower.server_app import run_server
from edgebench.fl.flower.wire import UPLINK, blob_of
from edgebench.fl.progress import Progress
from edgebench.methods.base import Payload
from tests.fl.flower.localgrid import LocalGrid

# -- the store ----------------------------------------------------------------------------------------


def _state(value: float) -> Payload:
    return Payload(tensors={"ema": torch.full((3,), value, dtype=torch.float64)}, meta={"v": value})


def test_a_round_starts_from_the_newest_state_written_before_it(tmp_path: Path) -> None:
    store = NodeStateStore.open(tmp_path, run_key("/runs/a", "2026-01-01T00:00:00"))
    assert store.load("fedara", 0, before_round=1) is None
    store.save("fedara", 0, 1, _state(1.0))
    store.save("fedara", 0, 3, _state(3.0))
    rnd, state = store.load("fedara", 0, before_round=5)
    assert rnd == 3 and state.meta == {"v": 3.0} and state.tensors["ema"].dtype == torch.float64
    # A server resumed from round 2's checkpoint repeats round 3: it must start from round 1's state.
    assert store.load("fedara", 0, before_round=3)[0] == 1
    store.save("fedara", 0, 3, _state(33.0))  # the repeated round replaces the file
    assert store.load("fedara", 0, before_round=4)[1].meta == {"v": 33.0}
    store.save("fedara", 0, 4, _state(4.0))
    assert store.rounds("fedara", 0) == [3, 4]  # the state round 4 started from, and round 4's
    assert not [p for p in store.folder("fedara", 0).iterdir() if p.suffix != ".safetensors"]  # no temp files


def test_states_are_kept_apart_by_run_method_and_client(tmp_path: Path) -> None:
    a = NodeStateStore.open(tmp_path, run_key("/runs/a", "t0"))
    b = NodeStateStore.open(tmp_path, run_key("/runs/a", "t1"))  # same folder, a new run
    a.save("fedara", 0, 1, _state(1.0))
    a.save("fed/ara x", 0, 1, _state(2.0))  # a label that is not a folder name
    assert b.load("fedara", 0, 2) is None and a.load("fedara", 1, 2) is None
    assert a.load("fed/ara x", 0, 2)[1].meta == {"v": 2.0} and a.load("fedara", 0, 2)[1].meta == {"v": 1.0}
    assert run_key("/runs/a", "t0") == run_key("/runs/a", "t0") != run_key("/runs/b", "t0")
    with pytest.raises(ValueError, match="16 hex digits"):
        NodeStateStore.open(tmp_path, "../escape")


# -- end to end ---------------------------------------------------------------------------------------

# FedARA keeps its importance EMAs per client (client_ema_persist); the budget shrinks in rounds 1-3, so the
# scores of round 3 (which start from the EMAs of rounds 1-2) decide which triplets are pruned.
STATEFUL = {
    "federation": {"num_clients": 2, "clients_per_round": 2, "rounds": 4},
    "methods": [{"method": "fedara", "r0": 4, "r_target": 2, "t_init": 0, "t_final": 1, "client_ema_persist": True}],
}
COMPARED = ("method", "round", "client_id", "bytes_down", "bytes_up", "active_rank", "active_modules", "status")
Uplinks = dict[tuple[str, int], bytes]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _grid(tmp_path: Path, on_disk: bool, uplinks: Uplinks, run_id: int = 4242) -> LocalGrid:
    """Two nodes (state on disk under `tmp_path`, or only in context.state); every uplink recorded."""
    extra = lambda i: {"state-dir": str(tmp_path / f"node{i}")} if on_disk else {}  # noqa: E731
    grid = LocalGrid(
        client_app.app, [{"partition-id": i, "num-partitions": 2, **extra(i)} for i in range(2)], run_id=run_id
    )
    grid.tamper = lambda msg, reply: _record(grid, uplinks, msg, reply)
    return grid


def _record(grid: LocalGrid, uplinks: Uplinks, msg, reply):
    if reply is not None and not reply.has_error() and UPLINK in reply.content.array_records:
        cid = int(grid.contexts[msg.metadata.dst_node_id].node_config["partition-id"])
        uplinks[(msg.metadata.group_id, cid)] = blob_of(reply.content, UPLINK)
    return reply


def _same_rows(reference: Path, run_dir: Path) -> None:
    a_rounds, b_rounds = _rows(reference / "rounds.csv"), _rows(run_dir / "rounds.csv")
    assert [(r["method"], r["round"]) for r in a_rounds] == [(r["method"], r["round"]) for r in b_rounds]
    for a, b in zip(a_rounds, b_rounds, strict=True):
        assert float(b["eval_accuracy"]) == pytest.approx(float(a["eval_accuracy"]), abs=1e-9)
        assert float(b["eval_loss"]) == pytest.approx(float(a["eval_loss"]), rel=1e-5)
        assert (a["bytes_up"], a["active_rank"], a["budget"]) == (b["bytes_up"], b["active_rank"], b["budget"])
    a_clients, b_clients = _rows(reference / "clients.csv"), _rows(run_dir / "clients.csv")
    assert [[c[k] for k in COMPARED] for c in a_clients] == [[c[k] for k in COMPARED] for c in b_clients]
    for a, b in zip(a_clients, b_clients, strict=True):
        assert float(b["train_loss"]) == pytest.approx(float(a["train_loss"]), rel=1e-5)
    assert _rows(reference / "ranks.csv") == _rows(run_dir / "ranks.csv")


# The same interruption without the on-disk store must change the results (the test can fail); slow.
CONTROL = pytest.param(False, marks=pytest.mark.slow)


class ServerStopped(RuntimeError):
    """Stands for the server process dying after the clients trained, before the round's checkpoint."""


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Uplinks]:
    """The experiment file, its uninterrupted in-process run (which checkpoints client state itself) and the
    uplinks of an uninterrupted Flower run."""
    import yaml

    from tests.conftest import deep_update
    from tests.fl.flower.conftest import FLOWER_EXPERIMENT

    folder = tmp_path_factory.mktemp("node-state")
    path = folder / "exp.yaml"
    path.write_text(yaml.safe_dump(deep_update(FLOWER_EXPERIMENT, STATEFUL), sort_keys=False))
    inproc, _ = run_experiment(load_config(path), out=folder / "inproc", progress=Progress(quiet=True))
    uplinks: Uplinks = {}
    grid = _grid(folder, True, uplinks)
    run_server(grid, load_config(path), folder / "flower", runtime=SIMULATION, progress=Progress(quiet=True))
    return path, inproc, uplinks


@pytest.mark.parametrize("on_disk", [True, CONTROL], ids=["state-on-disk", "control-without"])
def test_a_server_resumed_mid_round_gives_the_uninterrupted_results(
    reference: tuple[Path, Path, Uplinks], tmp_path: Path, on_disk: bool
) -> None:
    config_path, inproc, expected = reference
    config = load_config(config_path)
    run_dir = tmp_path / "flower"
    seen: Uplinks = {}
    grid = _grid(tmp_path, on_disk, seen)

    def stop_in_round_3(msg, reply):
        _record(grid, seen, msg, reply)
        if msg.metadata.group_id == "fedara/3" and all(("fedara/3", c) in seen for c in (0, 1)):
            raise ServerStopped("the server stopped after both clients trained round 3")
        return reply

    grid.tamper = stop_in_round_3
    with pytest.raises(ServerStopped):
        run_server(grid, config, run_dir, runtime=SIMULATION, progress=Progress(quiet=True))
    # A new `flwr run`: new run id and a fresh context.state on every node; the nodes' disks are kept.
    seen.clear()
    resumed = _grid(tmp_path, on_disk, seen, run_id=4343)
    run_server(resumed, config, run_dir, resume=True, runtime=SIMULATION, progress=Progress(quiet=True))
    assert sorted(seen) == [(f"fedara/{r}", c) for r in (3, 4) for c in (0, 1)]  # round 3 was repeated
    same = all(seen[key] == expected[key] for key in seen)  # byte for byte: EMAs and scores included
    assert same is on_disk
    if on_disk:
        _same_rows(inproc, run_dir)


@pytest.mark.parametrize("on_disk", [True, CONTROL], ids=["state-on-disk", "control-without"])
def test_a_node_restarted_between_rounds_keeps_its_client_state(
    reference: tuple[Path, Path, Uplinks], tmp_path: Path, on_disk: bool
) -> None:
    config_path, inproc, expected = reference
    seen: Uplinks = {}
    grid = _grid(tmp_path, on_disk, seen)
    restarted: list[int] = []

    def reboot_after_round_2(msg, reply):
        _record(grid, seen, msg, reply)
        # Node 101 (client 1) reboots right after answering round 2: a new SuperNode id, empty context.state.
        if msg.metadata.group_id == "fedara/2" and msg.metadata.dst_node_id == 101:
            grid.offline.add(101)
            config = dict(grid.contexts[101].node_config)
            grid.contexts[201] = Context(
                run_id=4242, node_id=201, node_config=config, state=RecordDict(), run_config={}
            )
            restarted.append(201)
        return reply

    grid.tamper = reboot_after_round_2
    run_dir = tmp_path / "flower"
    run_server(grid, load_config(config_path), run_dir, runtime=SIMULATION, progress=Progress(quiet=True))
    assert restarted and ("fedara/3", 1) in seen
    assert {c["status"] for c in _rows(run_dir / "clients.csv")} == {"accepted"}  # no round missed client 1
    assert (seen == expected) is on_disk
    if on_disk:
        _same_rows(inproc, run_dir)


def test_a_restarted_node_replaces_its_old_self_and_a_stranger_waits_for_a_free_client(flower_config) -> None:
    """Flower lists a crashed SuperNode until its heartbeats time out (a minute): a new SuperNode of the same
    host claiming the same client is that device restarted and takes over at once; one of another host is
    refused while the client is served, and greeted again once it is not."""
    from edgebench.fl.flower.nodes import NodeDirectory
    from edgebench.fl.flower.wire import NODE

    grid = LocalGrid(client_app.app, [{"partition-id": i, "num-partitions": 2} for i in range(2)])
    log: list[str] = []
    nodes = NodeDirectory(grid, load_config(flower_config()), "auto", log.append, timeout_s=30)
    nodes.refresh()
    assert nodes.node_for(1) == 101

    def node(node_id: int) -> Context:
        config = dict(grid.contexts[101].node_config)
        return Context(run_id=4242, node_id=node_id, node_config=config, state=RecordDict(), run_config={})

    grid.contexts[201] = node(201)  # client 1's device rebooted; 101 is still listed
    nodes.refresh()
    assert nodes.node_for(1) == 201 and 101 in nodes.superseded
    assert any("SuperNode 201 replaces SuperNode 101 as client 1" in line for line in log)

    def elsewhere(msg, reply):
        if msg.metadata.dst_node_id == 301 and reply.has_content() and NODE in reply.content.config_records:
            reply.content.config_records[NODE]["hostname"] = "another-host"
        return reply

    grid.tamper = elsewhere
    grid.contexts[301] = node(301)  # a second device configured as client 1
    nodes.refresh()
    assert nodes.node_for(1) == 201 and "already served by SuperNode 201" in nodes.refused[301]
    grid.offline |= {101, 201}  # the rebooted device goes away for good
    nodes.refresh()
    assert nodes.node_for(1) == 301 and not nodes.superseded
