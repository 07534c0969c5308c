"""``edgebench doctor``, ``edgebench devices`` and ``edgebench calibrate`` (the CLI calls these).

Each returns a process exit code and prints to `out` (stdout by default).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

import edgebench
from edgebench.devices.compute import ComputeUnavailable, resolve_compute, resolve_precision
from edgebench.devices.detect import detect_profile, gather_facts, select_profile
from edgebench.devices.host import package_versions
from edgebench.devices.profiles import DeviceProfile, ProfileError, load_profiles, parse_meter_choice, profiles_dir
from edgebench.profiler.contention import describe_load, host_load
from edgebench.profiler.idle import calibration_path, load_idle, save_idle
from edgebench.profiler.memory import PROC_MEMINFO, CudaPeakMemory, HostPeakMemory, parse_meminfo
from edgebench.profiler.settings import ProfilerSettings
from edgebench.profiler.setup import build_measurement, meter_chain, probe_all
from edgebench.yamlfile import YamlFileError, read_yaml

DOCTOR_PACKAGES = (
    "torch",
    "transformers",
    "peft",
    "numpy",
    "pydantic",
    "psutil",
    "PyYAML",
    "nvidia-ml-py",
    "jetson-stats",
    "flwr",
)


def _versions() -> dict[str, str | None]:
    return {"edgebench": edgebench.__version__, **package_versions(DOCTOR_PACKAGES)}


def _torch_info() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "version": torch.__version__,
        "cuda_build": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "cuda_devices": [],
        "threads": torch.get_num_threads(),
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
    if info["cuda_available"]:
        info["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def _cuda_memory_note(cuda: CudaPeakMemory) -> str:
    if cuda.available:
        return cuda.provenance
    if not cuda.present:
        return "unavailable: no CUDA device (torch without CUDA, or no GPU)"
    return "available: torch.cuda.max_memory_allocated/reserved per window, once a run initialises CUDA"


def _chosen(chain: list[str], rows: list[dict[str, Any]]) -> tuple[str | None, list[str]]:
    """The first chain entry all of whose meters are available, and why earlier ones were skipped."""
    available = {r["meter"]: r for r in rows}
    skipped = []
    for choice in chain:
        parts = parse_meter_choice(choice)[0]  # meters reported beside the total are optional
        down = [p for p in parts if not available.get(p, {}).get("available")]
        if not down:
            return choice, skipped
        skipped.append(f"{choice}: " + "; ".join(available.get(p, {}).get("reason", "not probed") for p in down))
    return None, skipped


def doctor_report(settings: ProfilerSettings, device: str = "auto") -> dict[str, Any]:
    """Everything `edgebench doctor` prints, as a JSON-safe dict."""
    load = host_load(0.5, threshold_cores=settings.contention_threshold_cores)  # first: before torch loads
    selection = select_profile(device, settings.sysfs_root)
    profile = selection.profile
    rows = probe_all(settings, profile)
    chain = meter_chain(settings, profile)
    chosen, skipped = _chosen(chain, rows)
    measured = [r["meter"] for r in rows if r["available"] and r["meter"] not in ("estimate", "replay")]
    try:
        meminfo = parse_meminfo(PROC_MEMINFO.read_text())
    except OSError:
        meminfo = {}
    idle = load_idle(profile.name)
    cuda = CudaPeakMemory()
    return {
        "edgebench": edgebench.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sysfs_root": str(gather_facts(settings.sysfs_root).sysfs_root),
        "profile": selection.describe(),
        "meter_chain": chain,
        "meters": rows,
        "energy_source": chosen,
        "skipped": skipped,
        "hardware_meters_available": measured,
        "memory": {
            "host": HostPeakMemory().provenance,
            "cuda": _cuda_memory_note(cuda),
            "MemAvailable": "MemAvailable" in meminfo,
            "NvMapMemUsed": "NvMapMemUsed" in meminfo,
            "track_meminfo": profile.memory.track_meminfo,
        },
        "idle_baseline": idle.to_json() if idle else None,
        "idle_baseline_file": str(calibration_path(profile.name)),
        "torch": _torch_info(),
        "compute": _compute_default(profile),
        "packages": _versions(),
        "host_load": load,
    }


def _compute_default(profile: DeviceProfile) -> dict[str, str]:
    """Where a run with the default `compute:` settings (device auto, precision profile) would train."""
    try:
        choice = resolve_compute("auto", profile.torch.device)
        autocast, reason = resolve_precision("profile", choice, profile.name, profile.torch.dtype, profile.torch.device)
    except ComputeUnavailable as exc:
        return {"device": "unavailable", "reason": str(exc)}
    return {"device": choice.device, "reason": choice.reason, "precision": autocast, "precision_reason": reason}


def doctor(settings: ProfilerSettings, device: str = "auto", as_json: bool = False, out: TextIO | None = None) -> int:
    """Print every meter's availability with the reason, the chosen profile, torch/CUDA and packages."""
    out = out or sys.stdout
    report = doctor_report(settings, device)
    if as_json:
        json.dump(report, out, indent=2, default=str)
        out.write("\n")
        return 0
    p = report["profile"]
    w = out.write
    w(f"edgebench {report['edgebench']}  Python {report['python']}  {report['platform']}\n")
    w(f"sysfs root: {report['sysfs_root']}\n\n")
    w(f"device profile: {p['profile']} ({p['how']})\n")
    for reason in p["reasons"]:
        w(f"  - {reason}\n")
    w(f"\nenergy meters (this profile tries: {', '.join(report['meter_chain'])}):\n")
    for row in report["meters"]:
        if row["available"]:
            extra = f" total {row['total_w']:.3f} W" if "total_w" in row else ""
            w(f"  {row['meter']:<18} available ({row['provenance']}): {row['source']}{extra}\n")
            w(f"  {'':<18} scope: {row['scope']}\n")
        else:
            w(f"  {row['meter']:<18} unavailable: {row['reason']}\n")
    w("\n")
    if report["energy_source"] is None:
        w("energy: no meter in the chain works; energy columns will be empty and say why\n")
    elif not report["hardware_meters_available"]:
        w(
            f"energy: no hardware energy meter is available on this machine; runs use "
            f"'{report['energy_source']}' and every energy value is labelled 'estimated'\n"
        )
    else:
        w(f"energy: runs use '{report['energy_source']}'\n")
    for skip in report["skipped"]:
        w(f"  skipped {skip}\n")
    mem = report["memory"]
    w(f"\nmemory: host {mem['host']}\n        CUDA {mem['cuda']}\n")
    w(f"        /proc/meminfo MemAvailable: {'yes' if mem['MemAvailable'] else 'no'}, ")
    w(f"NvMapMemUsed: {'yes' if mem['NvMapMemUsed'] else 'no'} (tracked: {mem['track_meminfo']})\n")
    idle = report["idle_baseline"]
    if idle:
        w(f"\nidle baseline: {idle['power_w']:.3f} W via {idle['meter']} measured {idle['measured_at']}\n")
    else:
        w(f"\nidle baseline: none stored ({report['idle_baseline_file']}); run `edgebench calibrate`\n")
    t = report["torch"]
    devices = ", ".join(t["cuda_devices"]) or "none"
    w(f"\ntorch {t['version']}  CUDA build {t['cuda_build'] or 'none'}  CUDA available: {t['cuda_available']} ")
    w(f"(devices: {devices})  threads {t['threads']}  CUDA_VISIBLE_DEVICES={t['CUDA_VISIBLE_DEVICES']}\n")
    c = report["compute"]
    if c["device"] == "unavailable":
        w(f"compute: a default run cannot start here: {c['reason']} (set compute.device or --compute)\n")
    else:
        w(f"compute: a default run trains on {c['device']} ({c['reason']}) at {c['precision']} ")
        w(f"({c['precision_reason']})\n")
    w("packages: " + ", ".join(f"{k} {v}" for k, v in report["packages"].items() if v) + "\n")
    missing = [k for k, v in report["packages"].items() if not v]
    if missing:
        w("not installed: " + ", ".join(missing) + "\n")
    load = report["host_load"]
    w(f"\nhost load: {describe_load(load)}\n")
    if load.get("busy"):
        w(
            f"warning: this machine is busy: windows measured now get the flag 'contended' (other processes above "
            f"{load['threshold_cores']:g} cores) and their times are not comparable with a quiet machine's; stop the "
            "busiest processes or wait before measuring\n"
        )
    return 0


def devices(settings: ProfilerSettings, as_json: bool = False, out: TextIO | None = None) -> int:
    """List the device profiles and which one this machine matches, and why."""
    out = out or sys.stdout
    try:
        profiles = load_profiles()
    except ProfileError as exc:
        print(f"edgebench: error: {exc}", file=sys.stderr)
        return 2
    facts = gather_facts(settings.sysfs_root)
    selection, table = detect_profile(facts, profiles)
    if as_json:
        data = {
            "profiles_dir": str(profiles_dir()),
            "facts": {
                "sysfs_root": str(facts.sysfs_root),
                "machine": facts.machine,
                "device_tree_model": facts.device_tree_model,
                "device_tree_compatible": facts.device_tree_compatible,
                "nvidia_pci_gpus": facts.nvidia_pci_gpus,
            },
            "selected": selection.describe(),
            "profiles": [
                {
                    "name": name,
                    "description": p.description,
                    "meters": p.meters,
                    "max_power_w": p.max_power_w,
                    "matches": table[name][0],
                    "reasons": table[name][1],
                }
                for name, p in profiles.items()
            ],
        }
        json.dump(data, out, indent=2)
        out.write("\n")
        return 0
    w = out.write
    w(f"device profiles in {profiles_dir()}:\n")
    for name, p in profiles.items():
        mark = "*" if name == selection.profile.name else " "
        matched = "matches" if table[name][0] else "no"
        meters = ", ".join(p.meters)
        w(f" {mark} {name:<20} {matched:<8} meters: {meters:<40} max {p.max_power_w:>4g} W  {p.description}\n")
    w(f"\nthis machine: {selection.profile.name} ({selection.how})\n")
    for reason in selection.reasons:
        w(f"  - {reason}\n")
    model = facts.device_tree_model or "none"
    gpus = ", ".join(facts.nvidia_pci_gpus) or "none"
    w(f"facts: machine {facts.machine}; device-tree model {model}; NVIDIA PCI GPUs {gpus}; sysfs {facts.sysfs_root}\n")
    return 0


def calibrate(
    settings: ProfilerSettings,
    device: str = "auto",
    seconds: float = 30.0,
    store: bool = True,
    out: TextIO | None = None,
) -> int:
    """Measure idle power for `seconds` with the device's meter chain and store it for later runs."""
    out = out or sys.stdout
    measurement = build_measurement(settings.model_copy(update={"enabled": True}), device)
    try:
        measurement.profiler.start()
        energy = measurement.profiler.energy
        out.write(f"measuring idle power for {seconds:g} s with {energy.meter_name} ({energy.label}); ")
        out.write("keep the device idle\n")
        try:
            baseline = measurement.profiler.measure_idle(seconds)
        except RuntimeError as exc:
            print(f"edgebench: error: {exc}", file=sys.stderr)
            return 1
    finally:
        measurement.close()
    out.write(f"idle power: {baseline.power_w:.4f} W ({baseline.provenance})\n")
    if baseline.sample_rate_hz is not None:
        out.write(f"  sampled at {baseline.sample_rate_hz:.1f} Hz, largest gap {baseline.max_gap_s:.3f} s\n")
    if store:
        path = save_idle(baseline, measurement.profile.name)
        out.write(f"stored: {path}\n")
    return 0


# -- command line ----------------------------------------------------------------------------------
MEASUREMENT_COMMANDS = ("doctor", "devices", "calibrate")


def add_measurement_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``doctor``, ``devices`` and ``calibrate`` on the top-level subparsers."""
    doc = sub.add_parser("doctor", help="which energy meters work here and why, chosen profile, torch/CUDA, packages")
    dev = sub.add_parser("devices", help="list device profiles and which one this machine matches, and why")
    cal = sub.add_parser("calibrate", help="measure idle power for N seconds and store it for this device")
    for p in (doc, cal):
        p.add_argument("--device", help="device profile name or .yaml path (default: the config's, else auto)")
        p.add_argument("--config", type=Path, help="experiment YAML whose profiler: and device: sections apply")
    for p in (doc, dev):
        p.add_argument("--json", action="store_true", help="machine-readable output")
    dev.add_argument("--config", type=Path, help="experiment YAML whose profiler.sysfs_root applies")
    cal.add_argument("--seconds", type=float, default=30.0, help="how long to measure (default 30)")
    cal.add_argument("--no-store", action="store_true", help="print the result without storing it")


def settings_from_file(path: Path) -> tuple[ProfilerSettings, str]:
    """The ``profiler:`` settings and ``device.name`` of an experiment file (other sections ignored)."""
    try:
        raw = read_yaml(path)
    except YamlFileError as exc:
        raise ProfileError(str(path), [("", exc.problem)]) from None
    raw = raw if isinstance(raw, dict) else {}
    try:
        settings = ProfilerSettings.model_validate(raw.get("profiler") or {})
    except ValidationError as exc:
        problems = [
            ("profiler." + ".".join(str(x) for x in e["loc"]), e["msg"].replace("Value error, ", ""))
            for e in exc.errors()
        ]
        raise ProfileError(str(path), problems) from None
    device = (raw.get("device") or {}).get("name", "auto") if isinstance(raw.get("device"), dict) else "auto"
    return settings, str(device)


def measurement_command(args: argparse.Namespace) -> int:
    """Run the ``doctor``/``devices``/``calibrate`` subcommand parsed into `args`."""
    try:
        settings, device = settings_from_file(args.config) if args.config else (ProfilerSettings(), "auto")
        device = getattr(args, "device", None) or device
        if args.command == "doctor":
            return doctor(settings, device, as_json=args.json)
        if args.command == "devices":
            return devices(settings, as_json=args.json)
        if args.seconds <= 0:
            print("edgebench: error: --seconds: must be > 0", file=sys.stderr)
            return 2
        return calibrate(settings, device, args.seconds, store=not args.no_store)
    except ProfileError as exc:
        print(f"edgebench: error: {exc}", file=sys.stderr)
        return 2
