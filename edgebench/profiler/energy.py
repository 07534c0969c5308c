"""Energy sources the profiler reads at window edges, each turning a meter into per-window results.

* :class:`CounterEnergy`: a counter meter (NVML energy, RAPL, the CPU-time estimate) read at both edges;
  a wrapping counter (RAPL) is also read between edges by a watcher in a separate process.
* :class:`SampledEnergy`: a power meter sampled by a separate process, integrated by trapezoid.
* :class:`LogEnergy`: an external power log (wall-clock stamps mapped onto the monotonic clock).
* :class:`CombinedEnergy`: several sources added up (e.g. GPU board + CPU package), labelled by the
  weakest part (a sum with an estimate is an estimate).
* :class:`BesideEnergy`: a total with other sources reported beside it, never added (a laptop's measured
  GPU with its CPU share estimated beside it).
* :class:`NullEnergy`: nothing to measure; every window says why.

Every result carries provenance ``<label>: <source>; scope: <scope>`` or ``unavailable: <reason>``.
A source that fails mid-run marks the affected windows unavailable and the run goes on.

Impossible readings are never ``measured``: a counter step backwards that is not a plausible wrap, or a
step implying more than the device profile's `max_power_w`, makes every window spanning it
``implausible`` (energy unavailable, with the reason); power samples below 0 W or above `max_power_w`
are dropped and counted, and a window losing more than `max_dropped_sample_share` of its samples is
``implausible``.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgebench.meters.base import CounterMeter, MeterError, MeterUnavailable, WatchSamples
from edgebench.meters.external import ExternalPowerLog
from edgebench.profiler.integrate import integrate_window
from edgebench.profiler.sampler import SamplerProcess

#: A window shorter than this many sensor update intervals (or sample periods) is flagged.
SHORT_WINDOW_FACTOR = 10.0
#: Default share of a window's power samples that may be dropped as implausible before the window is.
MAX_DROPPED_SAMPLE_SHARE = 0.05
#: Flag of a counter window in which the counter went unread for longer than one wrap period.
MISSED_WRAP_FLAG = "missed-wrap-possible"


@dataclass
class EnergyResult:
    """One window's energy (J), mean power (W), how it was obtained and how well it was sampled."""

    provenance: str
    energy_j: float | None = None
    power_avg_w: float | None = None
    scope: str | None = None
    sample_rate_hz: float | None = None
    max_gap_s: float | None = None
    flags: list[str] = field(default_factory=list)
    rails_j: dict[str, float] = field(default_factory=dict)
    #: Sampled sources: samples inside the window dropped as implausible (None for counters).
    samples_dropped: int | None = None


class EnergySource(ABC):
    """What the profiler needs from any energy source."""

    label: str = "unavailable"  # measured-counter | measured-sampled | estimated | unavailable
    meter_name: str = "none"
    source: str = ""
    scope: str = ""
    update_interval_s: float | None = None
    rate_hz: float | None = None
    basis: str | None = None
    #: The device profile's maximum power: readings above it are implausible (None: no bound known).
    max_power_w: float | None = None
    #: Sampled sources: a window losing more than this share of its samples is implausible.
    max_dropped_sample_share: float = MAX_DROPPED_SAMPLE_SHARE
    #: Set by :func:`edgebench.profiler.setup.resolve_energy`: every meter tried, with its status and reason.
    attempts: list[dict[str, str]]

    def start(self) -> None:  # noqa: B027 - optional hook
        """Begin (start a sampler process, ...); default nothing."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Stop whatever start() began; idempotent."""

    @abstractmethod
    def edge(self) -> Any:
        """Called at every window edge, right before the start stamp / right after the end stamp."""

    @abstractmethod
    def measure(self, start_token: Any, end_token: Any, start_ns: int, end_ns: int) -> EnergyResult:
        """The window's result from its two edge tokens and monotonic stamps."""

    def sampled_memory(self, start_ns: int, end_ns: int) -> tuple[int | None, int | None]:
        """(MemAvailable minimum, NvMapMemUsed peak) seen by a sampler in the window, if one samples them."""
        return None, None

    @property
    def provenance(self) -> str:
        return f"{self.label}: {self.source}; scope: {self.scope}"

    def short_threshold_s(self) -> float:
        """Windows shorter than this are flagged ``short-window``."""
        period = 1.0 / self.rate_hz if self.rate_hz else 0.0
        return SHORT_WINDOW_FACTOR * max(self.update_interval_s or 0.0, period)

    def _flags(self, duration_s: float) -> list[str]:
        threshold = self.short_threshold_s()
        return ["short-window"] if threshold and duration_s < threshold else []

    def describe(self) -> dict[str, Any]:
        return {
            "meter": self.meter_name,
            "provenance": self.label,
            "source": self.source,
            "scope": self.scope,
            "basis": self.basis,
            "update_interval_s": self.update_interval_s,
            "sample_rate_hz": self.rate_hz,
            "short_window_threshold_s": self.short_threshold_s() or None,
            "max_power_w": self.max_power_w,
        }


class NullEnergy(EnergySource):
    """No energy source: every window is ``unavailable: <reason>``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason if reason.startswith("unavailable") else f"unavailable: {reason}"
        self.scope = "nothing"

    @property
    def provenance(self) -> str:
        return self.reason

    def edge(self) -> None:
        return None

    def measure(self, start_token: Any, end_token: Any, start_ns: int, end_ns: int) -> EnergyResult:
        return EnergyResult(provenance=self.reason)

    def describe(self) -> dict[str, Any]:
        return {"meter": "none", "provenance": self.reason}


@dataclass(frozen=True)
class CounterMark:
    """A counter edge: the cumulative energy, and how many implausible steps and unverified spans (where
    a whole wrap may have been missed) were seen up to it."""

    energy_j: float
    implausible: int
    unverified: int = 0


class CounterEnergy(EnergySource):
    """A cumulative counter read at both edges; the window gets the difference.

    Every step between two consecutive reads (any windows' edges) is checked: a step backwards, or (for
    measured counters with a known `max_power_w`) one implying more than `max_power_w` over its span
    plus one sensor update interval, is implausible, as is a reading the meter itself refused (a RAPL
    step back that is no plausible wrap). A window whose span contains one is ``implausible``.

    A counter that wraps (RAPL) is also read between edges by a watcher in the sampler process, started
    by :meth:`start`, so that no wrap goes unseen; a window containing a span that went unread for longer
    than one wrap period (the watcher failed or fell behind) is flagged ``missed-wrap-possible``.
    """

    def __init__(self, meter: CounterMeter, max_power_w: float | None = None) -> None:
        self.meter = meter
        self.label = meter.provenance
        self.meter_name = meter.name
        self.source = meter.source
        self.scope = meter.scope
        self.update_interval_s = meter.update_interval_s
        self.basis = getattr(meter, "basis", None)
        self.max_power_w = max_power_w
        self._last: tuple[float, int] | None = None  # (joules, monotonic ns) of the previous good read
        self._refused = 0
        self._meter_refused = 0
        self.implausible_reason = ""
        self.unverified_reason = ""
        self.watcher: SamplerProcess | None = None
        self.watch_note = ""
        self._watched_ns = 0

    def start(self) -> None:
        """Start the meter's watcher, if it asks for one (a failure to start is noted, not fatal: spans
        the watcher should have covered are then flagged instead)."""
        wanted = self.meter.watch()
        if wanted is None or (self.watcher is not None and self.watcher.running):
            return
        if self.watcher is not None:  # one that exited: release its files before starting another
            self.watcher.stop()
            self.watcher = None
        spec, rate_hz = wanted
        watcher = SamplerProcess(spec, rate_hz)
        try:
            watcher.start()
        except MeterUnavailable as exc:
            self.watch_note = f"watcher not running: {exc}"
            return
        self.watcher = watcher
        self.watch_note = f"read between edges at {rate_hz:.3g} Hz by a separate process (pid {watcher.pid})"
        self.meter.attach_watch(self._watch_samples)

    def _watch_samples(self) -> WatchSamples:
        """The watcher's readings since the previous call, oldest first (then forgotten)."""
        watcher = self.watcher
        if watcher is None:
            return []
        watcher.poll()
        t_ns, values = watcher.arrays()
        fresh = t_ns > self._watched_ns
        samples = [(int(t), [float(v) for v in row]) for t, row in zip(t_ns[fresh], values[fresh], strict=True)]
        if samples:
            self._watched_ns = samples[-1][0]
            watcher.trim(self._watched_ns)
        return samples

    def edge(self) -> CounterMark | MeterError:
        try:
            energy = self.meter.read_energy_j()
        except MeterError as exc:
            return exc
        now_ns = time.monotonic_ns()
        if self.meter.implausible_readings != self._meter_refused:
            self._meter_refused = self.meter.implausible_readings
            self.implausible_reason = self.meter.implausible_reason
        if self._last is not None:
            self._check_step(energy - self._last[0], (now_ns - self._last[1]) / 1e9)
        self._last = (energy, now_ns)
        return CounterMark(energy, self._refused + self._meter_refused, self.meter.unverified_spans)

    def _check_step(self, delta_j: float, elapsed_s: float) -> None:
        reason = ""
        if delta_j < 0:
            reason = f"{self.meter_name} counter stepped back by {-delta_j:.6g} J"
        elif self.max_power_w is not None and self.label.startswith("measured"):
            limit_j = self.max_power_w * (elapsed_s + (self.update_interval_s or 0.0))
            if delta_j > limit_j:
                reason = (
                    f"{self.meter_name} counter rose {delta_j:.6g} J in {elapsed_s:.3g} s "
                    f"({delta_j / max(elapsed_s, 1e-9):.4g} W), above the device's max_power_w {self.max_power_w:g} W"
                )
        if reason:
            self._refused += 1
            self.implausible_reason = reason

    def measure(self, start_token: Any, end_token: Any, start_ns: int, end_ns: int) -> EnergyResult:
        failed = next((t for t in (start_token, end_token) if isinstance(t, MeterError)), None)
        if failed is not None:
            return EnergyResult(
                provenance=f"unavailable: {self.meter_name} failed mid-run: {failed}", flags=["meter-failed"]
            )
        if end_token.implausible > start_token.implausible:
            return EnergyResult(
                provenance=f"unavailable: implausible reading: {self.implausible_reason}", flags=["implausible"]
            )
        duration_s = (end_ns - start_ns) / 1e9
        energy = end_token.energy_j - start_token.energy_j
        flags = self._flags(duration_s)
        if end_token.unverified > start_token.unverified:
            flags.append(MISSED_WRAP_FLAG)
        return EnergyResult(
            provenance=self.provenance,
            energy_j=energy,
            power_avg_w=energy / duration_s if duration_s > 0 else None,
            scope=self.scope,
            flags=flags,
        )

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        self.meter.close()

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if self.meter.watch() is not None:
            out["watch"] = self.watch_note or "watcher not started"
        return out


class _SampleIntegrator(EnergySource):
    """Shared logic of sources that hold (ns, watts[, rails...]) samples."""

    label = "measured-sampled"
    rails: list[str]

    def _samples(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _failure(self, end_ns: int) -> str:
        return "read failed"

    def edge(self) -> None:
        return None

    def measure(self, start_token: Any, end_token: Any, start_ns: int, end_ns: int) -> EnergyResult:
        t_ns, values = self._samples()
        duration_s = (end_ns - start_ns) / 1e9
        lo = max(0, int(np.searchsorted(t_ns, start_ns)) - 1)
        hi = min(len(t_ns), int(np.searchsorted(t_ns, end_ns, side="right")) + 1)
        t_win, v_win = t_ns[lo:hi], values[lo:hi]
        finite = np.isfinite(v_win[:, 0]) if v_win.size else np.ones(0, dtype=bool)
        if not finite.all():
            if (~finite & (t_win >= start_ns) & (t_win <= end_ns)).any():
                return EnergyResult(
                    provenance=f"unavailable: {self.meter_name} failed mid-run: {self._failure(end_ns)}",
                    flags=["meter-failed"],
                )
            t_win, v_win = t_win[finite], v_win[finite]  # a failed read just outside the window: skip it
        dropped = 0
        if v_win.size:
            bad = v_win[:, 0] < 0
            if self.max_power_w is not None:
                bad |= v_win[:, 0] > self.max_power_w
            inside = (t_win > start_ns) & (t_win < end_ns)
            dropped = int((bad & inside).sum())
            if dropped and dropped > self.max_dropped_sample_share * int(inside.sum()):
                bound = f"above {self.max_power_w:g} W (max_power_w) or " if self.max_power_w is not None else ""
                return EnergyResult(
                    provenance=f"unavailable: implausible readings: {dropped} of {int(inside.sum())} power samples "
                    f"in the window {bound}below 0 W (more than {self.max_dropped_sample_share:.0%} of them)",
                    flags=["implausible"],
                    samples_dropped=dropped,
                )
            t_win, v_win = t_win[~bad], v_win[~bad]  # dropped (and counted when inside the window)
        total = integrate_window(t_win, v_win[:, 0] if v_win.size else np.empty(0), start_ns, end_ns)
        if total is None:
            return EnergyResult(provenance=f"unavailable: {self.meter_name}: no samples near the window")
        flags = self._flags(duration_s)
        if total.samples < 2:
            flags.append("few-samples")
        rails_j = {}
        for i, rail in enumerate(self.rails, start=1):
            part = integrate_window(t_win, v_win[:, i], start_ns, end_ns)
            if part is not None and np.isfinite(part.energy_j):
                rails_j[rail] = part.energy_j
        return EnergyResult(
            provenance=self.provenance,
            energy_j=total.energy_j,
            power_avg_w=total.power_avg_w,
            scope=self.scope,
            sample_rate_hz=total.sample_rate_hz,
            max_gap_s=total.max_gap_s,
            flags=flags,
            rails_j=rails_j,
            samples_dropped=dropped,
        )


class SampledEnergy(_SampleIntegrator):
    """A power meter sampled by a separate process (started by :meth:`start`)."""

    def __init__(
        self, sampler: SamplerProcess, meter_name: str, source: str, scope: str, update_interval_s: float | None
    ):
        self.sampler = sampler
        self.meter_name = meter_name
        self.source = f"{source}, sampled at {sampler.rate_hz:g} Hz by a separate process"
        self.scope = scope
        self.update_interval_s = update_interval_s
        self.rate_hz = sampler.rate_hz
        self.rails: list[str] = []

    def start(self) -> None:
        if not self.sampler.running:
            self.sampler.start()
        self.rails = [c.removeprefix("rail:") for c in self.sampler.channels if c.startswith("rail:")]
        if self.update_interval_s is None:  # the child read it from the sensor (e.g. hwmon update_interval)
            self.update_interval_s = self.sampler.info.get("update_interval_s")

    def close(self) -> None:
        self.sampler.stop()

    def _samples(self) -> tuple[np.ndarray, np.ndarray]:
        self.sampler.poll()
        t_ns, values = self.sampler.arrays()
        return t_ns, values[:, : 1 + len(self.rails)] if values.size else values

    def _failure(self, end_ns: int) -> str:
        return self.sampler.last_error(end_ns + 10**9) or "read failed"

    def measure(self, start_token: Any, end_token: Any, start_ns: int, end_ns: int) -> EnergyResult:
        result = super().measure(start_token, end_token, start_ns, end_ns)
        if not self.sampler.running and result.energy_j is not None:
            t_ns, _ = self.sampler.arrays()
            if not t_ns.size or t_ns[-1] < end_ns:
                return EnergyResult(
                    provenance=f"unavailable: {self.meter_name}: sampler process exited "
                    f"(code {self.sampler.returncode}) {self.sampler.last_error(end_ns)}".rstrip(),
                    flags=["meter-failed"],
                )
        return result

    def sampled_memory(self, start_ns: int, end_ns: int) -> tuple[int | None, int | None]:
        if "mem_available_bytes" not in self.sampler.channels:
            return None, None
        t_ns, values = self.sampler.arrays()
        mask = (t_ns >= start_ns) & (t_ns <= end_ns)
        if not mask.any():
            return None, None
        avail = values[mask, self.sampler.channels.index("mem_available_bytes")]
        nvmap = values[mask, self.sampler.channels.index("nvmap_bytes")]
        avail, nvmap = avail[np.isfinite(avail)], nvmap[np.isfinite(nvmap)]
        return (int(avail.min()) if avail.size else None), (int(nvmap.max()) if nvmap.size else None)

    def trim(self, before_ns: int) -> None:
        self.sampler.trim(before_ns)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["sampler_pid"] = self.sampler.pid
        out["rails"] = self.rails
        return out


class LogEnergy(_SampleIntegrator):
    """Samples from an external CSV power log, its wall-clock stamps mapped to monotonic time.

    The wall/monotonic offset is taken once, at start; a log that ends before a window does gets its
    last value held and the gap shows in ``max_gap_s``.
    """

    def __init__(self, log: ExternalPowerLog) -> None:
        self.log = log
        self.meter_name = log.name
        self.source = log.source + " (aligned by wall clock)"
        self.scope = log.scope
        self.update_interval_s = log.update_interval_s
        self.rails = []
        self._offset_ns = time.time_ns() - time.monotonic_ns()
        self._t = np.empty(0, dtype=np.int64)
        self._w = np.empty((0, 1))
        self._error = ""

    def _samples(self) -> tuple[np.ndarray, np.ndarray]:
        try:
            wall, watts = self.log.read_new()
        except MeterError as exc:
            self._error = str(exc)
            return self._t, self._w
        if wall:
            t = np.concatenate((self._t, np.asarray(wall, dtype=np.int64) - self._offset_ns))
            w = np.concatenate((self._w, np.asarray(watts, dtype=float).reshape(-1, 1)))
            order = np.argsort(t, kind="stable")
            self._t, self._w = t[order], w[order]
        return self._t, self._w

    def measure(self, start_token: Any, end_token: Any, start_ns: int, end_ns: int) -> EnergyResult:
        result = super().measure(start_token, end_token, start_ns, end_ns)
        if self._error:
            error, self._error = self._error, ""
            return EnergyResult(provenance=f"unavailable: external log: {error}", flags=["meter-failed"])
        if result.energy_j is not None and (self._t[-1] < end_ns or self._t[0] > start_ns):
            result.flags.append("log-does-not-cover-window")
        return result

    def trim(self, before_ns: int) -> None:
        keep_from = max(0, int(np.searchsorted(self._t, before_ns)) - 1)
        self._t, self._w = self._t[keep_from:], self._w[keep_from:]


def weakest_label(labels: list[str]) -> str:
    """The label of a sum: ``estimated`` if any part is, else ``measured-sampled`` if any part is sampled."""
    if "estimated" in labels:
        return "estimated"
    return "measured-counter" if all(label == "measured-counter" for label in labels) else "measured-sampled"


class _PartsEnergy(EnergySource):
    """A source made of other sources (`parts`), each started, read at every edge, trimmed and closed."""

    parts: list[EnergySource]

    def start(self) -> None:
        for part in self.parts:
            part.start()

    def close(self) -> None:
        for part in self.parts:
            part.close()

    def edge(self) -> list[Any]:
        return [part.edge() for part in self.parts]

    def trim(self, before_ns: int) -> None:
        for part in self.parts:
            trim = getattr(part, "trim", None)
            if trim is not None:
                trim(before_ns)


class CombinedEnergy(_PartsEnergy):
    """Several sources added up; unavailable if any part is. Labelled by the weakest part: a sum with an
    estimated part (``nvml+estimate``, only when asked for) is ``estimated`` as a whole, and its scope
    says which part is which."""

    def __init__(self, parts: list[EnergySource]) -> None:
        self.parts = parts
        self.meter_name = "+".join(p.meter_name for p in parts)
        self.label = weakest_label([p.label for p in parts])
        self.source = " + ".join(p.source for p in parts)
        if len({p.label for p in parts}) > 1:
            self.scope = " + ".join(f"{p.scope} [{p.label}]" for p in parts)
        else:
            self.scope = " + ".join(p.scope for p in parts)
        intervals = [p.update_interval_s for p in parts if p.update_interval_s]
        self.update_interval_s = max(intervals) if intervals else None
        rates = [p.rate_hz for p in parts if p.rate_hz]
        self.rate_hz = min(rates) if rates else None

    def measure(self, start_token: Any, end_token: Any, start_ns: int, end_ns: int) -> EnergyResult:
        results = [
            p.measure(a, b, start_ns, end_ns) for p, a, b in zip(self.parts, start_token, end_token, strict=True)
        ]
        bad = next((r for r in results if r.energy_j is None), None)
        if bad is not None:
            return EnergyResult(provenance=bad.provenance, flags=bad.flags)
        energy = sum(r.energy_j for r in results if r.energy_j is not None)
        duration_s = (end_ns - start_ns) / 1e9
        rates = [r.sample_rate_hz for r in results if r.sample_rate_hz is not None]
        gaps = [r.max_gap_s for r in results if r.max_gap_s is not None]
        flags = sorted({f for r in results for f in r.flags})
        dropped = [r.samples_dropped for r in results if r.samples_dropped is not None]
        rails = {
            f"{p.meter_name}:{k}": v for p, r in zip(self.parts, results, strict=True) for k, v in r.rails_j.items()
        }
        return EnergyResult(
            provenance=self.provenance,
            energy_j=energy,
            power_avg_w=energy / duration_s if duration_s > 0 else None,
            scope=self.scope,
            sample_rate_hz=min(rates) if rates else None,
            max_gap_s=max(gaps) if gaps else None,
            flags=flags,
            rails_j=rails,
            samples_dropped=sum(dropped) if dropped else None,
        )

    def sampled_memory(self, start_ns: int, end_ns: int) -> tuple[int | None, int | None]:
        for p in self.parts:
            found = p.sampled_memory(start_ns, end_ns)
            if found != (None, None):
                return found
        return None, None

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["parts"] = [p.describe() for p in self.parts]
        return out


#: Prefix of a rail entry holding a source reported beside the total, not added to it.
NOT_IN_TOTAL = "not-in-total:"


class BesideEnergy(_PartsEnergy):
    """A total, with other sources reported beside it and never added (the chain entry ``a&b``).

    The window's energy, provenance and scope are the total's; each source beside it is measured over
    the same window and written to the rails as ``not-in-total:<meter>`` (with its own provenance and
    scope in run.json), e.g. a laptop's GPU board energy measured by NVML with the CPU's share estimated
    beside it when RAPL is unreadable. Failures of a source beside the total never touch the total.
    """

    def __init__(self, total: EnergySource, beside: list[EnergySource]) -> None:
        self.total = total
        self.beside = beside
        self.parts = [total, *beside]
        self.meter_name = "&".join([total.meter_name, *(b.meter_name for b in beside)])
        self.label = total.label
        self.source = total.source
        names = ", ".join(f"{NOT_IN_TOTAL}{b.meter_name} ({b.label}: {b.scope})" for b in beside)
        self.scope = f"{total.scope}; reported beside it, not in this total: {names}"
        self.update_interval_s = total.update_interval_s
        self.rate_hz = total.rate_hz
        self.basis = total.basis
        self.max_power_w = total.max_power_w

    def short_threshold_s(self) -> float:
        return self.total.short_threshold_s()

    def measure(self, start_token: Any, end_token: Any, start_ns: int, end_ns: int) -> EnergyResult:
        result = self.total.measure(start_token[0], end_token[0], start_ns, end_ns)
        if result.energy_j is not None:
            result.provenance, result.scope = self.provenance, self.scope
        for part, a, b in zip(self.beside, start_token[1:], end_token[1:], strict=True):
            found = part.measure(a, b, start_ns, end_ns)
            if found.energy_j is not None:
                result.rails_j[f"{NOT_IN_TOTAL}{part.meter_name}"] = found.energy_j
        return result

    def sampled_memory(self, start_ns: int, end_ns: int) -> tuple[int | None, int | None]:
        return self.total.sampled_memory(start_ns, end_ns)

    def describe(self) -> dict[str, Any]:
        out = self.total.describe()
        out["meter"] = self.meter_name
        out["scope"] = self.scope
        out["beside"] = [part.describe() for part in self.beside]
        return out
