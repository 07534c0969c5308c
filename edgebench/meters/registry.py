"""The meter registry: every meter a device profile or config may name, and where its class lives.

Each class builds itself (:meth:`Meter.from_options`, :meth:`Meter.open`) and, for power meters,
rebuilds itself in the sampler process (:meth:`Meter.from_spec`). Classes are imported only when their
meter is asked for, so optional libraries (pynvml, jtop) load only for the meter that uses them.
"""

from __future__ import annotations

import importlib
from typing import Any

from edgebench.meters.base import Meter, MeterOptions, PowerMeter, ValueReader

_CLASSES = {
    "nvml": "edgebench.meters.nvml:NvmlMeter",
    "jetson-ina3221": "edgebench.meters.jetson:JetsonIna3221Meter",
    "jetson-tegrastats": "edgebench.meters.jetson:TegrastatsMeter",
    "jetson-jtop": "edgebench.meters.jetson:JtopMeter",
    "rpi5": "edgebench.meters.rpi5:Rpi5PmicMeter",
    "rapl": "edgebench.meters.rapl:RaplMeter",
    "external": "edgebench.meters.external:ExternalPowerLog",
    "estimate": "edgebench.meters.estimate:CpuTimeEstimate",
    "replay": "edgebench.meters.replay:ReplayMeter",
}

#: Every meter a device profile or config may name, in no particular order.
METER_NAMES = tuple(_CLASSES)

#: Readers only the sampler process builds (never named in a profile): e.g. RAPL's wrap watcher.
_READERS = {
    "rapl-watch": "edgebench.meters.rapl:RaplWatch",
}


def meter_class(name: str) -> type[Meter]:
    """The class registered as `name` (imported now). ValueError for names not in :data:`METER_NAMES`."""
    if name not in _CLASSES:
        raise ValueError(f"unknown meter {name!r}; expected one of: {', '.join(METER_NAMES)}")
    module, _, attribute = _CLASSES[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def open_meter(name: str, options: MeterOptions) -> Meter:
    """A probed, working meter called `name`, or :class:`MeterUnavailable` with the reason."""
    return meter_class(name).open(options)


def power_meter_from_spec(spec: dict[str, Any]) -> PowerMeter:
    """The power meter a :meth:`PowerMeter.spec` describes (not yet probed). ValueError for unknown specs."""
    kind = spec.get("meter")
    if kind not in _CLASSES:
        raise ValueError(f"no power meter called {kind!r}")
    return meter_class(kind).from_spec(spec)


def reader_from_spec(spec: dict[str, Any]) -> PowerMeter | ValueReader:
    """What the sampler process reads: a power meter (:func:`power_meter_from_spec`) or a value reader
    such as RAPL's wrap watcher (``{"meter": "rapl-watch", ...}``). ValueError for unknown specs."""
    kind = spec.get("meter")
    if kind in _READERS:
        module, _, attribute = _READERS[kind].partition(":")
        return getattr(importlib.import_module(module), attribute).from_spec(spec)
    return power_meter_from_spec(spec)
