"""Nestable measurement windows (round -> client -> phase) around the engine's work.

At each window edge the profiler synchronises CUDA (when this process uses it), folds memory peaks
into every open window, resets the resettable peaks, and reads the energy source (counters) or, at the
end, integrates the sampler's power samples over the window. Each window records wall time (monotonic
clock), peak host and accelerator memory, energy (gross, and net of idle power when an idle baseline is
known), mean power, the achieved sample rate and largest gap for sampled sources, the CPU other
processes used meanwhile (:mod:`edgebench.profiler.contention`), and flags such as ``short-window``,
``contended``, ``implausible`` or ``negative-net-energy``. Memory provenance is decided when a window
closes (CUDA may start inside it). Every value carries provenance; nothing is reported as a number that
was not measured or explicitly estimated.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from edgebench.profiler.contention import ContentionMeter, CpuMark
from edgebench.profiler.energy import EnergySource, NullEnergy
from edgebench.profiler.idle import IdleBaseline
from edgebench.profiler.memory import CudaPeakMemory, HostPeakMemory, MeminfoMemory

NO_METER = "unavailable: no energy meter configured"
#: Flag of a window whose energy net of idle is below zero: it drew less than the idle baseline, so the
#: baseline is stale or was measured under other conditions (power mode, temperature, background load).
NEGATIVE_NET_FLAG = "negative-net-energy"
DISABLED = "unavailable: profiler disabled (profiler.enabled: false)"


@dataclass
class WindowRecord:
    """What one window measured. Times in seconds, memory in bytes, energy in joules, power in watts."""

    name: str
    start_ns: int = 0
    end_ns: int = 0
    peak_rss_bytes: int | None = None
    peak_accel_bytes: int | None = None
    peak_accel_reserved_bytes: int | None = None
    mem_available_min_bytes: int | None = None
    nvmap_peak_bytes: int | None = None
    memory_provenance: str = ""
    energy_j: float | None = None
    energy_net_j: float | None = None
    idle_power_w: float | None = None
    power_avg_w: float | None = None
    energy_provenance: str = NO_METER
    energy_scope: str | None = None
    sample_rate_hz: float | None = None
    max_gap_s: float | None = None
    flags: list[str] = field(default_factory=list)
    rails_j: dict[str, float] = field(default_factory=dict)
    children: list[WindowRecord] = field(default_factory=list)
    #: Cores other processes used on average during the window (None: not measured).
    other_cpu_cores: float | None = None
    #: Sampled sources: power samples inside the window dropped as implausible.
    samples_dropped: int | None = None

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    def child(self, name: str) -> WindowRecord:
        """The direct child window called `name` (KeyError if absent)."""
        for c in self.children:
            if c.name == name:
                return c
        raise KeyError(name)

    def all_flags(self) -> list[str]:
        """This window's flags and its descendants', the latter as ``<child>:<flag>``."""
        out = list(self.flags)
        for c in self.children:
            out += [f if ":" in f else f"{c.name}:{f}" for f in c.all_flags()]
        return out


@dataclass
class _Open:
    record: WindowRecord
    energy_token: Any = None
    cpu_mark: CpuMark | None = None


class Profiler:
    """Opens windows. `enabled=False` still times windows but measures neither memory nor energy.

    `energy` is an :class:`EnergySource`, or a callable returning one (resolved on :meth:`start`, so
    building a profiler starts no process). `contention`, when given, measures other processes' CPU
    use in every window (also when disabled: it qualifies the wall times). Use it as a context manager,
    or call :meth:`close`.
    """

    def __init__(
        self,
        enabled: bool = True,
        energy: EnergySource | Callable[[], EnergySource] | None = None,
        meminfo: MeminfoMemory | None = None,
        idle: IdleBaseline | None = None,
        contention: ContentionMeter | None = None,
    ) -> None:
        self.enabled = enabled
        self.contention = contention
        self._host = HostPeakMemory() if enabled else None
        self._cuda = CudaPeakMemory() if enabled else None
        self._meminfo = meminfo if enabled else None
        self._energy_factory: Callable[[], EnergySource] | None = None
        if not enabled:
            self.energy: EnergySource = NullEnergy(DISABLED)
        elif energy is None:
            self.energy = NullEnergy(NO_METER)
        elif isinstance(energy, EnergySource):
            self.energy = energy
        else:
            self.energy = NullEnergy("unavailable: energy source not started")
            self._energy_factory = energy
        self.idle = idle
        self._open: list[_Open] = []
        self._started = False
        self.overhead_ns = 0  # time spent in window-edge bookkeeping (what profiling costs)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Resolve and start the energy source (idempotent; windows call it on first use)."""
        if self._started:
            return
        self._started = True
        if self._energy_factory is not None:
            self.energy = self._energy_factory()
        self.energy.start()

    def close(self) -> None:
        """Stop the energy source (sampler process); windows opened afterwards restart it."""
        if self._started:
            self.energy.close()
            self._started = False
            if self._energy_factory is not None:
                self.energy = NullEnergy("unavailable: energy source not started")

    def __enter__(self) -> Profiler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- memory --------------------------------------------------------------------------------
    @property
    def memory_provenance(self) -> str:
        if not self.enabled:
            return "unavailable: profiler disabled (profiler.enabled: false)"
        assert self._host is not None and self._cuda is not None
        text = f"host {self._host.provenance}; accelerator {self._cuda.provenance}"
        if self._meminfo is not None:
            text += "; system MemAvailable min / NvMapMemUsed peak from /proc/meminfo"
        return text

    def _fold_peaks(self, extra: WindowRecord | None = None) -> None:
        assert self._host is not None and self._cuda is not None
        host = self._host.read_bytes()
        accel = self._cuda.read_bytes()
        reserved = self._cuda.read_reserved_bytes()
        avail, nvmap = self._meminfo.read() if self._meminfo is not None else (None, None)
        targets = [o.record for o in self._open] + ([extra] if extra is not None else [])
        for w in targets:
            if extra is None or w is not extra:
                w.peak_rss_bytes = max(w.peak_rss_bytes or 0, host)
                if accel is not None:
                    w.peak_accel_bytes = max(w.peak_accel_bytes or 0, accel)
                if reserved is not None:
                    w.peak_accel_reserved_bytes = max(w.peak_accel_reserved_bytes or 0, reserved)
            _fold_meminfo(w, avail, nvmap)

    # -- windows -------------------------------------------------------------------------------
    @contextmanager
    def window(self, name: str) -> Iterator[WindowRecord]:
        """Measure the enclosed block; the record is complete once the block exits."""
        edge_started = time.perf_counter_ns()
        if self.enabled and not self._started:
            self.start()
        record = WindowRecord(name=name, energy_provenance=self.energy.provenance)
        if self._open:
            self._open[-1].record.children.append(record)
        opened = _Open(record)
        if self.enabled:
            assert self._host is not None and self._cuda is not None
            self._cuda.synchronize()
            self._fold_peaks(extra=record)
            self._host.reset()
            self._cuda.reset()
            opened.energy_token = self.energy.edge()
        if self.contention is not None:
            opened.cpu_mark = self.contention.mark(refresh=not self._open)
        self._open.append(opened)
        record.start_ns = time.monotonic_ns()
        self.overhead_ns += time.perf_counter_ns() - edge_started
        try:
            yield record
        finally:
            edge_started = time.perf_counter_ns()
            if self.enabled:
                assert self._cuda is not None
                self._cuda.synchronize()
            record.end_ns = time.monotonic_ns()
            end_mark = self.contention.mark(refresh=len(self._open) == 1) if self.contention is not None else None
            if self.enabled:
                end_token = self.energy.edge()
                self._fold_peaks()
                # decided now, not at the start: CUDA may have started inside the window, and the peaks
                # just folded in are then CUDA's (its allocator counts from its own start)
                record.memory_provenance = self.memory_provenance
                self._finish_energy(record, opened.energy_token, end_token)
                avail, nvmap = self.energy.sampled_memory(record.start_ns, record.end_ns)
                _fold_meminfo(record, avail, nvmap)
            if self.contention is not None:
                self._finish_contention(record, opened.cpu_mark, end_mark)
            self._open.pop()
            if not self._open and self.enabled:
                trim = getattr(self.energy, "trim", None)
                if trim is not None:
                    trim(record.end_ns)
            self.overhead_ns += time.perf_counter_ns() - edge_started

    def _finish_energy(self, record: WindowRecord, start_token: Any, end_token: Any) -> None:
        result = self.energy.measure(start_token, end_token, record.start_ns, record.end_ns)
        record.energy_provenance = result.provenance
        record.energy_j = result.energy_j
        record.power_avg_w = result.power_avg_w
        record.energy_scope = result.scope
        record.sample_rate_hz = result.sample_rate_hz
        record.max_gap_s = result.max_gap_s
        record.flags = list(result.flags)
        record.rails_j = dict(result.rails_j)
        record.samples_dropped = result.samples_dropped
        if result.energy_j is not None and self.idle is not None:
            record.idle_power_w = self.idle.power_w
            record.energy_net_j = result.energy_j - self.idle.power_w * record.duration_s
            if record.energy_net_j < 0:
                record.flags.append(NEGATIVE_NET_FLAG)

    def _finish_contention(self, record: WindowRecord, start: CpuMark | None, end: CpuMark | None) -> None:
        assert self.contention is not None
        found = self.contention.measure(start, end)
        if found is None:
            return
        record.other_cpu_cores = found.other_cpu_cores
        if found.contended:
            record.flags.append("contended")

    # -- idle baseline -------------------------------------------------------------------------
    def measure_idle(self, seconds: float, wait: Callable[[float], None] = time.sleep) -> IdleBaseline:
        """Idle power over `seconds` of doing nothing, with the current energy source.

        Raises RuntimeError (with the provenance as reason) when the source cannot measure.
        """
        if not self.enabled:
            raise RuntimeError("profiler disabled: cannot measure idle power")
        with self.window("idle") as window:
            wait(seconds)
        if window.energy_j is None or window.power_avg_w is None:
            raise RuntimeError(f"idle power not measured: {window.energy_provenance}")
        return IdleBaseline(
            power_w=window.power_avg_w,
            source="measured",
            meter=self.energy.meter_name,
            scope=self.energy.scope,
            provenance=window.energy_provenance,
            seconds=window.duration_s,
            sample_rate_hz=window.sample_rate_hz,
            max_gap_s=window.max_gap_s,
        )

    def describe(self) -> dict[str, Any]:
        """JSON-safe summary of how energy and memory are measured (for run.json)."""
        return {
            "enabled": self.enabled,
            "energy": self.energy.describe(),
            "memory_provenance": self.memory_provenance,
            "idle_baseline": self.idle.to_json() if self.idle is not None else None,
            "overhead_s": self.overhead_ns / 1e9,
            "contention": self.contention.describe() if self.contention is not None else None,
        }


def _fold_meminfo(w: WindowRecord, avail: int | None, nvmap: int | None) -> None:
    if avail is not None:
        current = w.mem_available_min_bytes
        w.mem_available_min_bytes = avail if current is None else min(current, avail)
    if nvmap is not None:
        w.nvmap_peak_bytes = nvmap if w.nvmap_peak_bytes is None else max(w.nvmap_peak_bytes, nvmap)
