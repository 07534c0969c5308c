"""Compute device and precision: `auto` resolved against what torch sees, clear errors for what is absent."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from edgebench.config import ComputeConfig
from edgebench.devices.compute import ComputeChoice, ComputeUnavailable, present_devices, resolve_compute
from edgebench.devices.profiles import get_profile
from edgebench.fl.placement import choose_placement


def fake_torch(gpus: int = 0, mps: bool = False) -> SimpleNamespace:
    return SimpleNamespace(
        cuda=SimpleNamespace(
            is_available=lambda: gpus > 0, device_count=lambda: gpus, get_device_name=lambda d: f"Fake GPU {d}"
        ),
        backends=SimpleNamespace(mps=SimpleNamespace(is_available=lambda: mps)),
    )


def test_present_devices_lists_cpu_every_gpu_and_mps() -> None:
    assert present_devices(fake_torch()) == ["cpu"]
    assert present_devices(fake_torch(gpus=2, mps=False)) == ["cpu", "cuda:0", "cuda:1"]
    assert present_devices(fake_torch(mps=True)) == ["cpu", "mps"]


@pytest.mark.parametrize(
    ("gpus", "mps", "device"),
    [(1, False, "cuda:0"), (2, True, "cuda:0"), (0, True, "mps"), (0, False, "cpu")],
)
def test_auto_prefers_cuda_then_mps_then_cpu(gpus: int, mps: bool, device: str) -> None:
    choice = resolve_compute("auto", torch_module=fake_torch(gpus, mps))
    assert choice.device == device and choice.requested == "auto" and choice.reason.startswith("auto:")


def test_a_profile_pin_decides_auto_even_when_a_gpu_is_present() -> None:
    assert resolve_compute("auto", "cpu", fake_torch(gpus=1)).device == "cpu"
    assert resolve_compute("auto", "cuda", fake_torch(gpus=1)).reason == "auto: pinned by the device profile (cuda)"


@pytest.mark.parametrize(
    ("requested", "pinned", "message"),
    [
        ("cuda", None, "compute device cuda is not available here (asked for cuda); present: cpu; torch has no CUDA"),
        ("mps", None, "compute device mps is not available here (asked for mps); present: cpu"),
        ("auto", "cuda", "(the device profile pins cuda); present: cpu"),
    ],
)
def test_an_absent_device_is_one_error_naming_what_is_present(requested: str, pinned: str | None, message: str) -> None:
    with pytest.raises(ComputeUnavailable) as err:
        resolve_compute(requested, pinned, fake_torch())
    assert message in str(err.value)


def test_cuda_index_must_exist() -> None:
    assert resolve_compute("cuda", torch_module=fake_torch(gpus=2)).device == "cuda:0"
    assert resolve_compute("cuda:1", torch_module=fake_torch(gpus=2)).device == "cuda:1"
    with pytest.raises(ComputeUnavailable, match=r"present: cpu, cuda:0, cuda:1"):
        resolve_compute("cuda:2", torch_module=fake_torch(gpus=2))


def test_choice_kind() -> None:
    assert ComputeChoice("auto", "cuda:1", "x").kind == "cuda" and ComputeChoice("cpu", "cpu", "x").kind == "cpu"


# -- precision -------------------------------------------------------------------------------------
def test_the_profile_dtype_applies_on_the_device_the_profile_is_for() -> None:
    jetson = get_profile("jetson-orin-nano")  # torch: {dtype: bfloat16, device: cuda}
    choice = choose_placement(ComputeConfig(), jetson, fake_torch(gpus=1))
    assert choice.placement.device == "cuda:0" and choice.placement.autocast == "bfloat16"
    assert choice.precision_reason == "device profile jetson-orin-nano: torch.dtype bfloat16"
    described = choice.describe()
    assert described["grad_scaler"] is False and described["adapter_dtype"] == "float32"
    assert described["accelerator"] == "Fake GPU cuda:0"


def test_the_profile_dtype_does_not_follow_the_run_to_another_device() -> None:
    jetson = get_profile("jetson-orin-nano")
    choice = choose_placement(ComputeConfig(device="cpu"), jetson, fake_torch(gpus=1))
    assert choice.placement == choice.placement.__class__(device="cpu", autocast="float32")
    assert "bfloat16 is for cuda, not cpu" in choice.precision_reason


def test_float16_uses_a_scaler_on_cuda_and_is_refused_on_the_cpu() -> None:
    nano = get_profile("jetson-nano")  # float16
    on_gpu = choose_placement(ComputeConfig(), nano, fake_torch(gpus=1))
    assert on_gpu.placement.autocast == "float16" and on_gpu.describe()["grad_scaler"] is True
    with pytest.raises(ComputeUnavailable, match="float16 needs a CUDA or MPS device; on the CPU use bfloat16"):
        choose_placement(ComputeConfig(device="cpu", precision="float16"), nano, fake_torch())


def test_explicit_bfloat16_applies_on_the_cpu() -> None:
    x86 = get_profile("x86-cpu")
    choice = choose_placement(ComputeConfig(precision="bfloat16"), x86, fake_torch())
    assert (choice.placement.device, choice.placement.autocast, choice.precision_reason) == (
        "cpu",
        "bfloat16",
        "requested",
    )
