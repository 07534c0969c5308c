"""NVIDIA GPUs through NVML (package ``nvidia-ml-py``, import name ``pynvml``).

Volta and newer have a cumulative energy counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ): read at
window edges, preferred wherever it answers. Otherwise power is sampled and integrated: the
instantaneous field ``NVML_FI_DEV_POWER_INSTANT`` where the driver has it, else
``nvmlDeviceGetPowerUsage`` (mW), which NVML documents as "averaged over 1 sec interval" on Ampere
(except GA100) and newer GPUs and instantaneous on older ones; the meter's update interval says which
(1 s or 0.1 s), so windows shorter than ten of them are flagged ``short-window``.
Jetson's NVML ("Orin (nvgpu)", JetPack 6 and 7) initialises but answers NOT_SUPPORTED to power and
energy alike, so :func:`open_nvml` calls every read once before deciding. Torch device ordinals are
mapped to NVML devices through ``CUDA_VISIBLE_DEVICES`` (indices or ``GPU-`` UUID prefixes); NVML numbers
devices in PCI bus order, so integer entries are only unambiguous with ``CUDA_DEVICE_ORDER=PCI_BUS_ID``
(or a single GPU), which the scope says.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from edgebench.meters.base import CounterMeter, Meter, MeterOptions, MeterReadError, MeterUnavailable, PowerMeter

#: Energy counter refresh (20-100 ms measured); instantaneous power readings refresh about as often.
ENERGY_UPDATE_S = 0.1
POWER_UPDATE_S = 0.1
#: nvmlDeviceGetPowerUsage on Ampere (except GA100) and newer: a moving average over this window.
AVERAGED_POWER_WINDOW_S = 1.0
_GA100 = re.compile(r"\bA(100|800|30)\b")  # GA100 products: A100, A800, A30 (instantaneous power)


def power_usage_is_averaged(nvml: Any, handle: Any, name: str) -> bool:
    """Whether ``nvmlDeviceGetPowerUsage`` is NVML's 1 s average on this GPU (Ampere except GA100, and
    newer); an architecture NVML cannot tell is taken as averaged, the safer assumption."""
    try:
        arch = int(nvml.nvmlDeviceGetArchitecture(handle))
    except (nvml.NVMLError, AttributeError):
        return True
    ampere = getattr(nvml, "NVML_DEVICE_ARCH_AMPERE", 7)
    if arch == getattr(nvml, "NVML_DEVICE_ARCH_UNKNOWN", 0xFFFFFFFF):
        return True
    return arch > ampere or (arch == ampere and not _GA100.search(name))


def _import_nvml() -> Any:
    try:
        import pynvml
    except ImportError as exc:
        raise MeterUnavailable("nvidia-ml-py (pynvml) is not installed") from exc
    return pynvml


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _not_supported(nvml: Any, exc: Exception) -> bool:
    return getattr(exc, "value", None) == getattr(nvml, "NVML_ERROR_NOT_SUPPORTED", 3)


def visible_nvml_indices(nvml: Any, environ: Mapping[str, str]) -> tuple[list[int], str]:
    """NVML indices of the GPUs torch sees, in torch ordinal order, plus a note on the mapping.

    Follows CUDA's rules: entries are integers or ``GPU-<uuid prefix>``; parsing stops at the first
    invalid entry; an empty value hides every GPU. ``MIG-`` instances are refused (NVML power is per GPU).
    """
    count = int(nvml.nvmlDeviceGetCount())
    raw = environ.get("CUDA_VISIBLE_DEVICES")
    if raw is None:
        note = "" if count <= 1 or environ.get("CUDA_DEVICE_ORDER") == "PCI_BUS_ID" else _ORDER_NOTE
        return list(range(count)), note
    uuids: list[str] | None = None
    indices: list[int] = []
    integer_entries = False
    for entry in (e.strip() for e in raw.split(",")):
        if entry.startswith("MIG-"):
            raise MeterUnavailable(f"CUDA_VISIBLE_DEVICES names a MIG instance ({entry}); NVML power is per whole GPU")
        if entry.startswith("GPU-"):
            if uuids is None:
                uuids = [_text(nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByIndex(i))) for i in range(count)]
            matches = [i for i, u in enumerate(uuids) if u.startswith(entry)]
            if len(matches) != 1:
                break
            indices.append(matches[0])
            continue
        try:
            index = int(entry)
        except ValueError:
            break
        if not 0 <= index < count:
            break
        integer_entries = True
        indices.append(index)
    note = _ORDER_NOTE if integer_entries and count > 1 and environ.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID" else ""
    return indices, note


_EXCLUDES = "(excludes CPU, host memory and the rest of the system)"
_ORDER_NOTE = "; assumes CUDA device order = NVML PCI order (set CUDA_DEVICE_ORDER=PCI_BUS_ID to be sure)"


class _NvmlDevices:
    """Initialised NVML with handles for the chosen devices (shared by both meter kinds)."""

    def __init__(self, nvml: Any, indices: Sequence[int]) -> None:
        self.nvml = nvml
        self.indices = list(indices)
        self.handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in self.indices]
        self.names = [_text(nvml.nvmlDeviceGetName(h)) for h in self.handles]
        self.uuids = [self._uuid(h) for h in self.handles]

    def _uuid(self, handle: Any) -> str:
        try:
            return _text(self.nvml.nvmlDeviceGetUUID(handle))
        except self.nvml.NVMLError:  # Jetson's NVML answers NOT_SUPPORTED to nearly everything
            return ""

    def label(self) -> str:
        return ", ".join(f"GPU {i} ({n})" for i, n in zip(self.indices, self.names, strict=True))

    def shutdown(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except self.nvml.NVMLError:
            pass


def _init(nvml: Any) -> None:
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        raise MeterUnavailable(f"nvmlInit failed: {exc}") from exc


def _resolve(
    nvml: Any,
    devices: Sequence[int] | None,
    uuids: Sequence[str] | None,
    nvml_indices: Sequence[int] | None,
    environ: Mapping[str, str],
) -> tuple[_NvmlDevices, str]:
    """Handles for torch ordinals `devices` (through CUDA_VISIBLE_DEVICES), or explicit NVML `uuids` or
    `nvml_indices` (how the sampler process reopens exactly the devices the parent chose)."""
    try:
        if nvml_indices:
            return _NvmlDevices(nvml, nvml_indices), ""
        if uuids:
            count = int(nvml.nvmlDeviceGetCount())
            all_uuids = [_text(nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByIndex(i))) for i in range(count)]
            missing = [u for u in uuids if u not in all_uuids]
            if missing:
                raise MeterUnavailable(f"NVML has no GPU with UUID {missing[0]}")
            return _NvmlDevices(nvml, [all_uuids.index(u) for u in uuids]), ""
        visible, note = visible_nvml_indices(nvml, environ)
        if not visible:
            raise MeterUnavailable("no GPU visible (CUDA_VISIBLE_DEVICES hides every GPU, or NVML sees none)")
        ordinals = list(devices) if devices is not None else [0]
        bad = [o for o in ordinals if not 0 <= o < len(visible)]
        if bad:
            raise MeterUnavailable(f"torch device cuda:{bad[0]} is not visible ({len(visible)} visible GPU(s))")
        return _NvmlDevices(nvml, [visible[o] for o in ordinals]), note
    except nvml.NVMLError as exc:
        raise MeterUnavailable(f"NVML device enumeration failed: {exc}") from exc


class NvmlMeter(Meter):
    """The registry's ``nvml``: what both kinds share (devices, scope, shutdown). Opening picks the energy
    counter, else power polling (:func:`open_nvml`); the sampler process reopens power polling."""

    name = "nvml"

    def __init__(self, devices: _NvmlDevices, note: str, source: str) -> None:
        super().__init__()
        self._dev = devices
        self.source = source
        self.scope = f"GPU board power of {devices.label()} {_EXCLUDES}{note}"

    @classmethod
    def open(cls, options: MeterOptions) -> NvmlEnergyMeter | NvmlPowerMeter:
        return open_nvml(devices=options.nvml_devices)

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> NvmlPowerMeter:
        meter = open_nvml(mode="power", uuids=spec.get("uuids"), nvml_indices=spec.get("nvml_indices"))
        assert isinstance(meter, NvmlPowerMeter)
        return meter

    def close(self) -> None:
        self._dev.shutdown()


class NvmlEnergyMeter(NvmlMeter, CounterMeter):
    """Cumulative GPU energy from ``nvmlDeviceGetTotalEnergyConsumption`` (mJ), summed over devices."""

    update_interval_s = ENERGY_UPDATE_S

    def __init__(self, devices: _NvmlDevices, note: str = "") -> None:
        super().__init__(devices, note, "nvmlDeviceGetTotalEnergyConsumption")
        self._start_mj: list[int] = []
        self._last_mj: list[int] = []
        self._total_mj: list[int] = []

    def _read_mj(self) -> list[int]:
        nvml = self._dev.nvml
        try:
            return [int(nvml.nvmlDeviceGetTotalEnergyConsumption(h)) for h in self._dev.handles]
        except nvml.NVMLError as exc:
            raise MeterReadError(f"nvmlDeviceGetTotalEnergyConsumption failed: {exc}") from exc

    def probe(self) -> None:
        try:
            self._start_mj = self._read_mj()
        except MeterReadError as exc:
            raise MeterUnavailable(str(exc)) from exc
        self._last_mj = list(self._start_mj)
        self._total_mj = [0] * len(self._start_mj)

    def read_energy_j(self) -> float:
        """Energy since probe(). The counter is 64-bit mJ and never wraps: a step backwards (a driver
        reset, a glitch) is refused as implausible and adds nothing."""
        if not self._start_mj:
            raise MeterReadError("NVML energy meter read before probe()")
        readings = self._read_mj()
        for i, (now, last) in enumerate(zip(readings, self._last_mj, strict=True)):
            if now < last:
                self.refuse(
                    f"NVML total energy of GPU {self._dev.indices[i]} stepped back from {last} to {now} mJ "
                    "(a 64-bit counter does not wrap: reset or glitch)"
                )
            else:
                self._total_mj[i] += now - last
        self._last_mj = readings
        return sum(self._total_mj) / 1000.0


class NvmlPowerMeter(NvmlMeter, PowerMeter):
    """GPU power in mW, one rail per device; sampled by the profiler. Reads ``NVML_FI_DEV_POWER_INSTANT``
    where the driver answers it, else ``nvmlDeviceGetPowerUsage`` (a 1 s average on Ampere and newer)."""

    update_interval_s = POWER_UPDATE_S

    def __init__(self, devices: _NvmlDevices, note: str = "") -> None:
        super().__init__(devices, note, "nvmlDeviceGetPowerUsage")
        self.instant = False

    def _instant_mw(self, handle: Any) -> int:
        nvml = self._dev.nvml
        value = nvml.nvmlDeviceGetFieldValues(handle, [nvml.NVML_FI_DEV_POWER_INSTANT])[0]
        if value.nvmlReturn != getattr(nvml, "NVML_SUCCESS", 0):
            raise nvml.NVMLError(value.nvmlReturn)
        return int(value.value.uiVal)

    def read_rails_w(self) -> dict[str, float]:
        nvml = self._dev.nvml
        read = self._instant_mw if self.instant else nvml.nvmlDeviceGetPowerUsage
        try:
            return {f"gpu{i}": int(read(h)) / 1000.0 for i, h in zip(self._dev.indices, self._dev.handles, strict=True)}
        except nvml.NVMLError as exc:
            raise MeterReadError(f"{self.source} failed: {exc}") from exc

    def total_w(self, rails_w: dict[str, float]) -> float:
        return sum(rails_w.values())

    def probe(self) -> None:
        nvml = self._dev.nvml
        try:
            for handle in self._dev.handles:
                self._instant_mw(handle)
            self.instant = True
        except (nvml.NVMLError, AttributeError, IndexError, TypeError):
            self.instant = False
        try:
            self.read_rails_w()
        except MeterReadError as exc:
            raise MeterUnavailable(str(exc)) from exc
        if self.instant:
            self.source = "nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_INSTANT) (instantaneous)"
            self.update_interval_s = POWER_UPDATE_S
        elif any(power_usage_is_averaged(nvml, h, n) for h, n in zip(self._dev.handles, self._dev.names, strict=True)):
            self.source = "nvmlDeviceGetPowerUsage (a 1 s moving average on this GPU: short windows are smeared)"
            self.update_interval_s = AVERAGED_POWER_WINDOW_S
        else:
            self.source = "nvmlDeviceGetPowerUsage (instantaneous on this GPU)"
            self.update_interval_s = POWER_UPDATE_S

    def spec(self) -> dict[str, Any]:
        if all(self._dev.uuids):
            return {"meter": "nvml", "mode": "power", "uuids": self._dev.uuids}
        return {"meter": "nvml", "mode": "power", "nvml_indices": self._dev.indices}


def open_nvml(
    devices: Sequence[int] | None = None,
    mode: str = "auto",
    uuids: Sequence[str] | None = None,
    nvml_indices: Sequence[int] | None = None,
    nvml: Any = None,
    environ: Mapping[str, str] | None = None,
) -> NvmlEnergyMeter | NvmlPowerMeter:
    """Initialise NVML and return the best working meter for the chosen GPUs.

    `mode`: ``auto`` (energy counter, else power polling), ``energy`` or ``power``. Every read the
    returned meter will use has been called once; if none works, :class:`MeterUnavailable` says why.
    `nvml` and `environ` are injectable for tests (default: the ``pynvml`` module and ``os.environ``).
    """
    nvml = nvml if nvml is not None else _import_nvml()
    _init(nvml)
    try:
        devs, note = _resolve(nvml, devices, uuids, nvml_indices, os.environ if environ is None else environ)
        reasons: list[str] = []
        for kind, meter_type in (("energy", NvmlEnergyMeter), ("power", NvmlPowerMeter)):
            if mode not in ("auto", kind):
                continue
            meter = meter_type(devs, note)
            try:
                meter.probe()
                return meter
            except MeterUnavailable as exc:
                reasons.append(str(exc))
        raise MeterUnavailable(f"NVML device {devs.label()}: " + "; ".join(reasons))
    except BaseException:
        try:
            nvml.nvmlShutdown()
        except nvml.NVMLError:
            pass
        raise
