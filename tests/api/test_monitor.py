"""edgebench.Monitor: the public profiler entry point picks profile and meters as `edgebench run` does, measures
nested windows as the engine's records, calibrates idle power on request and refuses unavailable meters."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

import edgebench
from edgebench.api import MeterNotAvailable, Monitor, WindowMeasurement
from edgebench.devices.profiles import get_profile
from edgebench.profiler.commands import doctor_report
from edgebench.profiler.settings import ProfilerSettings
from edgebench.profiler.setup import build_measurement, resolve_energy
from edgebench.results import MEASUREMENT_COLUMNS, ClientMeasurement
from tests.api.conftest import FLAT_W, SYSFS


def _work(n: int = 200_000) -> int:
    return sum(i * i for i in range(n))


# -- import and entry point ----------------------------------------------------------------------
def test_import_edgebench_loads_nothing_heavy_until_a_public_name_is_used() -> None:
    code = (
        "import sys, edgebench; heavy = ('torch', 'transformers', 'numpy', 'pandas', 'pydantic', 'edgebench.api');"
        "print(sorted(m for m in heavy if m in sys.modules)); edgebench.Monitor;"
        "print('edgebench.api' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]"
    assert out[1] == "True False"  # the API itself does not need torch either


def test_public_names_are_reachable_from_the_package() -> None:
    assert edgebench.Monitor is Monitor and edgebench.MeterNotAvailable is MeterNotAvailable
    assert {"Monitor", "WindowMeasurement", "MeterNotAvailable"} <= set(dir(edgebench))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        edgebench.Nope  # noqa: B018


# -- profile and meter: as `edgebench run --device` picks them -------------------------------------
@pytest.mark.parametrize(
    ("device", "sysfs"),
    [("auto", "jetson-orin-nano-jp6"), ("auto", "x86-rapl"), ("raspberry-pi-5", "raspberry-pi-5"), ("auto", None)],
)
def test_profile_and_meter_are_the_ones_build_measurement_picks(device: str, sysfs: str | None, tmp_path: Path) -> None:
    root = str(SYSFS / sysfs) if sysfs else str(tmp_path)  # an empty tree: nothing detected, nothing to read
    settings = ProfilerSettings(sysfs_root=root, vcgencmd="/nonexistent/vcgencmd", tegrastats="/nonexistent/t")
    engine = build_measurement(settings, device)
    expected = resolve_energy(settings, engine.profile)
    expected.close()
    with Monitor(device, settings=settings, host_sample_s=None) as monitor:
        assert monitor.describe()["profile"] == engine.selection.describe()
        assert monitor.profile == engine.profile.name
        assert monitor.describe()["meter_attempts"] == expected.attempts
        assert monitor.energy_provenance.split(":")[0] == expected.provenance.split(":")[0]


def test_auto_detects_a_jetson_from_its_device_tree() -> None:
    with Monitor(settings={"sysfs_root": str(SYSFS / "jetson-orin-nano-jp6")}, host_sample_s=None) as monitor:
        assert monitor.profile == "jetson-orin-nano" and monitor.describe()["profile"]["how"] == "detected"
        assert monitor.energy_provenance.startswith("measured-sampled")


def test_an_unknown_device_profile_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown device profile 'jetson-nope'; expected auto, a \.yaml path"):
        Monitor("jetson-nope")


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"meters.0: unknown meter 'rapll'"):
        Monitor(meters="rapll")
    with pytest.raises(ValueError, match=r"sample_rate_hz: Input should be greater than 0"):
        Monitor(settings={"sample_rate_hz": -1})


# -- unavailable meters: an error with doctor's reason, never a silent zero ------------------------
def test_asking_for_an_unavailable_meter_raises_with_doctors_reason(tmp_path: Path) -> None:
    settings = ProfilerSettings(sysfs_root=str(tmp_path))
    doctor_reason = next(r["reason"] for r in doctor_report(settings, "x86-cpu")["meters"] if r["meter"] == "rapl")
    monitor = Monitor("x86-cpu", meters="rapl", settings=settings, host_sample_s=None)
    with pytest.raises(MeterNotAvailable) as raised:
        monitor.begin_window("train")
    assert doctor_reason in str(raised.value) and "edgebench doctor" in str(raised.value)
    assert raised.value.attempts == [{"meter": "rapl", "status": "unavailable", "reason": doctor_reason}]
    assert monitor.open_windows == []


def test_a_chain_with_no_working_meter_records_empty_energy_with_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    profile = yaml.safe_load(Path(get_profile("x86-cpu").source_file).read_text()) | {
        "meters": ["rapl"],
        "name": "rapl-only",
    }
    (tmp_path / "rapl-only.yaml").write_text(yaml.safe_dump(profile))
    monitor = Monitor(str(tmp_path / "rapl-only.yaml"), settings={"sysfs_root": str(tmp_path)}, host_sample_s=None)
    with caplog.at_level(logging.WARNING, logger="edgebench"), monitor, monitor.window("train") as w:
        _work()
    assert w.energy_j is None and w.power_avg_w is None and w.energy_net_j is None
    assert w.energy_provenance.startswith("unavailable: no working meter (rapl: ")
    assert "no energy meter works here" in caplog.text


# -- windows ----------------------------------------------------------------------------------------
def test_a_window_is_the_engines_client_record_with_energy_over_its_span(replay: dict) -> None:
    with Monitor(**replay, host_sample_s=None) as monitor, monitor.window("train") as w:
        assert not w.closed and w.total_s is None
        _work()
    assert isinstance(w, ClientMeasurement) and w.closed
    assert list(w.cells()) == MEASUREMENT_COLUMNS
    assert w.window == "train" and w.started_at.endswith("+00:00")
    assert w.total_s == pytest.approx(w.record.duration_s) and w.total_s > 0
    assert w.energy_j == pytest.approx(FLAT_W * w.total_s, rel=1e-6)
    assert w.power_avg_w == pytest.approx(FLAT_W)
    assert w.energy_provenance.startswith("measured-sampled: replayed trace")
    assert w.peak_rss_bytes > 0 and w.memory_provenance.startswith("host ")
    assert "short-window" in w.flags and w.window_flags == ";".join(w.flags)
    assert monitor.windows == [w]


def test_windows_nest_and_record_their_path(replay: dict) -> None:
    with Monitor(**replay, host_sample_s=None) as monitor:
        with monitor.window("epoch") as outer:
            with monitor.window("step") as first:
                _work()
            with monitor.window("step") as second:
                _work()
    assert [w.window for w in monitor.windows] == ["epoch/step", "epoch/step", "epoch"]
    assert [c.name for c in outer.record.children] == ["step", "step"]
    assert outer.total_s >= first.total_s + second.total_s
    assert outer.energy_j >= first.energy_j + second.energy_j


def test_engine_phase_windows_fill_the_phase_columns_exactly_as_the_engine(replay: dict) -> None:
    with Monitor(**replay, host_sample_s=None) as monitor, monitor.window("client") as client:
        for phase in ("download", "train", "upload"):
            with monitor.window(phase):
                # long enough (several GIL switch intervals) that the sampler has its first sample by the end
                _work()
    engine = ClientMeasurement.from_window(
        client.record,
        num_steps=None,
        bytes_down=None,
        bytes_up=None,
        train_loss=None,
        comm_time_est_s=None,
        comm_energy_est_j=None,
    )
    assert client.measurement() == engine
    assert client.train_s == client.record.child("train").duration_s and client.train_energy_j is not None


def test_begin_and_end_window_for_callback_code(replay: dict) -> None:
    monitor = Monitor(**replay, host_sample_s=None)
    try:
        opened = monitor.begin_window("fit")
        monitor.begin_window("batch")
        assert monitor.open_windows == ["fit", "batch"]
        with pytest.raises(ValueError, match="window 'fit' cannot end while 'batch', begun inside it, is open"):
            monitor.end_window("fit")
        with pytest.raises(ValueError, match="window 'batch' is already open"):
            monitor.begin_window("batch")
        with pytest.raises(ValueError, match=r"no open window called 'eval' \(open: fit, batch\)"):
            monitor.end_window("eval")
        batch = monitor.end_window("batch")
        fit = monitor.end_window("fit")
    finally:
        monitor.close()
    assert fit is opened and fit.closed and batch.window == "fit/batch"
    assert fit.energy_j == pytest.approx(FLAT_W * fit.total_s, rel=1e-6)


def test_a_window_name_must_be_a_plain_non_empty_string(replay: dict) -> None:
    monitor = Monitor(**replay)
    for bad in ("", "a/b", None):
        with pytest.raises(ValueError, match="window name must be a non-empty string"):
            monitor.begin_window(bad)  # type: ignore[arg-type]


def test_the_decorator_measures_every_call(replay: dict) -> None:
    with Monitor(**replay, host_sample_s=None) as monitor:

        @monitor.measure
        def evaluate(n: int) -> int:
            return _work(n)

        @monitor.measure("train-step")
        def step() -> str:
            return "done"

        assert evaluate(200_000) == _work(200_000) and evaluate(10) == _work(10) and step() == "done"
    assert [w.window for w in monitor.windows] == ["evaluate", "evaluate", "train-step"]
    assert evaluate.__name__ == "evaluate"
    assert all(w.closed and w.energy_j is not None for w in monitor.windows)


def test_a_recursive_decorated_function_is_one_window(replay: dict) -> None:
    with Monitor(**replay, host_sample_s=None) as monitor:

        @monitor.measure
        def depth(n: int) -> int:
            return 0 if n == 0 else 1 + depth(n - 1)

        assert depth(3) == 3 and depth(0) == 0
    assert [w.window for w in monitor.windows] == ["depth", "depth"]


def test_windows_of_another_thread_are_refused_while_this_threads_are_open(replay: dict) -> None:
    """Windows nest: another thread's window would silently land inside this one's (`outer/theirs`)."""
    errors: list[BaseException] = []

    def other_thread() -> None:
        try:
            monitor.begin_window("theirs")
        except RuntimeError as exc:
            errors.append(exc)

    def later() -> None:
        with monitor.window("later"):
            _work(100)

    with Monitor(**replay, host_sample_s=None) as monitor:
        with monitor.window("outer"):
            worker = threading.Thread(target=other_thread)
            worker.start()
            worker.join()
            assert monitor.open_windows == ["outer"]
        worker = threading.Thread(target=later)
        worker.start()
        worker.join()  # no window open: another thread may measure
    assert [str(e) for e in errors] == [
        "window 'theirs': windows outer are open in another thread; a monitor's windows nest, so they are begun "
        "and ended by one thread at a time (wrap the threads' work in one window of the thread that starts them)"
    ]
    assert [w.window for w in monitor.windows] == ["outer", "later"]


def test_a_block_that_raises_ends_its_window_without_recording_it(replay: dict, tmp_path: Path) -> None:
    with Monitor(**replay, csv=tmp_path / "w.csv", host_sample_s=None) as monitor:
        with pytest.raises(ZeroDivisionError), monitor.window("outer"), monitor.window("inner"):
            _ = 1 / 0
        assert monitor.open_windows == [] and monitor.windows == []
        with pytest.raises(KeyError), monitor.window("epoch"):
            monitor.begin_window("step")  # callback code that never got to end_window
            raise KeyError("batch")
        assert monitor.open_windows == [] and monitor.windows == []
        with monitor.window("after") as after:
            _work(100)
    assert [w.window for w in monitor.windows] == ["after"] and after.closed
    assert (tmp_path / "w.csv").read_text().count("\n") == 2  # header + "after"


def test_close_drops_windows_left_open(replay: dict, caplog: pytest.LogCaptureFixture) -> None:
    monitor = Monitor(**replay, host_sample_s=None)
    monitor.begin_window("forgotten")
    with caplog.at_level(logging.WARNING, logger="edgebench"):
        monitor.close()
    assert monitor.open_windows == [] and monitor.windows == []
    assert "window 'forgotten' was still open at close; not recorded" in caplog.text


def test_a_disabled_profiler_times_windows_and_says_energy_is_unavailable() -> None:
    with Monitor(settings={"enabled": False}, host_sample_s=None) as monitor, monitor.window("w") as w:
        _work(100)
    assert w.total_s > 0 and w.energy_j is None and w.peak_rss_bytes is None
    assert w.energy_provenance.startswith("unavailable: profiler disabled")


# -- idle power -------------------------------------------------------------------------------------
def test_idle_power_measured_at_start_on_request_gives_net_energy(replay: dict) -> None:
    with Monitor(**replay, idle_baseline_s=0.3, host_sample_s=None) as monitor, monitor.window("w") as w:
        _work()
    assert monitor.idle is not None and monitor.idle.source == "measured"
    assert monitor.idle.power_w == pytest.approx(FLAT_W)
    assert w.idle_power_w == pytest.approx(FLAT_W) and w.energy_net_j == pytest.approx(0.0, abs=1e-6)
    assert w.energy_j > 0


def test_calibrate_idle_now_and_store_it_for_the_next_monitor(replay: dict) -> None:
    with Monitor(**replay, host_sample_s=None) as monitor:
        assert monitor.idle is None and monitor.describe()["idle_note"].startswith("no idle baseline")
        with monitor.window("w"), pytest.raises(RuntimeError, match="calibrate idle power outside any window"):
            monitor.calibrate_idle(0.2)
        for bad in (0.0, float("nan"), float("inf")):
            with pytest.raises(ValueError, match="seconds must be a finite number > 0"):
                monitor.calibrate_idle(bad)
        baseline = monitor.calibrate_idle(0.3, store=True)
        with monitor.window("after") as w:
            _work()
    assert baseline.power_w == pytest.approx(FLAT_W) and Path(baseline.path).is_file()
    assert w.energy_net_j == pytest.approx(0.0, abs=1e-6)
    with Monitor(**replay, host_sample_s=None) as later:
        assert later.idle is not None and later.idle.source == "calibration-file"
        assert later.idle.power_w == pytest.approx(FLAT_W)


def test_idle_power_asked_for_and_not_measurable_is_an_error(tmp_path: Path) -> None:
    profile = yaml.safe_load(Path(get_profile("x86-cpu").source_file).read_text()) | {
        "meters": ["rapl"],
        "name": "rapl-only",
    }
    (tmp_path / "rapl-only.yaml").write_text(yaml.safe_dump(profile))
    monitor = Monitor(
        str(tmp_path / "rapl-only.yaml"),
        idle_baseline_s=0.1,
        settings={"sysfs_root": str(tmp_path)},
        host_sample_s=None,
    )
    with pytest.raises(RuntimeError, match="idle power was asked for and not measured: idle power not measured: unava"):
        monitor.start()


def test_from_config_reads_the_profiler_and_device_sections(tmp_path: Path, flat_trace: Path) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "device": {"name": "x86-cpu"},
                "profiler": {"meters": ["replay"], "replay_trace": str(flat_trace), "sample_rate_hz": 50},
            }
        )
    )
    with Monitor.from_config(config, host_sample_s=None) as monitor, monitor.window("w") as w:
        _work()
    assert monitor.profile == "x86-cpu" and w.energy_provenance.startswith("measured-sampled: replayed trace")
    assert isinstance(w, WindowMeasurement)
