"""A window's record as a CSV row with the results contract's column names; caller cells; header checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edgebench.api import CALLER_CELLS, WINDOW_CSV_COLUMNS, Monitor, append_window_rows
from edgebench.profiler.settings import ProfilerSettings
from edgebench.profiler.setup import build_measurement
from edgebench.results import CLIENT_COLUMNS, MEASUREMENT_COLUMNS
from tests.api.conftest import FLAT_W


def _work() -> int:
    return sum(i * i for i in range(200_000))


def test_the_columns_are_window_start_then_the_contracts_client_columns() -> None:
    assert WINDOW_CSV_COLUMNS[:2] == ("window", "started_at")
    assert list(WINDOW_CSV_COLUMNS[5:]) == MEASUREMENT_COLUMNS
    assert set(WINDOW_CSV_COLUMNS[2:]) <= set(CLIENT_COLUMNS)  # round, client_id, num_examples: clients.csv names
    assert set(CALLER_CELLS) <= set(WINDOW_CSV_COLUMNS)


def test_append_csv_writes_the_header_once_and_one_row_per_window(replay: dict, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "windows.csv"
    with Monitor(**replay, host_sample_s=None) as monitor:
        for k in range(2):
            with monitor.window("epoch") as w:
                _work()
            w.append_csv(out, round=k + 1, num_steps=10, train_loss=0.5)
    table = pd.read_csv(out)
    assert list(table.columns) == list(WINDOW_CSV_COLUMNS)
    assert table["round"].tolist() == [1, 2] and table["num_steps"].tolist() == [10, 10]
    assert table["energy_j"].tolist() == pytest.approx((FLAT_W * table["total_s"]).tolist(), rel=1e-6)
    assert table["energy_provenance"].str.startswith("measured-sampled").all()
    assert table["client_id"].isna().all() and table["bytes_down"].isna().all()  # not given: empty, never 0
    assert table["train_s"].isna().all()  # no phase windows


def test_a_monitor_with_csv_appends_every_finished_window_with_cells_set_inside_it(
    replay: dict, tmp_path: Path
) -> None:
    out = tmp_path / "w.csv"
    with Monitor(**replay, csv=out, host_sample_s=None) as monitor, monitor.window("epoch") as epoch:
        with monitor.window("step"):
            _work()
        epoch.update(num_steps=1)
    table = pd.read_csv(out)
    assert table["window"].tolist() == ["epoch/step", "epoch"]
    assert table["num_steps"].isna().tolist() == [True, False]
    assert table.loc[1, "total_s"] == pytest.approx(epoch.total_s)


def test_both_byte_counts_fill_the_link_models_communication_estimate(replay: dict) -> None:
    with Monitor(**replay, host_sample_s=None) as monitor, monitor.window("client") as w:
        _work()
    w.update(bytes_down=1_000_000)
    assert w.comm_time_est_s is None
    w.update(bytes_up=500_000)
    expected = build_measurement(ProfilerSettings(enabled=False), "x86-cpu").comm_estimate(1_000_000, 500_000)
    assert (w.comm_time_est_s, w.comm_energy_est_j) == pytest.approx(expected)


def test_measured_cells_cannot_be_set_by_the_caller(replay: dict) -> None:
    with Monitor(**replay, host_sample_s=None) as monitor, monitor.window("w") as w:
        _work()
    with pytest.raises(ValueError, match="cannot set energy_j: energy_j measured by the window"):
        w.update(energy_j=1.0)
    with pytest.raises(ValueError, match="cannot set epoch: the cells a caller may set are round, client_id"):
        w.update(epoch=1)


def test_cells_the_caller_sets_must_have_the_contracts_types(replay: dict) -> None:
    with Monitor(**replay, host_sample_s=None) as monitor, monitor.window("w") as w:
        _work()
    for cell, bad in (("round", "3"), ("num_steps", -1), ("client_id", True), ("bytes_up", 1.5)):
        with pytest.raises(ValueError, match=f"{cell} must be an integer >= 0, got {bad!r}"):
            w.update(**{cell: bad})
    with pytest.raises(ValueError, match="train_loss must be a number, got 'low'"):
        w.update(train_loss="low")
    w.update(round=np.int64(2), train_loss=np.float32(0.5), num_steps=None)
    assert type(w.round) is int and type(w.train_loss) is float and w.num_steps is None


def test_an_open_window_has_no_row_yet(replay: dict, tmp_path: Path) -> None:
    with Monitor(**replay, host_sample_s=None) as monitor, monitor.window("w") as w:
        with pytest.raises(RuntimeError, match="window 'w' is still open"):
            w.append_csv(tmp_path / "w.csv")
    assert not (tmp_path / "w.csv").exists()


def test_appending_to_a_file_with_another_header_is_refused(replay: dict, tmp_path: Path) -> None:
    other = tmp_path / "clients.csv"
    other.write_text(",".join(CLIENT_COLUMNS) + "\n")
    with Monitor(**replay, host_sample_s=None) as monitor, monitor.window("w") as w:
        _work()
    with pytest.raises(ValueError, match=r"clients.csv: header is not edgebench's window columns"):
        w.append_csv(other)
    assert other.read_text() == ",".join(CLIENT_COLUMNS) + "\n"


def test_rows_back_from_a_flower_record_are_appended_and_unknown_cells_refused(tmp_path: Path) -> None:
    out = tmp_path / "rounds.csv"
    append_window_rows(out, [{"window": "client", "round": 3, "total_s": 1.25, "energy_provenance": "estimated: x"}])
    table = pd.read_csv(out)
    assert table.loc[0, "round"] == 3 and table.loc[0, "total_s"] == 1.25 and pd.isna(table.loc[0, "energy_j"])
    with pytest.raises(ValueError, match="not window columns: epoch"):
        append_window_rows(out, [{"window": "client", "epoch": 1}])
    assert len(pd.read_csv(out)) == 1
