"""What every meter is: a raw reader of one energy or power source, with no policy.

Three kinds of reading exist:

* ``CounterMeter``: a cumulative energy counter (joules since the meter started), read at window edges.
* ``PowerMeter``: an instantaneous power reading (watts) that must be sampled, by a separate process.
* ``ExternalPowerLog`` (see :mod:`edgebench.meters.external`): samples someone else already took.

Every meter states its ``scope`` (what the number covers: which rails, domains or devices) and how a
value it produces is labelled (``provenance``). ``probe()`` performs every read the meter will use once,
so a backend that initialises but cannot read (Jetson's NVML) is found out at start-up, not mid-run.
Vendor errors are mapped to :class:`MeterUnavailable` (at probe) and :class:`MeterReadError` (later).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

SYSFS_ROOT_ENV = "EDGEBENCH_SYSFS_ROOT"
DEFAULT_SYSFS_ROOT = Path("/sys")

Provenance = Literal["measured-counter", "measured-sampled", "estimated"]


class MeterError(RuntimeError):
    """Base class of every error a meter raises."""


class MeterUnavailable(MeterError):
    """The meter cannot be used on this machine; the message is the reason, for people."""


class MeterReadError(MeterError):
    """A read failed after the meter had probed fine (sensor vanished, command failed, ...)."""


def sysfs_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The folder standing in for ``/sys``: `explicit`, else ``$EDGEBENCH_SYSFS_ROOT``, else ``/sys``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(SYSFS_ROOT_ENV)
    return Path(env) if env else DEFAULT_SYSFS_ROOT


def read_sysfs(path: Path) -> str:
    """Read one sysfs attribute, mapping OS errors to :class:`MeterReadError` with the path and cause."""
    try:
        return path.read_text().strip()
    except PermissionError as exc:
        raise MeterReadError(f"permission denied reading {path}") from exc
    except FileNotFoundError as exc:
        raise MeterReadError(f"{path} does not exist") from exc
    except OSError as exc:
        raise MeterReadError(f"cannot read {path}: {exc.strerror or exc}") from exc


def read_sysfs_number(path: Path) -> float:
    """A sysfs attribute holding one number (integer or decimal)."""
    text = read_sysfs(path)
    try:
        return float(text)
    except ValueError as exc:
        raise MeterReadError(f"{path}: expected a number, got {text[:40]!r}") from exc


@dataclass(frozen=True)
class MeterOptions:
    """Everything a registered meter may be built from; the profiler fills it from its settings and the
    device profile (this layer decides none of it).

    `total_rails`: Jetson rails whose sum is the total (None: unknown board); `rails_scope`: what that
    total covers; `estimate_origin`: where `estimate_per_core_w` comes from, for the estimate's basis;
    `max_power_w`: the device profile's maximum power, above which a reading is implausible (counters
    use it to tell a wrap from a glitch; None: no upper bound known).
    """

    sysfs_root: Path
    total_rails: Sequence[str] | None
    rails_scope: str | None
    sensor_update_interval_s: float | None
    sample_rate_hz: float
    tegrastats: str
    vcgencmd: str
    rpi5_gain: float
    rpi5_offset_w: float
    nvml_devices: Sequence[int]
    rapl_domains: Sequence[str]
    external_log: str | None
    external_scope: str | None
    external_clock_offset_s: float
    estimate_per_core_w: float | None
    estimate_origin: str
    replay_trace: str | None
    max_power_w: float | None = None


class Meter(ABC):
    """Common description of a meter. Subclasses set `name`, `provenance` and fill `scope` at probe.

    A meter listed in :mod:`edgebench.meters.registry` builds itself with :meth:`from_options` (and, if
    it is a power meter, rebuilds itself in the sampler process with :meth:`from_spec`).
    """

    name: ClassVar[str] = "meter"
    provenance: Provenance = "measured-counter"
    #: How often the underlying sensor refreshes, in seconds (None: unknown or continuous).
    update_interval_s: float | None = None

    def __init__(self) -> None:
        self.scope = ""
        self.source = ""  # what is read, e.g. "powercap energy_uj of package-0"

    @classmethod
    def from_options(cls, options: MeterOptions) -> Meter:
        """This meter configured from `options`, not yet probed (:class:`MeterUnavailable` when an option
        it needs is missing)."""
        raise NotImplementedError(f"meter {cls.name!r} cannot be built from options")

    @classmethod
    def open(cls, options: MeterOptions) -> Meter:
        """A probed, working meter built from `options`, or :class:`MeterUnavailable` with the reason."""
        meter = cls.from_options(options)
        meter.probe()
        return meter

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> PowerMeter:
        """The power meter a :meth:`PowerMeter.spec` describes, not yet probed (ValueError for a meter
        that is not a power meter)."""
        raise ValueError(f"no power meter called {cls.name!r}")

    @abstractmethod
    def probe(self) -> None:
        """Perform every read this meter will use once; raise :class:`MeterUnavailable` with the reason."""

    def close(self) -> None:  # noqa: B027 - optional hook, most meters hold nothing
        """Release handles or child processes (default: nothing)."""

    def describe(self) -> dict[str, Any]:
        """JSON-safe description for run.json and `edgebench doctor`."""
        return {
            "meter": self.name,
            "provenance": self.provenance,
            "source": self.source,
            "scope": self.scope,
            "update_interval_s": self.update_interval_s,
        }


#: Raw readings a watcher took between window edges: (monotonic ns, one value per channel) in time order.
WatchSamples = list[tuple[int, list[float]]]


class CounterMeter(Meter):
    """A cumulative energy source read at window edges.

    A reading the meter cannot account for (a counter that steps backwards where no wrap is plausible)
    adds nothing to the total; it is counted in `implausible_readings`, with the newest reason in
    `implausible_reason`, so that every window spanning it can be marked ``implausible``.

    A counter that wraps can ask to be read between edges as well (:meth:`watch`): the profiler then runs
    the reader it describes in its sampler process and hands the readings over (:meth:`attach_watch`).
    Two consecutive reads further apart than the counter can safely go unread are counted in
    `unverified_spans` (newest reason in `unverified_reason`): a whole wrap may have been missed there.
    """

    provenance: Provenance = "measured-counter"
    implausible_readings: int = 0
    implausible_reason: str = ""
    unverified_spans: int = 0
    unverified_reason: str = ""

    @abstractmethod
    def read_energy_j(self) -> float:
        """Energy in joules accumulated since the first read (wrap-corrected where the counter wraps)."""

    def refuse(self, reason: str) -> None:
        """Count one implausible reading (its energy is not added to the total)."""
        self.implausible_readings += 1
        self.implausible_reason = reason

    def unverified(self, reason: str) -> None:
        """Count one span between reads long enough for a whole wrap to go unseen."""
        self.unverified_spans += 1
        self.unverified_reason = reason

    def watch(self) -> tuple[dict[str, Any], float] | None:
        """(spec of a :class:`ValueReader`, reads per second) to run between edges, or None (default)."""
        return None

    def attach_watch(self, samples: Callable[[], WatchSamples]) -> None:
        """Take the watcher's readings from `samples` (new ones since the previous call) at every read."""


class ValueReader(ABC):
    """Values the sampler process reads periodically that are not power (e.g. raw counter values).

    Rebuilt in the sampler process from a spec (:func:`edgebench.meters.registry.reader_from_spec`).
    """

    name: ClassVar[str] = "reader"
    self_paced: bool = False
    update_interval_s: float | None = None
    scope = ""
    source = ""

    @abstractmethod
    def probe(self) -> None:
        """Read once; raise :class:`MeterUnavailable` with the reason."""

    @abstractmethod
    def read_values(self) -> dict[str, float]:
        """One reading of every channel, by name (same names, same order every time)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the reader holds (default: nothing)."""


class PowerMeter(Meter):
    """An instantaneous power source, sampled by the profiler's sampler process."""

    provenance: Provenance = "measured-sampled"
    #: True when a read blocks until the sensor's next value (a streaming command such as tegrastats).
    self_paced: bool = False

    @abstractmethod
    def read_rails_w(self) -> dict[str, float]:
        """Power of every rail or device this meter sees, in watts, keyed by rail name."""

    @abstractmethod
    def total_w(self, rails_w: dict[str, float]) -> float:
        """The in-scope total (watts) given one reading of :meth:`read_rails_w`."""

    def read_power_w(self) -> float:
        """The in-scope total power now, in watts."""
        return self.total_w(self.read_rails_w())

    @abstractmethod
    def spec(self) -> dict[str, Any]:
        """JSON-safe arguments from which :meth:`from_spec` rebuilds this meter in the sampler process
        (``meter`` names its registry entry)."""


class NullMeter(Meter):
    """Stands in when nothing can measure, so callers never branch on None; `reason` says why."""

    name = "none"

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason
        self.scope = "nothing"

    def probe(self) -> None:
        raise MeterUnavailable(self.reason)
