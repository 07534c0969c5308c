"""Impossible readings are never `measured`: counters stepping backwards or implying more than the device
profile's max_power_w make their windows `implausible`; power samples below 0 W or above max_power_w are
dropped and counted, and a window losing too many of them is `implausible`."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgebench.devices.profiles import get_profile, load_profiles
from edgebench.meters.base import CounterMeter
from edgebench.meters.jetson import JetsonIna3221Meter
from edgebench.profiler.energy import CounterEnergy, SampledEnergy
from edgebench.profiler.settings import ProfilerSettings
from edgebench.profiler.setup import meter_options, open_source
from edgebench.profiler.windows import Profiler, WindowRecord
from edgebench.results.rows import CLIENT_COLUMNS, ClientMeasurement

SYSFS = Path(__file__).resolve().parent.parent / "fixtures" / "sysfs"


def test_every_profile_has_a_max_power() -> None:
    profiles = load_profiles()
    assert all(p.max_power_w > 0 for p in profiles.values())
    assert profiles["jetson-orin-nano"].max_power_w < profiles["x86-cpu"].max_power_w


def _rapl_source(tmp_path: Path) -> tuple[CounterEnergy, Path]:
    root = tmp_path / "sys"
    shutil.copytree(SYSFS / "x86-rapl", root)
    settings = ProfilerSettings(sysfs_root=str(root), rapl_domains=["package"])
    profile = get_profile("x86-cpu")
    source = open_source("rapl", meter_options(settings, profile), profile)
    assert isinstance(source, CounterEnergy) and source.max_power_w == profile.max_power_w
    return source, root / "class" / "powercap" / "intel-rapl:0" / "energy_uj"


def test_fake_rapl_counter_stepping_backwards_gives_implausible_not_a_number(tmp_path: Path) -> None:
    source, counter = _rapl_source(tmp_path)
    counter.write_text("5000000000\n")
    with Profiler(energy=source) as profiler:
        with profiler.window("round") as round_window:
            with profiler.window("train") as train:
                counter.write_text("4000000000\n")  # backwards: as a wrap, ~258 kJ within microseconds
            with profiler.window("upload") as upload:
                counter.write_text("4000100000\n")  # 0.1 J: fine again
        with profiler.window("next") as after:
            counter.write_text("4000200000\n")
    for window in (train, round_window):
        assert window.energy_j is None and window.power_avg_w is None, window.name
        assert "implausible" in window.flags
        assert window.energy_provenance.startswith("unavailable: implausible reading: RAPL package-0 energy_uj")
        assert "stepped back from 5000000000 to 4000000000" in window.energy_provenance
    assert "train:implausible" in round_window.all_flags()  # (beside short-window: RAPL updates every 1 ms)
    assert upload.energy_j == pytest.approx(0.1) and "implausible" not in upload.flags
    assert after.energy_j == pytest.approx(0.1) and after.energy_provenance.startswith("measured-counter")


class ScriptedCounter(CounterMeter):
    name = "scripted"
    update_interval_s = 0.05

    def __init__(self, readings: list[float], provenance: str = "measured-counter") -> None:
        super().__init__()
        self.readings = list(readings)
        self.provenance = provenance  # type: ignore[assignment]
        self.source, self.scope = "scripted counter", "test rail"

    def probe(self) -> None:
        pass

    def read_energy_j(self) -> float:
        return self.readings.pop(0)


def test_a_counter_step_implying_more_than_max_power_is_implausible() -> None:
    source = CounterEnergy(ScriptedCounter([0.0, 1e6, 1e6, 1e6 + 0.2]), max_power_w=10.0)
    with Profiler(energy=source) as profiler:
        with profiler.window("spike") as spike:
            pass
        with profiler.window("fine") as fine:
            pass
    assert spike.energy_j is None and spike.flags == ["implausible"]
    assert "scripted counter rose 1e+06 J in" in spike.energy_provenance
    assert "above the device's max_power_w 10 W" in spike.energy_provenance
    assert fine.energy_j == pytest.approx(0.2)  # within 10 W x (duration + one 50 ms update)


def test_backwards_steps_are_implausible_even_without_a_bound_and_estimates_are_not_bounded() -> None:
    backwards = CounterEnergy(ScriptedCounter([5.0, 3.0]))
    estimate = CounterEnergy(ScriptedCounter([0.0, 1e6], provenance="estimated"), max_power_w=10.0)
    with Profiler(energy=backwards) as profiler, profiler.window("w") as back:
        pass
    with Profiler(energy=estimate) as profiler, profiler.window("w") as estimated:
        pass
    assert back.energy_j is None and "stepped back by 2 J" in back.energy_provenance
    assert estimated.energy_j == pytest.approx(1e6)  # CPU time x watts: no sensor reading to doubt


class ScriptedSampler:
    """Stands in for SamplerProcess: samples already taken (monotonic ns, [total W, rail W...])."""

    def __init__(self, t_ns: np.ndarray, values: np.ndarray, rails: list[str]) -> None:
        self.t_ns, self.values = t_ns, values
        self.channels = ["power_w", *(f"rail:{r}" for r in rails)]
        self.rate_hz, self.running, self.pid, self.returncode, self.info = 40.0, True, None, None, {}

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self.running = False

    def poll(self) -> None:
        pass

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self.t_ns, self.values

    def trim(self, before_ns: int) -> None:
        pass

    def last_error(self, before_ns: int) -> str:
        return ""


def _ina3221_samples(tmp_path: Path, bad: dict[int, int], count: int = 43) -> tuple[np.ndarray, np.ndarray, list]:
    """`count` samples 25 ms apart read from a fake INA3221 (5000 mV x 1000 mA = 5 W); at index i the
    VDD_IN current reads bad[i] mA instead."""
    root = tmp_path / "sys"
    shutil.copytree(SYSFS / "jetson-orin-nano-jp6", root)
    current = next(root.glob("bus/i2c/drivers/ina3221/*/hwmon/hwmon1/curr1_input"))
    meter = JetsonIna3221Meter(root, ["VDD_IN"], "module input VDD_IN")
    meter.probe()
    rails = list(meter.read_rails_w())
    rows = []
    for i in range(count):
        current.write_text(f"{bad.get(i, 1000)}\n")
        reading = meter.read_rails_w()
        rows.append([meter.total_w(reading), *(reading[r] for r in rails)])
    t_ns = np.arange(count, dtype=np.int64) * 25_000_000
    return t_ns, np.array(rows), rails


def _sampled(t_ns: np.ndarray, values: np.ndarray, rails: list[str], share: float = 0.05) -> SampledEnergy:
    source = SampledEnergy(ScriptedSampler(t_ns, values, rails), "jetson-ina3221", "INA3221", "VDD_IN", 0.14)  # type: ignore[arg-type]
    source.start()
    source.max_power_w = get_profile("jetson-orin-nano").max_power_w
    source.max_dropped_sample_share = share
    return source


def test_fake_ina3221_samples_of_minus_5_w_and_5_mw_are_dropped_and_counted(tmp_path: Path) -> None:
    t_ns, values, rails = _ina3221_samples(tmp_path, {10: -1000, 30: 1_000_000_000})
    assert values[10, 0] == pytest.approx(-5.0) and values[30, 0] == pytest.approx(5e6)  # what the sensor said
    source = _sampled(t_ns, values, rails)
    start_ns, end_ns = int(t_ns[0]), int(t_ns[-1]) + 1  # 42 samples strictly inside
    result = source.measure(None, None, start_ns, end_ns)
    assert result.samples_dropped == 2  # 2 of 42 = 4.8 %: within the 5 % allowed
    assert "implausible" not in result.flags
    assert result.energy_j == pytest.approx(5.0 * (end_ns - start_ns) / 1e9)  # the 5 W around them
    assert result.rails_j["VDD_SOC"] == pytest.approx(1.5 * (end_ns - start_ns) / 1e9)
    assert result.provenance.startswith("measured-sampled")


def test_a_window_losing_too_many_samples_is_implausible(tmp_path: Path) -> None:
    t_ns, values, rails = _ina3221_samples(tmp_path, {10: -1000, 30: 1_000_000_000})
    strict = _sampled(t_ns, values, rails, share=0.02)
    result = strict.measure(None, None, int(t_ns[0]), int(t_ns[-1]) + 1)
    assert result.energy_j is None and result.flags == ["implausible"] and result.samples_dropped == 2
    assert result.provenance == (
        "unavailable: implausible readings: 2 of 42 power samples in the window above 30 W (max_power_w) or "
        "below 0 W (more than 2% of them)"
    )
    # a short window around the 5 MW sample alone: 1 of 5 samples
    short = _sampled(t_ns, values, rails).measure(None, None, int(t_ns[27]) + 1, int(t_ns[33]) - 1)
    assert short.energy_j is None and "1 of 5 power samples" in short.provenance


def test_window_cells_carry_other_cpu_and_dropped_samples() -> None:
    client = WindowRecord("client", start_ns=0, end_ns=2 * 10**9, other_cpu_cores=0.42, samples_dropped=3)
    client.flags = ["contended"]
    for phase in ("download", "train", "upload"):
        client.children.append(WindowRecord(phase, start_ns=0, end_ns=10**9))
    client.children[1].flags = ["implausible"]
    cells = ClientMeasurement.from_window(
        client, num_steps=1, bytes_down=1, bytes_up=1, train_loss=0.0, comm_time_est_s=None, comm_energy_est_j=None
    )
    assert cells.other_cpu_cores == 0.42 and cells.power_samples_dropped == 3
    assert cells.window_flags == "contended;train:implausible"
    # appended after the columns that were there before, in the contract's order
    assert CLIENT_COLUMNS.index("other_cpu_cores") == CLIENT_COLUMNS.index("comm_energy_est_j") + 1
    assert CLIENT_COLUMNS.index("power_samples_dropped") == CLIENT_COLUMNS.index("other_cpu_cores") + 1
