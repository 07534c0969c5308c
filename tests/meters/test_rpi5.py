"""Raspberry Pi 5 PMIC: recorded `vcgencmd pmic_read_adc` outputs, a fake vcgencmd, calibration, failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgebench.meters import MeterReadError, MeterUnavailable
from edgebench.meters.rpi5 import Rpi5PmicMeter, parse_pmic_read_adc, pmic_power_w

COMMANDS = Path(__file__).resolve().parent.parent / "fixtures" / "commands"
RECORDINGS = COMMANDS / "vcgencmd"
FAKE_VCGENCMD = str(COMMANDS / "fake_vcgencmd")
RAILS = {"3V7_WL_SW", "3V3_SYS", "1V8_SYS", "DDR_VDD2", "DDR_VDDQ", "1V1_SYS", "0V8_SW", "VDD_CORE"}
RAILS |= {"3V3_DAC", "3V3_ADC", "0V8_AON", "HDMI"}
# Sums of V x I over the 12 rails, computed independently (awk, or a separate script) from the recordings.
IDLE_W = 1.604559136
LOAD_W = 4.817648271
PUBLIC_LOAD_W = 5.921612227144821  # the public capture under CPU load (SOURCES.md): VDD_CORE alone is 4.5 W


@pytest.mark.parametrize(
    ("recording", "expected_w"),
    [("pi5-idle.txt", IDLE_W), ("pi5-load.txt", LOAD_W), ("pi5-public-capture.txt", PUBLIC_LOAD_W)],
)
def test_recorded_outputs_parse_to_the_right_rails(recording: str, expected_w: float) -> None:
    rails = parse_pmic_read_adc((RECORDINGS / recording).read_text())
    assert {r for r, v in rails.items() if v.amps is not None} == RAILS
    assert rails["EXT5V"].amps is None and rails["BATT"].amps is None  # voltage-only entries
    assert pmic_power_w(rails) == pytest.approx(expected_w, rel=1e-9)


def test_public_capture_rails_and_voltage_only_entries() -> None:
    rails = parse_pmic_read_adc((RECORDINGS / "pi5-public-capture.txt").read_text())
    assert rails["VDD_CORE"].watts == pytest.approx(5.03652 * 0.8936988)
    assert rails["EXT5V"].volts == pytest.approx(4.9245) and rails["BATT"].volts == pytest.approx(0.0034188)


def test_firmware_rail_name_variants_and_unreadable_values_are_handled() -> None:
    """Rail names differ between firmware releases (0V8_SW / 0V8_SYS) and a channel may read "nan": the
    sum covers every pair that reads as numbers, whatever the names."""
    text = (
        "   0V8_SYS_A current(6)=0.26935670A\n  VDD_CORE_A current(7)=0.75012000A\n"
        "   0V8_SYS_V volt(14)=0.80000000V\n  VDD_CORE_V volt(15)=0.72000000V\n      BATT_V volt(25)=nanV\n"
    )
    rails = parse_pmic_read_adc(text)
    assert set(rails) == {"0V8_SYS", "VDD_CORE"}
    assert pmic_power_w(rails) == pytest.approx(0.2693567 * 0.8 + 0.75012 * 0.72)


def test_vdd_core_values() -> None:
    rails = parse_pmic_read_adc((RECORDINGS / "pi5-load.txt").read_text())
    assert rails["VDD_CORE"].volts == pytest.approx(0.876543) and rails["VDD_CORE"].amps == pytest.approx(3.9452)


def test_garbage_lines_are_ignored() -> None:
    text = "junk\nVDD_CORE_A current(7)=2.0A\nVDD_CORE_V volt(15)=0.5V\nVDD_CORE_V volt(15)=0.5A\n"
    assert pmic_power_w(parse_pmic_read_adc(text)) == pytest.approx(1.0)


@pytest.fixture
def vcgencmd(monkeypatch: pytest.MonkeyPatch):
    def use(recording: str) -> str:
        monkeypatch.setenv("FAKE_VCGENCMD_OUTPUT", str(RECORDINGS / recording))
        return FAKE_VCGENCMD

    return use


def test_meter_runs_the_command_with_a_fixed_argv(vcgencmd) -> None:
    meter = Rpi5PmicMeter(vcgencmd("pi5-load.txt"))
    meter.probe()  # the fake exits 2 unless argv is exactly ["pmic_read_adc"]
    assert meter.read_power_w() == pytest.approx(LOAD_W)
    assert "excludes PMIC regulator losses and 5 V loads" in meter.scope and "calibration" not in meter.scope


def test_user_calibration_gain_and_offset(vcgencmd) -> None:
    meter = Rpi5PmicMeter(vcgencmd("pi5-idle.txt"), gain=1.1, offset_w=1.25)
    meter.probe()
    assert meter.read_power_w() == pytest.approx(1.1 * IDLE_W + 1.25)
    assert "P = 1.1 x sum + 1.25 W" in meter.scope


def test_vcgencmd_failure_is_unavailable_with_its_message(vcgencmd, monkeypatch: pytest.MonkeyPatch) -> None:
    command = vcgencmd("pi5-idle.txt")
    monkeypatch.setenv("FAKE_VCGENCMD_FAIL", "1")
    with pytest.raises(MeterUnavailable, match="exited 255: VCHI initialization failed"):
        Rpi5PmicMeter(command).probe()


def test_failure_after_probe_is_a_read_error(vcgencmd, monkeypatch: pytest.MonkeyPatch) -> None:
    meter = Rpi5PmicMeter(vcgencmd("pi5-idle.txt"))
    meter.probe()
    monkeypatch.setenv("FAKE_VCGENCMD_FAIL", "1")
    with pytest.raises(MeterReadError, match="VCHI"):
        meter.read_power_w()


def test_missing_vcgencmd_and_non_pi5_output(tmp_path: Path, vcgencmd) -> None:
    with pytest.raises(MeterUnavailable, match="vcgencmd not found"):
        Rpi5PmicMeter(str(tmp_path / "vcgencmd")).probe()
    with pytest.raises(MeterUnavailable, match="no current/voltage pairs"):
        Rpi5PmicMeter(vcgencmd("../tegrastats/jp4-nano.txt")).probe()
