"""Where a run's clients train, and at which precision: the config's `compute` section and the device
profile, resolved on this machine (rules in :mod:`edgebench.devices.compute`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgebench.config import ComputeConfig
from edgebench.devices.compute import ComputeChoice, resolve_compute, resolve_precision
from edgebench.devices.profiles import DeviceProfile
from edgebench.methods.base import Placement


@dataclass(frozen=True)
class PlacementChoice:
    """The placement the clients use, with what was asked and why."""

    placement: Placement
    compute: ComputeChoice
    precision_requested: str
    precision_reason: str
    accelerator: str | None  # the GPU's name (None on the CPU)

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
            "accelerator": self.accelerator,
        }


def choose_placement(compute: ComputeConfig, profile: DeviceProfile, torch_module: Any = None) -> PlacementChoice:
    """Resolve `compute` on this machine for `profile`; ComputeUnavailable when it cannot run here."""
    choice = resolve_compute(compute.device, profile.torch.device, torch_module)
    autocast, reason = resolve_precision(
        compute.precision, choice, profile.name, profile.torch.dtype, profile.torch.device
    )
    placement = Placement(device=choice.device, autocast=autocast, backbone_dtype=compute.backbone_dtype)
    accelerator = accelerator_name(choice.device, torch_module)
    return PlacementChoice(placement, choice, compute.precision, reason, accelerator)


def accelerator_name(device: str, torch_module: Any = None) -> str | None:
    """The GPU's name for a CUDA device (None on the CPU; `Apple MPS` for mps)."""
    if device.startswith("cuda"):
        import torch

        return str((torch_module or torch).cuda.get_device_name(device))
    return "Apple MPS" if device == "mps" else None
