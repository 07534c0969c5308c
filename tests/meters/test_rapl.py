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


def test_permission_denied_is_reported_as_such(x86: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root here, so chmod would not stop the read: simulate the kernel's EACCES instead.
    real_read_text = Path.read_text

    def denied(self: Path, *args, **kwargs) -> str:
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", denied)
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
