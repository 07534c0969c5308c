"""Which energy a run reports where several meters could answer: the laptop rule (GPU measured, CPU estimated
beside it, summed only on request), NVML's averaging window, Jetson's NVML falling back to the board sensors,
and RAPL read between window edges so that no wrap goes unseen."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from edgebench.devices.profiles import get_profile
from edgebench.meters import nvml as nvml_module
from edgebench.meters.nvml import NvmlPowerMeter
from edgebench.meters.rapl import RaplMeter, RaplWatch
from edgebench.meters.registry import open_meter
from edgebench.profiler.energy import BesideEnergy, CounterEnergy, SampledEnergy
from edgebench.profiler.sampler import SamplerProcess
from edgebench.profiler.sampler_child import stamp_ns
from edgebench.profiler.settings import ProfilerSettings
from edgebench.profiler.setup import default_idle, meter_options, resolve_energy
from edgebench.profiler.windows import Profiler
from edgebench.results.rows import format_rails
from tests.meters.test_nvml import FakeGpu, FakeNvml, jetson_nvml
from tests.meters.test_rapl import deny_energy_uj

SYSFS = Path(__file__).resolve().parent.parent / "fixtures" / "sysfs"


@pytest.fixture(autouse=True)
def _isolated_calibration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEBENCH_CALIBRATION_DIR", str(tmp_path / "calibration"))


@pytest.fixture
def root_only_rapl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The laptop fixture tree with energy_uj root-only, as on most kernels since CVE-2020-8694."""
    root = tmp_path / "sys"
    shutil.copytree(SYSFS / "laptop-nvidia", root)
    deny_energy_uj(monkeypatch)
    return root


def _burn_cpu(seconds: float) -> None:
    """Work for the CPU-time estimate to see (both the GPU and the CPU are busy while a client trains)."""
    until = time.process_time() + seconds
    x = 0
    while time.process_time() < until:
        x += 1


def test_laptop_without_rapl_measures_the_gpu_and_estimates_the_cpu_beside_it(
    root_only_rapl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gpu = FakeGpu("NVIDIA GeForce RTX 3060 Laptop GPU", "GPU-aaaa", energy_mj=1_000_000)
    monkeypatch.setattr(nvml_module, "_import_nvml", lambda: FakeNvml([gpu]))
    profile = get_profile("laptop-nvidia-gpu")
    source = resolve_energy(ProfilerSettings(sysfs_root=str(root_only_rapl)), profile)
    assert isinstance(source, BesideEnergy) and source.meter_name == "nvml&estimate"
    assert source.attempts[0]["meter"] == "nvml+rapl" and "permission denied" in source.attempts[0]["reason"]
    assert source.attempts[1] == {"meter": "nvml&estimate", "status": "used"}
    with Profiler(energy=source) as profiler:
        with profiler.window("client") as client:
            _burn_cpu(0.05)
            gpu.energy_mj += 16_000  # the GPU board drew 16 J meanwhile
    # the total is the GPU board's, measured, and says so; the CPU's share is estimated beside it, not added
    assert client.energy_j == pytest.approx(16.0)
    assert client.energy_provenance.startswith("measured-counter: nvmlDeviceGetTotalEnergyConsumption")
    assert "GPU board power of GPU 0" in client.energy_scope and "excludes CPU" in client.energy_scope
    assert "not in this total: not-in-total:estimate (estimated: CPU cores busy" in client.energy_scope
    cpu_j = client.rails_j["not-in-total:estimate"]
    assert cpu_j >= 0.05 * profile.estimate.per_core_w * 0.9  # at least the burnt CPU time x 4 W
    assert format_rails(client.rails_j) == f"not-in-total:estimate={cpu_j!r}"
    assert source.describe()["beside"][0]["provenance"] == "estimated"


def test_laptop_sums_gpu_and_estimated_cpu_only_when_asked(
    root_only_rapl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gpu = FakeGpu("NVIDIA GeForce RTX 3060 Laptop GPU", "GPU-aaaa", energy_mj=1_000_000)
    monkeypatch.setattr(nvml_module, "_import_nvml", lambda: FakeNvml([gpu]))
    settings = ProfilerSettings(sysfs_root=str(root_only_rapl), meters=["nvml+estimate"])
    source = resolve_energy(settings, get_profile("laptop-nvidia-gpu"))
    with Profiler(energy=source) as profiler:
        with profiler.window("client") as client:
            _burn_cpu(0.05)
            gpu.energy_mj += 16_000
    assert client.energy_j > 16.0 + 0.05 * 4.0 * 0.9
    assert client.energy_provenance.startswith("estimated: ")  # a sum with an estimated part is an estimate
    assert "[measured-counter]" in client.energy_scope and "[estimated]" in client.energy_scope


def test_laptop_with_readable_rapl_measures_both(monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = FakeGpu("NVIDIA GeForce RTX 3060 Laptop GPU", "GPU-aaaa")
    monkeypatch.setattr(nvml_module, "_import_nvml", lambda: FakeNvml([gpu]))
    source = resolve_energy(ProfilerSettings(sysfs_root=str(SYSFS / "laptop-nvidia")), get_profile("laptop-nvidia-gpu"))
    try:
        assert source.meter_name == "nvml+rapl" and source.label == "measured-counter"
        assert "GPU board power" in source.scope and "RAPL package-0" in source.scope
    finally:
        source.close()


def test_nvml_power_on_ampere_flags_windows_shorter_than_ten_averaging_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    """nvmlDeviceGetPowerUsage is a 1 s average on Ampere and newer: a 1.5 s window of a 50 -> 150 W step is
    smeared (about 22 % low), so such windows must be flagged, i.e. the threshold is 10 s, not 1 s."""
    gpu = FakeGpu("NVIDIA GeForce RTX 3060 Laptop GPU", "GPU-aaaa", energy_mj=None, power_mw=50_000)
    monkeypatch.setattr(nvml_module, "_import_nvml", lambda: FakeNvml([gpu]))
    profile = get_profile("laptop-nvidia-gpu")
    meter = open_meter("nvml", meter_options(ProfilerSettings(), profile))
    assert isinstance(meter, NvmlPowerMeter) and meter.update_interval_s == 1.0
    source = SampledEnergy(
        SamplerProcess(meter.spec(), 10.0), meter.name, meter.source, meter.scope, meter.update_interval_s
    )
    meter.close()
    assert source.short_threshold_s() == pytest.approx(10.0)
    assert source._flags(1.5) == ["short-window"] and source._flags(10.5) == []


def test_jetson_nvml_is_skipped_with_its_reason_and_the_board_sensors_measure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nvml_module, "_import_nvml", jetson_nvml)
    settings = ProfilerSettings(sysfs_root=str(SYSFS / "jetson-orin-nano-jp6"), meters=["nvml", "jetson-ina3221"])
    source = resolve_energy(settings, get_profile("jetson-orin-nano"))
    try:
        assert source.meter_name == "jetson-ina3221"
        reason = source.attempts[0]["reason"]
        assert source.attempts[0]["meter"] == "nvml" and "Orin (nvgpu)" in reason and "Not Supported" in reason
        assert source.scope == get_profile("jetson-orin-nano").rails.scope
    finally:
        source.close()


def test_rapl_is_watched_between_edges_by_a_separate_process(tmp_path: Path) -> None:
    root = tmp_path / "sys"
    shutil.copytree(SYSFS / "x86-rapl-amd", root)
    counter = root / "class" / "powercap" / "intel-rapl:0" / "energy_uj"
    meter = RaplMeter(root, ["package"], max_power_w=1000.0)
    meter.probe()
    source = CounterEnergy(meter, max_power_w=1000.0)
    source.start()
    try:
        assert source.watcher is not None and source.watcher.running
        assert source.watcher.channels == ["value:zone0"] and source.watcher.rate_hz >= 1.0
        assert "read between edges" in source.describe()["watch"]
        counter.write_text("64930873566\n")
        deadline = time.monotonic() + 20
        samples: list = []
        while not samples and time.monotonic() < deadline:  # wait for the watcher's first read to land
            samples = source._watch_samples()
            time.sleep(0.05)
        assert samples and samples[0][1] == [64930873566.0]
    finally:
        source.close()
    assert source.watcher is None


def test_a_watcher_read_that_began_before_an_edge_read_is_never_taken_for_a_newer_one(tmp_path: Path) -> None:
    """The watcher read the counter just before an edge read did, then stalled (the trainer had the CPU):
    stamped midway, its older value would land after the edge's and read as a step back, refused as an
    implausible wrap, costing the window its energy. Stamped when the read began, it is ordered right."""
    root = tmp_path / "sys"
    shutil.copytree(SYSFS / "x86-rapl-amd", root)
    counter = root / "class" / "powercap" / "intel-rapl:0" / "energy_uj"
    counter.write_text("1000000000\n")
    clock_ns = [10**12]
    meter = RaplMeter(root, ["package"], max_power_w=1000.0, clock_ns=lambda: clock_ns[0])
    meter.probe()
    watched: list[tuple[int, list[float]]] = []
    meter.attach_watch(lambda: [watched.pop(0) for _ in range(len(watched))])
    watch = RaplWatch([str(counter)])
    read_began, read_ended = clock_ns[0] + 999_000_000, clock_ns[0] + 1_005_000_000  # stalled for 6 ms
    older = [1_020_000_000.0]  # what the watcher read at read_began
    clock_ns[0] += 10**9  # the edge reads 1 ms after the watcher's read began: a newer value
    counter.write_text("1020020000\n")
    start = meter.read_energy_j()
    watched.append((stamp_ns(watch, read_began, read_ended), older))
    clock_ns[0] += 10**9
    counter.write_text("1040000000\n")
    assert meter.read_energy_j() - start == pytest.approx(19.98)
    assert meter.implausible_readings == 0
    # midway, the same read would have been taken for a newer value than the edge's, and refused
    assert (read_began + read_ended) // 2 > 10**12 + 10**9


def test_a_sum_with_an_estimate_is_not_given_the_estimates_zero_idle_power(
    root_only_rapl: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The estimate alone has no idle part (0 W), but `nvml+estimate` is labelled `estimated` too and its GPU
    board does draw power at idle: net energy must not silently equal gross there."""
    gpu = FakeGpu("NVIDIA GeForce RTX 3060 Laptop GPU", "GPU-aaaa", energy_mj=1_000_000)
    monkeypatch.setattr(nvml_module, "_import_nvml", lambda: FakeNvml([gpu]))
    profile = get_profile("laptop-nvidia-gpu")
    summed = resolve_energy(ProfilerSettings(sysfs_root=str(root_only_rapl), meters=["nvml+estimate"]), profile)
    assert summed.label == "estimated"
    assert default_idle(profile, summed, tmp_path) is None  # no calibration stored: none known
    estimate = resolve_energy(ProfilerSettings(sysfs_root=str(root_only_rapl), meters=["estimate"]), profile)
    idle = default_idle(profile, estimate, tmp_path)
    assert idle is not None and idle.power_w == 0.0 and idle.source == "estimate-has-no-idle"


@pytest.mark.parametrize("entry", ["external", "nvml+external", "nvml&external"])
def test_an_external_meter_anywhere_in_a_chain_entry_needs_its_log(entry: str) -> None:
    with pytest.raises(ValueError, match="required when meters lists 'external'"):
        ProfilerSettings(meters=[entry])


def test_a_watcher_that_exited_is_released_and_replaced_on_restart(tmp_path: Path) -> None:
    root = tmp_path / "sys"
    shutil.copytree(SYSFS / "x86-rapl-amd", root)
    meter = RaplMeter(root, ["package"], max_power_w=1000.0)
    meter.probe()
    source = CounterEnergy(meter, max_power_w=1000.0)
    source.start()
    try:
        old = source.watcher
        assert old is not None and old.pid is not None
        os.kill(old.pid, signal.SIGKILL)  # the watcher dies (our own child process)
        old._proc.wait(timeout=10)
        source.start()
        assert source.watcher is not old and source.watcher is not None and source.watcher.running
        assert not Path(old._folder).exists()  # the dead one's files are gone, not left for the collector
    finally:
        source.close()
