"""One projection from files to files: the fleet file and run directories in, the output folder out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgebench.projection.fleet import load_fleet
from edgebench.projection.inputs import load_runs
from edgebench.projection.simulate import Projection, project
from edgebench.projection.writer import check_out, write_projection


@dataclass
class ProjectionResult:
    out: Path
    files: list[Path]
    projection: Projection


def run_projection(fleet_file: Path, run_dirs: list[Path], out: Path, *, figures: bool = False) -> ProjectionResult:
    """Validate everything first (fleet file, runs, output folder), then project and write; ProjectionError
    (one line per problem, naming file and field) before anything is written."""
    fleet = load_fleet(fleet_file)
    check_out(out)
    runs = load_runs(run_dirs)
    projection = project(fleet, runs)
    draw = None
    if figures:
        from edgebench.projection.figures import write_figures

        draw = write_figures
    files = write_projection(out, projection, fleet, runs, figures=draw)
    return ProjectionResult(out=out, files=files, projection=projection)
