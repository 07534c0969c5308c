"""Where a run's results go: the run directory named by --out / --resume, or a fresh default one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from edgebench.config import ConfigError, ExperimentConfig
from edgebench.results import RUN_JSON


class ResumeError(RuntimeError):
    """A run directory cannot be used: it already holds a run, or cannot be resumed with this config."""


def default_run_dir(config: ExperimentConfig) -> Path:
    """`<output.dir>/<output.name or config stem>-<UTC timestamp>`."""
    stem = config.output.name or (config.source.stem if config.source else "run")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path(config.output.dir) / f"{stem}-{stamp}"


def resolve_run_dir(config: ExperimentConfig, out: Path | None, resume: Path | None) -> Path:
    """The run directory named by --out / --resume (not both), else a fresh default one; a new run
    never writes into a directory that already holds one."""
    if out is not None and resume is not None:
        raise ConfigError(str(config.source), [("", "give either --out or --resume, not both")])
    if resume is not None:
        return resume
    run_dir = out or default_run_dir(config)
    if (run_dir / RUN_JSON).exists():
        raise ResumeError(f"{run_dir} already holds a run; use --resume {run_dir} or another --out")
    return run_dir
