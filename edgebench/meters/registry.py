"""Meter names, and rebuilding a power meter from its JSON spec inside the sampler process."""

from __future__ import annotations

from typing import Any

from edgebench.meters.base import PowerMeter

#: Every meter a device profile or config may name, in no particular order.
METER_NAMES = (
    "nvml",
    "jetson-ina3221",
    "jetson-tegrastats",
    "jetson-jtop",
    "rpi5",
    "rapl",
    "external",
    "estimate",
    "replay",
)


def power_meter_from_spec(spec: dict[str, Any]) -> PowerMeter:
    """The power meter a :meth:`PowerMeter.spec` describes (not yet probed). ValueError for unknown specs."""
    kind = spec.get("meter")
    if kind == "jetson-ina3221":
        from edgebench.meters.jetson import JetsonIna3221Meter

        return JetsonIna3221Meter(
            spec["root"], spec.get("total_rails"), spec.get("scope"), spec.get("update_interval_s")
        )
    if kind == "jetson-tegrastats":
        from edgebench.meters.jetson import TegrastatsMeter

        return TegrastatsMeter(spec["command"], spec["interval_ms"], spec.get("total_rails"), spec.get("scope"))
    if kind == "jetson-jtop":
        from edgebench.meters.jetson import JtopMeter

        return JtopMeter()
    if kind == "rpi5":
        from edgebench.meters.rpi5 import Rpi5PmicMeter

        return Rpi5PmicMeter(spec["command"], spec["gain"], spec["offset_w"])
    if kind == "replay":
        from edgebench.meters.replay import ReplayMeter

        return ReplayMeter(spec["trace"], spec["t0_ns"], spec.get("update_interval_s"))
    if kind == "nvml":
        from edgebench.meters.nvml import NvmlPowerMeter, open_nvml

        meter = open_nvml(mode="power", uuids=spec.get("uuids"), nvml_indices=spec.get("nvml_indices"))
        assert isinstance(meter, NvmlPowerMeter)
        return meter
    raise ValueError(f"no power meter called {kind!r}")
