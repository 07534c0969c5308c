"""NVIDIA Jetson power: INA3221/INA238 monitors in sysfs (primary), ``tegrastats`` (fallback), jtop (optional).

Layouts (paths relative to the sysfs root, which stands in for ``/sys``; sources in
``tests/fixtures/sysfs/SOURCES.md``):

* JetPack 5/6/7: ``bus/i2c/drivers/ina3221/<bus>-<addr>/hwmon/hwmon*/`` with ``in<N>_label``,
  ``in<N>_input`` (bus voltage, mV), ``curr<N>_input`` (mA) and ``update_interval`` (ms). Channels
  labelled ``NC`` (L4T's unconnected inputs), unlabelled ones and ``in7`` ("sum of shunt voltages")
  are not rails.
* JetPack 4: ``bus/i2c/drivers/ina3221x/<bus>-<addr>/iio:device*/`` with ``rail_name_<N>`` and
  ``in_power<N>_input`` (mW).
* Jetson Thor (JetPack 7): also an INA238 on the carrier board, ``bus/i2c/drivers/ina238/<bus>-<addr>/
  hwmon/hwmon*/`` with ``power1_input`` in **microwatts** (``in1_input`` mV, ``curr1_input`` mA): the
  system input ``VIN`` (module and carrier board).

Which rails make up the total is board-specific and comes from the device profile (``total_rails``):
one rail where the board has an input rail (``VIN``, ``VDD_IN``, ``POM_5V_IN``), else a sum of rails that
are not nested in one another (AGX Orin: ``VDDQ_VDD2_1V8AO`` is inside ``VIN_SYS_5V0``). Adding an input
rail to its own components, or a nested rail to its parent, counts power twice: jetson-stats did the
first on the Nano (its issue #51) and reported ``VIN_SYS_5V0`` alone as the AGX Orin total (its issue
#344); :func:`check_total_rails` refuses both. A board without a rail map reports its raw rails, using a
known input rail if present, else the sum of all rails not known to be nested, and says so in the scope.
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

#: Input rails, widest scope first: when present on an unmapped board they are the honest total, and a
#: total containing one must contain nothing else (VIN: Thor's carrier-board INA238, module + carrier).
KNOWN_INPUT_RAILS = ("VIN", "VDD_IN", "POM_5V_IN")
#: Rails documented as inside another rail (child -> parent): never added to their parent. NVIDIA's
#: Jetson Orin power-monitor table: "VDDQ_VDD2_1V8AO power is also included in VIN_SYS_5V0 power".
NESTED_RAILS = {"VDDQ_VDD2_1V8AO": "VIN_SYS_5V0"}
_SKIP_LABELS = ("nc", "")
#: Name of Thor's INA238 input rail (its driver has no label; jetson-stats calls it VIN as well).
INA238_RAIL = "VIN"


def check_total_rails(total: Sequence[str]) -> None:
    """ValueError when summing `total` would count power twice (an input rail with other rails, or a
    nested rail with its parent)."""
    inputs = [r for r in total if r in KNOWN_INPUT_RAILS]
    if inputs and len(total) > 1:
        others = ", ".join(r for r in total if r != inputs[0])
        raise ValueError(f"{inputs[0]} is the board's input and already contains {others}: list it alone")
    for child, parent in NESTED_RAILS.items():
        if child in total and parent in total:
            raise ValueError(f"{child} is inside {parent} (NVIDIA's rail table): adding both counts it twice")


@dataclass(frozen=True)
class Ina3221Channel:
    """One monitored rail: bus voltage and current files, or a power file in `power_unit_w` watts per unit
    (INA3221 iio: mW; INA238 hwmon: uW)."""

    rail: str
    layout: str  # "hwmon" or "iio"
    device: str  # i2c device, e.g. "1-0040"
    voltage_file: Path | None = None
    current_file: Path | None = None
    power_file: Path | None = None
    power_unit_w: float = 1e-3
    chip: str = "INA3221"

    def read_w(self) -> float:
        if self.power_file is not None:
            return read_sysfs_number(self.power_file) * self.power_unit_w
        assert self.voltage_file is not None and self.current_file is not None
        return read_sysfs_number(self.voltage_file) * read_sysfs_number(self.current_file) / 1e6


def _discover_ina238(root: Path) -> list[Ina3221Channel]:
    """Thor's carrier-board INA238 (system input), one rail per chip."""
    found = sorted((root / "bus/i2c/drivers/ina238").glob("*/hwmon/hwmon*"))
    channels = []
    for hwmon in found:
        device = hwmon.parent.parent.name
        rail = INA238_RAIL if len(found) == 1 else f"{INA238_RAIL}_{device}"
        power = hwmon / "power1_input"
        if power.exists():
            channels.append(Ina3221Channel(rail, "hwmon", device, power_file=power, power_unit_w=1e-6, chip="INA238"))
        elif (hwmon / "in1_input").exists() and (hwmon / "curr1_input").exists():
            channels.append(
                Ina3221Channel(rail, "hwmon", device, hwmon / "in1_input", hwmon / "curr1_input", chip="INA238")
            )
    return channels


def discover_ina3221(root: Path) -> tuple[str, list[Ina3221Channel], float | None]:
    """Find INA3221 (and Thor's INA238) rails under `root` (a sysfs root): (layout, channels, update
    interval in s or None)."""
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
    channels += _discover_ina238(root)
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
    nested = [r for r in rails if NESTED_RAILS.get(r) in rails]
    summed = [r for r in rails if r not in nested]
    left_out = "".join(f"; {r} left out (inside {NESTED_RAILS[r]})" for r in nested)
    return summed, (
        f"board not in the rail map; total = sum of the raw rails ({', '.join(summed)}){left_out}, "
        "which double counts if rails are nested"
    )


class JetsonIna3221Meter(PowerMeter):
    """Jetson INA3221 rails read from sysfs (JetPack 4 iio or JetPack 5/6/7 hwmon), plus Thor's INA238."""

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
                f"no INA3221 power monitor under {self.root}/bus/i2c/drivers/ina3221 (JetPack 5/6/7) "
                f"or {self.root}/bus/i2c/drivers/ina3221x (JetPack 4), and no INA238 (Thor)"
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
        devices = sorted({c.device for c in channels if c.chip == "INA3221"})
        self.source = f"INA3221 ({', '.join(devices)}) via {where}" if devices else ""
        ina238 = sorted({c.device for c in channels if c.chip == "INA238"})
        if ina238:
            extra = f"INA238 ({', '.join(ina238)}) via hwmon power1_input (uW)"
            self.source = f"{self.source}; {extra}" if self.source else extra
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
# "NAME cur/avg" (JetPack 4, mW implied), "NAME curmW/avgmW" (JetPack 5/6), "NAME curmW/avgmW/maxmW"
# (JetPack 7) and a bare "NAME curmW"; a bare number without the unit is not a rail ("APE 174").
_TEGRA_RAIL = re.compile(r"(?<![\w@])([A-Z][A-Z0-9_]*) (\d+)(mW)?((?:/\d+(?:mW)?){0,2})(?=\s|$)")
_TEGRA_NOT_RAILS = frozenset({"RAM", "SWAP", "IRAM", "LFB", "NC"})


def parse_tegrastats_line(line: str) -> dict[str, float]:
    """Current power of every rail in one tegrastats line, in watts.

    Handles ``POM_5V_IN 933/933`` (JetPack 4, mW implied), ``VDD_IN 4773mW/4773mW`` (JetPack 5/6) and
    ``VDD_GPU_SOC 5139mW/5139mW/5139mW`` (JetPack 7); the first value is the instantaneous one, the
    others are running statistics (ignored).
    """
    rails = {}
    for name, current, unit, rest in _TEGRA_RAIL.findall(line):
        if name in _TEGRA_NOT_RAILS or not (unit or rest):
            continue
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
