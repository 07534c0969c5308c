"""RAPL through a fixture powercap tree: zone selection, wraparound, permission denied, missing interface."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgebench.meters import MeterUnavailable
from edgebench.meters.base import MeterReadError
from edgebench.meters.rapl import RaplMeter, validate_domains

SYSFS = Path(__file__).resolve().parent.parent / "fixtures" / "sysfs"


@pytest.fixture
def x86(tmp_path: Path) -> Path:
    """A writable copy of the two-socket RAPL fixture."""
    root = tmp_path / "sys"
    shutil.copytree(SYSFS / "x86-rapl", root)
    return root


def _set(root: Path, zone: str, uj: int) -> None:
    (root / "class" / "powercap" / zone / "energy_uj").write_text(f"{uj}\n")


def test_package_domains_sum_both_sockets(x86: Path) -> None:
    meter = RaplMeter(x86, ["package"])
    meter.probe()
    assert [z.name for z in meter.zones] == ["package-0", "package-1"]
    assert meter.read_energy_j() == 0.0
    _set(x86, "intel-rapl:0", 1_000_000 + 2_500_000)
    _set(x86, "intel-rapl:1", 3_000_000 + 1_500_000)
    assert meter.read_energy_j() == pytest.approx(4.0)
    assert "package-0" in meter.scope and "excludes" in meter.scope


def test_counter_that_wraps_mid_window_gives_the_right_delta(x86: Path) -> None:
    max_range = 262143328850
    _set(x86, "intel-rapl:0", max_range - 1_000_000)  # 1 J before the wrap
    meter = RaplMeter(x86, ["package"])
    meter.probe()
    start = meter.read_energy_j()
    _set(x86, "intel-rapl:0", 2_000_000)  # wrapped: 1 J to the top + 2 J after it
    end = meter.read_energy_j()
    assert end - start == pytest.approx(3.0)
    _set(x86, "intel-rapl:0", 2_500_000)  # and keeps counting normally afterwards
    assert meter.read_energy_j() - start == pytest.approx(3.5)


def test_dram_subzones_are_selected_by_name(x86: Path) -> None:
    meter = RaplMeter(x86, ["package", "dram"])
    meter.probe()
    assert sorted(z.name for z in meter.zones) == ["dram", "dram", "package-0", "package-1"]
    _set(x86, "intel-rapl:0:1", 200_000 + 700_000)
    assert meter.read_energy_j() == pytest.approx(0.7)


def deny_energy_uj(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every ``energy_uj`` read fail as on most kernels since CVE-2020-8694 (root-only). Tests run as
    root here, so chmod would not stop the read: the kernel's EACCES is simulated instead."""
    real_read_text = Path.read_text

    def denied(self: Path, *args, **kwargs) -> str:
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", denied)


def test_permission_denied_is_reported_as_such(x86: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deny_energy_uj(monkeypatch)
    with pytest.raises(MeterUnavailable, match=r"permission denied reading .*energy_uj.*CVE-2020-8694"):
        RaplMeter(x86, ["package"]).probe()


def test_no_powercap_says_why(tmp_path: Path) -> None:
    with pytest.raises(MeterUnavailable, match=r"class/powercap does not exist"):
        RaplMeter(tmp_path, ["package"]).probe()


def test_missing_domain_lists_the_zones_found(x86: Path) -> None:
    with pytest.raises(MeterUnavailable, match=r"no RAPL zone for domains \['psys'\].*package-0"):
        RaplMeter(x86, ["psys"]).probe()


def test_counter_vanishing_mid_run_is_a_read_error(x86: Path) -> None:
    meter = RaplMeter(x86, ["package"])
    meter.probe()
    (x86 / "class" / "powercap" / "intel-rapl:1" / "energy_uj").unlink()
    with pytest.raises(MeterReadError, match="does not exist"):
        meter.read_energy_j()


@pytest.mark.parametrize(
    ("domains", "message"),
    [(["psys", "package"], "psys"), (["package", "core"], "package already contains"), (["gpu"], "unknown")],
)
def test_double_counting_domain_sets_are_rejected(domains: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_domains(domains)


class _Clock:
    """Monotonic nanoseconds stepped by the test."""

    def __init__(self) -> None:
        self.ns = 10**12

    def __call__(self) -> int:
        return self.ns


def test_a_wrap_is_accepted_only_when_the_power_it_implies_is_plausible(x86: Path) -> None:
    max_range = 262143328850
    clock = _Clock()
    _set(x86, "intel-rapl:0", max_range - 50_000_000)  # 50 J before the top
    meter = RaplMeter(x86, ["package"], max_power_w=1000.0, clock_ns=clock)
    meter.probe()
    start = meter.read_energy_j()
    clock.ns += 2 * 10**9
    _set(x86, "intel-rapl:0", 30_000_000)  # a wrap: 50 J + 30 J in 2 s = 40 W, plausible
    assert meter.read_energy_j() - start == pytest.approx(80.0)
    assert meter.implausible_readings == 0


def test_a_counter_stepping_backwards_is_refused_not_added(x86: Path) -> None:
    clock = _Clock()
    _set(x86, "intel-rapl:0", 5_000_000_000)
    meter = RaplMeter(x86, ["package"], max_power_w=1000.0, clock_ns=clock)
    meter.probe()
    start = meter.read_energy_j()
    clock.ns += int(2.5e9)
    _set(x86, "intel-rapl:0", 4_000_000_000)  # read as a wrap: 258 kJ in 2.5 s, i.e. 103 kW: impossible
    after = meter.read_energy_j()
    assert after == start  # nothing added
    assert meter.implausible_readings == 1
    assert "package-0 energy_uj stepped back from 5000000000 to 4000000000 in 2.5 s" in meter.implausible_reason
    assert "above the device's max_power_w 1000 W" in meter.implausible_reason
    clock.ns += 10**9
    _set(x86, "intel-rapl:0", 4_000_000_000 + 20_000_000)  # re-synced: counts on from the new value
    assert meter.read_energy_j() - after == pytest.approx(20.0)


def test_without_a_max_power_every_backwards_step_is_a_wrap(x86: Path) -> None:
    _set(x86, "intel-rapl:0", 5_000_000_000)
    meter = RaplMeter(x86, ["package"])  # no profile bound: the previous behaviour
    meter.probe()
    start = meter.read_energy_j()
    _set(x86, "intel-rapl:0", 4_000_000_000)
    assert meter.read_energy_j() - start == pytest.approx((262143328850 - 1_000_000_000) / 1e6)


AMD_RANGE_UJ = 65532610987  # tests/fixtures/sysfs/x86-rapl-amd (SOURCES.md)


def test_amd_range_is_the_kernels_32_bit_counter_times_amds_energy_unit() -> None:
    """The kernel computes max_energy_range_uj as 0xffffffff x the energy unit (nJ, truncated) / 1000:
    2^-16 J on AMD (about 65.5 kJ: 5 minutes at 225 W), 2^-14 J on most Intel parts (about 262 kJ)."""
    assert 0xFFFFFFFF * (10**9 // 2**16) // 1000 == AMD_RANGE_UJ
    assert 0xFFFFFFFF * (10**9 // 2**14) // 1000 == 262143328850
    meter = RaplMeter(SYSFS / "x86-rapl-amd", ["package"], max_power_w=225.0)
    meter.probe()
    assert [z.max_range_uj for z in meter.zones] == [AMD_RANGE_UJ]
    assert meter.wrap_period_s() == pytest.approx(291.3, abs=0.1)  # seconds at 225 W


def _amd_tree(tmp_path: Path) -> Path:
    root = tmp_path / "sys"
    shutil.copytree(SYSFS / "x86-rapl-amd", root)
    return root


def test_wraps_between_edges_are_counted_from_the_watchers_reads(tmp_path: Path) -> None:
    """Ten minutes at 220 W is 132 kJ: two AMD wraps inside one window. Read only at the edges the counter
    looks like it advanced by 132 kJ - 2 x 65.5 kJ; with the watcher's reads every second nothing is lost."""
    root = _amd_tree(tmp_path)
    counter = root / "class" / "powercap" / "intel-rapl:0" / "energy_uj"
    counter.write_text("0\n")
    clock = _Clock()
    meter = RaplMeter(root, ["package"], max_power_w=400.0, clock_ns=clock)
    meter.probe()
    t0 = clock.ns
    watched: list[tuple[int, list[float]]] = []
    meter.attach_watch(lambda: [watched.pop(0) for _ in range(len(watched))])
    start = meter.read_energy_j()
    for second in range(1, 600):  # the watcher's reads, one per second
        watched.append((t0 + second * 10**9, [float(220_000_000 * second % AMD_RANGE_UJ)]))
    clock.ns = t0 + 600 * 10**9
    counter.write_text(f"{220_000_000 * 600 % AMD_RANGE_UJ}\n")
    assert meter.read_energy_j() - start == pytest.approx(132_000.0)
    assert meter.implausible_readings == 0 and meter.unverified_spans == 0


def test_a_span_longer_than_one_wrap_period_is_counted_as_unverified(tmp_path: Path) -> None:
    root = _amd_tree(tmp_path)
    counter = root / "class" / "powercap" / "intel-rapl:0" / "energy_uj"
    counter.write_text("0\n")
    clock = _Clock()
    meter = RaplMeter(root, ["package"], max_power_w=400.0, clock_ns=clock)  # wrap period 164 s at 400 W
    meter.probe()
    meter.read_energy_j()
    clock.ns += 100 * 10**9
    counter.write_text("22000000000\n")
    meter.read_energy_j()
    assert meter.unverified_spans == 0  # 100 s: no whole wrap can hide in it
    clock.ns += 600 * 10**9
    counter.write_text("23000000000\n")
    meter.read_energy_j()
    assert meter.unverified_spans == 1
    assert "went unread for 600 s, longer than one wrap period" in meter.unverified_reason
    assert "65532.6 J / 400 W = 163.8 s" in meter.unverified_reason


def test_the_meter_asks_to_be_watched_often_enough(tmp_path: Path) -> None:
    meter = RaplMeter(SYSFS / "x86-rapl-amd", ["package"], max_power_w=1200.0)
    meter.probe()
    wanted = meter.watch()
    assert wanted is not None
    spec, rate_hz = wanted
    assert spec == {"meter": "rapl-watch", "files": [str(SYSFS / "x86-rapl-amd/class/powercap/intel-rapl:0/energy_uj")]}
    assert rate_hz >= 8 / (AMD_RANGE_UJ / 1e6 / 1200.0)  # 8 reads per wrap period at 1200 W (54.6 s)
    assert RaplMeter(SYSFS / "x86-rapl-amd", ["package"]).watch() is None  # not probed: nothing to watch


def test_the_watcher_reads_raw_counters(tmp_path: Path) -> None:
    from edgebench.meters.registry import reader_from_spec

    root = _amd_tree(tmp_path)
    meter = RaplMeter(root, ["package"], max_power_w=225.0)
    meter.probe()
    watch = reader_from_spec(meter.watch()[0])
    watch.probe()
    assert watch.read_values() == {"zone0": 64930873566.0}
    (root / "class" / "powercap" / "intel-rapl:0" / "energy_uj").write_text("")  # caught mid-rewrite
    with pytest.raises(MeterReadError, match="expected an integer"):
        watch.read_values()
