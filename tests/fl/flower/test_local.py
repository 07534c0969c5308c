"""The Flower ServerApp and ClientApp end to end in one process (a Grid test double, no processes).

Same code as a deployment (the engine with the Flower executor, the ClientApp's handlers, Flower's
Message/records), with the transport replaced by direct calls: fast enough for the default run.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytest.importorskip("flwr")

from flwr.app import Error, Message, RecordDict
from flwr.common.constant import ErrorCode

from edgebench.config import load_config
from edgebench.fl.codec import decode, encode
from edgebench.fl.engine import run_experiment
from edgebench.fl.executor import TooFewReplies
from edgebench.fl.flower import client_app
from edgebench.fl.flower.executor import SIMULATION
from edgebench.fl.flower.server_app import run_server
from edgebench.fl.flower.wire import INSTRUCTION, METRICS, UPLINK, blob_of, blob_record
from edgebench.fl.progress import Progress
from edgebench.methods.base import Payload
from edgebench.results import CLIENT_COLUMNS, ROUND_COLUMNS
from tests.fl.flower.localgrid import LocalGrid


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _grid(n: int, **extra) -> LocalGrid:
    return LocalGrid(client_app.app, [{"partition-id": i, "num-partitions": n, **extra} for i in range(n)])


def _run(config_path: Path, run_dir: Path, grid: LocalGrid, resume: bool = False):
    config = load_config(config_path)
    return run_server(grid, config, run_dir, resume=resume, runtime=SIMULATION, progress=Progress(quiet=True))


MEASURED = ["num_examples", "num_steps", "bytes_down", "bytes_up", "active_rank", "active_modules", "status"]


def test_same_trajectory_as_the_in_process_engine(flower_config, tmp_path: Path) -> None:
    """Same seed, same sampled clients (2 of 4), FedARA with per-client state: same numbers.

    (FedAdaLoRA's client state and the shipped smoke config are covered by the slow test below.)
    """
    path = flower_config(
        {
            "federation": {"num_clients": 4, "clients_per_round": 2, "rounds": 3},
            "methods": [
                {"method": "lora", "r": 4},
                {"method": "fedara", "r0": 4, "r_target": 2, "t_init": 1, "t_final": 1, "client_ema_persist": True},
            ],
        }
    )
    inproc, _ = run_experiment(load_config(path), out=tmp_path / "inproc", progress=Progress(quiet=True))
    grid = _grid(4)
    summaries = _run(path, tmp_path / "flower", grid)
    assert [s.label for s in summaries] == ["lora", "fedara"]
    run_dir = tmp_path / "flower"

    a_rounds, b_rounds = _rows(inproc / "rounds.csv"), _rows(run_dir / "rounds.csv")
    assert len(a_rounds) == len(b_rounds) == 6
    for a, b in zip(a_rounds, b_rounds, strict=True):
        assert (a["method"], a["round"]) == (b["method"], b["round"])
        assert float(b["eval_accuracy"]) == pytest.approx(float(a["eval_accuracy"]), abs=1e-9)
        assert float(b["eval_loss"]) == pytest.approx(float(a["eval_loss"]), rel=1e-5)
        assert (a["bytes_down"], a["bytes_up"], a["active_rank"], a["budget"]) == (
            b["bytes_down"],
            b["bytes_up"],
            b["active_rank"],
            b["budget"],
        )
        assert b["clients_dropped"] == "0" and int(b["flower_bytes_up"]) > int(b["bytes_up"])
    a_clients, b_clients = _rows(inproc / "clients.csv"), _rows(run_dir / "clients.csv")
    assert [list(r) for r in b_clients[:1]] == [CLIENT_COLUMNS]
    for a, b in zip(a_clients, b_clients, strict=True):
        assert [a[k] for k in ("method", "round", "client_id", *MEASURED)] == [
            b[k] for k in ("method", "round", "client_id", *MEASURED)
        ]
        assert float(b["train_loss"]) == pytest.approx(float(a["train_loss"]), rel=1e-5)
        assert a["flower_bytes_down"] == "" and int(b["flower_bytes_down"]) > int(b["bytes_down"])
        assert b["client_device"] and b["energy_provenance"] and b["memory_provenance"]
    assert _rows(inproc / "ranks.csv") == _rows(run_dir / "ranks.csv")
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "complete" and meta["runtime"]["engine"] == SIMULATION
    assert sorted(meta["runtime"]["nodes"]) == ["0", "1", "2", "3"]
    # FedARA (client_ema_persist) kept its per-client EMAs in context.state between rounds.
    kept = [ctx.state for ctx in grid.contexts.values()]
    assert any("edgebench.client-state.fedara" in s for s in kept)


@pytest.mark.slow
def test_the_smoke_config_gives_the_same_trajectory_on_flower(tmp_path: Path) -> None:
    """runners/configs/smoke.yaml as shipped (4 methods, 2 of 4 clients per round), in-process vs Flower."""
    smoke = Path(__file__).resolve().parents[3] / "runners" / "configs" / "smoke.yaml"
    inproc, _ = run_experiment(load_config(smoke), out=tmp_path / "inproc", progress=Progress(quiet=True))
    _run(smoke, tmp_path / "flower", _grid(4))
    a_rounds, b_rounds = _rows(inproc / "rounds.csv"), _rows(tmp_path / "flower" / "rounds.csv")
    assert [(r["method"], r["round"]) for r in a_rounds] == [(r["method"], r["round"]) for r in b_rounds]
    for a, b in zip(a_rounds, b_rounds, strict=True):
        assert float(b["eval_accuracy"]) == pytest.approx(float(a["eval_accuracy"]), abs=1e-9)
        assert float(b["eval_loss"]) == pytest.approx(float(a["eval_loss"]), rel=1e-5)
    a_clients, b_clients = _rows(inproc / "clients.csv"), _rows(tmp_path / "flower" / "clients.csv")
    assert [(c["method"], c["round"], c["client_id"]) for c in a_clients] == [
        (c["method"], c["round"], c["client_id"]) for c in b_clients
    ]
    for a, b in zip(a_clients, b_clients, strict=True):
        assert float(b["train_loss"]) == pytest.approx(float(a["train_loss"]), rel=1e-5)


def _tamper_round1(msg: Message, reply: Message) -> Message | None:
    """Round 1: client 0 sends garbage, client 1 a wrong-shaped tensor, client 2 crashes."""
    ask = msg.content.config_records[INSTRUCTION]
    if ask.get("action") != "train" or int(ask["round"]) != 1:
        return reply
    cid = int(ask["client_id"])
    if cid == 0:
        reply.content[UPLINK] = blob_record(b"\x00" * 64)
        reply.content.metric_records[METRICS]["bytes_up"] = 64
    elif cid == 1:
        payload = decode(blob_of(reply.content, UPLINK))
        name = sorted(payload.tensors)[0]
        payload.tensors[name] = payload.tensors[name][..., :1].contiguous()
        blob = encode(Payload(payload.tensors, payload.meta))
        reply.content[UPLINK] = blob_record(blob)
        reply.content.metric_records[METRICS]["bytes_up"] = len(blob)
    elif cid == 2:
        error = Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason="RuntimeError: out of memory")
        return Message(error, reply_to=msg)
    return reply


def test_dropouts_and_bad_replies_are_recorded_and_the_rest_aggregated(flower_config, tmp_path: Path) -> None:
    path = flower_config(
        {
            "federation": {"num_clients": 6, "clients_per_round": 6, "rounds": 2},
            "methods": [{"method": "lora", "r": 4}],
            "runtime": {"round_timeout_s": 1.0, "wait_for_nodes_s": 0},
        }
    )
    grid = _grid(6)  # client 5 stays healthy throughout
    grid.offline.add(104)  # client 4 never connects
    grid.hang_on_train.add(103)  # client 3 takes its train message and hangs
    grid.tamper = _tamper_round1
    _run(path, tmp_path / "run", grid)
    rows = {(r["round"], r["client_id"]): r for r in _rows(tmp_path / "run" / "clients.csv")}
    status = {k: v["status"] for k, v in rows.items()}
    assert status[("1", "0")].startswith("rejected: undecodable uplink")
    assert status[("1", "1")].startswith("rejected: ") and "shape" in status[("1", "1")]
    assert status[("1", "2")] == "dropout: CLIENT_APP_RAISED_EXCEPTION: RuntimeError: out of memory"
    assert status[("1", "3")] == "dropout: no reply within runtime.round_timeout_s (1 s)"
    assert status[("1", "4")] == "dropout: no SuperNode serves client 4"
    assert status[("1", "5")] == "accepted"
    assert status[("2", "0")] == status[("2", "1")] == status[("2", "2")] == status[("2", "5")] == "accepted"
    # what was sent is counted; what never came back is not measured (empty, never zero)
    assert rows[("1", "3")]["bytes_down"] != "" and rows[("1", "3")]["bytes_up"] == ""
    assert rows[("1", "4")]["bytes_down"] == "" and rows[("1", "4")]["flower_bytes_down"] == ""
    assert rows[("1", "2")]["client_device"] != ""  # known from the node's hello
    rounds = {r["round"]: r for r in _rows(tmp_path / "run" / "rounds.csv")}
    assert (rounds["1"]["clients"], rounds["1"]["clients_rejected"], rounds["1"]["clients_dropped"]) == ("6", "2", "3")
    assert (rounds["2"]["clients_rejected"], rounds["2"]["clients_dropped"]) == ("0", "2")
    assert list(rounds["1"]) == ROUND_COLUMNS
    assert rounds["1"]["energy_j"] == ""  # not every sampled client was measured


def test_too_few_replies_fails_the_run_and_the_server_resumes_from_its_checkpoint(flower_config, tmp_path: Path):
    path = flower_config(
        {
            "federation": {"num_clients": 2, "clients_per_round": 2, "rounds": 2},
            "methods": [{"method": "lora", "r": 4}],
            "runtime": {"min_replies": 2, "round_timeout_s": 1.0},
        }
    )
    reference = tmp_path / "reference"
    _run(path, reference, _grid(2))

    broken = _grid(2)

    def crash_in_round_2(msg: Message, reply: Message) -> Message:
        ask = msg.content.config_records[INSTRUCTION]
        if ask.get("action") == "train" and int(ask["round"]) == 2 and int(ask["client_id"]) == 1:
            return Message(Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason="killed"), reply_to=msg)
        return reply

    broken.tamper = crash_in_round_2
    run_dir = tmp_path / "run"
    with pytest.raises(TooFewReplies, match=r"1 usable replies, fewer than runtime\.min_replies"):
        _run(path, run_dir, broken)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"].startswith("failed: TooFewReplies")
    assert [r["round"] for r in _rows(run_dir / "rounds.csv")] == ["1"]

    _run(path, run_dir, _grid(2), resume=True)  # fresh SuperNodes, same run directory
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "complete" and len(meta["resumed_at"]) == 1
    got, want = _rows(run_dir / "rounds.csv"), _rows(reference / "rounds.csv")
    assert [r["round"] for r in got] == ["1", "2"]
    for a, b in zip(got, want, strict=True):
        assert float(a["eval_loss"]) == pytest.approx(float(b["eval_loss"]), rel=1e-6)


def test_hello_refuses_bad_nodes(flower_config, tmp_path: Path) -> None:
    path = flower_config({"methods": [{"method": "lora", "r": 4}], "federation": {"rounds": 1}})
    grid = LocalGrid(
        client_app.app,
        [
            {"partition-id": 0},
            {"partition-id": 0},  # duplicate
            {"partition-id": 7},  # outside 0..1
            {"num-partitions": 2},  # no partition-id: its hello raises
            {"partition-id": 1, "device-profile": "raspberry-pi-5"},
        ],
    )
    config = load_config(path)
    run_server(grid, config, tmp_path / "run", runtime=SIMULATION, progress=Progress(quiet=True))
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    nodes = meta["runtime"]["nodes"]
    assert sorted(nodes) == ["0", "1"]
    assert nodes["0"]["node_id"] == "100" and nodes["1"]["node_id"] == "104"
    assert nodes["1"]["device_profile"] == "raspberry-pi-5"
    assert nodes["1"]["hello_flower_bytes_down"] > 1000  # the config travels once per node
    assert meta["device"]["clients"] == ["raspberry-pi-5", "x86-cpu"]
    rows = _rows(tmp_path / "run" / "clients.csv")
    assert {r["client_device"] for r in rows} == {"x86-cpu", "raspberry-pi-5"}


def test_a_train_message_before_the_hello_is_an_error(flower_config) -> None:
    grid = _grid(1)
    context = grid.contexts[100]
    msg = Message(RecordDict({}), dst_node_id=100, message_type="train", group_id="x")
    msg.metadata.__dict__["_message_id"] = "m1"
    with pytest.raises(client_app.ClientSetupError, match="has not received the experiment config"):
        client_app.train(msg, context)
