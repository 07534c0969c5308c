"""In-process engine: a malformed or mistyped uplink is rejected with its reason and the run goes on (issue 12).

The client half's real uplink is tampered with on its way back (what a buggy or hostile client could
send): metadata that is not an object of strings, metadata that is not a JSON object, metadata keys no
uplink carries, integer tensors, and float32 tensors on a float16 wire.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest
import torch

from edgebench.config import load_config
from edgebench.fl import inprocess
from edgebench.fl.checkpoint import load_checkpoint
from edgebench.fl.codec import decode, encode
from edgebench.fl.engine import run_experiment
from edgebench.fl.progress import Progress
from edgebench.methods.base import Payload
from tests.methods.replies import rewrite_header


def _metadata_object(header: dict) -> dict:
    header["__metadata__"] = {"edgebench": json.loads(header["__metadata__"]["edgebench"])}  # not a string
    return header


def _tamper(cid: int, blob: bytes) -> bytes:
    payload = decode(blob)
    if cid == 0:
        return rewrite_header(blob, _metadata_object)
    if cid == 1:
        return encode(Payload(payload.tensors, [payload.meta]), "float16")  # type: ignore[arg-type]
    if cid == 2:
        return encode(Payload({k: v.round().to(torch.int64) for k, v in payload.tensors.items()}, payload.meta))
    if cid == 3:
        return encode(Payload(payload.tensors, {**payload.meta, "ranks": "query,value"}), "float16")
    if cid == 5:
        return encode(payload, "float32")  # the run's wire dtype is float16
    return blob


def test_malformed_uplinks_are_rejected_with_their_reason_and_the_run_completes(
    write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(
        {
            "federation": {"num_clients": 6, "clients_per_round": 6, "rounds": 2, "wire_dtype": "float16"},
            "methods": [
                {"method": "lora", "r": 4},
                {"method": "fedara", "r0": 4, "r_target": 2, "t_init": 0, "t_final": 0},
            ],
        }
    )
    real_round, real_client_round = inprocess.InProcessExecutor.run_round, inprocess.run_client_round
    pending: list[int] = []  # the round-1 clients still to run, in the order the executor runs them

    def run_round(self, task, on_client_done):
        pending[:] = [c.client_id for c in task.clients] if task.round == 1 else []
        return real_round(self, task, on_client_done)

    def run_client_round(*args, **kwargs):
        result = real_client_round(*args, **kwargs)
        return dataclasses.replace(result, uplink=_tamper(pending.pop(0), result.uplink)) if pending else result

    monkeypatch.setattr(inprocess.InProcessExecutor, "run_round", run_round)
    monkeypatch.setattr(inprocess, "run_client_round", run_client_round)
    run_dir, _ = run_experiment(load_config(path), out=tmp_path / "run", progress=Progress(quiet=True))

    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"
    with (run_dir / "clients.csv").open(newline="") as fh:
        rows = {(r["method"], r["round"], r["client_id"]): r["status"] for r in csv.DictReader(fh)}
    for method in ("lora", "fedara"):
        status = {cid: rows[(method, "1", str(cid))] for cid in range(6)}
        assert status[0] == "rejected: undecodable uplink: payload __metadata__ is not an object of strings"
        assert status[1] == "rejected: undecodable uplink: payload metadata is a JSON list, not an object"
        assert status[2].startswith("rejected: ") and "dtype int64, expected float32" in status[2]
        assert status[3] == "rejected: unexpected metadata keys ['ranks']"
        assert status[4] == "accepted"
        assert status[5].startswith("rejected: undecodable uplink: tensor ")
        assert status[5].endswith("is float32, but the wire dtype is float16")
        assert all(rows[(method, "2", str(cid))] == "accepted" for cid in range(6))
        server = load_checkpoint(run_dir, method).server
        assert all(t.is_floating_point() for t in server.tensors.values())
