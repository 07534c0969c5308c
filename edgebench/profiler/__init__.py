"""Measurement windows with provenance around every client phase: time, energy, power, memory.

:func:`edgebench.profiler.setup.build_measurement` turns a device profile and the profiler settings
into a :class:`Profiler` whose energy source is the first working meter of the profile's chain.

Names are imported lazily, so the sampler process (``edgebench.profiler.sampler_child``) starts
without loading numpy or pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "DISABLED": "edgebench.profiler.windows",
    "NO_METER": "edgebench.profiler.windows",
    "Profiler": "edgebench.profiler.windows",
    "WindowRecord": "edgebench.profiler.windows",
    "EnergyResult": "edgebench.profiler.energy",
    "EnergySource": "edgebench.profiler.energy",
    "NullEnergy": "edgebench.profiler.energy",
    "IdleBaseline": "edgebench.profiler.idle",
    "PowerCalibration": "edgebench.profiler.settings",
    "ProfilerSettings": "edgebench.profiler.settings",
}

__all__ = [
    "DISABLED",
    "NO_METER",
    "EnergyResult",
    "EnergySource",
    "IdleBaseline",
    "NullEnergy",
    "PowerCalibration",
    "Profiler",
    "ProfilerSettings",
    "WindowRecord",
]

if TYPE_CHECKING:  # pragma: no cover
    from edgebench.profiler.energy import EnergyResult, EnergySource, NullEnergy
    from edgebench.profiler.idle import IdleBaseline
    from edgebench.profiler.settings import PowerCalibration, ProfilerSettings
    from edgebench.profiler.windows import DISABLED, NO_METER, Profiler, WindowRecord


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'edgebench.profiler' has no attribute {name!r}")
