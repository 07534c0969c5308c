"""Policy: from a device profile and the profiler settings to a working energy source and profiler.

Meters are tried in the profile's order (or ``profiler.meters``); the first whose every read works is
used, and every attempt is recorded with its reason. Counters are read at window edges; power-only
meters are sampled by a separate process. An external log, when configured, is tried first.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgebench.devices.detect import ProfileSelection, select_profile
from edgebench.devices.profiles import DeviceProfile, parse_meter_choice
from edgebench.meters.base import CounterMeter, MeterOptions, MeterUnavailable, PowerMeter, sysfs_root
from edgebench.meters.external import ExternalPowerLog
from edgebench.meters.registry import METER_NAMES, open_meter
from edgebench.profiler import threads
from edgebench.profiler.comm import estimate_comm, link_basis
from edgebench.profiler.contention import ContentionMeter, describe_load, host_load
from edgebench.profiler.energy import (
    MAX_DROPPED_SAMPLE_SHARE,
    BesideEnergy,
    CombinedEnergy,
    CounterEnergy,
    EnergySource,
    LogEnergy,
    NullEnergy,
    SampledEnergy,
)
from edgebench.profiler.idle import IdleBaseline, load_idle
from edgebench.profiler.memory import PROC_MEMINFO, MeminfoMemory
from edgebench.profiler.sampler import SamplerProcess
from edgebench.profiler.settings import ProfilerSettings
from edgebench.profiler.windows import Profiler


def meter_chain(settings: ProfilerSettings, profile: DeviceProfile) -> list[str]:
    """Meters to try, in order."""
    if settings.meters:
        return list(settings.meters)
    chain = list(profile.meters)
    if settings.external_log and "external" not in chain:
        chain.insert(0, "external")
    return chain


def meter_options(settings: ProfilerSettings, profile: DeviceProfile) -> MeterOptions:
    """What every meter is built from: the settings, with the device profile's values where they are unset."""
    rails = profile.rails
    if settings.estimate_per_core_w is not None:
        per_core_w, origin = settings.estimate_per_core_w, "profiler.estimate_per_core_w in the experiment file"
    else:
        per_core_w = profile.estimate.per_core_w
        origin = f"device profile {profile.name}, estimate.per_core_w: {profile.estimate.source or 'source not stated'}"
    return MeterOptions(
        sysfs_root=sysfs_root(settings.sysfs_root),
        total_rails=rails.total if rails is not None else None,
        rails_scope=rails.scope if rails is not None and rails.total else None,
        sensor_update_interval_s=profile.sampling.sensor_update_interval_s,
        sample_rate_hz=settings.sample_rate_hz or profile.sampling.rate_hz,
        tegrastats=settings.tegrastats,
        vcgencmd=settings.vcgencmd,
        rpi5_gain=settings.rpi5_calibration.gain,
        rpi5_offset_w=settings.rpi5_calibration.offset_w,
        nvml_devices=settings.nvml_devices,
        rapl_domains=settings.rapl_domains or profile.rapl.domains,
        external_log=settings.external_log,
        external_scope=settings.external_scope,
        external_clock_offset_s=settings.external_clock_offset_s,
        estimate_per_core_w=per_core_w,
        estimate_origin=origin,
        replay_trace=settings.replay_trace,
        max_power_w=profile.max_power_w,
    )


def open_source(
    name: str, options: MeterOptions, profile: DeviceProfile, max_dropped_sample_share: float = MAX_DROPPED_SAMPLE_SHARE
) -> EnergySource:
    """An energy source for one meter, started (a power meter's sampler process is running). Readings
    above `options.max_power_w` (the profile's) are implausible; a window losing more than
    `max_dropped_sample_share` of its power samples to that is too."""
    meter = open_meter(name, options)
    if isinstance(meter, CounterMeter):
        return CounterEnergy(meter, max_power_w=options.max_power_w)
    source: LogEnergy | SampledEnergy
    if isinstance(meter, ExternalPowerLog):
        source = LogEnergy(meter)
    elif isinstance(meter, PowerMeter):
        spec, what, scope, interval = meter.spec(), meter.source, meter.scope, meter.update_interval_s
        meter.close()  # the sampler process opens its own
        meminfo = str(PROC_MEMINFO) if profile.memory.track_meminfo else None
        sampler = SamplerProcess(spec, options.sample_rate_hz, meminfo_path=meminfo)
        source = SampledEnergy(sampler, meter.name, what, scope, interval)
    else:
        raise MeterUnavailable(f"meter {name!r} is neither a counter nor a power meter")
    source.max_power_w = options.max_power_w
    source.max_dropped_sample_share = max_dropped_sample_share
    if isinstance(source, SampledEnergy):
        source.start()
    return source


def resolve_energy(settings: ProfilerSettings, profile: DeviceProfile) -> EnergySource:
    """The first working source of the meter chain; its `attempts` list every meter tried and why."""
    options = meter_options(settings, profile)
    attempts: list[dict[str, str]] = []
    for choice in meter_chain(settings, profile):
        total, beside = parse_meter_choice(choice)
        parts: list[EnergySource] = []
        try:
            for name in total:
                parts.append(open_source(name, options, profile, settings.max_dropped_sample_share))
        except (MeterUnavailable, OSError, ValueError) as exc:  # a broken sensor must not stop the run
            for p in parts:
                p.close()
            reason = str(exc) if isinstance(exc, MeterUnavailable) else f"{type(exc).__name__}: {exc}"
            attempts.append({"meter": choice, "status": "unavailable", "reason": reason})
            continue
        source: EnergySource = parts[0] if len(parts) == 1 else CombinedEnergy(parts)
        source.max_power_w = profile.max_power_w  # a CombinedEnergy's too (each part has it already)
        extra = []
        for name in beside:  # reported beside the total, never added; one that fails is only noted
            try:
                extra.append(open_source(name, options, profile, settings.max_dropped_sample_share))
            except (MeterUnavailable, OSError, ValueError) as exc:
                beside_it = f"{name} (beside {'+'.join(total)})"
                attempts.append({"meter": beside_it, "status": "unavailable", "reason": str(exc)})
        if extra:
            source = BesideEnergy(source, extra)
        attempts.append({"meter": choice, "status": "used"})
        source.attempts = attempts
        return source
    reasons = "; ".join(f"{a['meter']}: {a['reason']}" for a in attempts)
    null = NullEnergy(f"unavailable: no working meter ({reasons})")
    null.attempts = attempts
    return null


def default_idle(profile: DeviceProfile, energy: EnergySource, folder: Path | None = None) -> IdleBaseline | None:
    """The idle baseline that applies without measuring now: a stored calibration for this meter and
    scope, 0 W for the estimate (it has no idle part), or the profile's nominal idle power for its first
    meter; None if none applies. Only the estimate alone is 0 W: a sum with an estimated part
    (``nvml+estimate``) is labelled ``estimated`` too, but its measured part has an idle draw."""
    stored = load_idle(profile.name, folder)
    if stored is not None and stored.meter == energy.meter_name and stored.scope == energy.scope:
        return stored
    if energy.meter_name == "estimate":
        return IdleBaseline(0.0, "estimate-has-no-idle", energy.meter_name, energy.scope, seconds=None)
    if profile.idle_power_w is not None and energy.meter_name == profile.meters[0]:
        return IdleBaseline(
            profile.idle_power_w,
            "profile-nominal",
            energy.meter_name,
            energy.scope,
            provenance=f"device profile {profile.name} idle_power_w (nominal, not measured on this unit)",
        )
    return None


@dataclass
class Measurement:
    """Everything a runner needs to measure: chosen profile, settings and the profiler.

    `host_sample_s`: seconds over which :meth:`start` and :meth:`close` sample how busy the host is
    (`host_load`, run.json ``measurement.host_load``; None: not sampled, e.g. per Flower message).
    """

    selection: ProfileSelection
    settings: ProfilerSettings
    profiler: Profiler
    idle_note: str | None = None
    notes: list[str] = field(default_factory=list)
    host_sample_s: float | None = 0.2
    host_load: dict[str, Any] = field(default_factory=dict)
    torch_threads_record: dict[str, Any] | None = None
    omp_record: dict[str, Any] | None = None

    @property
    def profile(self) -> DeviceProfile:
        return self.selection.profile

    def apply_torch_threads(self, requested: int | None = None) -> int | None:
        """Set torch's intra-op threads: `requested` (the experiment's ``device.torch_threads``), else the
        profile's ``torch.threads``, else torch's default; recorded for run.json. Returns the count set."""
        if requested:
            source = "device.torch_threads in the experiment file"
        else:
            requested, source = self.profile.torch.threads, f"device profile {self.profile.name} torch.threads"
        self.torch_threads_record = threads.apply_torch_threads(requested, source)
        return requested

    def start(self, message: Callable[[str], None] = print) -> dict[str, Any]:
        """Start the profiler (sampler process), settle the idle baseline, and describe it all for run.json.

        Also applies ``OMP_WAIT_POLICY`` (effective only if torch is not imported yet: the CLI applies it
        earlier) and samples the host's load. With ``idle_baseline_s > 0`` idle power is measured now
        (the process does nothing meanwhile).
        """
        self.omp_record = threads.apply_omp_wait_policy(self.settings.omp_wait_policy)
        if self.host_sample_s is not None:
            self.host_load = {"start": self._sample_host_load(self.host_sample_s)}
            if self.host_load["start"].get("busy"):
                load = describe_load(self.host_load["start"])
                message(
                    f"warning: the machine is busy ({load}); windows in which other processes use more than "
                    f"{self.settings.contention_threshold_cores:g} cores are flagged 'contended' (times not "
                    "comparable with a quiet machine's)"
                )
        self.profiler.start()
        energy = self.profiler.energy
        seconds = self.settings.idle_baseline_s
        idle: IdleBaseline | None = None
        if self.settings.enabled and seconds > 0:
            message(f"measuring idle power for {seconds:g} s ({energy.meter_name})")
            try:
                idle = self.profiler.measure_idle(seconds)
            except RuntimeError as exc:
                self.idle_note = str(exc)
        elif self.settings.enabled:
            idle = default_idle(self.profile, energy)
            if idle is None:
                self.idle_note = "no idle baseline (run `edgebench calibrate` or set profiler.idle_baseline_s)"
        self.profiler.idle = idle
        return self.describe()

    def close(self) -> None:
        """Stop the profiler; after a :meth:`start` that sampled the host's load, sample it again
        (``host_load["end"]``)."""
        self.profiler.close()
        if self.host_sample_s is not None and "start" in self.host_load and "end" not in self.host_load:
            self.host_load["end"] = self._sample_host_load(self.host_sample_s)

    def _sample_host_load(self, seconds: float) -> dict[str, Any]:
        return host_load(seconds, threshold_cores=self.settings.contention_threshold_cores)

    def comm_estimate(self, bytes_down: int, bytes_up: int) -> tuple[float, float | None]:
        """Estimated (seconds, joules) of moving the payloads over the profile's link (see comm.py)."""
        return estimate_comm(self.profile.network, bytes_down, bytes_up)

    def describe(self) -> dict[str, Any]:
        out = self.profiler.describe()
        out["profile"] = self.selection.describe()
        out["meter_attempts"] = getattr(self.profiler.energy, "attempts", [])
        out["idle_note"] = self.idle_note
        out["link_model"] = self.profile.network.model_dump(mode="json") | {"basis": link_basis(self.profile.network)}
        out["sysfs_root"] = str(sysfs_root(self.settings.sysfs_root))
        out["host_load"] = dict(self.host_load)
        out["threads"] = {
            "torch": self.torch_threads_record or threads.current_torch_threads(),
            "omp_wait_policy": self.omp_record,
        }
        return out


def build_measurement(settings: ProfilerSettings, device: str = "auto") -> Measurement:
    """Select the device profile (``auto`` detects) and build a profiler whose energy source is resolved
    when it starts. Nothing is probed or started yet."""
    selection = select_profile(device, settings.sysfs_root)
    profile = selection.profile
    meminfo = MeminfoMemory() if profile.memory.track_meminfo else None
    energy = functools.partial(resolve_energy, settings, profile) if settings.enabled else None
    contention = ContentionMeter(settings.contention_threshold_cores)
    profiler = Profiler(enabled=settings.enabled, energy=energy, meminfo=meminfo, contention=contention)
    return Measurement(selection=selection, settings=settings, profiler=profiler)


def probe_all(settings: ProfilerSettings, profile: DeviceProfile) -> list[dict[str, Any]]:
    """Every known meter's availability on this machine, with the reason or what it measures."""
    options = meter_options(settings, profile)
    rows: list[dict[str, Any]] = []
    for name in METER_NAMES:
        if name == "replay" and not settings.replay_trace:
            continue
        started = time.perf_counter()
        try:
            meter = open_meter(name, options)
        except (MeterUnavailable, OSError, ValueError) as exc:
            reason = str(exc) if isinstance(exc, MeterUnavailable) else f"{type(exc).__name__}: {exc}"
            rows.append({"meter": name, "available": False, "reason": reason})
            continue
        row: dict[str, Any] = {"meter": name, "available": True, **meter.describe()}
        if isinstance(meter, PowerMeter):
            try:
                rails = meter.read_rails_w()
                row["rails_w"] = rails
                row["total_w"] = meter.total_w(rails)
            except Exception as exc:  # a diagnostic read; report, don't fail the doctor
                row["read_error"] = str(exc)
        row["probe_s"] = round(time.perf_counter() - started, 4)
        meter.close()
        rows.append(row)
    return rows
