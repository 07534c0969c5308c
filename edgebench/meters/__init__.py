"""Raw energy and power sources (no policy): NVML, Jetson INA3221/tegrastats/jtop, Raspberry Pi 5 PMIC,
RAPL, an external power log, a CPU-time estimate, and a null meter. Which to use, how often to sample and
how to integrate is the profiler's business (:mod:`edgebench.profiler`).

Heavy or optional libraries (pynvml, jtop) are imported only by the meters that need them, so the sampler
process starts quickly.
"""

from edgebench.meters.base import (
    SYSFS_ROOT_ENV,
    CounterMeter,
    Meter,
    MeterError,
    MeterOptions,
    MeterReadError,
    MeterUnavailable,
    NullMeter,
    PowerMeter,
    sysfs_root,
)
from edgebench.meters.registry import METER_NAMES, power_meter_from_spec

__all__ = [
    "METER_NAMES",
    "SYSFS_ROOT_ENV",
    "CounterMeter",
    "Meter",
    "MeterError",
    "MeterOptions",
    "MeterReadError",
    "MeterUnavailable",
    "NullMeter",
    "PowerMeter",
    "power_meter_from_spec",
    "sysfs_root",
]
