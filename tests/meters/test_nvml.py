"""NVML with a mocked library: energy counter, power-only GPUs, Jetson's NOT_SUPPORTED, device mapping.

The fake raises the real ``pynvml`` exception classes, so the error mapping is tested against what the
library actually throws.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pynvml
import pytest

from edgebench.meters import MeterReadError, MeterUnavailable
from edgebench.meters.nvml import NvmlEnergyMeter, NvmlPowerMeter, open_nvml, visible_nvml_indices


@dataclass
class FakeGpu:
    name: str
    uuid: str
    energy_mj: int | None = 1_000_000  # None: NOT_SUPPORTED (pre-Volta)
    power_mw: int | None = 50_000
    uuid_supported: bool = True


@dataclass
class FakeNvml:
    """The part of the pynvml API the meter uses."""

    gpus: list[FakeGpu] = field(default_factory=list)
    init_error: int | None = None
    initialised: bool = False
    shutdowns: int = 0

    NVMLError = pynvml.NVMLError
    NVML_ERROR_NOT_SUPPORTED = pynvml.NVML_ERROR_NOT_SUPPORTED

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


def test_jetson_style_nvml_is_unavailable_with_the_reason() -> None:
    # JetPack 6 exposes "Orin (nvgpu)": nvmlInit works, every read answers NOT_SUPPORTED.
    nvml = FakeNvml([FakeGpu("Orin (nvgpu)", "", energy_mj=None, power_mw=None, uuid_supported=False)])
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
