"""Trapezoid integration of (monotonic_ns, watts) samples over a window."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgebench.profiler.integrate import integrate_window

S = 1_000_000_000  # ns per second


def test_constant_power_is_power_times_time() -> None:
    t = np.arange(0, 11) * S // 10
    result = integrate_window(t, np.full(t.size, 7.5), 0, S)
    assert result is not None
    assert result.energy_j == pytest.approx(7.5) and result.power_avg_w == pytest.approx(7.5)
    assert result.samples == 9 and result.sample_rate_hz == pytest.approx(9.0)  # strictly inside
    assert result.max_gap_s == pytest.approx(0.1)


def test_edges_are_interpolated_between_neighbours() -> None:
    t = np.array([0, 2 * S])
    w = np.array([0.0, 4.0])  # a ramp: P(t) = 2 t
    result = integrate_window(t, w, S // 2, 3 * S // 2)  # integral of 2t over [0.5, 1.5] = 2
    assert result is not None and result.energy_j == pytest.approx(2.0)
    assert result.samples == 0 and result.max_gap_s == pytest.approx(1.0)


def test_edges_beyond_the_samples_hold_the_nearest_value() -> None:
    t = np.array([S, 2 * S])
    result = integrate_window(t, np.array([3.0, 5.0]), 0, 3 * S)
    assert result is not None
    assert result.energy_j == pytest.approx(3.0 + 4.0 + 5.0)
    assert result.max_gap_s == pytest.approx(1.0)


def test_no_samples_or_empty_window_is_none() -> None:
    assert integrate_window(np.empty(0, dtype=np.int64), np.empty(0), 0, S) is None
    assert integrate_window(np.array([0]), np.array([1.0]), S, S) is None


@settings(max_examples=60, deadline=None)
@given(
    points=st.lists(st.floats(min_value=0.0, max_value=500.0, allow_nan=False), min_size=2, max_size=40),
    step_ms=st.integers(min_value=1, max_value=2000),
    cut=st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)),
)
def test_piecewise_linear_trace_sampled_at_its_knots_integrates_exactly(
    points: list[float], step_ms: int, cut: tuple[float, float]
) -> None:
    """Between knots the trace is linear, so trapezoid + linear edge interpolation is exact."""
    t = np.arange(len(points), dtype=np.int64) * step_ms * 1_000_000
    w = np.asarray(points)
    a, b = sorted(cut)
    start, end = int(t[-1] * a), int(t[-1] * b)
    if end - start < 1000:
        return
    fine = np.linspace(start, end, 200_001)
    expected = float(np.trapezoid(np.interp(fine, t, w), fine / 1e9))
    result = integrate_window(t, w, start, end)
    assert result is not None
    assert result.energy_j == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert result.max_gap_s <= step_ms / 1000 + 1e-9
