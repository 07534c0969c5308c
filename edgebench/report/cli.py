"""`edgebench report RUN_DIR [RUN_DIR ...]`: argument wiring for the report subcommand."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the `report` subparser."""
    parser.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR", help="run directories to combine")
    parser.add_argument("--out", type=Path, help="report folder (default: reports/<first run dir name>)")
    parser.add_argument(
        "--baseline", help="method label the others are compared with (default: the first baseline method in the runs)"
    )
    parser.add_argument(
        "--target-accuracy", type=float, help="accuracy fraction in [0, 1] for rounds / bytes to target"
    )


def report_command(args: argparse.Namespace) -> int:
    """Build the report; prints the HTML path. Returns the exit status."""
    from edgebench.report.build import build_report
    from edgebench.report.load import ReportInputError

    out = args.out or Path("reports") / Path(args.run_dirs[0]).resolve().name
    try:
        result = build_report(args.run_dirs, out, baseline=args.baseline, target_accuracy=args.target_accuracy)
    except ReportInputError as exc:
        print(f"edgebench: error: {exc}", file=sys.stderr)
        return 2
    for warning in result.warnings:
        print(f"edgebench: warning: {warning}", file=sys.stderr)
    print(result.html.resolve())
    return 0
