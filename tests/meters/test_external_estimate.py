"""External CSV power log, the CPU-time estimate, the replay meter and the null meter."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from edgebench.meters import MeterReadError, MeterUnavailable, NullMeter
from edgebench.meters.estimate import CpuTimeEstimate
from edgebench.meters.external import ExternalPowerLog, parse_timestamp_ns
from edgebench.meters.replay import ReplayMeter, interpolate, load_trace


def test_timestamps_unix_and_iso() -> None:
    assert parse_timestamp_ns("1714000000.25") == 1_714_000_000_250_000_000
    assert parse_timestamp_ns("2024-04-24T23:06:40.25+00:00") == 1_714_000_000_250_000_000
    assert parse_timestamp_ns("2024-04-24T23:06:40.25Z") == 1_714_000_000_250_000_000
    with pytest.raises(ValueError):
        parse_timestamp_ns("yesterday")


def test_log_with_header_is_read_incrementally(tmp_path: Path) -> None:
    log = tmp_path / "usb.csv"
    log.write_text("time,volts,amps,power_w\n1714000000.0,5.1,1.0,5.1\n1714000000.5,5.1,1.2,6.12\n")
    meter = ExternalPowerLog(log, scope="USB-C input, whole board", clock_offset_s=0.25)
    meter.probe()
    times, watts = meter.read_new()
    assert times == [1_714_000_000_250_000_000, 1_714_000_000_750_000_000] and watts == [5.1, 6.12]
    with log.open("a") as fh:
        fh.write("1714000001.0,5.1,1.0,5.1\n1714000001.5,5.1")  # the logger is mid-write
    assert meter.read_new() == ([1_714_000_001_250_000_000], [5.1])
    with log.open("a") as fh:
        fh.write(",1.0,5.1\n")
    assert meter.read_new() == ([1_714_000_001_750_000_000], [5.1])


def test_log_without_header_uses_the_first_two_columns(tmp_path: Path) -> None:
    log = tmp_path / "ina219.csv"
    stamp = dt.datetime(2024, 4, 24, 23, 6, 40, tzinfo=dt.timezone.utc)
    log.write_text(f"{stamp.isoformat()},3.3\n")
    meter = ExternalPowerLog(log, scope="INA219 on the 5 V input")
    assert meter.read_new() == ([1_714_000_000_000_000_000], [3.3])


def test_bad_rows_name_file_line_and_column(tmp_path: Path) -> None:
    log = tmp_path / "bad.csv"
    log.write_text("timestamp,watts\n1714000000.0,5.0\n1714000000.5,n/a\n")
    with pytest.raises(MeterUnavailable, match=r"bad\.csv:3: expected watts \(a number\) in column 2 \(got 'n/a'\)"):
        ExternalPowerLog(log, scope="x").probe()
    log.write_text("when,how_much\n1,2\n")
    with pytest.raises(MeterUnavailable, match="header has no timestamp column"):
        ExternalPowerLog(log, scope="x").probe()


def test_missing_log_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(MeterUnavailable, match="does not exist"):
        ExternalPowerLog(tmp_path / "none.csv", scope="x").probe()


def test_log_deleted_mid_run_is_a_read_error(tmp_path: Path) -> None:
    log = tmp_path / "usb.csv"
    log.write_text("1,2\n")
    meter = ExternalPowerLog(log, scope="x")
    meter.probe()
    log.unlink()
    with pytest.raises(MeterReadError, match="cannot read"):
        meter.read_new()


def test_estimate_is_cpu_time_times_watts_per_core_and_labelled() -> None:
    clock = iter([10.0, 10.0, 12.5])
    meter = CpuTimeEstimate(4.0, "device profile test", cpu_time_s=lambda: next(clock))
    meter.probe()
    assert meter.provenance == "estimated"
    assert meter.read_energy_j() == pytest.approx(40.0)
    assert meter.read_energy_j() == pytest.approx(50.0)  # 2.5 CPU-seconds x 4 W
    assert "4 W per busy core (device profile test)" in meter.basis
    assert meter.describe()["basis"] == meter.basis


def test_estimate_without_watts_is_unavailable() -> None:
    with pytest.raises(MeterUnavailable, match=r"estimate\.per_core_w unset"):
        CpuTimeEstimate(None, "device profile p").probe()


def test_null_meter_always_says_why() -> None:
    with pytest.raises(MeterUnavailable, match="nothing here"):
        NullMeter("nothing here").probe()


def test_replay_trace_interpolates_and_holds(tmp_path: Path) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text("seconds,watts\n0,2\n1,4\n3,0\n")
    times, watts = load_trace(trace)
    assert interpolate(times, watts, -1) == 2 and interpolate(times, watts, 0.5) == 3
    assert interpolate(times, watts, 2) == 2 and interpolate(times, watts, 9) == 0
    meter = ReplayMeter(trace, t0_ns=0)
    meter.probe()
    assert meter.read_power_w() == 0.0  # monotonic time is far past the trace's end
    trace.write_text("0,1\n0,2\n")
    with pytest.raises(MeterUnavailable, match="not after"):
        ReplayMeter(trace).probe()
