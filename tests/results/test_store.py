"""The run-directory writer: rows appended in contract order, exact floats, empty cells, resume, atomic run.json."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from edgebench.results import (
    CLIENT_COLUMNS,
    CLIENTS_CSV,
    RANK_COLUMNS,
    RANKS_CSV,
    ROUND_COLUMNS,
    ROUNDS_CSV,
    RUN_JSON,
    ResultsWriter,
    RunMeta,
)
from tests.results import rowkit


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def test_a_new_writer_creates_the_three_tables_with_their_headers(tmp_path: Path) -> None:
    ResultsWriter(tmp_path / "run")
    assert _read(tmp_path / "run" / CLIENTS_CSV) == (CLIENT_COLUMNS, [])
    assert _read(tmp_path / "run" / ROUNDS_CSV) == (ROUND_COLUMNS, [])
    assert _read(tmp_path / "run" / RANKS_CSV) == (RANK_COLUMNS, [])


def test_append_round_writes_client_round_and_rank_rows(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path)
    rowkit.append_round(writer, "lora", 1, n_clients=3)
    _, clients = _read(tmp_path / CLIENTS_CSV)
    _, rounds = _read(tmp_path / ROUNDS_CSV)
    _, ranks = _read(tmp_path / RANKS_CSV)
    assert [(r["method"], r["round"], r["client_id"], r["status"]) for r in clients] == [
        ("lora", "1", "0", "accepted"),
        ("lora", "1", "1", "accepted"),
        ("lora", "1", "2", "accepted"),
    ]
    assert [(r["method"], r["round"], r["clients"], r["bytes_up"]) for r in rounds] == [("lora", "1", "3", "30")]
    assert [(r["module"], r["rank"]) for r in ranks] == [("q", "2"), ("v", "2")]


def test_a_reopened_writer_appends_without_a_second_header(tmp_path: Path) -> None:
    rowkit.append_round(ResultsWriter(tmp_path), "lora", 1)
    rowkit.append_round(ResultsWriter(tmp_path), "lora", 2)
    lines = (tmp_path / ROUNDS_CSV).read_text().splitlines()
    assert lines[0] == ",".join(ROUND_COLUMNS)
    assert len(lines) == 3 and not any(line.startswith("method,") for line in lines[1:])


def test_floats_are_written_with_full_precision(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path)
    value = 0.1 + 0.2  # 0.30000000000000004: lost by str() formatting to few digits
    tiny = 1.2345678901234567e-12
    clients = [rowkit.client_row("lora", 1, 0, train_s=value, energy_j=tiny)]
    writer.append_round(clients, rowkit.totals("lora", 1, clients, round_s=value), [])
    _, rows = _read(tmp_path / CLIENTS_CSV)
    assert rows[0]["train_s"] == repr(value)
    assert float(rows[0]["train_s"]) == value
    assert float(rows[0]["energy_j"]) == tiny
    _, rounds = _read(tmp_path / ROUNDS_CSV)
    assert float(rounds[0]["round_s"]) == value


def test_none_is_an_empty_cell_and_zero_stays_zero(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path)
    clients = [rowkit.client_row("lora", 1, 0, energy_j=None, train_s=0.0, bytes_down=0)]
    writer.append_round(clients, rowkit.totals("lora", 1, clients), [])
    _, rows = _read(tmp_path / CLIENTS_CSV)
    assert rows[0]["energy_j"] == ""
    assert rows[0]["energy_provenance"] == ""
    assert rows[0]["train_s"] == "0.0"
    assert rows[0]["bytes_down"] == "0"
    _, rounds = _read(tmp_path / ROUNDS_CSV)
    assert rounds[0]["energy_j"] == "" and rounds[0]["eval_accuracy"] == ""


def test_text_with_commas_and_semicolons_survives(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path)
    status = 'rejected: wrong shapes, "q" (4, 8) vs (4, 16)'
    row = rowkit.client_row("lora", 1, 0, window_flags="short-window;train:few-samples")
    row.status = status
    writer.append_round([row], rowkit.totals("lora", 1, [row]), [])
    _, rows = _read(tmp_path / CLIENTS_CSV)
    assert rows[0]["status"] == status
    assert rows[0]["window_flags"] == "short-window;train:few-samples"


def test_a_numpy_float_is_written_as_a_number(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path)
    clients = [rowkit.client_row("lora", 1, 0, train_s=np.float64(0.25))]
    writer.append_round(clients, rowkit.totals("lora", 1, clients), [])
    _, rows = _read(tmp_path / CLIENTS_CSV)
    assert float(rows[0]["train_s"]) == 0.25


def test_drop_rows_after_removes_only_that_methods_later_rows_in_every_table(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path)
    for rnd in (1, 2, 3):
        rowkit.append_round(writer, "lora", rnd)
        rowkit.append_round(writer, "ffa", rnd)
    writer.drop_rows_after("lora", 1)
    for name in (CLIENTS_CSV, ROUNDS_CSV, RANKS_CSV):
        _, rows = _read(tmp_path / name)
        kept = sorted({(r["method"], int(r["round"])) for r in rows})
        assert kept == [("ffa", 1), ("ffa", 2), ("ffa", 3), ("lora", 1)], name


def test_drop_rows_after_zero_forgets_the_method_entirely(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path)
    rowkit.append_round(writer, "lora", 1)
    rowkit.append_round(writer, "ffa", 1)
    writer.drop_rows_after("lora", 0)
    _, rows = _read(tmp_path / ROUNDS_CSV)
    assert [r["method"] for r in rows] == ["ffa"]


def test_drop_rows_after_keeps_the_header_and_the_kept_rows_byte_for_byte(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path)
    clients = [rowkit.client_row("lora", 1, 0, train_s=0.1 + 0.2, energy_j=None)]
    writer.append_round(clients, rowkit.totals("lora", 1, clients), [])
    before = (tmp_path / CLIENTS_CSV).read_text()
    rowkit.append_round(writer, "lora", 2)
    writer.drop_rows_after("lora", 1)
    assert (tmp_path / CLIENTS_CSV).read_text() == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_rows_appended_after_drop_rows_after_follow_the_kept_ones(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path)
    rowkit.append_round(writer, "lora", 1)
    rowkit.append_round(writer, "lora", 2)
    writer.drop_rows_after("lora", 1)
    rowkit.append_round(writer, "lora", 2)
    _, rows = _read(tmp_path / ROUNDS_CSV)
    assert [r["round"] for r in rows] == ["1", "2"]


def test_write_meta_writes_run_json(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path)
    meta = rowkit.meta()
    writer.write_meta(meta)
    data = json.loads((tmp_path / RUN_JSON).read_text())
    assert data == meta.to_json()
    assert RunMeta.from_json(data) == meta


def test_write_meta_replaces_the_previous_run_json_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path)
    meta = rowkit.meta()
    writer.write_meta(meta)
    meta.finish()
    writer.write_meta(meta)
    assert json.loads((tmp_path / RUN_JSON).read_text())["status"] == "complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([CLIENTS_CSV, ROUNDS_CSV, RANKS_CSV, RUN_JSON])


def test_write_meta_refuses_nan_and_keeps_the_previous_run_json(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path)
    writer.write_meta(rowkit.meta())
    before = (tmp_path / RUN_JSON).read_text()
    with pytest.raises(ValueError):
        writer.write_meta(rowkit.meta(measurement={"overhead_s": math.nan}))
    assert (tmp_path / RUN_JSON).read_text() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_write_partition_writes_one_row_per_client_with_label_counts(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path)
    writer.write_partition([[3, 0, 1], [0, 2, 2]], ["a", "b", "c"])
    assert (tmp_path / "partition.csv").read_text().splitlines() == [
        "client_id,num_examples,a,b,c",
        "0,4,3,0,1",
        "1,4,0,2,2",
    ]
