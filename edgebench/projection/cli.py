"""`edgebench project FLEET.yaml --runs RUN_DIR [RUN_DIR ...] --out DIR [--report]`: argument wiring."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path


def add_project_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the `project` subparser."""
    parser.add_argument("fleet", type=Path, metavar="FLEET.yaml", help="fleet file (docs/projection.md)")
    parser.add_argument(
        "--runs", type=Path, nargs="+", required=True, metavar="RUN_DIR", help="measured run directories"
    )
    parser.add_argument("--out", type=Path, required=True, help="folder to create for the projection")
    parser.add_argument("--report", action="store_true", help="also write figures into DIR/figures")


def project_command(args: argparse.Namespace) -> int:
    """Run the projection; prints one line per method and the output folder. Returns the exit status."""
    from edgebench.projection.errors import ProjectionError
    from edgebench.projection.run import run_projection
    from edgebench.results.run_meta import describe_error

    try:
        result = run_projection(args.fleet, args.runs, args.out, figures=args.report)
    except ProjectionError as exc:
        print(f"edgebench: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"edgebench: error: {describe_error(exc)}", file=sys.stderr)
        return 2
    for row in result.projection.summary.itertuples(index=False):
        line = f"{row.method}: {row.rounds} rounds ({row.rounds_failed} failed) in {row.time_s / 3600:.2f} h"
        if not math.isnan(row.energy_j):
            line += f", {row.energy_j / 3.6e6:.3f} kWh"
        line += f", {(row.bytes_down + row.bytes_up) / 1e9:.3f} GB"
        if not result.projection.meta["methods"][row.method]["measured_accuracy"]:
            line += "; no measured accuracy (the runs did not evaluate it)"
        elif not math.isnan(row.target_accuracy):
            line += (
                f"; target {row.target_accuracy:g} reached at round {int(row.target_round)} "
                f"after {row.time_to_target_s / 3600:.2f} h"
                if not math.isnan(row.target_round)
                else f"; target {row.target_accuracy:g} not reached"
            )
        print(line)
    print(f"projection: {result.out}")
    return 0
