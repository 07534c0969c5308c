"""The per-client cost model of each fleet class, resolved against the measured runs.

For method m, round t and class c a selected client costs:

* compute time `total_s x time_factor` and energy `energy_j x time_factor x power_factor`, from one measured
  client of round t of m on the class's source profile (factors are 1 for a measured class);
* exact bytes down and up from the same measured client (they depend only on the method and round);
* link time per direction `latency_s + bytes x 8 / (Mbit/s x 1e6)` and radio energy
  `up_s x tx_power_w + down_s x rx_power_w` (or `bytes x energy_per_byte_j`), the same formulas as the
  run's own `comm_time_est_s` / `comm_energy_est_j` (edgebench.profiler.comm);
* idle-wait energy `idle_power_w x (round close - its finish)` for a kept client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgebench.devices.profiles import DeviceProfile
from edgebench.projection.fleet import Availability, ClassSpec, FleetSpec, Spread
from edgebench.projection.inputs import MeasuredRuns

PerClient = np.ndarray | float


@dataclass
class Link:
    """A class's link model, after the fleet file's keys were laid over the profile's `network`."""

    name: str
    uplink_mbit_s: Spread
    downlink_mbit_s: Spread
    latency_s: Spread
    tx_power_w: float | None
    rx_power_w: float | None
    energy_per_byte_j: float | None
    source: str

    def basis(self) -> str:
        rate = (
            f"up {self.uplink_mbit_s.describe('Mbit/s')}, down {self.downlink_mbit_s.describe('Mbit/s')}, "
            f"latency {self.latency_s.describe('s')} per transfer"
        )
        if self.energy_per_byte_j is not None:
            energy = f"{self.energy_per_byte_j:g} J/byte"
        elif self.tx_power_w is not None:
            energy = f"{self.tx_power_w:g} W sending, {self.rx_power_w:g} W receiving"
        else:
            energy = "no radio energy model"
        return f"estimated: {self.name}: {rate}; {energy} ({self.source or 'source not stated'})"

    @property
    def has_energy(self) -> bool:
        return self.energy_per_byte_j is not None or self.tx_power_w is not None


@dataclass
class ClassModel:
    """One fleet class, ready to simulate: its clients are ids offset .. offset + count - 1."""

    index: int
    name: str
    count: int
    offset: int
    profile: DeviceProfile
    source_profile: str
    scaled: bool
    time_factor: float
    energy_factor: float
    memory_factor: float
    factor_source: str
    link: Link
    idle_power_w: float | None
    idle_provenance: str
    availability: Availability
    up_mbit_s: PerClient = 0.0
    down_mbit_s: PerClient = 0.0
    latency_s: PerClient = 0.0

    def draw_population(self, rng: np.random.Generator) -> None:
        """Each client's link rates and latency, drawn once (a client keeps its link across rounds)."""
        self.up_mbit_s = _draw(self.link.uplink_mbit_s, rng, self.count)
        self.down_mbit_s = _draw(self.link.downlink_mbit_s, rng, self.count)
        self.latency_s = _draw(self.link.latency_s, rng, self.count)

    def to_json(self) -> dict[str, Any]:
        """projection.json `classes[]`."""
        return {
            "name": self.name,
            "clients": self.count,
            "profile": self.profile.name,
            "cost": {
                "source_profile": self.source_profile,
                "provenance": "scaled" if self.scaled else "measured",
                "time_factor": self.time_factor,
                "power_factor": self.energy_factor / self.time_factor,
                "memory_factor": self.memory_factor,
                "source": self.factor_source,
            },
            "link": self.link.basis(),
            "idle_power_w": self.idle_power_w,
            "idle_provenance": self.idle_provenance,
            "availability": self.availability.describe(),
        }


def _draw(spread: Spread, rng: np.random.Generator, n: int) -> PerClient:
    if spread.fixed is not None:
        return float(spread.fixed)
    if spread.lognormal is not None:
        return rng.lognormal(np.log(spread.lognormal.median), spread.lognormal.sigma, size=n)
    assert spread.uniform is not None
    return rng.uniform(spread.uniform.low, spread.uniform.high, size=n)


def resolve_classes(fleet: FleetSpec, runs: MeasuredRuns, methods: list[str]) -> list[ClassModel]:
    """Every class with its cost source checked against the runs (each method measured on it)."""
    models: list[ClassModel] = []
    offset = 0
    for i, (cls, count) in enumerate(zip(fleet.classes, fleet.counts, strict=True)):
        source_cls = fleet.class_named(cls.cost.scaled_from) if cls.cost.scaled_from else cls
        source_profile = str(source_cls.cost.measured)
        where = f"classes[{fleet.classes.index(source_cls)}].cost.measured"
        _check_measured(fleet, runs, methods, source_profile, where)
        cost = cls.cost
        time_factor = cost.time_factor if cost.scaled else 1.0
        power_factor = cost.power_factor if cost.scaled else 1.0
        assert time_factor is not None and power_factor is not None
        idle_w, idle_prov = _idle(fleet, cls, runs)
        models.append(
            ClassModel(
                index=i,
                name=cls.name,
                count=count,
                offset=offset,
                profile=fleet.profile_of(cls),
                source_profile=source_profile,
                scaled=cost.scaled,
                time_factor=time_factor,
                energy_factor=time_factor * power_factor,
                memory_factor=cost.memory_factor,
                factor_source=cost.source if cost.scaled else "measured (factors 1)",
                link=_link(cls, fleet.profile_of(cls)),
                idle_power_w=idle_w,
                idle_provenance=idle_prov,
                availability=fleet.availability_of(cls),
            )
        )
        offset += count
    return models


def _check_measured(fleet: FleetSpec, runs: MeasuredRuns, methods: list[str], profile: str, where: str) -> None:
    measured_on = ", ".join(runs.profiles) or "none"
    for method in methods:
        if not runs.pool_rounds(profile, method):
            have = [m for m in runs.methods if runs.pool_rounds(profile, m)]
            detail = (
                f"no run given measured method {method!r} on profile {profile!r} (it has: {', '.join(have)})"
                if have
                else f"no run given was measured on profile {profile!r} (runs measured on: {measured_on})"
            )
            raise fleet.error(where, detail)


def _idle(fleet: FleetSpec, cls: ClassSpec, runs: MeasuredRuns) -> tuple[float | None, str]:
    """Idle power while waiting for the round to close: the fleet file's, else the profile's nominal value,
    else (measured classes only) the runs' measured idle baseline; else unavailable."""
    if cls.idle_power_w is not None:
        return cls.idle_power_w, f"estimated: fleet file idle_power_w ({cls.idle_source or 'source not stated'})"
    profile = fleet.profile_of(cls)
    if profile.idle_power_w is not None:
        return profile.idle_power_w, f"estimated: device profile {profile.name} idle_power_w (nominal)"
    if cls.cost.measured is not None and cls.cost.measured in runs.idle:
        return runs.idle[cls.cost.measured]
    return None, (
        f"unavailable: no idle power for class {cls.name} (set idle_power_w in the fleet file, "
        f"or measure the device with edgebench calibrate)"
    )


def _link(cls: ClassSpec, profile: DeviceProfile) -> Link:
    net, spec = profile.network, cls.link
    if spec.energy_per_byte_j is not None or spec.tx_power_w is not None:
        tx, rx, per_byte = spec.tx_power_w, spec.rx_power_w, spec.energy_per_byte_j
    else:
        tx, rx, per_byte = net.tx_power_w, net.rx_power_w, net.energy_per_byte_j
    overridden = [k for k in ("uplink_mbit_s", "downlink_mbit_s", "latency_s") if getattr(spec, k) is not None]
    source = f"profile {profile.name}: {net.source or 'source not stated'}"
    if overridden or spec.energy_per_byte_j is not None or spec.tx_power_w is not None:
        source = f"fleet file: {spec.source or 'source not stated'}; other keys from {source}"
    return Link(
        name=net.name if not overridden else f"{cls.name} link",
        uplink_mbit_s=spec.uplink_mbit_s or Spread(fixed=net.uplink_mbit_s),
        downlink_mbit_s=spec.downlink_mbit_s or Spread(fixed=net.downlink_mbit_s),
        latency_s=spec.latency_s or Spread(fixed=net.latency_s),
        tx_power_w=tx,
        rx_power_w=rx,
        energy_per_byte_j=per_byte,
        source=source,
    )


def link_costs(
    link: Link, up_mbit_s: PerClient, down_mbit_s: PerClient, latency_s: PerClient, bytes_down, bytes_up
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(download s, upload s, radio J) per client; radio J is NaN without an energy model."""
    down_s = latency_s + bytes_down * 8.0 / (down_mbit_s * 1e6)
    up_s = latency_s + bytes_up * 8.0 / (up_mbit_s * 1e6)
    if link.energy_per_byte_j is not None:
        radio_j = (bytes_down + bytes_up) * link.energy_per_byte_j
    elif link.tx_power_w is not None and link.rx_power_w is not None:
        radio_j = up_s * link.tx_power_w + down_s * link.rx_power_w
    else:
        radio_j = np.full(np.shape(down_s), np.nan)
    return np.asarray(down_s, dtype=float), np.asarray(up_s, dtype=float), np.asarray(radio_j, dtype=float)
