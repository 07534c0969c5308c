"""NVIDIA Jetson power: INA3221 monitors in sysfs (primary), ``tegrastats`` (fallback), jtop (optional).

Layouts (paths relative to the sysfs root, which stands in for ``/sys``):

* JetPack 5/6: ``bus/i2c/drivers/ina3221/<bus>-<addr>/hwmon/hwmon*/`` with ``in<N>_label``,
  ``in<N>_input`` (bus voltage, mV), ``curr<N>_input`` (mA) and ``update_interval`` (ms).
* JetPack 4: ``bus/i2c/drivers/ina3221x/<bus>-<addr>/iio:device*/`` with ``rail_name_<N>`` and
  ``in_power<N>_input`` (mW).

Which rails make up the total is board-specific and comes from the device profile (``total_rails``):
one rail where the module has an input rail (``VDD_IN``, ``POM_5V_IN``), the sum of rails on AGX Orin.
A board without a rail map reports its raw rails, using a known input rail if present, else the sum of
all rails, and says so in the scope.
"""

from __future__ import annotations

import re
import selectors
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgebench.meters.base import (
    MeterOptions,
    MeterReadError,
    MeterUnavailable,
    PowerMeter,
    read_sysfs,
    read_sysfs_number,
    sysfs_root,
)

#: Module input rails: when present on an unmapped board they are the honest total.
KNOWN_INPUT_RAILS = ("VDD_IN", "POM_5V_IN")
_SKIP_LABELS = ("nc", "")


@dataclass(frozen=True)
class Ina3221Channel:
    """One monitored rail: hwmon (voltage and current files) or iio (a power file)."""

    rail: str
    layout: str  # "hwmon" or "iio"
    device: str  # i2c device, e.g. "1-0040"
    voltage_file: Path | None = None
    current_file: Path | None = None
    power_file: Path | None = None

    def read_w(self) -> float:
        if self.power_file is not None:
            return read_sysfs_number(self.power_file) / 1000.0
        assert self.voltage_file is not None and self.current_file is not None
        return read_sysfs_number(self.voltage_file) * read_sysfs_number(self.current_file) / 1e6


def discover_ina3221(root: Path) -> tuple[str, list[Ina3221Channel], float | None]:
    """Find INA3221 rails under `root` (a sysfs root): (layout, channels, update interval in s or None)."""
    channels: list[Ina3221Channel] = []
    interval_s: float | None = None
    for hwmon in sorted((root / "bus/i2c/drivers/ina3221").glob("*/hwmon/hwmon*")):
        device = hwmon.parent.parent.name
        for label_file in sorted(hwmon.glob("in*_label")):
            match = re.fullmatch(r"in(\d+)_label", label_file.name)
            if not match:
                continue
            n = match.group(1)
            label = read_sysfs(label_file)
            voltage, current = hwmon / f"in{n}_input", hwmon / f"curr{n}_input"
            if label.lower() in _SKIP_LABELS or "sum of shunt" in label.lower() or not current.exists():
                continue
            channels.append(Ina3221Channel(label, "hwmon", device, voltage_file=voltage, current_file=current))
        interval_file = hwmon / "update_interval"
        if interval_file.exists():
            interval_s = max(interval_s or 0.0, read_sysfs_number(interval_file) / 1000.0)
    if channels:
        return "hwmon", channels, interval_s
    for iio in sorted((root / "bus/i2c/drivers/ina3221x").glob("*/iio:device*")):
        device = iio.parent.name
        for name_file in sorted(iio.glob("rail_name_*")):
            n = name_file.name.rsplit("_", 1)[1]
            label = read_sysfs(name_file)
            power = iio / f"in_power{n}_input"
            if label.lower() in _SKIP_LABELS or not power.exists():
                continue
            channels.append(Ina3221Channel(label, "iio", device, power_file=power))
    return ("iio", channels, None) if channels else ("none", [], None)


def choose_total(rails: Sequence[str], total_rails: Sequence[str] | None) -> tuple[list[str], str]:
    """Which rails to add up for the total, and a note on why (for the scope)."""
    if total_rails:
        missing = [r for r in total_rails if r not in rails]
        if missing:
            raise MeterUnavailable(
                f"the rail map expects {', '.join(missing)} but this board exposes {', '.join(rails) or 'no rails'}"
            )
        return list(total_rails), ""
    for name in KNOWN_INPUT_RAILS:
        if name in rails:
            return [name], f"board not in the rail map; using input rail {name}; raw rails: {', '.join(rails)}"
    return list(rails), (
        f"board not in the rail map; total = sum of all raw rails ({', '.join(rails)}), "
        "which double counts if rails are nested"
    )


class JetsonIna3221Meter(PowerMeter):
    """Jetson on-module INA3221 rails read from sysfs (JetPack 4 iio or JetPack 5/6 hwmon)."""

    name = "jetson-ina3221"

    def __init__(
        self,
        root: str | Path | None = None,
        total_rails: Sequence[str] | None = None,
        scope: str | None = None,
        update_interval_s: float | None = None,
    ) -> None:
        super().__init__()
        self.root = sysfs_root(root)
        self.total_rails = list(total_rails) if total_rails else None
        self.profile_scope = scope
        self.update_interval_s = update_interval_s
        self.channels: list[Ina3221Channel] = []
        self.layout = "none"
        self._total: list[str] = []

    @classmethod
    def from_options(cls, options: MeterOptions) -> JetsonIna3221Meter:
        return cls(options.sysfs_root, options.total_rails, options.rails_scope, options.sensor_update_interval_s)

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> JetsonIna3221Meter:
        return cls(spec["root"], spec.get("total_rails"), spec.get("scope"), spec.get("update_interval_s"))

    def probe(self) -> None:
        try:
            layout, channels, interval_s = discover_ina3221(self.root)
        except MeterReadError as exc:
            raise MeterUnavailable(str(exc)) from exc
        if not channels:
            raise MeterUnavailable(
                f"no INA3221 power monitor under {self.root}/bus/i2c/drivers/ina3221 (JetPack 5/6) "
                f"or {self.root}/bus/i2c/drivers/ina3221x (JetPack 4)"
            )
        self.layout, self.channels = layout, channels
        if interval_s is not None:
            self.update_interval_s = interval_s
        rails = [c.rail for c in channels]
        self._total, note = choose_total(rails, self.total_rails)
        try:
            self.read_rails_w()
        except MeterReadError as exc:
            raise MeterUnavailable(str(exc)) from exc
        where = "hwmon in<N>_input x curr<N>_input" if layout == "hwmon" else "iio in_power<N>_input"
        devices = sorted({c.device for c in channels})
        self.source = f"INA3221 ({', '.join(devices)}) via {where}"
        base = self.profile_scope or f"rails {' + '.join(self._total)}"
        self.scope = f"{base}; {note}" if note else base

    def read_rails_w(self) -> dict[str, float]:
        return {c.rail: c.read_w() for c in self.channels}

    def total_w(self, rails_w: dict[str, float]) -> float:
        return sum(rails_w[r] for r in self._total)

    def spec(self) -> dict[str, Any]:
        return {
            "meter": self.name,
            "root": str(self.root),
            "total_rails": self.total_rails,
            "scope": self.profile_scope,
            "update_interval_s": self.update_interval_s,
        }


# -- tegrastats ------------------------------------------------------------------------------------
_TEGRA_RAIL = re.compile(r"(?<![\w@])([A-Z][A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?=\s|$)")
_TEGRA_NOT_RAILS = frozenset({"RAM", "SWAP", "IRAM", "LFB", "NC"})


def parse_tegrastats_line(line: str) -> dict[str, float]:
    """Current power of every rail in one tegrastats line, in watts.

    Handles ``POM_5V_IN 933/933`` (JetPack 4, mW implied) and ``VDD_IN 4773mW/4773mW`` (JetPack 5/6);
    the value before the slash is the instantaneous one, after it the running average (ignored).
    """
    rails = {}
    for name, current, _avg in _TEGRA_RAIL.findall(line):
        if name not in _TEGRA_NOT_RAILS:
            rails[name] = int(current) / 1000.0
    return rails


class TegrastatsMeter(PowerMeter):
    """Streams ``tegrastats --interval <ms>`` (fixed argv) and parses each line's rails."""

    name = "jetson-tegrastats"
    self_paced = True

    def __init__(
        self,
        command: str = "tegrastats",
        interval_ms: int = 100,
        total_rails: Sequence[str] | None = None,
        scope: str | None = None,
        line_timeout_s: float = 5.0,
    ) -> None:
        super().__init__()
        self.command = command
        self.interval_ms = int(interval_ms)
        self.total_rails = list(total_rails) if total_rails else None
        self.profile_scope = scope
        self.line_timeout_s = line_timeout_s
        self.update_interval_s = self.interval_ms / 1000.0
        self._proc: subprocess.Popen[str] | None = None
        self._selector: selectors.BaseSelector | None = None
        self._total: list[str] = []

    @classmethod
    def from_options(cls, options: MeterOptions) -> TegrastatsMeter:
        """Printing once per sampler period, and no more often than every 10 ms."""
        interval_ms = max(10, round(1000 / options.sample_rate_hz))
        return cls(options.tegrastats, interval_ms, options.total_rails, options.rails_scope)

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> TegrastatsMeter:
        return cls(spec["command"], spec["interval_ms"], spec.get("total_rails"), spec.get("scope"))

    def _start(self) -> None:
        try:
            self._proc = subprocess.Popen(
                [self.command, "--interval", str(self.interval_ms)],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
                text=True,
            )
        except FileNotFoundError as exc:
            raise MeterUnavailable(f"tegrastats not found ({self.command!r})") from exc
        except PermissionError as exc:
            raise MeterUnavailable(f"permission denied running {self.command}") from exc
        assert self._proc.stdout is not None
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._proc.stdout, selectors.EVENT_READ)

    def _next_line(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None and self._selector is not None
        deadline = time.monotonic() + self.line_timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._selector.select(timeout=remaining):
                raise MeterReadError(f"tegrastats printed nothing for {self.line_timeout_s} s")
            line = self._proc.stdout.readline()
            if not line:
                raise MeterReadError(f"tegrastats exited (code {self._proc.poll()})")
            if line.strip():
                return line

    def read_rails_w(self) -> dict[str, float]:
        if self._proc is None:
            self._start()
        rails = parse_tegrastats_line(self._next_line())
        if not rails:
            raise MeterReadError("tegrastats line has no power rails")
        return rails

    def total_w(self, rails_w: dict[str, float]) -> float:
        missing = [r for r in self._total if r not in rails_w]
        if missing:
            raise MeterReadError(f"tegrastats line lacks rail {missing[0]}")
        return sum(rails_w[r] for r in self._total)

    def probe(self) -> None:
        try:
            rails = self.read_rails_w()
        except MeterReadError as exc:
            self.close()
            raise MeterUnavailable(str(exc)) from exc
        self._total, note = choose_total(list(rails), self.total_rails)
        self.source = f"tegrastats --interval {self.interval_ms} (fallback parser)"
        base = self.profile_scope or f"rails {' + '.join(self._total)}"
        self.scope = f"{base}; {note}" if note else base

    def spec(self) -> dict[str, Any]:
        return {
            "meter": self.name,
            "command": self.command,
            "interval_ms": self.interval_ms,
            "total_rails": self.total_rails,
            "scope": self.profile_scope,
        }

    def close(self) -> None:
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=2)
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None


# -- jtop (jetson-stats, optional) -----------------------------------------------------------------
class JtopMeter(PowerMeter):
    """Total power as reported by the jetson-stats service (``jtop``): an optional cross-check.

    jetson-stats is AGPL-3.0, needs its root service and samples at 1 s by default, so it is never the
    primary path. `jtop_module` is injectable for tests.
    """

    name = "jetson-jtop"
    update_interval_s = 1.0

    def __init__(self, jtop_module: Any = None) -> None:
        super().__init__()
        self._module = jtop_module
        self._client: Any = None

    @classmethod
    def from_options(cls, options: MeterOptions) -> JtopMeter:
        return cls()

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> JtopMeter:
        return cls()

    def probe(self) -> None:
        module = self._module
        if module is None:
            try:
                import jtop as module
            except ImportError as exc:
                raise MeterUnavailable("jetson-stats (jtop) is not installed (pip install edgebench[jetson])") from exc
        try:
            self._client = module.jtop()
            self._client.start()
        except Exception as exc:  # JtopException without the service; the class lives in the optional package
            raise MeterUnavailable(f"jtop service not reachable: {exc}") from exc
        try:
            self.read_rails_w()
        except MeterReadError as exc:
            self.close()
            raise MeterUnavailable(str(exc)) from exc
        self.source = "jetson-stats jtop service (power['tot'])"
        self.scope = "total reported by jtop (its own rail map; module input on most boards)"

    def read_rails_w(self) -> dict[str, float]:
        try:
            power = self._client.power
            rails = {name: float(v["power"]) / 1000.0 for name, v in power.get("rail", {}).items()}
            rails["tot"] = float(power["tot"]["power"]) / 1000.0
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MeterReadError(f"jtop power has an unexpected shape: {exc}") from exc
        return rails

    def total_w(self, rails_w: dict[str, float]) -> float:
        return rails_w["tot"]

    def spec(self) -> dict[str, Any]:
        return {"meter": self.name}

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # best effort on a foreign client
                pass
            self._client = None
