"""A recorded or synthetic power trace played back against the monotonic clock (tests and benchmarks).

The trace is a CSV of ``seconds,watts`` rows (optional header). At monotonic time ``t`` the meter returns
the trace linearly interpolated at ``t - t0`` (held at the ends), so the exact integral over any window
is known and the whole sampling path (separate process, file, trapezoid) can be checked against it.
"""

from __future__ import annotations

import bisect
import csv
import time
from pathlib import Path
from typing import Any

from edgebench.meters.base import MeterOptions, MeterUnavailable, PowerMeter


def load_trace(path: Path) -> tuple[list[float], list[float]]:
    """(seconds, watts) of a trace file, strictly increasing in time (ValueError naming the line if not)."""
    times: list[float] = []
    watts: list[float] = []
    with path.open(newline="") as fh:
        for line_no, row in enumerate(csv.reader(fh), start=1):
            if not row:
                continue
            try:
                t, w = float(row[0]), float(row[1])
            except (ValueError, IndexError):
                if line_no == 1:
                    continue  # header
                raise ValueError(f"{path}:{line_no}: expected 'seconds,watts' numbers (got {row!r})") from None
            if times and t <= times[-1]:
                raise ValueError(f"{path}:{line_no}: time {t} is not after {times[-1]}")
            times.append(t)
            watts.append(w)
    if not times:
        raise ValueError(f"{path}: no samples")
    return times, watts


def interpolate(times: list[float], watts: list[float], t: float) -> float:
    """The trace's value at `t` (linear between points, held beyond the ends)."""
    i = bisect.bisect_right(times, t)
    if i == 0:
        return watts[0]
    if i == len(times):
        return watts[-1]
    t0, t1 = times[i - 1], times[i]
    return watts[i - 1] + (watts[i] - watts[i - 1]) * (t - t0) / (t1 - t0)


class ReplayMeter(PowerMeter):
    """Plays a (seconds, watts) trace back; time zero is monotonic ``t0_ns`` (default: when constructed)."""

    name = "replay"

    def __init__(self, trace: str | Path, t0_ns: int | None = None, update_interval_s: float | None = None) -> None:
        super().__init__()
        self.trace = Path(trace)
        self.t0_ns = time.monotonic_ns() if t0_ns is None else int(t0_ns)
        self.update_interval_s = update_interval_s
        self._times: list[float] = []
        self._watts: list[float] = []

    @classmethod
    def from_options(cls, options: MeterOptions) -> ReplayMeter:
        if not options.replay_trace:
            raise MeterUnavailable("no replay trace configured (profiler.replay_trace)")
        return cls(options.replay_trace, update_interval_s=options.sensor_update_interval_s)

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ReplayMeter:
        return cls(spec["trace"], spec["t0_ns"], spec.get("update_interval_s"))

    def probe(self) -> None:
        try:
            self._times, self._watts = load_trace(self.trace)
        except (OSError, ValueError) as exc:
            raise MeterUnavailable(f"replay trace: {exc}") from exc
        self.source = f"replayed trace {self.trace}"
        self.scope = "synthetic trace (test/benchmark only)"

    def read_rails_w(self) -> dict[str, float]:
        return {"trace": interpolate(self._times, self._watts, (time.monotonic_ns() - self.t0_ns) / 1e9)}

    def total_w(self, rails_w: dict[str, float]) -> float:
        return rails_w["trace"]

    def spec(self) -> dict[str, Any]:
        return {
            "meter": self.name,
            "trace": str(self.trace),
            "t0_ns": self.t0_ns,
            "update_interval_s": self.update_interval_s,
        }
