"""From device profile + settings to a working energy source: the meter registry, chain order, fallbacks, idle
baseline."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgebench.devices.profiles import get_profile
from edgebench.meters import PowerMeter
from edgebench.meters import nvml as nvml_module
from edgebench.meters.nvml import NvmlEnergyMeter, NvmlPowerMeter
from edgebench.meters.registry import METER_NAMES, meter_class, open_meter, power_meter_from_spec
from edgebench.profiler.energy import CombinedEnergy, CounterEnergy, LogEnergy, NullEnergy, SampledEnergy
from edgebench.profiler.idle import IdleBaseline, calibration_path, load_idle, save_idle
from edgebench.profiler.settings import ProfilerSettings
from edgebench.profiler.setup import build_measurement, default_idle, meter_chain, meter_options, resolve_energy
from tests.meters.test_nvml import FakeGpu, FakeNvml

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SYSFS = FIXTURES / "sysfs"
COMMANDS = FIXTURES / "commands"

#: Power meters built from options (NVML is opened instead: it picks its kind while probing), with the
#: device profile and settings that configure each. Nothing is probed, so the trace is never read.
OPTION_POWER_METERS = {
    "jetson-ina3221": ("jetson-agx-orin", {"sysfs_root": str(SYSFS / "jetson-agx-orin-jp5")}),
    "jetson-tegrastats": ("jetson-agx-orin", {"tegrastats": str(COMMANDS / "fake_tegrastats"), "sample_rate_hz": 40}),
    "jetson-jtop": ("jetson-agx-orin", {}),
    "rpi5": (
        "raspberry-pi-5",
        {"vcgencmd": str(COMMANDS / "fake_vcgencmd"), "rpi5_calibration": {"gain": 1.1, "offset_w": 0.4}},
    ),
    "replay": ("x86-cpu", {"meters": ["replay"], "replay_trace": "trace.csv"}),
}
NOT_POWER_METERS = ("rapl", "external", "estimate")


@pytest.fixture(autouse=True)
def _isolated_calibration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEBENCH_CALIBRATION_DIR", str(tmp_path / "calibration"))


def test_this_machine_falls_back_to_the_labelled_estimate(tmp_path: Path) -> None:
    source = resolve_energy(ProfilerSettings(sysfs_root=str(tmp_path)), get_profile("x86-cpu"))
    assert isinstance(source, CounterEnergy) and source.label == "estimated"
    assert source.attempts[0]["meter"] == "rapl" and "powercap does not exist" in source.attempts[0]["reason"]
    assert source.attempts[1] == {"meter": "estimate", "status": "used"}
    assert "6 W per busy core" in source.basis and "device profile x86-cpu" in source.basis


def test_rapl_fixture_is_used_when_present() -> None:
    source = resolve_energy(ProfilerSettings(sysfs_root=str(SYSFS / "x86-rapl")), get_profile("x86-cpu"))
    assert isinstance(source, CounterEnergy) and source.meter_name == "rapl"
    assert source.provenance.startswith("measured-counter: powercap energy_uj of package-0, package-1")


def test_jetson_fixture_starts_a_sampler_with_the_profile_rail_map() -> None:
    profile = get_profile("jetson-agx-orin")
    source = resolve_energy(ProfilerSettings(sysfs_root=str(SYSFS / "jetson-agx-orin-jp5")), profile)
    try:
        assert isinstance(source, SampledEnergy) and source.sampler.running
        assert source.scope == profile.rails.scope and source.rate_hz == profile.sampling.rate_hz
        assert set(source.rails) == {"VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO"}
    finally:
        source.close()
    assert not source.sampler.running


def test_wrong_board_for_the_profile_falls_through_to_the_estimate() -> None:
    # a Nano profile on an Orin Nano tree: the rail map does not fit, tegrastats is absent
    settings = ProfilerSettings(sysfs_root=str(SYSFS / "jetson-orin-nano-jp6"), tegrastats="/nonexistent/tegrastats")
    source = resolve_energy(settings, get_profile("jetson-nano"))
    assert source.label == "estimated"
    reasons = {a["meter"]: a.get("reason", "") for a in source.attempts}
    assert "rail map expects POM_5V_IN" in reasons["jetson-ina3221"]
    assert "tegrastats not found" in reasons["jetson-tegrastats"]


def test_combined_meters_need_every_part(tmp_path: Path) -> None:
    root = tmp_path / "sys"
    shutil.copytree(SYSFS / "x86-rapl", root)
    settings = ProfilerSettings(sysfs_root=str(root), meters=["nvml+rapl", "rapl"], estimate_per_core_w=3.0)
    source = resolve_energy(settings, get_profile("laptop-nvidia-gpu"))
    assert source.meter_name == "rapl" and "nvmlInit failed" in source.attempts[0]["reason"]


def test_no_working_meter_gives_null_energy_with_every_reason(tmp_path: Path) -> None:
    source = resolve_energy(ProfilerSettings(sysfs_root=str(tmp_path), meters=["rapl"]), get_profile("x86-cpu"))
    assert isinstance(source, NullEnergy)
    assert source.provenance.startswith("unavailable: no working meter (rapl: ")


def test_external_log_goes_first_when_configured(tmp_path: Path) -> None:
    log = tmp_path / "usb.csv"
    log.write_text("timestamp,watts\n1,5\n")
    settings = ProfilerSettings(external_log=str(log), external_scope="USB-C input, whole Pi")
    assert meter_chain(settings, get_profile("raspberry-pi-4")) == ["external", "estimate"]
    assert meter_chain(settings, get_profile("x86-cpu"))[0] == "external"
    source = resolve_energy(settings, get_profile("raspberry-pi-4"))
    assert isinstance(source, LogEnergy) and source.scope == "USB-C input, whole Pi"


def test_rpi5_profile_with_fake_vcgencmd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_VCGENCMD_OUTPUT", str(FIXTURES / "commands" / "vcgencmd" / "pi5-load.txt"))
    settings = ProfilerSettings(vcgencmd=str(FIXTURES / "commands" / "fake_vcgencmd"), sample_rate_hz=5)
    source = resolve_energy(settings, get_profile("raspberry-pi-5"))
    try:
        assert isinstance(source, SampledEnergy) and source.meter_name == "rpi5" and source.rate_hz == 5
        assert "5 V loads" in source.scope
    finally:
        source.close()


def test_default_idle_rules(tmp_path: Path) -> None:
    profile = get_profile("x86-cpu")
    estimate = resolve_energy(ProfilerSettings(sysfs_root=str(tmp_path)), profile)
    idle = default_idle(profile, estimate)
    assert idle is not None and idle.power_w == 0.0 and idle.source == "estimate-has-no-idle"
    rapl = resolve_energy(ProfilerSettings(sysfs_root=str(SYSFS / "x86-rapl")), profile)
    assert default_idle(profile, rapl) is None  # no calibration stored, profile idle power unknown
    stored = IdleBaseline(power_w=42.0, source="measured", meter="rapl", scope=rapl.scope, seconds=30.0)
    path = save_idle(stored, "x86-cpu")
    assert path == calibration_path("x86-cpu") and load_idle("x86-cpu").power_w == 42.0
    found = default_idle(profile, rapl)
    assert found is not None and found.power_w == 42.0 and found.source == "calibration-file"
    nominal = profile.model_copy(update={"idle_power_w": 30.0, "meters": ["rapl", "estimate"]})
    path.unlink()
    assert default_idle(nominal, rapl).source == "profile-nominal"


def test_measurement_start_measures_idle_before_the_run(tmp_path: Path) -> None:
    trace = tmp_path / "flat.csv"
    trace.write_text("0,3.5\n1,3.5\n")
    settings = ProfilerSettings(meters=["replay"], replay_trace=str(trace), idle_baseline_s=0.3, sample_rate_hz=50)
    measurement = build_measurement(settings, "x86-cpu")
    messages: list[str] = []
    try:
        described = measurement.start(messages.append)
        with measurement.profiler.window("client") as w:
            pass
    finally:
        measurement.close()
    # (a busy machine adds a warning first: see tests/profiler/test_contention.py)
    assert [m for m in messages if not m.startswith("warning: the machine is busy")] == [
        "measuring idle power for 0.3 s (replay)"
    ]
    idle = described["idle_baseline"]
    assert idle["source"] == "measured" and idle["power_w"] == pytest.approx(3.5)
    assert w.energy_net_j == pytest.approx(0.0, abs=1e-6)
    assert described["profile"]["profile"] == "x86-cpu" and described["profile"]["how"] == "requested"
    assert described["link_model"]["basis"].startswith("estimated: Gigabit Ethernet")


def test_comm_estimate_uses_the_link_model() -> None:
    measurement = build_measurement(ProfilerSettings(enabled=False), "raspberry-pi-5")
    seconds, joules = measurement.comm_estimate(bytes_down=6_250_000, bytes_up=2_500_000)
    # 50 Mbit/s down: 1 s; 20 Mbit/s up: 1 s; plus 5 ms latency each way
    assert seconds == pytest.approx(2.01)
    assert joules == pytest.approx(1.005 * 0.5 + 1.005 * 0.8)


def test_disabled_profiler_starts_nothing() -> None:
    measurement = build_measurement(ProfilerSettings(enabled=False))
    described = measurement.start(print)
    assert described["energy"]["provenance"].startswith("unavailable: profiler disabled")
    assert not isinstance(measurement.profiler.energy, CombinedEnergy)


def test_unexpected_sensor_error_at_start_up_does_not_stop_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgebench.meters.rapl import RaplMeter

    def broken(self: RaplMeter) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(RaplMeter, "probe", broken)
    source = resolve_energy(ProfilerSettings(sysfs_root=str(SYSFS / "x86-rapl")), get_profile("x86-cpu"))
    assert source.label == "estimated"
    assert source.attempts[0]["reason"] == "OSError: [Errno 5] Input/output error"


def test_every_meter_name_resolves_to_a_registry_entry_of_that_name() -> None:
    assert set(METER_NAMES) == {*OPTION_POWER_METERS, "nvml", *NOT_POWER_METERS}  # each is covered below
    for name in METER_NAMES:
        assert meter_class(name).name == name
    with pytest.raises(ValueError, match=r"^unknown meter 'thermometer'; expected one of: nvml, jetson-ina3221, "):
        meter_class("thermometer")


def _from_options(name: str) -> PowerMeter:
    profile, settings = OPTION_POWER_METERS[name]
    meter = meter_class(name).from_options(meter_options(ProfilerSettings(**settings), get_profile(profile)))
    assert isinstance(meter, PowerMeter)
    return meter


@pytest.mark.parametrize("name", list(OPTION_POWER_METERS))
def test_power_meter_spec_round_trips(name: str) -> None:
    meter = _from_options(name)
    spec = meter.spec()
    assert spec["meter"] == name
    again = power_meter_from_spec(spec)
    assert type(again) is type(meter) and again.spec() == spec


def test_options_carry_the_profile_and_settings_into_the_meters() -> None:
    tegrastats = _from_options("jetson-tegrastats").spec()
    assert tegrastats["interval_ms"] == 25  # one line per 1/40 s sample
    assert tegrastats["total_rails"] == ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"]
    rpi5 = _from_options("rpi5").spec()
    assert (rpi5["gain"], rpi5["offset_w"]) == (1.1, 0.4)


def test_nvml_entry_picks_its_kind_and_the_sampler_reopens_power_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml([FakeGpu("Tesla P100", "GPU-cccc", energy_mj=None, power_mw=87_500)])
    monkeypatch.setattr(nvml_module, "_import_nvml", lambda: fake)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    options = meter_options(ProfilerSettings(), get_profile("laptop-nvidia-gpu"))
    meter = open_meter("nvml", options)
    assert isinstance(meter, NvmlPowerMeter)
    again = power_meter_from_spec(meter.spec())
    assert isinstance(again, NvmlPowerMeter) and again.spec() == meter.spec()
    fake.gpus[0].energy_mj = 1_000_000
    assert isinstance(open_meter("nvml", options), NvmlEnergyMeter)


@pytest.mark.parametrize("name", [*NOT_POWER_METERS, "thermometer"])
def test_only_power_meters_are_rebuilt_from_a_spec(name: str) -> None:
    with pytest.raises(ValueError, match=f"^no power meter called '{name}'$"):
        power_meter_from_spec({"meter": name})
