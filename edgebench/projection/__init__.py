"""Fleet projection: from a few measured devices to a large federation (docs/projection.md).

`edgebench project FLEET.yaml --runs RUN_DIR ... --out DIR` reads measured run directories through
:mod:`edgebench.results`, a fleet file (:mod:`edgebench.projection.fleet`), and writes per-round and
per-class time, energy (compute, radio, idle wait, each with provenance) and bytes, and a per-method
summary to a target accuracy. It never runs training and never imports the engine.
"""

from edgebench.projection.errors import ProjectionError
from edgebench.projection.fleet import FleetSpec, load_fleet, parse_fleet
from edgebench.projection.inputs import MeasuredRuns, load_runs
from edgebench.projection.run import ProjectionResult, run_projection
from edgebench.projection.simulate import Projection, project

__all__ = [
    "FleetSpec",
    "MeasuredRuns",
    "Projection",
    "ProjectionError",
    "ProjectionResult",
    "load_fleet",
    "load_runs",
    "parse_fleet",
    "project",
    "run_projection",
]
