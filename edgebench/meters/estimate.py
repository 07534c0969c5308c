"""An estimate, for hosts with no usable sensor: this process's CPU time x watts per busy core.

Always labelled ``estimated``. It has no idle or static component and ignores DRAM, disks, network and
accelerators: it says roughly what the computation cost on the CPU, not what the wall socket saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from edgebench.meters.base import CounterMeter, MeterOptions, MeterReadError, MeterUnavailable, Provenance


class CpuTimeEstimate(CounterMeter):
    """Energy = CPU seconds of this process (all threads, user + system) x `per_core_w`."""

    name = "estimate"
    provenance: Provenance = "estimated"
    update_interval_s = None

    def __init__(
        self, per_core_w: float | None, origin: str, cpu_time_s: Callable[[], float] = time.process_time
    ) -> None:
        super().__init__()
        self.per_core_w = per_core_w
        self.origin = origin
        self._cpu_time_s = cpu_time_s
        self.source = f"process CPU time (user + system, all threads) x {per_core_w or 0:g} W per busy core"
        self.scope = "CPU cores busy with this process; no idle or static power, DRAM, disks, network or accelerators"

    @classmethod
    def from_options(cls, options: MeterOptions) -> CpuTimeEstimate:
        return cls(options.estimate_per_core_w, options.estimate_origin)

    @property
    def basis(self) -> str:
        """One line saying exactly how the number is made (recorded in run.json)."""
        return f"process CPU time (user + system, all threads) x {self.per_core_w:g} W per busy core ({self.origin})"

    def probe(self) -> None:
        if self.per_core_w is None or self.per_core_w <= 0:
            raise MeterUnavailable(f"no per-core watts for an estimate ({self.origin} has estimate.per_core_w unset)")
        try:
            self._cpu_time_s()
        except OSError as exc:
            raise MeterUnavailable(f"cannot read process CPU time: {exc}") from exc

    def read_energy_j(self) -> float:
        assert self.per_core_w is not None
        try:
            return self._cpu_time_s() * self.per_core_w
        except OSError as exc:
            raise MeterReadError(f"cannot read process CPU time: {exc}") from exc

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["basis"] = self.basis
        out["per_core_w"] = self.per_core_w
        return out
