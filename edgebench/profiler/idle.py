"""Idle power baseline: measured (``edgebench calibrate`` or the pre-run step), stored per host and
device profile, and subtracted from gross energy to give net energy (net = gross - idle W x window s).

A baseline only applies to the meter and scope it was measured with. The CPU-time estimate has no idle
component by construction, so its baseline is 0 W, labelled as such.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CALIBRATION_ENV = "EDGEBENCH_CALIBRATION_DIR"


@dataclass
class IdleBaseline:
    """Idle power (W) with where it came from.

    `source`: ``measured`` (pre-run step), ``calibration-file`` (``edgebench calibrate``),
    ``profile-nominal`` (the device profile's idle_power_w, not measured on this unit) or
    ``estimate-has-no-idle`` (0 W: the CPU-time estimate counts busy time only).
    """

    power_w: float
    source: str
    meter: str
    scope: str
    provenance: str = ""
    seconds: float | None = None
    sample_rate_hz: float | None = None
    max_gap_s: float | None = None
    measured_at: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    hostname: str = field(default_factory=socket.gethostname)
    path: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def calibration_dir() -> Path:
    """Where ``edgebench calibrate`` stores baselines: ``$EDGEBENCH_CALIBRATION_DIR``, else
    ``$XDG_DATA_HOME/edgebench``, else ``~/.local/share/edgebench``."""
    env = os.environ.get(CALIBRATION_ENV)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "edgebench"


def calibration_path(profile: str, hostname: str | None = None, folder: Path | None = None) -> Path:
    """The baseline file of `profile` on `hostname` (default this host)."""
    host = (hostname or socket.gethostname()).replace(os.sep, "_")
    return (folder or calibration_dir()) / f"idle-{host}-{profile}.json"


def save_idle(baseline: IdleBaseline, profile: str, folder: Path | None = None) -> Path:
    """Write `baseline` as JSON (atomically) and return its path."""
    path = calibration_path(profile, baseline.hostname, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = baseline.to_json() | {"profile": profile, "source": "calibration-file", "path": str(path)}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def load_idle(profile: str, folder: Path | None = None) -> IdleBaseline | None:
    """This host's stored baseline for `profile`, or None (missing or unreadable files are ignored)."""
    path = calibration_path(profile, folder=folder)
    try:
        data = json.loads(path.read_text())
        data.pop("profile", None)
        return IdleBaseline(**data)
    except (OSError, ValueError, TypeError):
        return None
