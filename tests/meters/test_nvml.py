"""NVML with a mocked library: energy counter, power-only GPUs, Jetson's NOT_SUPPORTED, device mapping.

The fake raises the real ``pynvml`` exception classes, so the error mapping is tested against what the
library actually throws.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pynvml
import pytest

from edgebench.meters import MeterReadError, MeterUnavailable
from edgebench.meters.nvml import (
    AVERAGED_POWER_WINDOW_S,
    POWER_UPDATE_S,
    NvmlEnergyMeter,
    NvmlPowerMeter,
    open_nvml,
    visible_nvml_indices,
)

NVML_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "nvml"


@dataclass
class FakeGpu:
    name: str
    uuid: str
    energy_mj: int | None = 1_000_000  # None: NOT_SUPPORTED (pre-Volta)
    power_mw: int | None = 50_000
    uuid_supported: bool = True
    arch: int | None = pynvml.NVML_DEVICE_ARCH_AMPERE  # None: NOT_SUPPORTED
    instant_supported: bool = False  # NVML_FI_DEV_POWER_INSTANT answers (newer drivers)


@dataclass
class _FieldValue:
    nvmlReturn: int
    value: SimpleNamespace


@dataclass
class FakeNvml:
    """The part of the pynvml API the meter uses."""

    gpus: list[FakeGpu] = field(default_factory=list)
    init_error: int | None = None
    initialised: bool = False
    shutdowns: int = 0

    NVMLError = pynvml.NVMLError
    NVML_ERROR_NOT_SUPPORTED = pynvml.NVML_ERROR_NOT_SUPPORTED
    NVML_SUCCESS = pynvml.NVML_SUCCESS
    NVML_FI_DEV_POWER_INSTANT = pynvml.NVML_FI_DEV_POWER_INSTANT
    NVML_DEVICE_ARCH_AMPERE = pynvml.NVML_DEVICE_ARCH_AMPERE
    NVML_DEVICE_ARCH_UNKNOWN = pynvml.NVML_DEVICE_ARCH_UNKNOWN

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise pynvml.NVMLError(self.init_error)
        self.initialised = True

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        return self.gpus[index]

    def nvmlDeviceGetName(self, handle: FakeGpu) -> str:
        return handle.name

    def nvmlDeviceGetUUID(self, handle: FakeGpu) -> str:
        if not handle.uuid_supported:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return handle.uuid

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: FakeGpu) -> int:
        if handle.energy_mj is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return handle.energy_mj

    def nvmlDeviceGetPowerUsage(self, handle: FakeGpu) -> int:
        if handle.power_mw is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return handle.power_mw

    def nvmlDeviceGetArchitecture(self, handle: FakeGpu) -> int:
        if handle.arch is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return handle.arch

    def nvmlDeviceGetFieldValues(self, handle: FakeGpu, fields: list) -> list[_FieldValue]:
        """Like the real call: success overall, with a return code per field."""
        out = []
        for field_id in fields:
            ok = (
                field_id == pynvml.NVML_FI_DEV_POWER_INSTANT
                and handle.instant_supported
                and handle.power_mw is not None
            )
            code = pynvml.NVML_SUCCESS if ok else pynvml.NVML_ERROR_NOT_SUPPORTED
            out.append(_FieldValue(code, SimpleNamespace(uiVal=handle.power_mw if ok else 0)))
        return out


def _two_gpus() -> FakeNvml:
    return FakeNvml(
        [
            FakeGpu("NVIDIA RTX A2000 Laptop GPU", "GPU-aaaa1111-0000"),
            FakeGpu("NVIDIA GeForce RTX 3090", "GPU-bbbb2222-0000", energy_mj=5_000_000, power_mw=300_000),
        ]
    )


def test_energy_counter_is_preferred_and_read_as_a_delta() -> None:
    nvml = _two_gpus()
    meter = open_nvml(devices=[1], nvml=nvml, environ={})
    assert isinstance(meter, NvmlEnergyMeter) and meter.provenance == "measured-counter"
    assert "GPU 1 (NVIDIA GeForce RTX 3090)" in meter.scope
    assert meter.read_energy_j() == 0.0
    nvml.gpus[1].energy_mj += 12_345  # mJ
    nvml.gpus[0].energy_mj += 99_999  # another GPU: not in scope
    assert meter.read_energy_j() == pytest.approx(12.345)
    meter.close()
    assert nvml.shutdowns == 1


def test_without_energy_counter_falls_back_to_power_polling() -> None:
    nvml = FakeNvml([FakeGpu("Tesla P100", "GPU-cccc", energy_mj=None, power_mw=87_500)])
    meter = open_nvml(nvml=nvml, environ={})
    assert isinstance(meter, NvmlPowerMeter) and meter.provenance == "measured-sampled"
    assert meter.read_power_w() == pytest.approx(87.5)
    assert meter.spec() == {"meter": "nvml", "mode": "power", "uuids": ["GPU-cccc"]}


def jetson_nvml() -> FakeNvml:
    """NVML as a Jetson Orin on JetPack 6/7 answers it (tests/fixtures/nvml/jetson-orin-nvgpu.json)."""
    recorded = json.loads((NVML_FIXTURES / "jetson-orin-nvgpu.json").read_text())
    gpus = []
    for dev in recorded["devices"]:

        def answers(key: str, dev: dict = dev) -> bool:
            return dev[key] != "NotSupported"

        gpus.append(
            FakeGpu(
                dev["name"],
                "",
                energy_mj=1_000 if answers("total_energy_consumption") else None,
                power_mw=5_000 if answers("power_usage") else None,
                uuid_supported=answers("uuid"),
                arch=None,
                instant_supported=answers("power_instant_field"),
            )
        )
    return FakeNvml(gpus)


def test_jetson_nvml_is_unavailable_with_the_reason() -> None:
    # JetPack 6/7 expose "Orin (nvgpu)": nvmlInit works, every power and energy read answers NOT_SUPPORTED.
    nvml = jetson_nvml()
    with pytest.raises(MeterUnavailable) as err:
        open_nvml(nvml=nvml, environ={})
    message = str(err.value)
    assert "Orin (nvgpu)" in message and "TotalEnergyConsumption" in message and "PowerUsage" in message
    assert "Not Supported" in message
    assert nvml.initialised and nvml.shutdowns == 1  # initialised fine, then released


def test_library_missing_maps_to_unavailable() -> None:
    with pytest.raises(MeterUnavailable, match="nvmlInit failed: NVML Shared Library Not Found"):
        open_nvml(nvml=FakeNvml(init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND), environ={})


def test_read_failing_mid_run_is_a_read_error() -> None:
    nvml = _two_gpus()
    meter = open_nvml(nvml=nvml, environ={})
    nvml.gpus[0].energy_mj = None
    with pytest.raises(MeterReadError, match="TotalEnergyConsumption"):
        meter.read_energy_j()


@pytest.mark.parametrize(
    ("visible", "expected"),
    [
        (None, [0, 1]),
        ("1", [1]),
        ("1,0", [1, 0]),
        ("0,7,1", [0]),  # CUDA stops at the first invalid entry
        ("GPU-bbbb", [1]),  # UUID prefix
        ("", []),
        ("-1", []),
    ],
)
def test_cuda_visible_devices_maps_torch_ordinals_to_nvml(visible: str | None, expected: list[int]) -> None:
    environ = {} if visible is None else {"CUDA_VISIBLE_DEVICES": visible}
    indices, _ = visible_nvml_indices(_two_gpus(), environ)
    assert indices == expected


def test_torch_ordinal_follows_cuda_visible_devices() -> None:
    nvml = _two_gpus()
    meter = open_nvml(devices=[0], nvml=nvml, environ={"CUDA_VISIBLE_DEVICES": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"})
    assert "GPU 1 (NVIDIA GeForce RTX 3090)" in meter.scope and "assumes" not in meter.scope


def test_ambiguous_device_order_is_stated_in_the_scope() -> None:
    meter = open_nvml(devices=[0], nvml=_two_gpus(), environ={"CUDA_VISIBLE_DEVICES": "1,0"})
    assert "CUDA_DEVICE_ORDER=PCI_BUS_ID" in meter.scope


def test_hidden_gpus_and_mig_are_unavailable() -> None:
    with pytest.raises(MeterUnavailable, match="no GPU visible"):
        open_nvml(nvml=_two_gpus(), environ={"CUDA_VISIBLE_DEVICES": ""})
    with pytest.raises(MeterUnavailable, match="MIG"):
        open_nvml(nvml=_two_gpus(), environ={"CUDA_VISIBLE_DEVICES": "MIG-1234"})
    with pytest.raises(MeterUnavailable, match="cuda:3 is not visible"):
        open_nvml(devices=[3], nvml=_two_gpus(), environ={})


def test_energy_counter_stepping_backwards_is_refused_not_subtracted() -> None:
    nvml = _two_gpus()
    meter = open_nvml(devices=[0], nvml=nvml, environ={})
    assert isinstance(meter, NvmlEnergyMeter)
    meter.read_energy_j()
    nvml.gpus[0].energy_mj += 2_000
    assert meter.read_energy_j() == pytest.approx(2.0)
    nvml.gpus[0].energy_mj = 500  # a driver reset: the 64-bit counter starts again
    assert meter.read_energy_j() == pytest.approx(2.0)
    assert meter.implausible_readings == 1
    assert "GPU 0 stepped back from 1002000 to 500 mJ" in meter.implausible_reason
    nvml.gpus[0].energy_mj += 1_000
    assert meter.read_energy_j() == pytest.approx(3.0)  # counts on from the new value


@pytest.mark.parametrize(
    ("gpu", "interval_s", "source"),
    [
        # Ampere and newer (except GA100): nvmlDeviceGetPowerUsage is a 1 s moving average
        (FakeGpu("NVIDIA GeForce RTX 3060 Laptop GPU", "GPU-a", energy_mj=None), 1.0, "1 s moving average"),
        (
            FakeGpu("NVIDIA H100", "GPU-h", energy_mj=None, arch=pynvml.NVML_DEVICE_ARCH_HOPPER),
            1.0,
            "1 s moving average",
        ),
        (FakeGpu("Tesla P100", "GPU-p", energy_mj=None, arch=pynvml.NVML_DEVICE_ARCH_PASCAL), 0.1, "instantaneous"),
        (FakeGpu("NVIDIA A100-SXM4-40GB", "GPU-g", energy_mj=None), 0.1, "instantaneous"),  # GA100
        (FakeGpu("mystery", "GPU-m", energy_mj=None, arch=None), 1.0, "1 s moving average"),  # unknown: assume it
        # the instantaneous field wherever the driver answers it
        (FakeGpu("NVIDIA RTX 4090", "GPU-i", energy_mj=None, instant_supported=True), 0.1, "POWER_INSTANT"),
    ],
)
def test_power_polling_states_the_sensor_interval_of_its_architecture(
    gpu: FakeGpu, interval_s: float, source: str
) -> None:
    meter = open_nvml(nvml=FakeNvml([gpu]), environ={})
    assert isinstance(meter, NvmlPowerMeter)
    assert meter.update_interval_s == interval_s and source in meter.source
    assert meter.read_power_w() == pytest.approx(50.0)
    assert AVERAGED_POWER_WINDOW_S == 1.0 and POWER_UPDATE_S == 0.1


def test_energy_counter_is_preferred_over_instantaneous_power() -> None:
    gpu = FakeGpu("NVIDIA RTX 4090", "GPU-i", instant_supported=True)
    assert isinstance(open_nvml(nvml=FakeNvml([gpu]), environ={}), NvmlEnergyMeter)
