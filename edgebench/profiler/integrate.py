"""Energy of a window from power samples: trapezoid rule over (monotonic_ns, watts) pairs.

The window's edges rarely coincide with samples. An edge value is linearly interpolated when samples
exist on both sides of it, else held from the nearest sample (the sampler's newest sample is usually a
fraction of a period older than the window's end). The largest gap is the longest stretch inside the
window, edges included, without a sample; the achieved rate counts samples strictly inside the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Integral:
    """Energy (J) and mean power (W) over a window, with how well it was sampled."""

    energy_j: float
    power_avg_w: float
    samples: int
    sample_rate_hz: float
    max_gap_s: float


def integrate_window(t_ns: np.ndarray, watts: np.ndarray, start_ns: int, end_ns: int) -> Integral | None:
    """Integrate samples (`t_ns` increasing) over [start_ns, end_ns]; None when there is no sample at all.

    Values must be finite (the caller checks for failed reads first).
    """
    if end_ns <= start_ns or t_ns.size == 0:
        return None
    t_s = (t_ns - start_ns) / 1e9  # relative seconds keep float precision
    end_s = (end_ns - start_ns) / 1e9
    inside = (t_s > 0.0) & (t_s < end_s)
    edge_values = np.interp([0.0, end_s], t_s, watts)  # interpolates, or holds beyond the ends
    times = np.concatenate(([0.0], t_s[inside], [end_s]))
    values = np.concatenate(([edge_values[0]], watts[inside], [edge_values[1]]))
    energy = float(np.trapezoid(values, times))
    count = int(inside.sum())
    return Integral(
        energy_j=energy,
        power_avg_w=energy / end_s,
        samples=count,
        sample_rate_hz=count / end_s,
        max_gap_s=float(np.max(np.diff(times))),
    )
