"""`edgebench doctor`, `devices`, `calibrate` and `run --device`, end to end through the CLI and fixtures."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from edgebench.cli import main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SYSFS = FIXTURES / "sysfs"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEBENCH_CALIBRATION_DIR", str(tmp_path / "calibration"))
    monkeypatch.setenv("EDGEBENCH_SYSFS_ROOT", str(tmp_path / "empty-sys"))  # this machine: no sensors at all
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no tegrastats / vcgencmd to be found


def test_doctor_here_says_honestly_that_nothing_can_measure(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pynvml

    def no_library() -> None:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)  # as on a machine without a GPU driver

    monkeypatch.setattr(pynvml, "nvmlInit", no_library)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "device profile: x86-cpu (fallback)" in out
    for line in (
        "nvml               unavailable: nvmlInit failed: NVML Shared Library Not Found",
        "jetson-ina3221     unavailable: no INA3221 power monitor",
        "jetson-tegrastats  unavailable: tegrastats not found",
        "rpi5               unavailable: vcgencmd not found",
        "rapl               unavailable: ",
        "external           unavailable: no external power log configured",
        "estimate           available (estimated)",
    ):
        assert line in out
    assert "no hardware energy meter is available on this machine" in out
    assert "every energy value is labelled 'estimated'" in out
    assert "torch " in out and "packages: edgebench" in out


def test_doctor_json_on_a_jetson_fixture(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEBENCH_SYSFS_ROOT", str(SYSFS / "jetson-orin-nano-jp6"))
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["profile"]["profile"] == "jetson-orin-nano" and report["energy_source"] == "jetson-ina3221"
    row = next(r for r in report["meters"] if r["meter"] == "jetson-ina3221")
    assert row["available"] and row["total_w"] == pytest.approx(5.0) and row["rails_w"]["VDD_SOC"] == 1.5
    assert report["hardware_meters_available"] == ["jetson-ina3221"]


def test_devices_lists_profiles_and_the_match(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGEBENCH_SYSFS_ROOT", str(SYSFS / "raspberry-pi-5"))
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "* raspberry-pi-5" in out and "this machine: raspberry-pi-5 (detected)" in out
    assert "device-tree model 'Raspberry Pi 5 Model B Rev 1.0' contains 'Raspberry Pi 5'" in out
    assert main(["devices", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["selected"]["profile"] == "raspberry-pi-5" and len(data["profiles"]) >= 9


def test_calibrate_stores_the_idle_baseline(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setenv("EDGEBENCH_SYSFS_ROOT", str(SYSFS / "jetson-xavier-nx-jp5"))
    assert main(["calibrate", "--seconds", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "with jetson-ina3221 (measured-sampled)" in out and "idle power: 4.0192 W" in out
    stored = json.loads(next((tmp_path / "calibration").glob("idle-*-jetson-xavier-nx.json")).read_text())
    assert stored["power_w"] == pytest.approx(5.024 * 0.8) and stored["meter"] == "jetson-ina3221"
    assert main(["doctor"]) == 0
    assert "idle baseline: 4.019 W via jetson-ina3221" in capsys.readouterr().out


def test_calibrate_rejects_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["calibrate", "--seconds", "0"]) == 2
    assert "--seconds: must be > 0" in capsys.readouterr().err
    bad = tmp_path / "exp.yaml"
    bad.write_text("profiler:\n  sample_rate_hz: -1\n")
    assert main(["doctor", "--config", str(bad)]) == 2
    assert f"{bad}: profiler.sample_rate_hz: Input should be greater than 0" in capsys.readouterr().err


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


SMALL = {"methods": [{"method": "lora", "r": 4}], "federation": {"rounds": 1}}


def test_run_on_this_machine_fills_energy_as_estimated(write_config, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["run", str(write_config(SMALL)), "--out", str(out), "--quiet"]) == 0
    clients = _rows(out / "clients.csv")
    assert len(clients) == 2
    for c in clients:
        assert float(c["energy_j"]) > 0 and c["energy_provenance"].startswith("estimated: process CPU time")
        assert float(c["energy_net_j"]) == float(c["energy_j"]) and c["idle_power_w"] == "0.0"
        assert float(c["train_energy_j"]) <= float(c["energy_j"])
        assert float(c["comm_time_est_s"]) > 0
    rounds = _rows(out / "rounds.csv")
    assert float(rounds[0]["eval_energy_j"]) > 0 and rounds[0]["eval_energy_provenance"].startswith("estimated")
    meta = json.loads((out / "run.json").read_text())
    energy = meta["measurement"]["energy"]
    assert energy["provenance"] == "estimated" and "W per busy core (device profile x86-cpu" in energy["basis"]
    assert meta["measurement"]["meter_attempts"][0]["meter"] == "rapl"
    assert meta["device"]["profile"] == "x86-cpu" and meta["measurement"]["overhead_s"] > 0


def test_run_with_device_on_a_jetson_fixture_measures_p_times_t(
    write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGEBENCH_SYSFS_ROOT", str(SYSFS / "jetson-orin-nano-jp6"))
    out = tmp_path / "run"
    config = write_config({**SMALL, "profiler": {"sample_rate_hz": 50}})
    argv = ["run", str(config), "--out", str(out), "--quiet", "--device", "jetson-orin-nano", "--compute", "cpu"]
    assert main(argv) == 0
    for c in _rows(out / "clients.csv"):
        assert c["energy_provenance"].startswith("measured-sampled: INA3221 (1-0040) via hwmon")
        assert c["energy_scope"].startswith("module input power VDD_IN")
        assert float(c["energy_j"]) == pytest.approx(5.0 * float(c["total_s"]), rel=1e-6)
        assert float(c["power_avg_w"]) == pytest.approx(5.0)
        assert "short-window" in c["window_flags"] and "download:short-window" in c["window_flags"]
        assert "VDD_SOC=" in c["energy_rails_j"] and int(c["mem_available_min_bytes"]) > 0
        assert c["energy_net_j"] == ""  # no idle baseline for this meter
    meta = json.loads((out / "run.json").read_text())
    assert meta["device"] == {"name": "jetson-orin-nano", "profile": "jetson-orin-nano"}
    # Replayed on this CPU: the profile's bfloat16 is for its GPU, so the run stays float32.
    assert (meta["compute"]["device"], meta["compute"]["autocast"]) == ("cpu", "float32")
    assert meta["measurement"]["energy"]["sampler_pid"] and meta["measurement"]["idle_note"].startswith("no idle")


def test_a_jetson_profile_without_cuda_refuses_to_train_on_the_cpu_silently(
    write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import edgebench.devices.compute as compute

    monkeypatch.setattr(compute, "present_devices", lambda torch_module=None: ["cpu"])
    out = tmp_path / "run"
    assert main(["run", str(write_config(SMALL)), "--out", str(out), "--device", "jetson-orin-nano"]) == 2
    assert "compute device cuda is not available here (the device profile pins cuda)" in capsys.readouterr().err
    assert not out.exists()


def test_run_with_unknown_device_is_one_clear_error(write_config, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(write_config(SMALL)), "--device", "toaster"]) == 2
    err = capsys.readouterr().err
    assert "--device: unknown device profile 'toaster'" in err and "jetson-orin-nano" in err
