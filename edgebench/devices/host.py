"""What this host is: OS, CPU, memory, accelerators. Read once per run for run.json."""

from __future__ import annotations

import os
import platform
import socket
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU model name from /proc/cpuinfo, falling back to platform.processor()."""
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware"):
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_tree_model(path: Path = Path("/proc/device-tree/model")) -> str | None:
    """Board model on ARM boards (Jetson, Raspberry Pi), None elsewhere."""
    try:
        return path.read_bytes().rstrip(b"\x00").decode(errors="replace").strip() or None
    except OSError:
        return None


def host_info() -> dict[str, Any]:
    """A JSON-safe description of this host for run metadata."""
    import torch

    info: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "os": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "board_model": device_tree_model(),
        "logical_cpus": os.cpu_count(),
        "physical_cpus": psutil.cpu_count(logical=False),
        "memory_total_bytes": psutil.virtual_memory().total,
        "torch_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "cuda_devices": [],
    }
    if torch.cuda.is_available():
        info["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    """Installed version of each distribution in `names` (None when not installed)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions
