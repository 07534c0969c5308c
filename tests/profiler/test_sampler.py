"""The sampler process end to end: replayed synthetic trace, fake hwmon tree, mid-run failure, shutdown.

Every process started here is stopped in a finally block; the profiler's waits are bounded (startup
timeout, stop with terminate/kill fallbacks). The windows below wait on the clock because a window's
length *is* the quantity under test (the sampler must see samples inside it), not a stand-in for work.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgebench.meters import MeterUnavailable
from edgebench.meters.jetson import JetsonIna3221Meter
from edgebench.meters.replay import ReplayMeter
from edgebench.profiler import sampler_child
from edgebench.profiler.energy import SampledEnergy
from edgebench.profiler.sampler import SamplerProcess
from edgebench.profiler.windows import Profiler

SYSFS = Path(__file__).resolve().parent.parent / "fixtures" / "sysfs"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers signal 0; check its state
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _sampled(spec: dict, rate_hz: float, meminfo: str | None = None) -> SampledEnergy:
    sampler = SamplerProcess(spec, rate_hz, meminfo_path=meminfo, startup_timeout_s=20)
    return SampledEnergy(sampler, spec["meter"], "test source", "test scope", None)


def _synthetic_trace(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A piecewise-linear trace with idle, ramps, plateaus and bursts (seconds, watts)."""
    t = np.arange(0, 3.0001, 0.05)
    w = 6.0 + 4.0 * np.sin(2 * np.pi * 0.7 * t) + 3.0 * (np.floor(t * 4) % 2)
    path.write_text("seconds,watts\n" + "".join(f"{a:.3f},{b:.6f}\n" for a, b in zip(t, w, strict=True)))
    return t, w


def _exact_integral(t: np.ndarray, w: np.ndarray, t0_ns: int, start_ns: int, end_ns: int) -> float:
    """Integral of the piecewise-linear trace over the window (dense evaluation of the exact function)."""
    a, b = (start_ns - t0_ns) / 1e9, (end_ns - t0_ns) / 1e9
    knots = t[(t > a) & (t < b)]
    x = np.concatenate(([a], knots, [b]))
    return float(np.trapezoid(np.interp(x, t, w), x))  # exact: linear between knots


def test_replayed_synthetic_trace_integrates_within_one_percent(tmp_path: Path) -> None:
    trace = tmp_path / "trace.csv"
    t, w = _synthetic_trace(trace)
    t0_ns = time.monotonic_ns()
    energy = _sampled(ReplayMeter(trace, t0_ns).spec(), rate_hz=100)
    profiler = Profiler(energy=energy)
    try:
        profiler.start()
        assert _pid_alive(energy.sampler.pid)
        with profiler.window("round") as round_window:
            with profiler.window("train") as train:
                time.sleep(1.2)
            with profiler.window("upload") as upload:
                time.sleep(0.4)
        for win in (round_window, train, upload):
            expected = _exact_integral(t, w, t0_ns, win.start_ns, win.end_ns)
            assert win.energy_j == pytest.approx(expected, rel=0.01), win.name
            assert win.energy_provenance.startswith("measured-sampled: test source, sampled at 100 Hz")
        assert round_window.sample_rate_hz > 50 and round_window.max_gap_s < 0.1
        assert train.sample_rate_hz == pytest.approx(100, rel=0.3)
    finally:
        profiler.close()
    assert not _pid_alive(energy.sampler.pid)


def test_fake_hwmon_constant_volts_and_amps_gives_p_times_t(tmp_path: Path) -> None:
    meter = JetsonIna3221Meter(SYSFS / "jetson-orin-nano-jp6", ["VDD_IN"], "module input VDD_IN")
    energy = _sampled(meter.spec(), rate_hz=50, meminfo="/proc/meminfo")
    profiler = Profiler(energy=energy)
    try:
        with profiler.window("client") as window:
            time.sleep(0.6)
    finally:
        profiler.close()
    assert window.energy_j == pytest.approx(5.0 * window.duration_s, rel=0.01)  # 5000 mV x 1000 mA
    assert window.power_avg_w == pytest.approx(5.0, rel=1e-6)
    assert window.rails_j["VDD_SOC"] == pytest.approx(1.5 * window.duration_s, rel=0.01)
    assert "short-window" in window.flags  # 0.6 s < 10 x 140 ms update_interval
    assert window.mem_available_min_bytes and window.mem_available_min_bytes > 0  # sampled from /proc/meminfo


def test_meter_failing_mid_run_marks_windows_unavailable_and_the_run_goes_on(tmp_path: Path) -> None:
    root = tmp_path / "sys"
    shutil.copytree(SYSFS / "jetson-orin-nano-jp6", root)
    current = next(root.glob("bus/i2c/drivers/ina3221/*/hwmon/hwmon1/curr1_input"))
    energy = _sampled(JetsonIna3221Meter(root, ["VDD_IN"]).spec(), rate_hz=50)
    profiler = Profiler(energy=energy)
    try:
        with profiler.window("before") as before:
            time.sleep(0.2)
        current.unlink()  # the sensor disappears
        with profiler.window("during") as during:
            time.sleep(0.2)
        current.write_text("2000\n")  # and comes back at 2 A
        time.sleep(0.1)
        with profiler.window("after") as after:
            time.sleep(0.2)
    finally:
        profiler.close()
    assert before.energy_j == pytest.approx(5.0 * before.duration_s, rel=0.01)
    assert during.energy_j is None and during.flags == ["meter-failed"]
    assert during.energy_provenance.startswith("unavailable: jetson-ina3221 failed mid-run: MeterReadError")
    assert "curr1_input does not exist" in during.energy_provenance
    assert after.energy_j == pytest.approx(10.0 * after.duration_s, rel=0.01)


def test_child_that_cannot_build_its_meter_is_unavailable(tmp_path: Path) -> None:
    sampler = SamplerProcess({"meter": "jetson-ina3221", "root": str(tmp_path)}, 10)
    with pytest.raises(MeterUnavailable, match="sampler process failed to start: MeterUnavailable: no INA3221"):
        sampler.start()
    assert not sampler.running and sampler.pid is not None and not _pid_alive(sampler.pid)


def test_child_exits_when_its_stdin_closes(tmp_path: Path) -> None:
    """What happens when the profiler's process dies: the pipe closes and the child stops by itself."""
    trace = tmp_path / "trace.csv"
    trace.write_text("0,1\n1,1\n")
    out = tmp_path / "samples.bin"
    spec = ReplayMeter(trace, 0).spec()
    argv = [sys.executable, "-m", "edgebench.profiler.sampler_child", "--spec", json.dumps(spec)]
    argv += ["--out", str(out), "--rate-hz", "200"]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        ready = json.loads(proc.stdout.readline())
        assert ready["status"] == "ready" and ready["channels"] == ["power_w", "rail:trace"]
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0
        assert out.stat().st_size > 0 and out.stat().st_size % 24 == 0  # int64 + 2 x float64 per record
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        proc.stdout.close()


def test_first_reading_is_on_file_before_the_child_reports_ready(tmp_path: Path, monkeypatch) -> None:
    """So a window opened right after start() always has a reading, however late the child runs next (under
    load the parent could otherwise end a short first window before any record existed: energy None)."""
    trace = tmp_path / "trace.csv"
    trace.write_text("0,3.5\n1,3.5\n")
    out = tmp_path / "samples.bin"
    bytes_on_file_at_ready: list[int] = []
    status_lines: list[str] = []

    class _Stdout(io.StringIO):
        def write(self, text: str) -> int:
            if '"status": "ready"' in text:
                bytes_on_file_at_ready.append(out.stat().st_size if out.exists() else 0)
                status_lines.append(text)
            return super().write(text)

    read_end, write_end = os.pipe()
    os.close(write_end)  # stdin at EOF: the child stops after its loop's first wait
    with os.fdopen(read_end) as stdin:
        monkeypatch.setattr(sys, "stdin", stdin)
        monkeypatch.setattr(sys, "stdout", _Stdout())
        argv = ["--spec", json.dumps(ReplayMeter(trace, 0).spec()), "--out", str(out), "--rate-hz", "50"]
        assert sampler_child.main(argv) == 0
    fmt = json.loads(status_lines[0])["record_format"]
    record_bytes = struct.calcsize(fmt)
    assert bytes_on_file_at_ready == [record_bytes]
    stamp, power_w, _rail = struct.unpack(fmt, out.read_bytes()[:record_bytes])
    assert stamp > 0 and power_w == pytest.approx(3.5)


def test_child_that_cannot_write_its_file_says_so_before_ready(tmp_path: Path) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text("0,1\n1,1\n")
    spec = ReplayMeter(trace, 0).spec()
    argv = [sys.executable, "-m", "edgebench.profiler.sampler_child", "--spec", json.dumps(spec)]
    argv += ["--out", str(tmp_path / "missing-folder" / "samples.bin"), "--rate-hz", "50"]
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    status = json.loads(done.stdout.splitlines()[0])
    assert done.returncode == 3 and status["status"] == "error"
    assert "cannot write" in status["reason"] and "missing-folder" in status["reason"]
