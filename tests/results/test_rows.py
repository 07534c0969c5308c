"""Typed result rows: a client window as cells, file order of clients.csv, round totals, column kinds."""

from __future__ import annotations

import dataclasses

import pytest

from edgebench.profiler.windows import WindowRecord
from edgebench.results import (
    ACCEPTED,
    CLIENT_COLUMNS,
    CLIENT_TABLE,
    MEASUREMENT_COLUMNS,
    RANK_TABLE,
    ROUND_COLUMNS,
    ROUND_TABLE,
    ClientMeasurement,
    Evaluation,
    RankRow,
    Transport,
)
from edgebench.results.rows import ClientRow, RoundRow, format_rails, sum_or_none
from edgebench.results.schema import TEXT, column, column_names, columns_of, markdown_table
from tests.results import rowkit

S = 1_000_000_000  # ns per second


def _phase(name: str, start_s: float, end_s: float, energy_j: float | None, flags: list[str] | None = None):
    return WindowRecord(
        name=name, start_ns=int(start_s * S), end_ns=int(end_s * S), energy_j=energy_j, flags=list(flags or [])
    )


def _client_window() -> WindowRecord:
    """A client window of 4 s with download 0.5 s, train 3 s, upload 0.25 s, as a sampled meter reports it."""
    return WindowRecord(
        name="client",
        start_ns=10 * S,
        end_ns=14 * S,
        peak_rss_bytes=1_000,
        peak_accel_bytes=2_000,
        peak_accel_reserved_bytes=3_000,
        mem_available_min_bytes=4_000,
        nvmap_peak_bytes=5_000,
        memory_provenance="host VmHWM",
        energy_j=20.5,
        energy_net_j=4.5,
        idle_power_w=4.0,
        power_avg_w=5.125,
        energy_provenance="measured-sampled: test",
        energy_scope="VDD_IN",
        sample_rate_hz=99.5,
        max_gap_s=0.02,
        flags=["few-samples"],
        rails_j={"VDD_IN": 20.5, "VDD_CPU_GPU_CV": 0.1},
        children=[
            _phase("download", 10.0, 10.5, 1.5, ["short-window"]),
            _phase("train", 10.5, 13.5, 18.0),
            _phase("upload", 13.5, 13.75, 0.5, ["short-window", "meter-failed"]),
        ],
    )


def _measurement(**overrides) -> ClientMeasurement:
    base = {"num_steps": 2, "bytes_down": 100, "bytes_up": 40, "energy_j": 1.0, "energy_net_j": 0.5}
    return ClientMeasurement(**{**base, **overrides})


def _row(client_id: int, status: str = ACCEPTED, **kwargs) -> ClientRow:
    return rowkit.client_row("lora", 3, client_id, status=status, num_examples=10 + client_id, active_rank=8, **kwargs)


def _totals(clients: list[ClientRow], *, evaluation: Evaluation | None = None, with_flower: bool = False) -> RoundRow:
    return rowkit.totals(
        "lora", 3, clients, round_s=1.25, active_rank=6, evaluation=evaluation, with_flower=with_flower
    )


# -- ClientMeasurement.from_window --------------------------------------------------------------


def _from_window() -> ClientMeasurement:
    return ClientMeasurement.from_window(
        _client_window(),
        num_steps=3,
        bytes_down=1234,
        bytes_up=567,
        train_loss=0.75,
        comm_time_est_s=0.125,
        comm_energy_est_j=None,
    )


def test_from_window_takes_phase_times_from_the_children_and_total_from_the_client_window() -> None:
    m = _from_window()
    assert m.download_s == pytest.approx(0.5)
    assert m.train_s == pytest.approx(3.0)
    assert m.upload_s == pytest.approx(0.25)
    assert m.total_s == pytest.approx(4.0)


def test_from_window_takes_phase_energy_from_the_children_and_window_energy_from_the_client() -> None:
    m = _from_window()
    assert (m.download_energy_j, m.train_energy_j, m.upload_energy_j) == (1.5, 18.0, 0.5)
    assert m.energy_j == 20.5 and m.energy_net_j == 4.5 and m.idle_power_w == 4.0 and m.power_avg_w == 5.125
    assert m.energy_provenance == "measured-sampled: test" and m.energy_scope == "VDD_IN"
    assert m.sample_rate_hz == 99.5 and m.max_gap_s == 0.02


def test_from_window_copies_memory_peaks_and_the_callers_cells() -> None:
    m = _from_window()
    assert (m.peak_rss_bytes, m.peak_accel_bytes, m.peak_accel_reserved_bytes) == (1_000, 2_000, 3_000)
    assert (m.mem_available_min_bytes, m.nvmap_peak_bytes, m.memory_provenance) == (4_000, 5_000, "host VmHWM")
    assert (m.num_steps, m.bytes_down, m.bytes_up, m.train_loss) == (3, 1234, 567, 0.75)
    assert m.comm_time_est_s == 0.125 and m.comm_energy_est_j is None


def test_from_window_joins_flags_with_semicolons_and_prefixes_phase_flags() -> None:
    assert _from_window().window_flags == "few-samples;download:short-window;upload:short-window;upload:meter-failed"


def test_from_window_leaves_flags_and_rails_empty_when_there_are_none() -> None:
    window = _client_window()
    window.flags, window.rails_j = [], {}
    for child in window.children:
        child.flags = []
    m = ClientMeasurement.from_window(
        window, num_steps=1, bytes_down=1, bytes_up=1, train_loss=0.0, comm_time_est_s=None, comm_energy_est_j=None
    )
    assert m.window_flags is None
    assert m.energy_rails_j is None


def test_from_window_formats_rails_as_name_equals_joules() -> None:
    assert _from_window().energy_rails_j == "VDD_IN=20.5;VDD_CPU_GPU_CV=0.1"


def test_format_rails_keeps_full_float_precision() -> None:
    value = 0.1 + 0.2
    text = format_rails({"GPU": value})
    assert text == f"GPU={value!r}"
    assert float(text.split("=")[1]) == value


def test_from_window_needs_all_three_phases() -> None:
    window = _client_window()
    window.children = window.children[:2]
    with pytest.raises(KeyError, match="upload"):
        ClientMeasurement.from_window(
            window, num_steps=1, bytes_down=1, bytes_up=1, train_loss=0.0, comm_time_est_s=None, comm_energy_est_j=None
        )


# -- ClientMeasurement.cells / from_cells --------------------------------------------------------


def test_measurement_cells_are_the_measurement_columns_in_order() -> None:
    assert list(_from_window().cells()) == MEASUREMENT_COLUMNS


def test_measurement_cells_round_trip() -> None:
    m = _from_window()
    assert ClientMeasurement.from_cells(m.cells()) == m


def test_from_cells_ignores_unknown_names_and_leaves_absent_ones_unmeasured() -> None:
    m = ClientMeasurement.from_cells({"train_s": 1.5, "client_id": 4, "not_a_column": "x"})
    assert m.train_s == 1.5
    assert all(value is None for name, value in m.cells().items() if name != "train_s")


def test_an_empty_measurement_is_all_unmeasured() -> None:
    assert set(ClientMeasurement().cells().values()) == {None}


# -- ClientRow.cells ---------------------------------------------------------------------------


def test_client_row_cells_are_exactly_the_client_columns_in_order() -> None:
    row = _row(1, measurement=_from_window(), transport=Transport(flower_bytes_down=11, client_device="jetson"))
    assert list(row.cells()) == CLIENT_COLUMNS


def test_client_row_cells_put_the_measurement_in_its_columns() -> None:
    m = _from_window()
    transport = Transport(flower_bytes_down=11, flower_bytes_up=12, flower_reply_s=0.5, client_device="pi5")
    row = _row(1, measurement=m, transport=transport)
    cells = row.cells()
    for name, value in m.cells().items():
        assert cells[name] == value, name
    assert (cells["method"], cells["round"], cells["client_id"], cells["num_examples"]) == ("lora", 3, 1, 11)
    assert (cells["active_rank"], cells["active_modules"], cells["status"]) == (8, 2, ACCEPTED)
    assert (cells["flower_bytes_down"], cells["flower_bytes_up"], cells["flower_reply_s"]) == (11, 12, 0.5)
    assert cells["client_device"] == "pi5"


def test_client_columns_keep_the_first_contracts_order() -> None:
    assert CLIENT_COLUMNS[:5] == ["method", "round", "client_id", "num_examples", "num_steps"]
    at = CLIENT_COLUMNS.index("memory_provenance")
    assert CLIENT_COLUMNS[at + 1 : at + 4] == ["active_rank", "active_modules", "status"]
    assert CLIENT_COLUMNS[-4:] == ["flower_bytes_down", "flower_bytes_up", "flower_reply_s", "client_device"]
    assert len(CLIENT_COLUMNS) == len(set(CLIENT_COLUMNS)) == len(MEASUREMENT_COLUMNS) + 11
    assert "measurement" not in CLIENT_COLUMNS and "transport" not in CLIENT_COLUMNS


def test_a_dropout_row_leaves_the_measurement_empty() -> None:
    cells = _row(2, status="dropout: timeout").cells()
    assert all(cells[name] is None for name in MEASUREMENT_COLUMNS)


def test_an_in_process_row_leaves_the_transport_cells_empty() -> None:
    cells = _row(0, measurement=_measurement()).cells()
    for name in ("flower_bytes_down", "flower_bytes_up", "flower_reply_s", "client_device"):
        assert cells[name] is None, name


# -- RoundRow.from_clients ----------------------------------------------------------------------


def test_round_totals_sum_bytes_and_count_clients() -> None:
    rows = [
        _row(0, measurement=_measurement(bytes_down=100, bytes_up=40)),
        _row(1, measurement=_measurement(bytes_down=200, bytes_up=60)),
    ]
    totals = _totals(rows)
    assert (totals.method, totals.round, totals.clients) == ("lora", 3, 2)
    assert (totals.bytes_down, totals.bytes_up) == (300, 100)
    assert (totals.round_s, totals.active_rank, totals.active_modules, totals.budget) == (1.25, 6, 2, None)


def test_round_energy_is_the_sum_when_every_client_was_measured() -> None:
    rows = [
        _row(0, measurement=_measurement(energy_j=1.5, energy_net_j=0.25, energy_provenance="measured: a")),
        _row(1, measurement=_measurement(energy_j=2.5, energy_net_j=-0.5, energy_provenance="measured: a")),
    ]
    totals = _totals(rows)
    assert totals.energy_j == pytest.approx(4.0)
    assert totals.energy_net_j == pytest.approx(-0.25)
    assert totals.energy_provenance == "measured: a"


def test_round_energy_is_empty_not_zero_when_any_client_is_unmeasured() -> None:
    rows = [
        _row(0, measurement=_measurement(energy_j=1.5, energy_net_j=0.5, comm_time_est_s=0.1)),
        _row(1, status="dropout: timeout"),
    ]
    totals = _totals(rows)
    assert totals.energy_j is None
    assert totals.energy_net_j is None
    assert totals.comm_time_est_s is None
    assert totals.comm_energy_est_j is None


def test_round_energy_is_empty_when_no_client_was_measured() -> None:
    rows = [_row(0, measurement=_measurement(energy_j=None, energy_net_j=None))]
    assert _totals(rows).energy_j is None


def test_round_comm_estimates_are_summed() -> None:
    rows = [
        _row(0, measurement=_measurement(comm_time_est_s=0.5, comm_energy_est_j=2.0)),
        _row(1, measurement=_measurement(comm_time_est_s=0.25, comm_energy_est_j=1.0)),
    ]
    totals = _totals(rows)
    assert (totals.comm_time_est_s, totals.comm_energy_est_j) == (0.75, 3.0)


def test_round_counts_rejected_and_dropped_clients_by_status_prefix() -> None:
    rows = [
        _row(0, measurement=_measurement()),
        _row(1, status="rejected: NaN in tensor", measurement=_measurement()),
        _row(2, status="rejected: wrong shapes", measurement=_measurement()),
        _row(3, status="dropout: no SuperNode", transport=Transport(flower_bytes_down=50)),
    ]
    totals = _totals(rows, with_flower=True)
    assert totals.clients == 4
    assert totals.clients_rejected == 2
    assert totals.clients_dropped == 1


def test_a_dropouts_unknown_bytes_do_not_make_the_byte_totals_empty() -> None:
    rows = [_row(0, measurement=_measurement(bytes_down=100, bytes_up=40)), _row(1, status="dropout: offline")]
    totals = _totals(rows)
    assert (totals.bytes_down, totals.bytes_up) == (100, 40)


def test_flower_columns_are_filled_only_with_flower() -> None:
    rows = [
        _row(0, measurement=_measurement(), transport=Transport(flower_bytes_down=500, flower_bytes_up=70)),
        _row(1, status="dropout: offline", transport=Transport(flower_bytes_down=300)),
    ]
    flower = _totals(rows, with_flower=True)
    assert (flower.clients_dropped, flower.flower_bytes_down, flower.flower_bytes_up) == (1, 800, 70)
    plain = _totals(rows, with_flower=False)
    assert (plain.clients_dropped, plain.flower_bytes_down, plain.flower_bytes_up) == (None, None, None)


def test_round_evaluation_cells_come_from_the_evaluation() -> None:
    evaluation = Evaluation(
        accuracy=0.625, loss=1.5, num_examples=80, duration_s=0.75, energy_j=3.25, energy_provenance="measured: e"
    )
    totals = _totals([_row(0, measurement=_measurement())], evaluation=evaluation)
    assert (totals.eval_accuracy, totals.eval_loss, totals.eval_examples) == (0.625, 1.5, 80)
    assert (totals.eval_s, totals.eval_energy_j, totals.eval_energy_provenance) == (0.75, 3.25, "measured: e")


def test_round_without_evaluation_leaves_evaluation_cells_empty() -> None:
    totals = _totals([_row(0, measurement=_measurement())])
    for name in ("eval_s", "eval_accuracy", "eval_loss", "eval_examples", "eval_energy_j", "eval_energy_provenance"):
        assert getattr(totals, name) is None, name


def test_round_and_rank_cells_are_their_columns_in_order() -> None:
    assert list(_totals([_row(0, measurement=_measurement())]).cells()) == ROUND_COLUMNS
    assert RankRow(method="m", round=1, module="q", rank=0).cells() == {
        "method": "m",
        "round": 1,
        "module": "q",
        "rank": 0,
    }


def test_sum_or_none() -> None:
    assert sum_or_none([1.0, 2.0]) == 3.0
    assert sum_or_none([1.0, None]) is None
    assert sum_or_none([]) is None
    assert sum_or_none([0.0]) == 0.0


# -- schema: column kinds -----------------------------------------------------------------------


def _kinds(table) -> dict[str, str]:
    return {c.name: c.kind for c in table}


@pytest.mark.parametrize(
    "name",
    [
        "method",
        "status",
        "energy_provenance",
        "memory_provenance",
        "energy_scope",
        "window_flags",
        "energy_rails_j",
        "client_device",
    ],
)
def test_text_client_columns(name: str) -> None:
    assert _kinds(CLIENT_TABLE)[name] == "text"


@pytest.mark.parametrize(
    "name", ["round", "client_id", "train_s", "train_loss", "energy_j", "bytes_up", "sample_rate_hz", "flower_reply_s"]
)
def test_number_client_columns(name: str) -> None:
    assert _kinds(CLIENT_TABLE)[name] == "number"


def test_text_columns_of_rounds_and_ranks() -> None:
    rounds = {n for n, k in _kinds(ROUND_TABLE).items() if k == "text"}
    assert rounds == {"method", "energy_provenance", "eval_energy_provenance"}
    ranks = {n for n, k in _kinds(RANK_TABLE).items() if k == "text"}
    assert ranks == {"method", "module"}


def test_every_column_is_text_exactly_when_its_unit_is_text() -> None:
    for table in (CLIENT_TABLE, ROUND_TABLE, RANK_TABLE):
        for c in table:
            assert (c.kind == "text") == (c.unit == TEXT), c.name
            assert c.doc, c.name


def test_column_declares_optional_and_required_fields() -> None:
    @dataclasses.dataclass(kw_only=True)
    class Row:
        name: str = column(TEXT, "a name", required=True)
        size: int | None = column("bytes", "a size")
        note: str = "not a column"

    assert Row(name="x").size is None
    with pytest.raises(TypeError):
        Row()  # type: ignore[call-arg]
    cols = columns_of(Row)
    assert column_names(cols) == ["name", "size"]
    assert [(c.unit, c.kind, c.doc) for c in cols] == [("text", "text", "a name"), ("bytes", "number", "a size")]
    assert markdown_table(cols).splitlines() == [
        "| column | unit | meaning |",
        "| --- | --- | --- |",
        "| `name` | text | a name |",
        "| `size` | bytes | a size |",
    ]
