"""Jetson meters against fixture sysfs trees (JetPack 4 iio, JetPack 5/6 hwmon) and recorded tegrastats."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from edgebench.meters import MeterReadError, MeterUnavailable
from edgebench.meters.jetson import JetsonIna3221Meter, JtopMeter, TegrastatsMeter, parse_tegrastats_line
from edgebench.meters.registry import power_meter_from_spec

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SYSFS = FIXTURES / "sysfs"
TEGRASTATS = FIXTURES / "commands" / "tegrastats"
FAKE_TEGRASTATS = FIXTURES / "commands" / "fake_tegrastats"


@pytest.mark.parametrize(
    ("board", "total", "layout", "rails_w", "total_w"),
    [
        (
            "jetson-orin-nano-jp6",
            ["VDD_IN"],
            "hwmon",
            {"VDD_IN": 5.0, "VDD_CPU_GPU_CV": 1.0, "VDD_SOC": 1.5},
            5.0,
        ),
        (
            "jetson-xavier-nx-jp5",
            ["VDD_IN"],
            "hwmon",
            {"VDD_IN": 5.024 * 0.8, "VDD_CPU_GPU_CV": 5.024 * 0.1, "VDD_SOC": 5.024 * 0.24},
            5.024 * 0.8,
        ),
        (
            "jetson-agx-orin-jp5",
            ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO"],
            "hwmon",
            {"VDD_GPU_SOC": 2.8, "VDD_CPU_CV": 0.4, "VIN_SYS_5V0": 3.625, "VDDQ_VDD2_1V8AO": 0.5},
            2.8 + 0.4 + 3.625 + 0.5,
        ),
        (
            "jetson-nano-jp4",
            ["POM_5V_IN"],
            "iio",
            {"POM_5V_IN": 2.0, "POM_5V_GPU": 0.04, "POM_5V_CPU": 0.48},
            2.0,
        ),
    ],
)
def test_rails_and_total_per_layout(
    board: str, total: list[str], layout: str, rails_w: dict[str, float], total_w: float
) -> None:
    meter = JetsonIna3221Meter(SYSFS / board, total, scope="module input (test)")
    meter.probe()
    assert meter.layout == layout
    rails = meter.read_rails_w()
    assert rails == pytest.approx(rails_w)  # NC and "sum of shunt voltages" channels are skipped
    assert meter.read_power_w() == pytest.approx(total_w)
    assert meter.scope == "module input (test)" and meter.provenance == "measured-sampled"


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
    with pytest.raises(MeterUnavailable, match=r"ina3221 \(JetPack 5/6\).*ina3221x \(JetPack 4\)"):
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
    ],
)
def test_recorded_tegrastats_formats_parse_to_the_right_rails(recording: str, first_line_w: dict[str, float]) -> None:
    lines = (TEGRASTATS / recording).read_text().splitlines()
    assert parse_tegrastats_line(lines[0]) == pytest.approx(first_line_w)
    for line in lines[1:]:  # RAM/SWAP/IRAM, frequencies and temperatures never leak in as rails
        assert set(parse_tegrastats_line(line)) == set(first_line_w)


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
