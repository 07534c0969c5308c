"""Flower executor: a malformed reply, a mistyped one or one that inflates its sample count is rejected
with its reason, and the round goes on (issue 12, items 2 and 3). Same LocalGrid double as test_local.py.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytest.importorskip("flwr")

import torch
from flwr.app import Message

from edgebench.config import load_config
from edgebench.fl.checkpoint import load_checkpoint
from edgebench.fl.codec import decode, encode
from edgebench.fl.flower import client_app
from edgebench.fl.flower.executor import SIMULATION
from edgebench.fl.flower.server_app import run_server
from edgebench.fl.flower.wire import INSTRUCTION, METRICS, UPLINK, blob_of, blob_record
from edgebench.fl.progress import Progress
from edgebench.methods.base import Payload
from tests.fl.flower.localgrid import LocalGrid
from tests.methods.replies import rewrite_header

CLIENTS = 7
INFLATED = 10**15


def _metadata_object(header: dict) -> dict:
    header["__metadata__"] = {"edgebench": json.loads(header["__metadata__"]["edgebench"])}  # not a string
    return header


def _tamper_round1(msg: Message, reply: Message) -> Message | None:
    ask = msg.content.config_records[INSTRUCTION]
    if ask.get("action") != "train" or int(ask["round"]) != 1:
        return reply
    cid = int(ask["client_id"])
    blob = blob_of(reply.content, UPLINK)
    payload = decode(blob)
    if cid == 0:
        blob = rewrite_header(blob, _metadata_object)
    elif cid == 1:
        blob = encode(Payload(payload.tensors, [payload.meta]))  # type: ignore[arg-type]
    elif cid == 2:
        blob = encode(Payload({k: v.round().to(torch.int64) for k, v in payload.tensors.items()}, payload.meta))
    elif cid == 3:
        reply.content.metric_records[METRICS]["num_examples"] = INFLATED
    elif cid == 5:
        blob = encode(Payload(payload.tensors, {**payload.meta, "ranks": "query,value"}))
    elif cid == 6:
        blob = encode(payload, "float16")  # the run's wire dtype is float32
    reply.content[UPLINK] = blob_record(blob)
    reply.content.metric_records[METRICS]["bytes_up"] = len(blob)
    return reply


def test_malformed_replies_and_inflated_sample_counts_are_rejected_and_the_run_completes(
    flower_config, tmp_path: Path
) -> None:
    path = flower_config({"federation": {"num_clients": CLIENTS, "clients_per_round": CLIENTS, "rounds": 2}})
    grid = LocalGrid(client_app.app, [{"partition-id": i, "num-partitions": CLIENTS} for i in range(CLIENTS)])
    grid.tamper = _tamper_round1
    run_dir = tmp_path / "run"
    run_server(grid, load_config(path), run_dir, runtime=SIMULATION, progress=Progress(quiet=True))

    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"
    with (run_dir / "clients.csv").open(newline="") as fh:
        rows = {(r["method"], r["round"], r["client_id"]): r for r in csv.DictReader(fh)}
    for method in ("lora", "fedara"):
        status = {cid: rows[(method, "1", str(cid))]["status"] for cid in range(CLIENTS)}
        assert status[0] == "rejected: undecodable uplink: payload __metadata__ is not an object of strings"
        assert status[1] == "rejected: undecodable uplink: payload metadata is a JSON list, not an object"
        assert status[2].startswith("rejected: ") and "dtype int64, expected float32" in status[2]
        partition = rows[(method, "2", "3")]["num_examples"]  # the sample count the server knows for client 3
        assert status[3] == f"rejected: num_examples mismatch: reply says {INFLATED}, partition has {partition}"
        assert rows[(method, "1", "3")]["num_examples"] == partition  # the row keeps the known count
        assert status[4] == "accepted"
        assert status[5] == "rejected: unexpected metadata keys ['ranks']"
        assert status[6].startswith("rejected: undecodable uplink: tensor ")
        assert status[6].endswith("is float16, but the wire dtype is float32")
        assert all(rows[(method, "2", str(cid))]["status"] == "accepted" for cid in range(CLIENTS))
        assert all(rows[(method, "1", str(cid))]["bytes_up"] != "" for cid in range(CLIENTS))  # measured
        server = load_checkpoint(run_dir, method).server
        assert all(t.dtype == torch.float32 for t in server.tensors.values())
