"""Writes a projection into its folder, all or nothing: everything goes to a temporary sibling folder that
is renamed into place at the end, so a failure never leaves half a projection behind."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

import edgebench
from edgebench.projection.columns import CLASS_COLUMNS, ROUND_COLUMNS, SUMMARY_COLUMNS
from edgebench.projection.errors import ProjectionError
from edgebench.projection.fleet import FleetSpec
from edgebench.projection.inputs import MeasuredRuns
from edgebench.projection.simulate import Projection
from edgebench.results.run_meta import git_commit
from edgebench.results.schema import BYTES, COUNT, Column

ROUNDS_CSV, CLASSES_CSV, SUMMARY_CSV, PROJECTION_JSON = "rounds.csv", "classes.csv", "summary.csv", "projection.json"

#: What projection.json says, in every projection, about what the model leaves out (docs/projection.md).
LIMITS = (
    "Accuracy per round is the measured runs' accuracy: the projection does not model how a larger or "
    "different cohort (more clients per round, other devices, dropped stragglers) changes learning.",
    "Costs of a class scaled from another are the measured costs times declared factors (rough, see 'classes').",
    "Radio energy and link times are estimates from the link model, never measurements.",
    "Rounds past the measured ones repeat the last measured round's costs (flagged extrapolated) and have no accuracy.",
)


def check_out(out: Path) -> None:
    """Refuse an output folder that exists and is not empty (nothing is overwritten)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ProjectionError(str(out), [("--out", "exists and is not an empty folder; give a new folder")])


def write_projection(
    out: Path,
    projection: Projection,
    fleet: FleetSpec,
    runs: MeasuredRuns,
    figures: Callable[[Projection, Path], list[Path]] | None = None,
) -> list[Path]:
    """Write rounds.csv, classes.csv, summary.csv, projection.json (and figures/ when `figures` is given)
    into `out`; returns the files written, under `out`."""
    check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, frame, columns in (
            (ROUNDS_CSV, projection.rounds, ROUND_COLUMNS),
            (CLASSES_CSV, projection.classes, CLASS_COLUMNS),
            (SUMMARY_CSV, projection.summary, SUMMARY_COLUMNS),
        ):
            _typed(frame, columns).to_csv(tmp / name, index=False)
        figure_files = figures(projection, tmp / "figures") if figures is not None else []
        meta = _meta(projection, fleet, runs, [ROUNDS_CSV, CLASSES_CSV, SUMMARY_CSV], figure_files, tmp)
        (tmp / PROJECTION_JSON).write_text(json.dumps(meta, indent=2, default=_json_default) + "\n")
        os.chmod(tmp, 0o777 & ~_umask())
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sorted(p for p in out.rglob("*") if p.is_file())


def _typed(frame: pd.DataFrame, columns: list[Column]) -> pd.DataFrame:
    """Counts and byte totals as integers (empty cells stay empty); other numbers at full precision."""
    out = frame[[c.name for c in columns]].copy()
    for col in columns:
        if col.unit in (COUNT, BYTES):
            out[col.name] = pd.to_numeric(out[col.name]).round().astype("Int64")
    return out


def _meta(
    projection: Projection,
    fleet: FleetSpec,
    runs: MeasuredRuns,
    tables: list[str],
    figure_files: list[Path],
    folder: Path,
) -> dict[str, Any]:
    fleet_bytes = Path(fleet.source).read_bytes() if Path(fleet.source).is_file() else b""
    return {
        "edgebench_version": edgebench.__version__,
        "git_commit": git_commit(),
        "fleet_file": fleet.source,
        "fleet_sha256": hashlib.sha256(fleet_bytes).hexdigest(),
        "fleet": fleet.model_dump(mode="json"),
        "clients": sum(fleet.counts),
        "seed": fleet.seed,
        "runs": [r.to_json() for r in runs.runs],
        "classes": projection.meta["classes"],
        "methods": projection.meta["methods"],
        "outputs": {"tables": tables, "figures": [str(p.relative_to(folder)) for p in figure_files]},
        "limits": list(LIMITS),
    }


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
