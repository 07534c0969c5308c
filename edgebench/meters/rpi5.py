"""Raspberry Pi 5 power from the PMIC's ADC: ``vcgencmd pmic_read_adc`` (fixed argv, path injectable).

The command prints one line per measurement, e.g. ``VDD_CORE_A current(7)=2.12345600A`` and
``VDD_CORE_V volt(15)=0.87654300V``. Power is the sum over rails of V x I: it is downstream of the PMIC,
so PMIC regulator losses and 5 V loads (USB devices, fan, HATs) are not in it. A user calibration
(``gain`` and ``offset_w``, fitted against a USB-C meter) maps it to board input power:
``P = gain x sum(V x I) + offset_w``. Each read spawns a process and needs ``/dev/vcio``: sample at 1-5 Hz.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from typing import Any

from edgebench.meters.base import MeterOptions, MeterReadError, MeterUnavailable, PowerMeter

_PMIC_LINE = re.compile(
    r"^\s*(?P<rail>[A-Za-z0-9_]+)_(?P<kind>[AV])\s+(?:current|volt)\(\d+\)=(?P<value>[-+0-9.eE]+)(?P<unit>[AV])\s*$"
)
RPI5_SCOPE = (
    "sum of V x I over the PMIC rails (SoC core, DDR, 3V3/1V8/1V1/0V8 rails, Wi-Fi, HDMI): excludes PMIC "
    "regulator losses and 5 V loads (USB devices, fan, HATs)"
)


@dataclass(frozen=True)
class PmicRail:
    """One PMIC rail: volts and amps (amps is None for voltage-only entries such as EXT5V_V)."""

    volts: float
    amps: float | None

    @property
    def watts(self) -> float | None:
        return None if self.amps is None else self.volts * self.amps


def parse_pmic_read_adc(text: str) -> dict[str, PmicRail]:
    """Rails of one ``vcgencmd pmic_read_adc`` output. Lines that are not measurements are ignored."""
    volts: dict[str, float] = {}
    amps: dict[str, float] = {}
    for line in text.splitlines():
        m = _PMIC_LINE.match(line)
        if not m:
            continue
        if (m.group("kind") == "A") != (m.group("unit") == "A"):
            continue  # a malformed line: name and unit disagree
        (amps if m.group("kind") == "A" else volts)[m.group("rail")] = float(m.group("value"))
    return {rail: PmicRail(volts=v, amps=amps.get(rail)) for rail, v in volts.items()}


def pmic_power_w(rails: dict[str, PmicRail]) -> float:
    """Sum of V x I over rails that report both."""
    return sum(r.watts for r in rails.values() if r.watts is not None)


class Rpi5PmicMeter(PowerMeter):
    """Raspberry Pi 5 PMIC rails, one ``vcgencmd pmic_read_adc`` per sample."""

    name = "rpi5"
    update_interval_s = 0.5

    def __init__(
        self, command: str = "vcgencmd", gain: float = 1.0, offset_w: float = 0.0, timeout_s: float = 5.0
    ) -> None:
        super().__init__()
        self.command = command
        self.gain = float(gain)
        self.offset_w = float(offset_w)
        self.timeout_s = timeout_s

    @classmethod
    def from_options(cls, options: MeterOptions) -> Rpi5PmicMeter:
        return cls(options.vcgencmd, options.rpi5_gain, options.rpi5_offset_w)

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Rpi5PmicMeter:
        return cls(spec["command"], spec["gain"], spec["offset_w"])

    def _run(self) -> str:
        try:
            out = subprocess.run(
                [self.command, "pmic_read_adc"],
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError as exc:
            raise MeterReadError(f"vcgencmd not found ({self.command!r})") from exc
        except PermissionError as exc:
            raise MeterReadError(f"permission denied running {self.command}") from exc
        except subprocess.TimeoutExpired as exc:
            raise MeterReadError(f"{self.command} pmic_read_adc took over {self.timeout_s} s") from exc
        if out.returncode != 0:
            detail = (out.stderr or out.stdout).strip().splitlines()
            raise MeterReadError(
                f"{self.command} pmic_read_adc exited {out.returncode}: {detail[0] if detail else 'no output'}"
            )
        return out.stdout

    def read_rails_w(self) -> dict[str, float]:
        rails = parse_pmic_read_adc(self._run())
        watts = {name: r.watts for name, r in rails.items() if r.watts is not None}
        if not watts:
            raise MeterReadError("pmic_read_adc printed no current/voltage pairs (not a Raspberry Pi 5?)")
        return watts

    def total_w(self, rails_w: dict[str, float]) -> float:
        return self.gain * sum(rails_w.values()) + self.offset_w

    def probe(self) -> None:
        try:
            rails = self.read_rails_w()
        except MeterReadError as exc:
            raise MeterUnavailable(str(exc)) from exc
        self.source = f"{self.command} pmic_read_adc ({len(rails)} rails, V x I)"
        calibrated = self.gain != 1.0 or self.offset_w != 0.0
        self.scope = RPI5_SCOPE + (
            f"; user calibration P = {self.gain:g} x sum + {self.offset_w:g} W" if calibrated else ""
        )

    def spec(self) -> dict[str, Any]:
        return {"meter": self.name, "command": self.command, "gain": self.gain, "offset_w": self.offset_w}
