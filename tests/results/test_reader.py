"""The run-directory reader: text stays text, numbers are parsed, empty cells are NaN and never zero."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from edgebench.results import (
    CLIENT_COLUMNS,
    CLIENT_TABLE,
    CLIENTS_CSV,
    RANK_COLUMNS,
    ROUND_COLUMNS,
    ROUNDS_CSV,
    RUN_JSON,
    RankRow,
    ResultsWriter,
    Transport,
    read_run,
    read_table,
)
from tests.results import rowkit


def _write_run(run_dir: Path, *, meta: bool = True) -> dict | None:
    """Write a small run; returns the run.json content written (None without one)."""
    writer = ResultsWriter(run_dir)
    method = "123"  # a label that looks like a number must stay text
    clients = [
        rowkit.client_row(
            method,
            1,
            0,
            transport=Transport(client_device="5"),
            train_s=0.1 + 0.2,
            energy_j=0.0,
            bytes_up=1234,
            energy_scope="1",
            window_flags="short-window;train:few-samples",
            energy_provenance="measured-counter: x",
        ),
        rowkit.client_row(method, 1, 1, status="dropout: timeout"),
    ]
    totals = rowkit.totals(method, 1, clients, round_s=2.5, with_flower=True)
    writer.append_round(clients, totals, [RankRow(method=method, round=1, module="layer.0.q", rank=0)])
    if not meta:
        return None
    written = rowkit.meta()  # built once: its started_at is the clock's time now
    writer.write_meta(written)
    return written.to_json()


def test_read_run_reads_meta_and_all_three_tables(tmp_path: Path) -> None:
    written = _write_run(tmp_path)
    run = read_run(tmp_path)
    assert run.problems == []
    assert run.meta == written
    assert (len(run.clients), len(run.rounds), len(run.ranks)) == (2, 1, 1)
    assert list(run.clients.columns) == CLIENT_COLUMNS
    assert list(run.rounds.columns) == ROUND_COLUMNS
    assert list(run.ranks.columns) == RANK_COLUMNS


def test_text_columns_stay_strings_even_when_they_look_like_numbers(tmp_path: Path) -> None:
    _write_run(tmp_path)
    clients = read_run(tmp_path).clients
    row = clients.iloc[0]
    assert row["method"] == "123"
    assert row["client_device"] == "5"
    assert row["energy_scope"] == "1"
    assert row["window_flags"] == "short-window;train:few-samples"
    assert row["status"] == "accepted"
    assert row["energy_provenance"] == "measured-counter: x"
    assert clients.iloc[1]["status"] == "dropout: timeout"
    for name in ("method", "client_device", "energy_scope", "window_flags", "status"):
        assert all(isinstance(v, str) for v in clients[name]), name


def test_empty_text_cells_are_empty_strings(tmp_path: Path) -> None:
    _write_run(tmp_path)
    dropout = read_run(tmp_path).clients.iloc[1]
    assert dropout["client_device"] == "" and dropout["window_flags"] == "" and dropout["energy_provenance"] == ""


def test_numbers_are_parsed_exactly(tmp_path: Path) -> None:
    _write_run(tmp_path)
    run = read_run(tmp_path)
    row = run.clients.iloc[0]
    assert row["train_s"] == 0.1 + 0.2
    assert row["bytes_up"] == 1234
    assert row["client_id"] == 0
    assert pd.api.types.is_float_dtype(run.clients["train_s"])
    assert pd.api.types.is_integer_dtype(run.clients["round"])
    assert run.rounds.iloc[0]["round_s"] == 2.5
    assert run.ranks.iloc[0]["module"] == "layer.0.q" and run.ranks.iloc[0]["rank"] == 0


def test_empty_number_cells_are_nan_not_zero(tmp_path: Path) -> None:
    _write_run(tmp_path)
    run = read_run(tmp_path)
    measured, dropout = run.clients.iloc[0], run.clients.iloc[1]
    assert measured["energy_j"] == 0.0  # a measured zero stays zero
    assert math.isnan(dropout["energy_j"])
    assert math.isnan(dropout["train_s"])
    assert math.isnan(dropout["bytes_up"])
    assert math.isnan(run.rounds.iloc[0]["energy_j"])  # one client unmeasured: no round energy
    assert math.isnan(run.rounds.iloc[0]["eval_accuracy"])


def test_missing_columns_are_added_empty(tmp_path: Path) -> None:
    (tmp_path / CLIENTS_CSV).write_text("method,round,client_id,train_s\nlora,1,0,0.5\n")
    frame = read_table(tmp_path / CLIENTS_CSV, CLIENT_TABLE)
    assert set(CLIENT_COLUMNS) <= set(frame.columns)
    assert frame.iloc[0]["train_s"] == 0.5
    assert math.isnan(frame.iloc[0]["energy_j"])
    assert math.isnan(frame.iloc[0]["num_examples"])
    assert frame.iloc[0]["window_flags"] == "" and frame.iloc[0]["status"] == ""


def test_an_unknown_numeric_column_is_kept_and_parsed(tmp_path: Path) -> None:
    (tmp_path / CLIENTS_CSV).write_text(
        "method,round,client_id,future_metric_j,future_note\nlora,1,0,2.5,a\nlora,2,0,,\n"
    )
    frame = read_table(tmp_path / CLIENTS_CSV, CLIENT_TABLE)
    assert pd.api.types.is_float_dtype(frame["future_metric_j"])
    assert frame.iloc[0]["future_metric_j"] == 2.5
    assert math.isnan(frame.iloc[1]["future_metric_j"])
    assert frame.iloc[0]["future_note"] == "a"  # not every cell is a number: kept as text


def test_a_known_numeric_column_with_garbage_becomes_nan(tmp_path: Path) -> None:
    (tmp_path / ROUNDS_CSV).write_text("method,round,energy_j\nlora,1,oops\n")
    frame = read_run(tmp_path).rounds
    assert math.isnan(frame.iloc[0]["energy_j"])


def test_rows_without_a_round_are_dropped(tmp_path: Path) -> None:
    (tmp_path / ROUNDS_CSV).write_text("method,round\nlora,1\nlora,\n")
    assert list(read_run(tmp_path).rounds["round"]) == [1]


def test_missing_run_json_is_a_problem_not_an_error(tmp_path: Path) -> None:
    _write_run(tmp_path, meta=False)
    run = read_run(tmp_path)
    assert run.meta == {}
    assert run.problems == [f"no {RUN_JSON}"]
    assert len(run.clients) == 2


def test_unreadable_run_json_is_a_problem(tmp_path: Path) -> None:
    _write_run(tmp_path, meta=False)
    (tmp_path / RUN_JSON).write_text("{not json")
    run = read_run(tmp_path)
    assert run.meta == {}
    assert len(run.problems) == 1 and run.problems[0].startswith(f"unreadable {RUN_JSON}")


def test_an_empty_directory_reads_as_empty_tables_with_every_column(tmp_path: Path) -> None:
    run = read_run(tmp_path)
    assert run.clients.empty and run.rounds.empty and run.ranks.empty
    assert list(run.clients.columns) == CLIENT_COLUMNS
    assert run.problems == [f"no {RUN_JSON}"]


def test_a_header_only_table_reads_as_empty(tmp_path: Path) -> None:
    ResultsWriter(tmp_path)
    run = read_run(tmp_path)
    assert run.clients.empty and list(run.clients.columns) == CLIENT_COLUMNS


@pytest.mark.parametrize("cell", ["NA", "nan", "None", "null"])
def test_na_like_text_is_not_treated_as_missing(tmp_path: Path, cell: str) -> None:
    (tmp_path / CLIENTS_CSV).write_text(f"method,round,client_device\n{cell},1,{cell}\n")
    frame = read_table(tmp_path / CLIENTS_CSV, CLIENT_TABLE)
    assert frame.iloc[0]["method"] == cell and frame.iloc[0]["client_device"] == cell


def test_meta_is_returned_as_written(tmp_path: Path) -> None:
    (tmp_path / RUN_JSON).write_text(json.dumps({"status": "complete", "future": [1]}))
    assert read_run(tmp_path).meta == {"status": "complete", "future": [1]}


def test_read_run_can_fill_a_subclass_of_run_files(tmp_path: Path) -> None:
    from dataclasses import dataclass

    from edgebench.results import RunFiles

    @dataclass
    class Richer(RunFiles):
        note: str = "derived"

    _write_run(tmp_path)
    run = read_run(tmp_path, into=Richer)
    assert isinstance(run, Richer) and run.note == "derived" and len(run.clients) == 2
