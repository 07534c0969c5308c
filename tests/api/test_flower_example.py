"""The Flower recipe: an existing ClientApp's train function, profiled, returns edgebench's per-round record and a
FedAvg server collects them, without edgebench's engine."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("flwr")

from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict

from edgebench.api import WINDOW_CSV_COLUMNS
from tests.api.conftest import load_example
from tests.fl.flower.localgrid import LocalGrid


def test_train_replies_with_arrays_metrics_and_the_engines_client_record() -> None:
    example = load_example("flower_client_app")
    LocalGrid(example.app, [])  # sets the task identity a Message is stamped with, as the SuperLink does
    arrays = ArrayRecord(example.Net().state_dict())
    content = RecordDict({"arrays": arrays, "config": ConfigRecord({"server-round": 3})})
    msg = Message(content, dst_node_id=7, message_type="train")
    context = Context(run_id=1, node_id=7, node_config={"partition-id": 1}, state=RecordDict(), run_config={})
    reply = example.train(msg, context)
    assert set(reply.content.array_records) == {"arrays"} and set(reply.content.metric_records) == {"metrics"}
    assert reply.content.metric_records["metrics"]["num-examples"] == 256
    row = dict(reply.content.config_records[example.EDGEBENCH_RECORD])
    assert set(row) <= set(WINDOW_CSV_COLUMNS)
    assert (row["window"], row["round"], row["client_id"], row["num_examples"], row["num_steps"]) == (
        "client",
        3,
        1,
        256,
        8,
    )
    assert row["total_s"] >= row["download_s"] + row["train_s"] + row["upload_s"] > 0
    assert row["bytes_down"] == arrays.count_bytes() == row["bytes_up"]
    assert row["comm_time_est_s"] > 0  # from the device profile's link model, as the engine estimates it
    assert row["energy_provenance"] and row["memory_provenance"] and row["peak_rss_bytes"] > 0
    assert "energy_j" in row or row["energy_provenance"].startswith("unavailable")  # empty only with a reason


def test_a_fedavg_federation_collects_one_record_per_client_and_round(tmp_path: Path) -> None:
    example = load_example("flower_client_app")
    grid = LocalGrid(example.app, [{"partition-id": 0}, {"partition-id": 1}])
    out = tmp_path / "rounds.csv"
    example.run_federation(grid, out, num_rounds=2)
    table = pd.read_csv(out)
    assert list(table.columns) == list(WINDOW_CSV_COLUMNS)
    assert sorted(zip(table["round"], table["client_id"], strict=True)) == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert (table["window"] == "client").all() and table["train_s"].gt(0).all()
    assert table["energy_provenance"].notna().all()
