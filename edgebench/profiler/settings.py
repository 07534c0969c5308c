"""The profiler's settings (the ``profiler:`` section of an experiment file extends this model).

Everything a device profile decides can be overridden here for one experiment: which meters to try,
the sampling rate, the sysfs root (for fixtures; ``$EDGEBENCH_SYSFS_ROOT`` otherwise), command paths,
an external power log, the Raspberry Pi 5 calibration, and the idle-baseline pre-run step.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from edgebench.devices.profiles import MeterChoice, parse_meter_choice
from edgebench.meters.rapl import validate_domains


def _meters_in(choice: str) -> list[str]:
    """Every meter a chain entry names, summed (``a+b``) or beside the total (``a&c``)."""
    total, beside = parse_meter_choice(choice)
    return [*total, *beside]


class PowerCalibration(BaseModel):
    """User calibration of the Pi 5 PMIC sum against a USB-C meter: P = gain x sum(V x I) + offset_w."""

    model_config = ConfigDict(extra="forbid")

    gain: float = Field(1.0, gt=0)
    offset_w: float = 0.0


class ProfilerSettings(BaseModel):
    """`enabled`: measure memory and energy per window (wall time per phase is always recorded).

    `meters`: meters to try in order (default: the device profile's; ``a+b`` adds two measured totals);
    `sample_rate_hz`: sampler rate for power-only sensors (default: the profile's);
    `sysfs_root`: folder standing in for /sys (default: $EDGEBENCH_SYSFS_ROOT, else /sys);
    `vcgencmd`, `tegrastats`: command paths; `nvml_devices`: torch CUDA ordinals to meter;
    `rapl_domains`: RAPL domains (default: the profile's); `external_log`, `external_scope`,
    `external_clock_offset_s`: a CSV power log (timestamp, watts), what it measures, and the offset to add
    to its clock; `rpi5_calibration`: gain/offset for the Pi 5 PMIC sum; `estimate_per_core_w`: watts
    per busy core for the estimate (default: the profile's); `idle_baseline_s`: seconds of idle power to
    measure before the first round (0: use a stored ``edgebench calibrate`` result if any);
    `replay_trace`: a (seconds, watts) CSV for the ``replay`` meter (tests and benchmarks only);
    `contention_threshold_cores`: a window in which other processes used more than this many cores on
    average (beyond the measurement's resolution) is flagged ``contended``;
    `max_dropped_sample_share`: a window losing more than this share of its power samples as implausible
    (below 0 W or above the device profile's ``max_power_w``) is flagged ``implausible``;
    `omp_wait_policy`: ``OMP_WAIT_POLICY`` set before torch starts its OpenMP pool (``PASSIVE``: idle
    threads sleep rather than spin; null: leave the environment alone).
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    meters: list[MeterChoice] | None = Field(None, min_length=1)
    sample_rate_hz: float | None = Field(None, gt=0, le=1000)
    sysfs_root: str | None = None
    vcgencmd: str = "vcgencmd"
    tegrastats: str = "tegrastats"
    nvml_devices: list[int] = Field(default_factory=lambda: [0], min_length=1)
    rapl_domains: list[Literal["package", "core", "uncore", "dram", "psys"]] | None = None
    external_log: str | None = Field(None, validate_default=True)
    external_scope: str | None = Field(None, validate_default=True)
    external_clock_offset_s: float = 0.0
    rpi5_calibration: PowerCalibration = Field(default_factory=PowerCalibration)
    estimate_per_core_w: float | None = Field(None, gt=0)
    idle_baseline_s: float = Field(0.0, ge=0, le=3600)
    replay_trace: str | None = Field(None, validate_default=True)
    contention_threshold_cores: float = Field(0.2, ge=0)
    max_dropped_sample_share: float = Field(0.05, ge=0, le=1)
    omp_wait_policy: Literal["PASSIVE", "ACTIVE"] | None = "PASSIVE"

    @field_validator("nvml_devices")
    @classmethod
    def _non_negative(cls, value: list[int]) -> list[int]:
        if any(v < 0 for v in value):
            raise ValueError("CUDA device ordinals must be >= 0")
        return value

    @field_validator("rapl_domains")
    @classmethod
    def _rapl(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            validate_domains(value)
        return value

    @field_validator("external_log", mode="after")
    @classmethod
    def _external_needed(cls, value: str | None, info: ValidationInfo) -> str | None:
        meters = info.data.get("meters") or []
        if value is None and any("external" in _meters_in(m) for m in meters):
            raise ValueError("required when meters lists 'external' (path of the CSV power log)")
        return value

    @field_validator("external_scope", mode="after")
    @classmethod
    def _scope_needed(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("external_log") and not value:
            raise ValueError("required with external_log: say what the meter measures, e.g. 'USB-C input, whole board'")
        return value

    @field_validator("replay_trace", mode="after")
    @classmethod
    def _replay_needed(cls, value: str | None, info: ValidationInfo) -> str | None:
        meters = info.data.get("meters") or []
        if value is None and any("replay" in _meters_in(m) for m in meters):
            raise ValueError("required when meters lists 'replay'")
        return value
