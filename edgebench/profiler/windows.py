"""Nestable measurement windows (round -> client -> phase) around the engine's work.

Each window records its wall time (monotonic clock) and its peak host and accelerator memory.
Peaks are correct under nesting: before any reset, the current high-water mark is folded into
every open window. Energy and power need a meter (device profiles and meters come with the
profiler backends); until one is configured every window says so in its provenance instead of
reporting a number.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from edgebench.profiler.memory import CudaPeakMemory, HostPeakMemory

NO_METER = "unavailable: no energy meter configured"


@dataclass
class WindowRecord:
    """What one window measured. Times in seconds, memory in bytes, energy in joules."""

    name: str
    start_ns: int = 0
    end_ns: int = 0
    peak_rss_bytes: int | None = None
    peak_accel_bytes: int | None = None
    memory_provenance: str = ""
    energy_j: float | None = None
    power_avg_w: float | None = None
    energy_provenance: str = NO_METER
    children: list[WindowRecord] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    def child(self, name: str) -> WindowRecord:
        """The direct child window called `name` (KeyError if absent)."""
        for c in self.children:
            if c.name == name:
                return c
        raise KeyError(name)


class Profiler:
    """Opens windows; `enabled=False` still times windows but skips memory tracking."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._host = HostPeakMemory() if enabled else None
        self._cuda = CudaPeakMemory() if enabled else None
        self._open: list[WindowRecord] = []

    def _fold_peaks(self) -> None:
        assert self._host is not None and self._cuda is not None
        host = self._host.read_bytes()
        accel = self._cuda.read_bytes()
        for w in self._open:
            w.peak_rss_bytes = max(w.peak_rss_bytes or 0, host)
            if accel is not None:
                w.peak_accel_bytes = max(w.peak_accel_bytes or 0, accel)

    @contextmanager
    def window(self, name: str) -> Iterator[WindowRecord]:
        """Measure the enclosed block; the record is complete once the block exits."""
        record = WindowRecord(name=name)
        if self._open:
            self._open[-1].children.append(record)
        if self.enabled:
            assert self._host is not None and self._cuda is not None
            self._cuda.synchronize()
            self._fold_peaks()
            self._host.reset()
            self._cuda.reset()
            record.memory_provenance = f"host {self._host.provenance}; accelerator {self._cuda.provenance}"
        self._open.append(record)
        record.start_ns = time.monotonic_ns()
        try:
            yield record
        finally:
            if self.enabled:
                assert self._cuda is not None
                self._cuda.synchronize()
            record.end_ns = time.monotonic_ns()
            if self.enabled:
                self._fold_peaks()
            self._open.pop()
