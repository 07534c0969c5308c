"""Where a run's clients train, and at which precision: the config and the device profile resolved here.

The compute device comes from :func:`edgebench.devices.compute.resolve_compute`. Precision `profile`
takes the profile's `torch.dtype` when the run computes on the device the profile is for (its pinned
device, or any device when it pins none); elsewhere it is float32, because the profile's dtype
describes that device's arithmetic, not this one's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgebench.config import ComputeConfig
from edgebench.devices.compute import ComputeChoice, ComputeUnavailable, resolve_compute
from edgebench.devices.profiles import DeviceProfile
from edgebench.methods.base import Placement


@dataclass(frozen=True)
class PlacementChoice:
    """The placement the clients use, with what was asked and why."""

    placement: Placement
    compute: ComputeChoice
    precision_requested: str
    precision_reason: str

    def describe(self) -> dict[str, Any]:
        """run.json `compute`."""
        p = self.placement
        return {
            "requested": self.compute.requested,
            "device": self.compute.device,
            "reason": self.compute.reason,
            "precision_requested": self.precision_requested,
            "autocast": p.autocast,
            "precision_reason": self.precision_reason,
            "grad_scaler": p.autocast == "float16",
            "backbone_dtype": p.backbone_dtype,
            "adapter_dtype": "float32",
            "accelerator": accelerator_name(self.compute.device),
        }


def choose_placement(compute: ComputeConfig, profile: DeviceProfile, torch_module: Any = None) -> PlacementChoice:
    """Resolve `compute` on this machine for `profile`; ComputeUnavailable when it cannot run here."""
    choice = resolve_compute(compute.device, profile.torch.device, torch_module)
    if compute.precision == "profile":
        pinned = profile.torch.device
        if pinned is None or pinned == choice.kind:
            autocast, reason = profile.torch.dtype, f"device profile {profile.name}: torch.dtype {profile.torch.dtype}"
        else:
            autocast = "float32"
            reason = (
                f"device profile {profile.name} declares {profile.torch.dtype} for {pinned}; on {choice.kind}: float32"
            )
    else:
        autocast, reason = compute.precision, "requested"
    if autocast == "float16" and choice.kind == "cpu":
        if compute.precision == "float16":
            raise ComputeUnavailable("compute.precision float16 needs a CUDA or MPS device; on the CPU use bfloat16")
        autocast, reason = "float32", f"{reason}; float16 autocast is not used on the CPU"
    placement = Placement(device=choice.device, autocast=autocast, backbone_dtype=compute.backbone_dtype)
    return PlacementChoice(placement, choice, compute.precision, reason)


def accelerator_name(device: str, torch_module: Any = None) -> str | None:
    """The GPU's name for a CUDA device (None on the CPU; `Apple MPS` for mps)."""
    if device.startswith("cuda"):
        import torch

        return str((torch_module or torch).cuda.get_device_name(device))
    return "Apple MPS" if device == "mps" else None
