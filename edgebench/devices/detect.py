"""Which device profile fits this machine, and why: facts read from sysfs (root injectable) and platform.

Facts come from ``<sysfs>/firmware/devicetree/base/{model,compatible}`` (what ``/proc/device-tree``
links to), ``<sysfs>/bus/pci/devices/*/{vendor,class}`` and ``platform.machine()``, so a fixture tree
under ``$EDGEBENCH_SYSFS_ROOT`` can pose as any board.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path

from edgebench.devices.profiles import DeviceProfile, get_profile, load_profiles
from edgebench.meters.base import sysfs_root

NVIDIA_PCI_VENDOR = "0x10de"
_DISPLAY_CLASSES = ("0x0300", "0x0302")  # VGA-compatible and 3D controllers


@dataclass
class HostFacts:
    """What detection looks at. `sysfs_root` is where the facts were read."""

    sysfs_root: Path
    machine: str
    device_tree_model: str | None = None
    device_tree_compatible: list[str] = field(default_factory=list)
    nvidia_pci_gpus: list[str] = field(default_factory=list)


def _read_dt(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def gather_facts(root: str | Path | None = None, machine: str | None = None) -> HostFacts:
    """Read the detection facts from the sysfs root (default ``$EDGEBENCH_SYSFS_ROOT`` or ``/sys``)."""
    base = sysfs_root(root)
    facts = HostFacts(sysfs_root=base, machine=machine or platform.machine())
    dt = base / "firmware" / "devicetree" / "base"
    model = _read_dt(dt / "model")
    if model:
        facts.device_tree_model = model.rstrip(b"\x00").decode(errors="replace").strip() or None
    compatible = _read_dt(dt / "compatible")
    if compatible:
        facts.device_tree_compatible = [c.decode(errors="replace") for c in compatible.split(b"\x00") if c]
    for dev in sorted((base / "bus" / "pci" / "devices").glob("*")):
        try:
            vendor = (dev / "vendor").read_text().strip().lower()
            klass = (dev / "class").read_text().strip().lower()
        except OSError:
            continue
        if vendor == NVIDIA_PCI_VENDOR and klass.startswith(_DISPLAY_CLASSES):
            facts.nvidia_pci_gpus.append(dev.name)
    return facts


def match_profile(profile: DeviceProfile, facts: HostFacts) -> tuple[bool, list[str]]:
    """Whether every detection rule of `profile` holds on `facts`, with one reason per rule checked."""
    rules = profile.detect
    reasons: list[str] = []
    ok = True
    if rules.device_tree_model or rules.device_tree_compatible:
        model = facts.device_tree_model or ""
        hit_model = next((s for s in rules.device_tree_model if s in model), None)
        compat = facts.device_tree_compatible
        hit_compat = next(
            (f"{c!r} contains {s!r}" for s in rules.device_tree_compatible for c in compat if s in c), None
        )
        if hit_model:
            reasons.append(f"device-tree model {model!r} contains {hit_model!r}")
        elif hit_compat:
            reasons.append(f"device-tree compatible {hit_compat}")
        else:
            ok = False
            shown = repr(model) if model else "absent"
            reasons.append(f"device-tree model {shown} matches none of {rules.device_tree_model}")
    if rules.machine:
        if facts.machine in rules.machine:
            reasons.append(f"machine {facts.machine}")
        else:
            ok = False
            reasons.append(f"machine {facts.machine} is not one of {rules.machine}")
    if rules.nvidia_pci_gpu is not None:
        found = bool(facts.nvidia_pci_gpus)
        if found == rules.nvidia_pci_gpu:
            reasons.append(f"NVIDIA PCI GPU at {', '.join(facts.nvidia_pci_gpus)}" if found else "no NVIDIA PCI GPU")
        else:
            ok = False
            reasons.append("no NVIDIA PCI GPU" if not found else f"NVIDIA PCI GPU present ({facts.nvidia_pci_gpus[0]})")
    if rules.fallback and not reasons:
        reasons.append("generic fallback")
    return ok, reasons


@dataclass
class ProfileSelection:
    """The chosen profile, how it was chosen (``requested`` or ``detected``) and why."""

    profile: DeviceProfile
    how: str
    reasons: list[str]

    def describe(self) -> dict[str, object]:
        return {
            "profile": self.profile.name,
            "file": self.profile.source_file,
            "how": self.how,
            "reasons": self.reasons,
        }


def detect_profile(
    facts: HostFacts, profiles: dict[str, DeviceProfile] | None = None
) -> tuple[ProfileSelection, dict[str, tuple[bool, list[str]]]]:
    """The best matching profile for `facts` and every profile's (matched, reasons)."""
    profiles = profiles if profiles is not None else load_profiles()
    table = {name: match_profile(p, facts) for name, p in profiles.items()}
    matching = [p for name, p in profiles.items() if table[name][0] and not p.detect.fallback]
    if matching:
        best = max(matching, key=lambda p: p.detect.priority)
        return ProfileSelection(best, "detected", table[best.name][1]), table
    fallbacks = [p for name, p in profiles.items() if p.detect.fallback and table[name][0]]
    fallbacks = fallbacks or [p for p in profiles.values() if p.detect.fallback]
    if not fallbacks:
        raise LookupError("no device profile matches this machine and none is marked as fallback")
    best = max(fallbacks, key=lambda p: p.detect.priority)
    why = table[best.name][1] if table[best.name][0] else [f"no profile matched (machine {facts.machine})"]
    return ProfileSelection(best, "fallback", [*why, "no specific profile matched; using the generic fallback"]), table


def select_profile(name: str = "auto", root: str | Path | None = None) -> ProfileSelection:
    """`name` = ``auto`` detects; anything else (a profile name or a .yaml path) is taken as requested."""
    if name and name != "auto":
        return ProfileSelection(get_profile(name), "requested", [f"requested by name ({name})"])
    selection, _ = detect_profile(gather_facts(root))
    return selection
