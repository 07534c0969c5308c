"""A window's measurements as results-contract cells (see docs/results-contract.md)."""

from __future__ import annotations

from typing import Any

from edgebench.profiler.windows import WindowRecord


def format_rails(rails_j: dict[str, float]) -> str | None:
    """``RAIL=joules;RAIL=joules`` (None when the source has no per-rail values)."""
    return ";".join(f"{name}={value!r}" for name, value in rails_j.items()) or None


def window_columns(window: WindowRecord) -> dict[str, Any]:
    """Energy, power and memory cells of a client window; per-phase energy as ``<phase>_energy_j``."""
    flags = window.all_flags()
    cells: dict[str, Any] = {
        "energy_j": window.energy_j,
        "energy_net_j": window.energy_net_j,
        "idle_power_w": window.idle_power_w,
        "energy_provenance": window.energy_provenance,
        "energy_scope": window.energy_scope,
        "power_avg_w": window.power_avg_w,
        "sample_rate_hz": window.sample_rate_hz,
        "max_gap_s": window.max_gap_s,
        "window_flags": ";".join(flags) if flags else None,
        "energy_rails_j": format_rails(window.rails_j),
        "peak_rss_bytes": window.peak_rss_bytes,
        "peak_accel_bytes": window.peak_accel_bytes,
        "peak_accel_reserved_bytes": window.peak_accel_reserved_bytes,
        "mem_available_min_bytes": window.mem_available_min_bytes,
        "nvmap_peak_bytes": window.nvmap_peak_bytes,
        "memory_provenance": window.memory_provenance,
    }
    for phase in window.children:
        cells[f"{phase.name}_energy_j"] = phase.energy_j
    return cells


def sum_or_none(values: list[float | None]) -> float | None:
    """The sum when every value is known, else None (an empty cell never means zero)."""
    return sum(v for v in values if v is not None) if values and all(v is not None for v in values) else None
