"""What a run prints before a method's first round: the layers it adapts and whether it should fit in memory."""

from __future__ import annotations

from typing import Any

from torch import nn

from edgebench.config import FederationConfig, MethodEntry
from edgebench.devices.profiles import DeviceProfile
from edgebench.methods.base import Placement
from edgebench.models.memory import MIB, estimate_training_memory, mib


def memory_limit(profile: DeviceProfile, placement: Placement) -> tuple[int | None, str]:
    """The MiB a client may use and what that figure is: the profile's budget, else the GPU's or the host's memory."""
    if profile.memory.budget_mib is not None:
        return profile.memory.budget_mib, f"device profile {profile.name}'s memory budget"
    try:
        if placement.device.startswith("cuda"):
            import torch

            total = torch.cuda.get_device_properties(placement.torch_device).total_memory
            return int(total // MIB), f"{placement.device}'s memory"
        import psutil

        return int(psutil.virtual_memory().total // MIB), "this host's memory"
    except Exception:  # an informative line only: no figure to compare with
        return None, "no memory figure"


def start_summary(
    entry: MethodEntry,
    info: dict[str, Any],
    model: nn.Module,
    fed: FederationConfig,
    placement: Placement,
    profile: DeviceProfile,
) -> str:
    """Two lines: the target modules (and where they come from), then the memory estimate against the budget,
    with a warning and what to change when it will not fit."""
    label = entry.label
    requested = getattr(entry.params, "target_modules", None)
    targets = requested or info.get("target_modules") or []
    source = "the method's target_modules" if requested else info.get("target_source", "")
    count = int(info.get("parameters") or sum(p.numel() for p in model.parameters()))
    size = f"{count / 1e6:,.1f}M" if count >= 1e6 else f"{count:,}"
    lines = [
        f"[{label}] model {info.get('name')} ({info.get('architecture')}, {size} parameters): "
        f"target modules {', '.join(targets)} ({source})"
    ]
    estimate = estimate_training_memory(
        model,
        fed.batch_size,
        fed.max_seq_len,
        backbone_dtype=placement.backbone_dtype,
        activation_dtype=placement.autocast,
        optimizer=fed.optimizer,
        momentum=fed.momentum,
    )
    limit, what = memory_limit(profile, placement)
    line = f"[{label}] training memory estimate per client {estimate.describe()}"
    if limit is None:
        lines.append(line)
    elif estimate.total_mib <= limit:
        lines.append(f"{line}; fits {what} ({limit:,} MiB)")
    else:
        lines.append(
            f"warning: [{label}] the training memory estimate ({mib(estimate.total_bytes)} MiB) exceeds {what} "
            f"({limit:,} MiB) and will likely not fit: {estimate.describe()}. To shrink it: compute.precision and "
            "compute.backbone_dtype bfloat16 (or float16), model.gradient_checkpointing: true, a smaller "
            "federation.batch_size or max_seq_len, or a smaller model (docs/models.md)"
        )
    return "\n".join(lines)
