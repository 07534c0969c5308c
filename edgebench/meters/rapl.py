"""Intel/AMD RAPL energy counters through the Linux powercap interface.

Zones live at ``<sysfs>/class/powercap/intel-rapl:<N>`` (sockets) with sub-zones
``intel-rapl:<N>:<M>`` (core, uncore, dram). Each has ``name``, ``energy_uj`` (cumulative microjoules)
and ``max_energy_range_uj`` (the value at which ``energy_uj`` wraps to zero). A reading lower than the
previous one means the counter wrapped once, *if* that is plausible: the range is added only when the
energy it implies over the time since the previous read stays within the device's maximum power
(`max_power_w`); otherwise the reading is refused as implausible (nothing is added, the meter re-syncs
and counts it, see :class:`~edgebench.meters.base.CounterMeter`).

Two wraps between reads look like one (or none), so the counter must be read at least once per wrap
period: ``max_energy_range_uj`` / power. The kernel computes the range as the 32-bit counter times the
energy unit: 2^32 x 2^-16 J = 65,532,610,987 uJ (~65.5 kJ) on AMD, 2^32 x 2^-14 J = 262,143,328,850 uJ
(~262 kJ) on most Intel parts, i.e. about 5 and 19 minutes at 225 W. Window edges alone are not
enough, so the meter asks to be watched (:meth:`RaplMeter.watch`): the profiler's sampler process reads
the raw counters (:class:`RaplWatch`) at least a few times per wrap period at `max_power_w`, and every
read, edge or watcher, goes through the same wrap logic. Two consecutive reads further apart than one
wrap period at `max_power_w` are counted as unverified (a wrap may have been missed there).
Since CVE-2020-8694 ``energy_uj`` is root-only on most distributions: that is reported as
"permission denied", never as a silent zero.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgebench.meters.base import (
    CounterMeter,
    MeterOptions,
    MeterReadError,
    MeterUnavailable,
    ValueReader,
    WatchSamples,
    read_sysfs,
    sysfs_root,
)

#: The watcher reads each counter at least this many times per wrap period at `max_power_w`, and at
#: least once per second (Zeus's RAPL wraparound tracker polls at 1 s as well).
WATCH_READS_PER_WRAP = 8
WATCH_MIN_RATE_HZ = 1.0

#: Domains that can be asked for, and the zone names they match.
RAPL_DOMAINS = ("package", "core", "uncore", "dram", "psys")
_DOMAIN_SCOPE = {
    "package": "CPU package (cores, caches, uncore, integrated GPU)",
    "core": "CPU cores only",
    "uncore": "uncore / integrated GPU",
    "dram": "DRAM attached to the package",
    "psys": "whole SoC platform (psys)",
}


def _zone_domain(zone_name: str) -> str | None:
    for domain in RAPL_DOMAINS:
        if zone_name == domain or zone_name.startswith(f"{domain}-"):
            return domain
    return None


@dataclass
class RaplZone:
    """One powercap zone: its folder, name (``package-0``, ``dram``, ...) and wrap range."""

    path: Path
    name: str
    max_range_uj: int
    last_uj: int = -1
    last_ns: int = 0
    total_uj: int = 0

    @property
    def energy_file(self) -> Path:
        return self.path / "energy_uj"


def find_rapl_zones(root: Path) -> list[tuple[Path, str]]:
    """Every ``intel-rapl:*`` zone under ``<root>/class/powercap`` as (folder, name)."""
    base = root / "class" / "powercap"
    zones = []
    for path in sorted(base.glob("intel-rapl:*")):
        name_file = path / "name"
        if name_file.is_file():
            zones.append((path, read_sysfs(name_file)))
    return zones


def validate_domains(domains: Sequence[str]) -> None:
    """Reject unknown domains and combinations that count the same energy twice."""
    unknown = [d for d in domains if d not in RAPL_DOMAINS]
    if unknown:
        raise ValueError(f"unknown RAPL domain {unknown[0]!r}; expected some of: {', '.join(RAPL_DOMAINS)}")
    if "psys" in domains and len(set(domains)) > 1:
        raise ValueError("psys already contains the package and DRAM: list it alone")
    if "package" in domains and ({"core", "uncore"} & set(domains)):
        raise ValueError("package already contains core and uncore: list either package or its parts")


class RaplMeter(CounterMeter):
    """Sum of the selected RAPL domains over all sockets, wrap-corrected, in joules."""

    name = "rapl"
    update_interval_s = 0.001

    def __init__(
        self,
        root: str | Path | None = None,
        domains: Sequence[str] = ("package",),
        max_power_w: float | None = None,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        super().__init__()
        validate_domains(domains)
        self.root = sysfs_root(root)
        self.domains = tuple(domains)
        self.max_power_w = max_power_w
        self._clock_ns = clock_ns
        self.zones: list[RaplZone] = []
        self._watch: Callable[[], WatchSamples] | None = None

    @classmethod
    def from_options(cls, options: MeterOptions) -> RaplMeter:
        return cls(options.sysfs_root, options.rapl_domains, max_power_w=options.max_power_w)

    def probe(self) -> None:
        base = self.root / "class" / "powercap"
        if not base.is_dir():
            raise MeterUnavailable(
                f"{base} does not exist (no powercap interface: intel_rapl driver not loaded, "
                "a VM without RAPL, or not x86)"
            )
        try:
            found = find_rapl_zones(self.root)
        except MeterReadError as exc:
            raise MeterUnavailable(str(exc)) from exc
        chosen = [(p, n) for p, n in found if _zone_domain(n) in self.domains]
        if not chosen:
            have = ", ".join(n for _, n in found) or "none"
            raise MeterUnavailable(f"no RAPL zone for domains {list(self.domains)} under {base} (zones: {have})")
        zones = []
        for path, name in chosen:
            try:
                max_range = int(read_sysfs(path / "max_energy_range_uj"))
                zone = RaplZone(path=path, name=name, max_range_uj=max_range)
                zone.last_uj = int(read_sysfs(zone.energy_file))
                zone.last_ns = self._clock_ns()
            except MeterReadError as exc:
                if "permission denied" in str(exc):
                    raise MeterUnavailable(
                        f"permission denied reading {path / 'energy_uj'} (root-only since CVE-2020-8694; "
                        "run as root or make energy_uj readable)"
                    ) from exc
                raise MeterUnavailable(str(exc)) from exc
            except ValueError as exc:
                raise MeterUnavailable(f"{path}: unreadable counter ({exc})") from exc
            zones.append(zone)
        self.zones = zones
        names = ", ".join(z.name for z in zones)
        self.source = f"powercap energy_uj of {names}"
        self.scope = "RAPL " + "; ".join(f"{z.name}: {_DOMAIN_SCOPE[_zone_domain(z.name) or 'package']}" for z in zones)
        self.scope += " (excludes the rest of the board: disks, fans, PSU losses)"

    def wrap_period_s(self) -> float | None:
        """Shortest time any chosen counter needs to wrap at `max_power_w` (None: no bound known)."""
        if self.max_power_w is None or not self.zones:
            return None
        return min(z.max_range_uj for z in self.zones) / 1e6 / self.max_power_w

    def watch(self) -> tuple[dict[str, Any], float] | None:
        """The raw counters, read by the sampler process often enough that no wrap goes unseen."""
        if not self.zones:
            return None
        period_s = self.wrap_period_s()
        rate_hz = WATCH_MIN_RATE_HZ if period_s is None else max(WATCH_MIN_RATE_HZ, WATCH_READS_PER_WRAP / period_s)
        spec = {"meter": RaplWatch.name, "files": [str(z.energy_file) for z in self.zones]}
        return spec, rate_hz

    def attach_watch(self, samples: Callable[[], WatchSamples]) -> None:
        self._watch = samples

    def read_energy_j(self) -> float:
        if not self.zones:
            raise MeterReadError("RAPL meter read before probe()")
        if self._watch is not None:  # the watcher's reads since the previous edge, oldest first
            for stamp_ns, values in self._watch():
                for zone, value in zip(self.zones, values, strict=False):
                    if math.isfinite(value) and stamp_ns > zone.last_ns:
                        self._step(zone, int(value), stamp_ns)
        for zone in self.zones:
            try:
                raw = int(read_sysfs(zone.energy_file))
            except ValueError as exc:
                raise MeterReadError(f"{zone.energy_file}: unreadable counter ({exc})") from exc
            self._step(zone, raw, self._clock_ns())
        return sum(z.total_uj for z in self.zones) / 1e6

    def _step(self, zone: RaplZone, raw: int, now_ns: int) -> None:
        """Fold one read of `zone` into its total (wrap-corrected), checking the span since the last read."""
        period_s = self.wrap_period_s()
        elapsed_s = max(0.0, (now_ns - zone.last_ns) / 1e9)
        if period_s is not None and elapsed_s > period_s:
            self.unverified(
                f"RAPL {zone.name} went unread for {elapsed_s:.4g} s, longer than one wrap period at the device's "
                f"max_power_w ({zone.max_range_uj / 1e6:.6g} J / {self.max_power_w:g} W = {period_s:.4g} s): "
                "whole wraps may be missing, so the energy may be too low"
            )
        delta = raw - zone.last_uj
        if delta < 0:  # wrapped once since the previous read, or a glitch
            delta = self._wrap_or_refuse(zone, raw, now_ns)
        zone.total_uj += delta
        zone.last_uj, zone.last_ns = raw, now_ns

    def _wrap_or_refuse(self, zone: RaplZone, raw: int, now_ns: int) -> int:
        """The delta of a backwards step read as one wrap, or 0 (refused) when the power it implies is not
        plausible: above `max_power_w` over the time since the previous read (plus one update interval)."""
        wrapped = raw + zone.max_range_uj - zone.last_uj
        if self.max_power_w is None:
            return wrapped
        elapsed_s = max(0.0, (now_ns - zone.last_ns) / 1e9)
        limit_uj = self.max_power_w * (elapsed_s + (self.update_interval_s or 0.0)) * 1e6
        if raw <= zone.max_range_uj and wrapped <= limit_uj:
            return wrapped
        self.refuse(
            f"RAPL {zone.name} energy_uj stepped back from {zone.last_uj} to {raw} in {elapsed_s:.3g} s; as a wrap "
            f"(max_energy_range_uj {zone.max_range_uj}) that is {wrapped / 1e6:.6g} J, "
            f"{wrapped / 1e6 / max(elapsed_s, 1e-9):.4g} W, above the device's max_power_w {self.max_power_w:g} W"
        )
        return 0


class RaplWatch(ValueReader):
    """The raw ``energy_uj`` of the given counter files, read by the sampler process between edges."""

    name = "rapl-watch"

    def __init__(self, files: Sequence[str]) -> None:
        self.files = [Path(f) for f in files]
        self.source = "powercap energy_uj (raw, wrap watcher)"

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> RaplWatch:
        return cls(spec["files"])

    def probe(self) -> None:
        try:
            self.read_values()
        except MeterReadError as exc:
            raise MeterUnavailable(str(exc)) from exc

    def read_values(self) -> dict[str, float]:
        values = {}
        for i, path in enumerate(self.files):
            text = read_sysfs(path)
            try:
                values[f"zone{i}"] = float(int(text))
            except ValueError as exc:  # a file caught mid-rewrite (fixtures) or a broken driver
                raise MeterReadError(f"{path}: expected an integer, got {text[:40]!r}") from exc
        return values
