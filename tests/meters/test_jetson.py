"""Jetson meters against fixture sysfs trees (JetPack 4 iio, JetPack 5/6 hwmon) and recorded tegrastats."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from edgebench.devices.profiles import get_profile
from edgebench.meters import MeterReadError, MeterUnavailable
from edgebench.meters.jetson import JetsonIna3221Meter, JtopMeter, TegrastatsMeter, parse_tegrastats_line
from edgebench.meters.registry import power_meter_from_spec

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SYSFS = FIXTURES / "sysfs"
TEGRASTATS = FIXTURES / "commands" / "tegrastats"
FAKE_TEGRASTATS = FIXTURES / "commands" / "fake_tegrastats"


# Every fixture tree (tests/fixtures/sysfs/SOURCES.md says where each layout comes from) read with the
# rail map of the profile that detection picks for it: (tree, profile, layout, rails in W, total in W).
BOARDS = [
    ("jetson-nano-jp4", "jetson-nano", "iio", {"POM_5V_IN": 2.0, "POM_5V_GPU": 0.04, "POM_5V_CPU": 0.48}, 2.0),
    ("jetson-xavier-nx-jp4", "jetson-xavier-nx", "iio", {"VDD_IN": 4.0, "VDD_CPU_GPU_CV": 0.5, "VDD_SOC": 1.2}, 4.0),
    (
        "jetson-xavier-nx-jp5",
        "jetson-xavier-nx",
        "hwmon",
        {"VDD_IN": 5.024 * 0.8, "VDD_CPU_GPU_CV": 5.024 * 0.1, "VDD_SOC": 5.024 * 0.24},
        5.024 * 0.8,
    ),
    (
        "jetson-agx-xavier-jp4",
        "jetson-agx-xavier",
        "iio",
        {"GPU": 1.155, "CPU": 0.385, "SOC": 2.504, "CV": 0.0, "VDDRQ": 0.192, "SYS5V": 2.69},
        1.155 + 0.385 + 2.504 + 0.0 + 0.192 + 2.69,
    ),
    (
        "jetson-agx-xavier-jp5",
        "jetson-agx-xavier",
        "hwmon",
        {"GPU": 1.155, "CPU": 0.385, "SOC": 2.504, "CV": 0.0, "VDDRQ": 0.192, "SYS5V": 2.69},
        1.155 + 0.385 + 2.504 + 0.0 + 0.192 + 2.69,
    ),
    ("jetson-orin-nano-jp5", "jetson-orin-nano", "hwmon", {"VDD_IN": 3.5, "VDD_CPU_GPU_CV": 0.5, "VDD_SOC": 1.1}, 3.5),
    ("jetson-orin-nano-jp6", "jetson-orin-nano", "hwmon", {"VDD_IN": 5.0, "VDD_CPU_GPU_CV": 1.0, "VDD_SOC": 1.5}, 5.0),
    (
        "jetson-orin-nx-jp5",
        "jetson-orin-nx",
        "hwmon",
        {"VDD_IN": 5.08 * 1.6, "VDD_CPU_GPU_CV": 5.08 * 0.4, "VDD_SOC": 5.08 * 0.5},
        5.08 * 1.6,
    ),
    ("jetson-orin-nx-jp6", "jetson-orin-nx", "hwmon", {"VDD_IN": 7.0, "VDD_CPU_GPU_CV": 1.3, "VDD_SOC": 1.65}, 7.0),
    (
        "jetson-agx-orin-jp5",  # 1-0041's unconnected inputs are labelled NC (L4T)
        "jetson-agx-orin",
        "hwmon",
        {"VDD_GPU_SOC": 2.8, "VDD_CPU_CV": 0.4, "VIN_SYS_5V0": 3.625, "VDDQ_VDD2_1V8AO": 0.5},
        2.8 + 0.4 + 3.625,  # VDDQ_VDD2_1V8AO is inside VIN_SYS_5V0
    ),
    (
        "jetson-agx-orin-jp6",  # 1-0041's unconnected inputs carry no label (mainline device tree)
        "jetson-agx-orin",
        "hwmon",
        {"VDD_GPU_SOC": 3.15, "VDD_CPU_CV": 14.31, "VIN_SYS_5V0": 4.97, "VDDQ_VDD2_1V8AO": 1.09},
        3.15 + 14.31 + 4.97,
    ),
    ("jetson-thor-jp7", "jetson-thor", "hwmon", {"VIN": 48.8}, 48.8),  # INA238, power1_input in microwatts
]


@pytest.mark.parametrize(("board", "profile_name", "layout", "rails_w", "total_w"), BOARDS)
def test_every_fixture_tree_reads_with_its_profile_rail_map(
    board: str, profile_name: str, layout: str, rails_w: dict[str, float], total_w: float
) -> None:
    rails = get_profile(profile_name).rails
    assert rails is not None
    meter = JetsonIna3221Meter(SYSFS / board, rails.total, scope=rails.scope)
    meter.probe()
    assert meter.layout == layout
    assert meter.read_rails_w() == pytest.approx(rails_w)  # NC, unlabelled and "sum of shunt" channels skipped
    assert meter.read_power_w() == pytest.approx(total_w)
    assert meter.scope == rails.scope and meter.provenance == "measured-sampled"


def test_nano_total_is_the_input_rail_not_the_sum_of_all_rails() -> None:
    """jetson-stats issue #51: its total added POM_5V_GPU and POM_5V_CPU to POM_5V_IN, which contains them."""
    for total in (get_profile("jetson-nano").rails.total, None):  # mapped, and unmapped (generic) board
        meter = JetsonIna3221Meter(SYSFS / "jetson-nano-jp4", total)
        meter.probe()
        rails = meter.read_rails_w()
        assert meter.read_power_w() == pytest.approx(rails["POM_5V_IN"]) != pytest.approx(sum(rails.values()))


def test_agx_orin_total_is_neither_vin_sys_5v0_alone_nor_all_four_rails() -> None:
    """jetson-stats issue #344 reported VIN_SYS_5V0 (a 5 V system rail) as the AGX Orin total; adding all four
    rails counts VDDQ_VDD2_1V8AO twice (NVIDIA: it is inside VIN_SYS_5V0). An unmapped board leaves it out too."""
    for total in (get_profile("jetson-agx-orin").rails.total, None):
        meter = JetsonIna3221Meter(SYSFS / "jetson-agx-orin-jp5", total)
        meter.probe()
        rails = meter.read_rails_w()
        expected = rails["VDD_GPU_SOC"] + rails["VDD_CPU_CV"] + rails["VIN_SYS_5V0"]
        assert meter.read_power_w() == pytest.approx(expected)
        assert meter.read_power_w() not in (pytest.approx(rails["VIN_SYS_5V0"]), pytest.approx(sum(rails.values())))
    assert "VDDQ_VDD2_1V8AO left out (inside VIN_SYS_5V0)" in meter.scope


def test_thor_input_is_read_in_microwatts_and_named_in_the_source() -> None:
    meter = JetsonIna3221Meter(SYSFS / "jetson-thor-jp7", ["VIN"])
    meter.probe()
    assert meter.read_rails_w() == pytest.approx({"VIN": 19.52 * 2.5})  # 48800000 uW = 19.52 V x 2.5 A
    assert "INA238 (2-0044) via hwmon power1_input (uW)" in meter.source
    unmapped = JetsonIna3221Meter(SYSFS / "jetson-thor-jp7", None)
    unmapped.probe()
    assert "using input rail VIN" in unmapped.scope


def test_ina238_without_a_power_file_multiplies_voltage_and_current(tmp_path: Path) -> None:
    root = tmp_path / "sys"
    shutil.copytree(SYSFS / "jetson-thor-jp7", root)
    next(root.glob("bus/i2c/drivers/ina238/*/hwmon/hwmon*/power1_input")).unlink()
    meter = JetsonIna3221Meter(root, ["VIN"])
    meter.probe()
    assert meter.read_power_w() == pytest.approx(19.52 * 2.5)


def test_hwmon_update_interval_is_read_from_sysfs() -> None:
    meter = JetsonIna3221Meter(SYSFS / "jetson-orin-nano-jp6", ["VDD_IN"])
    meter.probe()
    assert meter.update_interval_s == pytest.approx(0.14)


def test_unknown_board_reports_raw_rails_and_says_the_total_may_double_count() -> None:
    meter = JetsonIna3221Meter(SYSFS / "jetson-unknown", None)
    meter.probe()
    assert meter.read_rails_w() == pytest.approx({"VDD_A": 0.5, "VDD_B": 1.5})
    assert meter.read_power_w() == pytest.approx(2.0)
    assert "not in the rail map" in meter.scope and "double counts" in meter.scope


def test_unmapped_board_with_an_input_rail_uses_it() -> None:
    meter = JetsonIna3221Meter(SYSFS / "jetson-orin-nano-jp6", None)
    meter.probe()
    assert meter.read_power_w() == pytest.approx(5.0)
    assert "using input rail VDD_IN" in meter.scope


def test_rail_map_that_does_not_fit_the_board_is_unavailable() -> None:
    with pytest.raises(MeterUnavailable, match="rail map expects POM_5V_IN but this board exposes VDD_IN"):
        JetsonIna3221Meter(SYSFS / "jetson-orin-nano-jp6", ["POM_5V_IN"]).probe()


def test_no_ina3221_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(MeterUnavailable, match=r"ina3221 \(JetPack 5/6/7\).*ina3221x \(JetPack 4\).*INA238"):
        JetsonIna3221Meter(tmp_path, ["VDD_IN"]).probe()


def test_sensor_vanishing_mid_run_is_a_read_error(tmp_path: Path) -> None:
    root = tmp_path / "sys"
    shutil.copytree(SYSFS / "jetson-orin-nano-jp6", root)
    meter = JetsonIna3221Meter(root, ["VDD_IN"])
    meter.probe()
    next(root.glob("bus/i2c/drivers/ina3221/*/hwmon/hwmon1/curr1_input")).unlink()
    with pytest.raises(MeterReadError, match="curr1_input does not exist"):
        meter.read_power_w()


def test_spec_round_trips_for_the_sampler_process() -> None:
    meter = JetsonIna3221Meter(SYSFS / "jetson-agx-orin-jp5", ["VDD_GPU_SOC", "VIN_SYS_5V0"], "two rails")
    meter.probe()
    again = power_meter_from_spec(meter.spec())
    again.probe()
    assert again.read_power_w() == pytest.approx(meter.read_power_w()) == pytest.approx(2.8 + 3.625)


# -- tegrastats --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("recording", "first_line_w"),
    [
        ("jp4-nano.txt", {"POM_5V_IN": 2.242, "POM_5V_GPU": 0.040, "POM_5V_CPU": 0.483}),
        ("jp4-xavier-nx.txt", {"VDD_IN": 3.959, "VDD_CPU_GPU_CV": 0.488, "VDD_SOC": 1.221}),
        (
            "jp5-agx-orin.txt",
            {"VDD_GPU_SOC": 2.788, "VDD_CPU_CV": 0.398, "VIN_SYS_5V0": 3.626, "VDDQ_VDD2_1V8AO": 0.503},
        ),
        ("jp6-orin-nano.txt", {"VDD_IN": 4.773, "VDD_CPU_GPU_CV": 0.477, "VDD_SOC": 1.431}),
        # captures (SOURCES.md): AGX Orin under a DLA load, and AGX Orin on JetPack 7.2 (cur/avg/max values)
        (
            "jp6-agx-orin.txt",
            {"VDD_GPU_SOC": 3.150, "VDD_CPU_CV": 14.312, "VIN_SYS_5V0": 4.968, "VDDQ_VDD2_1V8AO": 1.091},
        ),
        ("jp7-agx-orin.txt", {"VDD_GPU_SOC": 5.139, "VDD_CPU_CV": 3.268, "VIN_SYS_5V0": 5.500}),
        # jetson-stats' emulator line for AGX Xavier (JetPack 4 names, mW implied)
        ("jp4-agx-xavier.txt", {"GPU": 1.155, "CPU": 0.385, "SOC": 2.504, "CV": 0.0, "VDDRQ": 0.192, "SYS5V": 2.692}),
    ],
)
def test_recorded_tegrastats_formats_parse_to_the_right_rails(recording: str, first_line_w: dict[str, float]) -> None:
    lines = (TEGRASTATS / recording).read_text().splitlines()
    assert parse_tegrastats_line(lines[0]) == pytest.approx(first_line_w)
    for line in lines[1:]:  # RAM/SWAP/IRAM, frequencies and temperatures never leak in as rails
        assert set(parse_tegrastats_line(line)) == set(first_line_w)


def test_jetpack7_tegrastats_line_gives_the_agx_orin_total() -> None:
    """JetPack 7 prints three values per rail and no VDDQ_VDD2_1V8AO: the profile's total needs neither."""
    line = (TEGRASTATS / "jp7-agx-orin.txt").read_text().splitlines()[0]
    meter = TegrastatsMeter(total_rails=get_profile("jetson-agx-orin").rails.total)
    meter._total = list(meter.total_rails or [])
    assert meter.total_w(parse_tegrastats_line(line)) == pytest.approx(5.139 + 3.268 + 5.500)


def test_bare_numbers_and_frequencies_are_not_rails() -> None:
    line = "APE 174 VIC_FREQ 115 NVDLA0_FREQ @1600 GR3D_FREQ 14%@[407,407] EMC_FREQ 1%@2133 VDD_IN 6848mW"
    assert parse_tegrastats_line(line) == {"VDD_IN": 6.848}


def test_tegrastats_uses_the_current_value_not_the_average() -> None:
    line = (TEGRASTATS / "jp6-orin-nano.txt").read_text().splitlines()[1]
    assert parse_tegrastats_line(line)["VDD_IN"] == pytest.approx(9.546)  # "9546mW/7159mW"


@pytest.fixture
def fake_tegrastats(monkeypatch: pytest.MonkeyPatch):
    def use(recording: str) -> str:
        monkeypatch.setenv("FAKE_TEGRASTATS_RECORDING", str(TEGRASTATS / recording))
        return str(FAKE_TEGRASTATS)

    assert os.access(FAKE_TEGRASTATS, os.X_OK)
    return use


def test_tegrastats_meter_streams_lines_from_the_command(fake_tegrastats) -> None:
    command = fake_tegrastats("jp5-agx-orin.txt")
    meter = TegrastatsMeter(command, interval_ms=20, total_rails=["VDD_GPU_SOC", "VDD_CPU_CV"])
    try:
        meter.probe()
        assert meter.read_power_w() == pytest.approx(9.174 + 2.387)  # second line
        assert meter.read_power_w() == pytest.approx(2.788 + 0.398)  # the fake loops
    finally:
        meter.close()
    assert meter._proc is None


def test_tegrastats_missing_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(MeterUnavailable, match="tegrastats not found"):
        TegrastatsMeter(str(tmp_path / "tegrastats")).probe()


# -- jtop (optional) ---------------------------------------------------------------------------------
class _FakeJtop:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.closed = False
        self.power = {
            "rail": {"VDD_IN": {"power": 5200, "volt": 5000, "curr": 1040}},
            "tot": {"power": 5200, "name": "VDD_IN"},
        }

    def start(self) -> None:
        if self.fail:
            raise RuntimeError("The jtop.service is not active. Please run: sudo systemctl restart jtop.service")

    def close(self) -> None:
        self.closed = True


def test_jtop_reads_total_power() -> None:
    client = _FakeJtop()
    meter = JtopMeter(SimpleNamespace(jtop=lambda: client))
    meter.probe()
    assert meter.read_power_w() == pytest.approx(5.2)
    meter.close()
    assert client.closed


def test_jtop_without_service_is_unavailable() -> None:
    with pytest.raises(MeterUnavailable, match=r"jtop service not reachable: The jtop\.service is not active"):
        JtopMeter(SimpleNamespace(jtop=lambda: _FakeJtop(fail=True))).probe()
