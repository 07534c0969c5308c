"""``edgebench.Monitor``: edgebench's profiler around your own training, with the engine's device profile,
meters, windows and records.

The monitor picks the device profile and energy meter exactly as ``edgebench run --device`` does
(:func:`edgebench.profiler.setup.build_measurement`: ``auto`` detects the device, the profile's meter
chain is tried in order, every attempt is recorded with its reason) and measures named windows with the
engine's profiler. Windows nest (``outer/inner``); each returns a :class:`WindowMeasurement`, the
record the engine writes for a client round.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

from pydantic import ValidationError

from edgebench.api.record import WindowMeasurement
from edgebench.profiler.energy import NullEnergy
from edgebench.profiler.idle import IdleBaseline, save_idle
from edgebench.profiler.settings import ProfilerSettings
from edgebench.profiler.setup import Measurement, build_measurement
from edgebench.profiler.windows import WindowRecord

log = logging.getLogger("edgebench")

F = TypeVar("F", bound=Callable[..., Any])


class MeterNotAvailable(RuntimeError):
    """None of the energy meters asked for works here; `attempts` lists each with the reason (the
    reasons ``edgebench doctor`` prints)."""

    def __init__(self, attempts: list[dict[str, str]]) -> None:
        self.attempts = attempts
        reasons = "; ".join(f"{a['meter']}: {a.get('reason', a.get('status', ''))}" for a in attempts)
        super().__init__(
            f"energy meter not available: {reasons or 'no meter tried'} "
            "(`edgebench doctor` lists every meter on this machine and why)"
        )


@dataclass
class _Open:
    name: str
    context: AbstractContextManager[WindowRecord]
    measurement: WindowMeasurement


class Monitor:
    """Measures named windows of your code: wall time, energy (gross and net of idle, with provenance and
    scope), mean power, peak memory and flags.

    `device`: a device profile name, a profile .yaml path or ``auto`` (detect, as ``edgebench run``).
    `meters`: energy meters to try in order instead of the profile's (``edgebench doctor`` lists them);
    when none of them works, starting raises :class:`MeterNotAvailable` instead of recording nothing.
    `idle_baseline_s`: measure idle power for this many seconds at start (net energy); 0 uses a stored
    ``edgebench calibrate`` result when there is one. `csv`: append every finished window to this CSV.
    `settings`: the ``profiler:`` section of an experiment file (a :class:`ProfilerSettings` or a mapping),
    which `meters` and `idle_baseline_s` override. `host_sample_s`: seconds spent sampling the machine's
    load at start and close (None: skip; windows still flag ``contended`` work).

    Nothing is probed or started until :meth:`start`, ``with monitor:`` or the first window. Windows must
    be ended in reverse order of beginning; while any is open, only the thread that began it may begin or
    end windows (windows nest, so another thread's would be counted inside it): RuntimeError otherwise.
    """

    def __init__(
        self,
        device: str = "auto",
        *,
        meters: str | Sequence[str] | None = None,
        idle_baseline_s: float | None = None,
        csv: str | Path | None = None,
        settings: ProfilerSettings | Mapping[str, Any] | None = None,
        host_sample_s: float | None = 0.2,
    ) -> None:
        raw = settings.model_dump() if isinstance(settings, ProfilerSettings) else dict(settings or {})
        if meters is not None:
            raw["meters"] = [meters] if isinstance(meters, str) else list(meters)
        if idle_baseline_s is not None:
            raw["idle_baseline_s"] = idle_baseline_s
        try:
            self.settings = ProfilerSettings.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(x) for x in e['loc'])}: {e['msg'].replace('Value error, ', '')}" for e in exc.errors()
            )
            raise ValueError(f"edgebench.Monitor: {problems}") from None
        self.device = device
        self.csv = Path(csv) if csv is not None else None
        self._measurement: Measurement = build_measurement(self.settings, device)
        self._measurement.host_sample_s = host_sample_s
        self._open: list[_Open] = []
        self._lock = threading.RLock()
        self._owner: int | None = None  # the thread whose windows are open
        self._started = False
        #: Every window that ended normally, in the order they ended (inner windows before outer ones).
        self.windows: list[WindowMeasurement] = []

    @classmethod
    def from_config(cls, path: str | Path, device: str | None = None, **kwargs: Any) -> Monitor:
        """A monitor with the ``profiler:`` and ``device:`` sections of an experiment file (as ``edgebench
        doctor --config`` reads them); `device` overrides ``device.name``."""
        from edgebench.profiler.commands import settings_from_file

        settings, file_device = settings_from_file(Path(path))
        return cls(device or file_device, settings=settings, **kwargs)

    # -- what was chosen -------------------------------------------------------------------------
    @property
    def profile(self) -> str:
        """The device profile's name (detected for ``auto``)."""
        return self._measurement.profile.name

    @property
    def energy_provenance(self) -> str:
        """How energy is measured here (``measured-counter: ...``, ``estimated: ...``, ``unavailable: ...``)."""
        return self._measurement.profiler.energy.provenance

    @property
    def idle(self) -> IdleBaseline | None:
        """The idle power subtracted for `energy_net_j` (None: no baseline; see `describe()['idle_note']`)."""
        return self._measurement.profiler.idle

    @property
    def open_windows(self) -> list[str]:
        """Names of the windows now open, outermost first."""
        return [o.name for o in self._open]

    def describe(self) -> dict[str, Any]:
        """How this monitor measures (run.json's ``measurement`` section): profile and why, meter attempts,
        idle baseline, memory provenance, host load."""
        return self._measurement.describe()

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> Monitor:
        """Open the energy meter (and its sampler process) and settle the idle baseline; idempotent.

        Raises :class:`MeterNotAvailable` when `meters` were asked for and none works, and RuntimeError when
        idle power was asked for (`idle_baseline_s` > 0) and could not be measured.
        """
        if self._started:
            return self
        self._measurement.start(_message)
        energy = self._measurement.profiler.energy
        if self.settings.enabled and isinstance(energy, NullEnergy):
            attempts = list(getattr(energy, "attempts", []))
            if self.settings.meters:
                self._measurement.close()
                raise MeterNotAvailable(attempts)
            log.warning("no energy meter works here; energy stays empty (%s)", energy.provenance)
        if self.settings.enabled and self.settings.idle_baseline_s > 0 and self.idle is None:
            note = self._measurement.idle_note
            self._measurement.close()
            raise RuntimeError(f"idle power was asked for and not measured: {note}")
        self._started = True
        log.info("device profile %s; energy %s", self.profile, self.energy_provenance)
        return self

    def close(self) -> None:
        """Stop the meter's sampler process. Windows still open are ended and dropped (not recorded)."""
        while self._open:
            dropped = self._open.pop()
            dropped.context.__exit__(None, None, None)
            log.warning("window %r was still open at close; not recorded", dropped.measurement.window)
        if self._started:
            self._measurement.close()
            self._started = False

    def __enter__(self) -> Monitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- windows ---------------------------------------------------------------------------------
    def begin_window(self, name: str) -> WindowMeasurement:
        """Start measuring a window called `name` (nested in any open window); end it with :meth:`end_window`.

        Returns its record, complete once the window ends. ValueError when a window of that name is open.
        """
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"window name must be a non-empty string without '/', got {name!r}")
        with self._lock:
            self._check_thread(name)
            if name in self.open_windows:
                raise ValueError(f"window {name!r} is already open; nested windows need distinct names")
            self.start()
            path = "/".join([*self.open_windows, name])
            started_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
            context = self._measurement.profiler.window(name)
            record = context.__enter__()
            measurement = WindowMeasurement(
                window=path, started_at=started_at, record=record, _comm_estimate=self._measurement.comm_estimate
            )
            if not self._open:
                self._owner = threading.get_ident()
            self._open.append(_Open(name, context, measurement))
            return measurement

    def end_window(self, name: str) -> WindowMeasurement:
        """End the window `name` (the innermost open one) and return its complete record.

        The record is kept in :attr:`windows` and appended to `csv` when the monitor has one.
        """
        measurement = self._end(name)
        self.windows.append(measurement)
        if self.csv is not None:
            measurement.append_csv(self.csv)
        return measurement

    def _end(self, name: str) -> WindowMeasurement:
        with self._lock:
            self._check_thread(name)
            if name not in self.open_windows:
                open_now = ", ".join(self.open_windows) or "none"
                raise ValueError(f"no open window called {name!r} (open: {open_now})")
            inner = self._open[-1]
            if inner.name != name:
                raise ValueError(
                    f"window {name!r} cannot end while {inner.name!r}, begun inside it, is open; end that first"
                )
            self._open.pop()
            inner.context.__exit__(None, None, None)
            inner.measurement.finish()
            return inner.measurement

    def _check_thread(self, name: str) -> None:
        if self._open and self._owner != threading.get_ident():
            raise RuntimeError(
                f"window {name!r}: windows {', '.join(self.open_windows)} are open in another thread; a monitor's "
                "windows nest, so they are begun and ended by one thread at a time (wrap the threads' work in one "
                "window of the thread that starts them)"
            )

    def _in_own_window(self, name: str) -> bool:
        """True when this thread has a window called `name` open (a decorated function called recursively)."""
        with self._lock:
            return name in self.open_windows and self._owner == threading.get_ident()

    @contextmanager
    def window(self, name: str) -> Iterator[WindowMeasurement]:
        """Measure the enclosed block as a window called `name`; the record is complete once the block exits.

        A block that raises ends its window (and windows begun inside it and left open) without recording
        it; the exception propagates.
        """
        measurement = self.begin_window(name)
        try:
            yield measurement
        except BaseException:
            while name in self.open_windows:  # this window, and any begun inside it and left open
                self._end(self.open_windows[-1])
            raise
        self.end_window(name)

    @overload
    def measure(self, fn: F) -> F: ...
    @overload
    def measure(self, fn: str | None = None) -> Callable[[F], F]: ...
    def measure(self, fn: F | str | None = None) -> F | Callable[[F], F]:
        """Decorator: every call of the function is a window, named after it (``@monitor.measure``) or as
        given (``@monitor.measure("train")``). The records go to :attr:`windows` (and `csv`). A recursive
        call runs inside the outermost call's window (it is not a window of its own)."""

        def decorate(func: F, name: str | None = None) -> F:
            label = name or func.__name__

            @functools.wraps(func)
            def measured(*args: Any, **kwargs: Any) -> Any:
                if self._in_own_window(label):
                    return func(*args, **kwargs)
                with self.window(label):
                    return func(*args, **kwargs)

            return measured  # type: ignore[return-value]

        if callable(fn):
            return decorate(fn)
        return functools.partial(decorate, name=fn)  # type: ignore[return-value]

    # -- idle power ------------------------------------------------------------------------------
    def calibrate_idle(self, seconds: float = 10.0, store: bool = False) -> IdleBaseline:
        """Measure idle power now for `seconds` (keep the device idle) and subtract it from later windows'
        energy (`energy_net_j`). `store`: keep it for later runs, as ``edgebench calibrate`` does.

        RuntimeError when a window is open or the meter cannot measure idle power.
        """
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"seconds must be a finite number > 0, got {seconds}")
        if self._open:
            raise RuntimeError(f"calibrate idle power outside any window (open: {', '.join(self.open_windows)})")
        self.start()
        profiler = self._measurement.profiler
        baseline = profiler.measure_idle(seconds)
        profiler.idle = baseline
        self._measurement.idle_note = None
        if store:
            baseline.path = str(save_idle(baseline, self.profile))
        return baseline


def _message(text: str) -> None:
    """The engine's start-up messages (busy machine, idle measurement) as log records."""
    if text.startswith("warning: "):
        log.warning("%s", text.removeprefix("warning: "))
    else:
        log.info("%s", text)
