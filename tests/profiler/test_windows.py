"""Windows: nesting, counters at edges, mid-run failures, idle/net energy, flags, memory, external logs."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from edgebench.meters.base import CounterMeter, MeterReadError
from edgebench.meters.external import ExternalPowerLog
from edgebench.profiler.energy import CombinedEnergy, CounterEnergy, LogEnergy
from edgebench.profiler.idle import IdleBaseline
from edgebench.profiler.memory import HostPeakMemory, MeminfoMemory, parse_meminfo
from edgebench.profiler.windows import DISABLED, NO_METER, Profiler


class ScriptedCounter(CounterMeter):
    """A counter whose successive readings (joules, or an exception) are given up front."""

    name = "scripted"
    update_interval_s = 0.05

    def __init__(self, readings: list[float | Exception]) -> None:
        super().__init__()
        self.readings = list(readings)
        self.source, self.scope = "scripted counter", "test rail"
        self.closed = False

    def probe(self) -> None:
        pass

    def read_energy_j(self) -> float:
        value = self.readings.pop(0)
        if isinstance(value, Exception):
            raise value
        return value

    def close(self) -> None:
        self.closed = True


def test_nested_windows_read_the_counter_at_every_edge() -> None:
    # edges in order: client open, download open, download close, train open, train close, client close
    counter = ScriptedCounter([100.0, 100.0, 101.0, 101.5, 131.5, 132.0])
    with Profiler(energy=CounterEnergy(counter)) as profiler:
        with profiler.window("client") as client:
            with profiler.window("download"):
                pass
            with profiler.window("train"):
                pass
    assert client.energy_j == pytest.approx(32.0)
    assert client.child("download").energy_j == pytest.approx(1.0)
    assert client.child("train").energy_j == pytest.approx(30.0)
    assert client.power_avg_w == pytest.approx(32.0 / client.duration_s)
    assert client.energy_provenance == "measured-counter: scripted counter; scope: test rail"
    assert client.energy_scope == "test rail" and client.sample_rate_hz is None
    assert counter.closed and not counter.readings


def test_counter_failing_mid_run_marks_only_its_windows() -> None:
    counter = ScriptedCounter([0.0, MeterReadError("sensor gone"), 5.0, 9.0])
    with Profiler(energy=CounterEnergy(counter)) as profiler:
        with profiler.window("a") as a:
            pass
        with profiler.window("b") as b:
            pass
    assert a.energy_j is None and a.flags == ["meter-failed"]
    assert a.energy_provenance == "unavailable: scripted failed mid-run: sensor gone"
    assert b.energy_j == pytest.approx(4.0) and b.energy_provenance.startswith("measured-counter")


def test_short_windows_are_flagged_and_flags_propagate_with_phase_names() -> None:
    counter = ScriptedCounter([0.0, 0.0, 0.1, 0.2])
    with Profiler(energy=CounterEnergy(counter)) as profiler:
        with profiler.window("client") as client:
            with profiler.window("download"):
                pass  # far below 10 x 0.05 s
    assert client.flags == ["short-window"]
    assert client.all_flags() == ["short-window", "download:short-window"]


def test_net_energy_subtracts_idle_power_times_duration() -> None:
    counter = ScriptedCounter([0.0, 50.0])
    idle = IdleBaseline(power_w=2.0, source="measured", meter="scripted", scope="test rail")
    with Profiler(energy=CounterEnergy(counter), idle=idle) as profiler:
        with profiler.window("w") as w:
            time.sleep(0.05)
    assert w.idle_power_w == 2.0
    assert w.energy_net_j == pytest.approx(50.0 - 2.0 * w.duration_s)


def test_measure_idle_uses_the_energy_source() -> None:
    counter = ScriptedCounter([10.0, 13.0])
    waited: list[float] = []
    with Profiler(energy=CounterEnergy(counter)) as profiler:
        baseline = profiler.measure_idle(1.5, wait=waited.append)
    assert waited == [1.5]
    assert baseline.power_w == pytest.approx(3.0 / baseline.seconds)
    assert baseline.meter == "scripted" and baseline.source == "measured"


def test_measure_idle_without_a_meter_says_why() -> None:
    with Profiler() as profiler, pytest.raises(RuntimeError, match="no energy meter configured"):
        profiler.measure_idle(0.0)


def test_without_meter_or_when_disabled_every_window_says_why() -> None:
    with Profiler() as profiler:
        with profiler.window("w") as w:
            pass
    assert w.energy_j is None and w.energy_provenance == NO_METER and w.peak_rss_bytes
    with Profiler(enabled=False) as profiler:
        with profiler.window("w") as w:
            pass
    assert w.energy_provenance == DISABLED and w.peak_rss_bytes is None and w.duration_s > 0


def test_combined_sources_add_up_and_fail_together() -> None:
    gpu = ScriptedCounter([0.0, 30.0, 30.0, MeterReadError("gpu lost")])
    cpu = ScriptedCounter([5.0, 15.0, 15.0, 20.0])
    gpu.name, gpu.scope = "gpu", "GPU board"
    cpu.name, cpu.scope = "cpu", "CPU package"
    combined = CombinedEnergy([CounterEnergy(gpu), CounterEnergy(cpu)])
    assert combined.meter_name == "gpu+cpu" and combined.scope == "GPU board + CPU package"
    with Profiler(energy=combined) as profiler:
        with profiler.window("ok") as ok:
            pass
        with profiler.window("bad") as bad:
            pass
    assert ok.energy_j == pytest.approx(40.0) and ok.energy_provenance.startswith("measured-counter")
    assert bad.energy_j is None and "gpu lost" in bad.energy_provenance


def test_external_log_is_aligned_by_wall_clock(tmp_path: Path) -> None:
    log = tmp_path / "usb.csv"
    now = time.time()
    rows = [(now - 1.0 + 0.1 * i, 4.0 if i < 15 else 8.0) for i in range(40)]  # 4 W, then 8 W from now+0.5 s
    log.write_text("timestamp,watts\n" + "".join(f"{t:.3f},{w}\n" for t, w in rows))
    source = LogEnergy(ExternalPowerLog(log, scope="USB-C input"))
    wall_to_mono = time.monotonic_ns() - time.time_ns()
    with Profiler(energy=source) as profiler:
        with profiler.window("w") as w:
            pass
    # integrate the same piecewise-linear log over the window's span, independently of the profiler
    t = np.array([int(a * 1e9) + wall_to_mono for a, _ in rows])
    watts = np.array([b for _, b in rows])
    x = np.linspace(w.start_ns, w.end_ns, 10001)
    expected = float(np.trapezoid(np.interp(x, t, watts), x / 1e9))
    assert w.energy_j == pytest.approx(expected, rel=0.02, abs=1e-4)
    assert w.energy_provenance.startswith("measured-sampled: external CSV power log")
    assert w.energy_scope == "USB-C input"


def test_host_peak_is_reset_per_window_and_folded_into_parents() -> None:
    profiler = Profiler()
    with profiler.window("client") as client:
        with profiler.window("train") as train:
            big = np.ones(40_000_000)  # ~320 MB touched inside train
            big[::4096] = 2.0
            del big
        with profiler.window("upload") as upload:
            pass
    assert train.peak_rss_bytes - upload.peak_rss_bytes > 250 * 2**20
    assert client.peak_rss_bytes >= train.peak_rss_bytes
    assert "VmHWM, reset per window" in client.memory_provenance


def test_host_peak_falls_back_to_ru_maxrss_and_says_so(tmp_path: Path) -> None:
    host = HostPeakMemory(status_path=tmp_path / "missing", clear_refs_path=tmp_path / "missing2")
    assert not host.resettable and "ru_maxrss" in host.provenance and host.read_bytes() > 0


def test_meminfo_parsing_and_jetson_fields(tmp_path: Path) -> None:
    text = "MemTotal:        7620000 kB\nMemAvailable:    5000000 kB\nNvMapMemUsed:     123456 kB\nHugePages_Total: 0\n"
    assert parse_meminfo(text)["NvMapMemUsed"] == 123456 * 1024 and parse_meminfo(text)["HugePages_Total"] == 0
    path = tmp_path / "meminfo"
    path.write_text(text)
    profiler = Profiler(meminfo=MeminfoMemory(path))
    with profiler.window("w") as w:
        path.write_text(text.replace("5000000", "4000000").replace("123456", "223456"))
    assert w.mem_available_min_bytes == 4_000_000 * 1024 and w.nvmap_peak_bytes == 223_456 * 1024
    assert "NvMapMemUsed" in w.memory_provenance


def test_overhead_is_accounted() -> None:
    profiler = Profiler()
    for _ in range(20):
        with profiler.window("w"):
            pass
    assert 0 < profiler.overhead_ns < 20 * 10_000_000  # well under 10 ms per window
