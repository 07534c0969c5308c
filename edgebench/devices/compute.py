"""Which torch device a run computes on: what is present here, and `auto` resolved against it.

`auto` means the device profile's pinned device when it has one (a Jetson profile pins `cuda`, a
Raspberry Pi profile `cpu`), else CUDA when torch sees a GPU, else Apple MPS, else the CPU. Asking for
a device that is not present is an error that names what is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

COMPUTE_PATTERN = r"^(auto|cpu|mps|cuda(:\d+)?)$"
_CUDA = re.compile(r"^cuda(?::(\d+))?$")


class ComputeUnavailable(ValueError):
    """The requested compute device is not present on this machine."""


@dataclass(frozen=True)
class ComputeChoice:
    """The device a run asked for, the one it uses (a torch device string), and why."""

    requested: str
    device: str
    reason: str

    @property
    def kind(self) -> str:
        """`cpu`, `cuda` or `mps`."""
        return self.device.split(":", 1)[0]


def present_devices(torch_module: Any = None) -> list[str]:
    """Every compute device torch can use here, e.g. ``["cpu", "cuda:0", "mps"]``."""
    torch = torch_module or _torch()
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def resolve_compute(requested: str, pinned: str | None = None, torch_module: Any = None) -> ComputeChoice:
    """Resolve `requested` (`auto`, `cpu`, `cuda`, `cuda:N`, `mps`) on this machine; ComputeUnavailable if absent.

    `pinned` is the device profile's device for its class (None when the class has no single answer).
    """
    present = present_devices(torch_module)
    if requested == "auto":
        if pinned is not None:
            device = _present_or_raise(pinned, present, f"the device profile pins {pinned}")
            return ComputeChoice(requested, device, f"auto: pinned by the device profile ({pinned})")
        if any(d.startswith("cuda") for d in present):
            return ComputeChoice(requested, "cuda:0", "auto: CUDA is available")
        if "mps" in present:
            return ComputeChoice(requested, "mps", "auto: Apple MPS is available (no CUDA)")
        return ComputeChoice(requested, "cpu", "auto: no CUDA or MPS device")
    device = _present_or_raise(requested, present, f"asked for {requested}")
    return ComputeChoice(requested, device, "requested")


def resolve_precision(
    requested: str, choice: ComputeChoice, profile_name: str, profile_dtype: str, pinned: str | None
) -> tuple[str, str]:
    """(autocast dtype, why) for `requested` (`profile`, `float32`, `bfloat16`, `float16`) on `choice`.

    `profile` takes the profile's dtype when computing on the device the profile is for (its pinned
    device, or any device when it pins none): the dtype describes that device's arithmetic. float16
    autocast is not used on the CPU (asking for it there is ComputeUnavailable).
    """
    if requested == "profile":
        if pinned is None or pinned == choice.kind:
            autocast, reason = profile_dtype, f"device profile {profile_name}: torch.dtype {profile_dtype}"
        else:
            autocast = "float32"
            reason = f"device profile {profile_name}: {profile_dtype} is for {pinned}, not {choice.kind}"
    else:
        autocast, reason = requested, "requested"
    if autocast == "float16" and choice.kind == "cpu":
        if requested == "float16":
            raise ComputeUnavailable("precision float16 needs a CUDA or MPS device; on the CPU use bfloat16")
        autocast, reason = "float32", f"{reason}; float16 autocast is not used on the CPU"
    return autocast, reason


def _present_or_raise(wanted: str, present: list[str], why: str) -> str:
    cuda = _CUDA.match(wanted)
    device = f"cuda:{cuda.group(1) or 0}" if cuda else wanted
    if device not in present:
        raise ComputeUnavailable(
            f"compute device {wanted} is not available here ({why}); present: {', '.join(present)}"
            + ("; torch has no CUDA build or sees no GPU" if cuda else "")
        )
    return device


def _torch() -> Any:
    import torch

    return torch
