"""Threading settings that decide how much a run suffers from other work: OpenMP's wait policy and
torch's thread count, applied and recorded for run.json (``measurement.threads``).

OpenMP (libgomp, used by torch's CPU kernels) reads ``OMP_WAIT_POLICY`` once, when torch loads it: a
value set after ``import torch`` changes nothing for this process (its child processes still inherit
it). ``edgebench run`` therefore applies ``profiler.omp_wait_policy`` before anything imports torch
(:func:`preset_from_config_file`, called first thing by the CLI); a later call, e.g. from a test or a
Flower ClientApp whose process already imported torch, records that the policy came too late.
``PASSIVE`` makes idle pool threads sleep instead of spinning, which matters on a machine shared with
other processes (two spinning pools on the same cores slow each other many-fold).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

OMP_ENV = "OMP_WAIT_POLICY"

#: What :func:`apply_omp_wait_policy` did first in this process (None: never called).
_applied: dict[str, Any] | None = None


def apply_omp_wait_policy(policy: str | None) -> dict[str, Any]:
    """Set ``OMP_WAIT_POLICY`` to `policy` (None: leave the environment alone) and say whether it takes
    effect in this process (only if torch is not imported yet). The first call's record is kept: a
    later call with the same policy returns it (the policy was already in place when torch loaded)."""
    global _applied
    torch_loaded = "torch" in sys.modules
    if _applied is not None and _applied["requested"] == policy and os.environ.get(OMP_ENV) == _applied["value"]:
        return dict(_applied)
    previous = os.environ.get(OMP_ENV)
    if policy is not None:
        os.environ[OMP_ENV] = policy
    value = os.environ.get(OMP_ENV)
    record: dict[str, Any] = {"requested": policy, "value": value, "previous": previous}
    if not torch_loaded:
        record["effective"] = True
        record["note"] = "set before torch was imported" if policy is not None else "left as the environment had it"
    elif previous == value:
        record["effective"] = None
        record["note"] = "torch was already imported; the environment already held this value (set by whom: unknown)"
    else:
        record["effective"] = False
        record["note"] = (
            f"torch was already imported: its OpenMP pool keeps the policy it started with "
            f"({previous or 'the runtime default'}); child processes get {value}"
        )
    if _applied is None:
        _applied = dict(record)
    return record


def preset_from_config_file(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Apply the ``profiler.omp_wait_policy`` of an experiment file before torch is imported.

    Reads only the file's ``profiler:`` section (no torch import). Returns the record, or None when the
    file cannot be read or validated (loading the config reports that properly afterwards).
    """
    from pydantic import ValidationError

    from edgebench.profiler.settings import ProfilerSettings
    from edgebench.yamlfile import YamlFileError, read_yaml

    try:
        raw = read_yaml(Path(path))
        section = raw.get("profiler") if isinstance(raw, dict) else None
        settings = ProfilerSettings.model_validate(section or {})
    except (YamlFileError, ValidationError, OSError):
        return None
    return apply_omp_wait_policy(settings.omp_wait_policy)


def config_path_of_run(argv: list[str], value_options: tuple[str, ...]) -> str | None:
    """The CONFIG of ``edgebench run CONFIG ...`` in `argv` (options taking a value given in
    `value_options` are skipped with their value); None for any other command."""
    if not argv or argv[0] != "run":
        return None
    skip = False
    for arg in argv[1:]:
        if skip:
            skip = False
        elif arg.startswith("-"):
            skip = arg in value_options
        else:
            return arg
    return None


def apply_torch_threads(requested: int | None, source: str) -> dict[str, Any]:
    """Set torch's intra-op threads to `requested` (None: keep torch's default) and record what torch
    then uses, where the number came from, and the OpenMP environment."""
    import torch

    if requested:
        torch.set_num_threads(requested)
        return _torch_record(torch, requested, source)
    return _torch_record(torch, requested, "torch default (no device.torch_threads, no profile torch.threads)")


def current_torch_threads() -> dict[str, Any] | None:
    """torch's thread counts when torch is loaded and nothing applied them (None without torch)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    return _torch_record(torch, None, "not set by edgebench's measurement (the caller's choice)")


def _torch_record(torch: Any, requested: int | None, source: str) -> dict[str, Any]:
    return {
        "requested": requested,
        "source": source,
        "intra_op": torch.get_num_threads(),
        "inter_op": torch.get_num_interop_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }
