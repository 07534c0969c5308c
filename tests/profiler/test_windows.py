"""Windows: nesting, counters at edges, mid-run failures, idle/net energy, flags, memory, external logs."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from edgebench.meters.base import CounterMeter, MeterReadError
from edgebench.meters.estimate import CpuTimeEstimate
from edgebench.meters.external import ExternalPowerLog
from edgebench.profiler.energy import MISSED_WRAP_FLAG, BesideEnergy, CombinedEnergy, CounterEnergy, LogEnergy
from edgebench.profiler.idle import IdleBaseline
from edgebench.profiler.memory import HostPeakMemory, MeminfoMemory, parse_meminfo
from edgebench.profiler.windows import DISABLED, NEGATIVE_NET_FLAG, NO_METER, Profiler


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


def test_negative_net_energy_is_flagged() -> None:
    """A window that drew less than the idle baseline (stale baseline, another power mode) keeps its negative
    net energy, and says so."""
    counter = ScriptedCounter([0.0, 0.0, 0.0, 50.0])
    idle = IdleBaseline(power_w=100.0, source="calibration-file", meter="scripted", scope="test rail")
    with Profiler(energy=CounterEnergy(counter), idle=idle) as profiler:
        with profiler.window("quiet") as quiet:
            pass
        with profiler.window("busy") as busy:
            pass
    assert quiet.energy_net_j is not None and quiet.energy_net_j < 0
    assert NEGATIVE_NET_FLAG in quiet.flags and quiet.energy_j == 0.0
    assert busy.energy_net_j > 0 and NEGATIVE_NET_FLAG not in busy.flags


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


class ScriptedWrapCounter(ScriptedCounter):
    """A counter that, like RAPL, may go unread longer than a wrap period: each reading may say so."""

    def __init__(self, readings: list[tuple[float, bool]]) -> None:
        super().__init__([j for j, _ in readings])
        self.gaps = [gap for _, gap in readings]

    def read_energy_j(self) -> float:
        if self.gaps.pop(0):
            self.unverified("went unread for 600 s, longer than one wrap period")
        return super().read_energy_j()


def test_windows_where_a_wrap_could_have_been_missed_are_flagged() -> None:
    counter = ScriptedWrapCounter([(0.0, False), (10.0, True), (10.0, False), (20.0, False)])
    with Profiler(energy=CounterEnergy(counter)) as profiler:
        with profiler.window("long") as long:
            pass
        with profiler.window("fine") as fine:
            pass
    assert MISSED_WRAP_FLAG in long.flags and long.energy_j == pytest.approx(10.0)  # kept, but flagged
    assert MISSED_WRAP_FLAG not in fine.flags


def test_a_source_beside_the_total_is_reported_but_never_added() -> None:
    gpu = ScriptedCounter([0.0, 16.0])
    gpu.name, gpu.scope = "gpu", "GPU board"
    cpu_seconds = iter([1.0, 3.0])
    cpu = CpuTimeEstimate(4.0, "test", cpu_time_s=lambda: next(cpu_seconds))
    source = BesideEnergy(CounterEnergy(gpu), [CounterEnergy(cpu)])
    assert source.meter_name == "gpu&estimate" and source.label == "measured-counter"
    with Profiler(energy=source) as profiler:
        with profiler.window("w") as w:
            pass
    assert w.energy_j == pytest.approx(16.0)  # the GPU alone
    assert w.rails_j == {"not-in-total:estimate": pytest.approx(8.0)}  # 2 CPU seconds x 4 W, beside it
    assert w.energy_provenance.startswith("measured-counter: scripted counter; scope: GPU board; reported beside it")
    assert "not-in-total:estimate (estimated: CPU cores busy with this process" in w.energy_scope


def test_a_sum_with_an_estimate_is_labelled_estimated() -> None:
    gpu = ScriptedCounter([0.0, 16.0])
    gpu.name, gpu.scope = "gpu", "GPU board"
    cpu_seconds = iter([1.0, 3.0])
    cpu = CpuTimeEstimate(4.0, "test", cpu_time_s=lambda: next(cpu_seconds))
    combined = CombinedEnergy([CounterEnergy(gpu), CounterEnergy(cpu)])
    with Profiler(energy=combined) as profiler:
        with profiler.window("w") as w:
            pass
    assert w.energy_j == pytest.approx(24.0) and w.energy_provenance.startswith("estimated: ")
    assert w.energy_scope.startswith("GPU board [measured-counter] + CPU cores busy with this process")
    assert w.energy_scope.endswith("[estimated]")


class _FakeCuda:
    """Stands in for CudaPeakMemory; CUDA 'starts' when `start()` is called."""

    present = True

    def __init__(self) -> None:
        self.available = False

    @property
    def provenance(self) -> str:
        return "measured-counter: torch.cuda (fake)" if self.available else "unavailable: CUDA not in use"

    def start(self) -> None:
        self.available = True

    def synchronize(self) -> None:
        pass

    def read_bytes(self) -> int | None:
        return 123_000_000 if self.available else None

    def read_reserved_bytes(self) -> int | None:
        return 256_000_000 if self.available else None

    def reset(self) -> None:
        pass


def test_cuda_memory_provenance_is_decided_when_the_window_closes() -> None:
    """A window in which CUDA starts has CUDA peaks: its provenance must not say CUDA is not in use."""
    profiler = Profiler()
    cuda = _FakeCuda()
    profiler._cuda = cuda  # the one accelerator hook of the profiler, faked
    with profiler.window("client") as client:
        with profiler.window("download") as before:
            pass
        with profiler.window("train") as train:
            cuda.start()
    assert before.peak_accel_bytes is None and "CUDA not in use" in before.memory_provenance
    assert train.peak_accel_bytes == 123_000_000 and train.peak_accel_reserved_bytes == 256_000_000
    for window in (train, client):
        assert "accelerator measured-counter: torch.cuda (fake)" in window.memory_provenance, window.name


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
