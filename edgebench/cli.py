"""`edgebench` command line: run, partition, report, doctor, devices, calibrate, server, client, --version."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import edgebench


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgebench", description=edgebench.__doc__)
    parser.add_argument("--version", action="version", version=f"edgebench {edgebench.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run an experiment file (all its methods) into a run directory")
    run.add_argument("config", type=Path, help="experiment YAML file")
    run.add_argument("--out", type=Path, help="run directory to create (default: <output.dir>/<name>-<time>)")
    run.add_argument("--resume", type=Path, help="continue the run in this directory from its last round")
    run.add_argument("--methods", help="comma-separated method labels to run (default: all in the file)")
    run.add_argument("--quiet", action="store_true", help="no progress output")
    run.add_argument("--device", help="device profile name or .yaml path, overriding detection and device.name")
    run.add_argument("--compute", help="where clients train: auto, cpu, cuda, cuda:N or mps (overrides compute.device)")
    run.add_argument(
        "--engine",
        choices=("inprocess", "flower-sim"),
        default="inprocess",
        help="inprocess (default) or flower-sim: Flower's simulation runtime on Ray (docs/flower.md)",
    )
    run.add_argument(
        "--report",
        nargs="?",
        const=True,
        type=Path,
        help="after the run, write its report (default folder: reports/<run dir name>)",
    )

    part = sub.add_parser("partition", help="print the per-client label counts a config produces")
    part.add_argument("config", type=Path, help="experiment YAML file")

    from edgebench.profiler.commands import add_measurement_commands

    add_measurement_commands(sub)

    from edgebench.report.cli import add_report_arguments

    add_report_arguments(sub.add_parser("report", help="HTML + Markdown report (tables, figures) from run directories"))

    from edgebench.fl.flower.cli import add_flower_commands

    add_flower_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "report":
        from edgebench.report.cli import report_command

        return report_command(args)
    if args.command in ("server", "client"):
        from edgebench.fl.flower.cli import flower_command

        return flower_command(args)
    if args.command in ("doctor", "devices", "calibrate"):
        from edgebench.profiler.commands import measurement_command

        return measurement_command(args)
    from edgebench.config import ConfigError, load_config
    from edgebench.data.dataset import DataError
    from edgebench.data.partition import PartitionError
    from edgebench.devices.compute import ComputeUnavailable
    from edgebench.models import ModelError

    try:
        config = load_config(args.config)
        if args.command == "partition":
            return _partition(config)
        return _run(config, args)
    except (ConfigError, DataError, PartitionError, ModelError, ComputeUnavailable) as exc:
        print(f"edgebench: error: {exc}", file=sys.stderr)
        return 2


def _run(config, args: argparse.Namespace) -> int:
    from edgebench.fl.engine import Engine
    from edgebench.fl.progress import Progress
    from edgebench.fl.run_dir import ResumeError, resolve_run_dir

    if args.methods:
        config = config.select_methods([m.strip() for m in args.methods.split(",") if m.strip()])
    if args.device:
        config = config.override("device", {"name": args.device}, "--device")
    if args.compute:
        config = config.override("compute", {"device": args.compute}, "--compute")
    progress = Progress(quiet=args.quiet)
    resume = args.resume is not None
    try:
        run_dir = resolve_run_dir(config, args.out, args.resume)
        if args.engine == "flower-sim":
            from edgebench.fl.flower.cli import run_flower_simulation

            summaries = run_flower_simulation(config, run_dir, resume=resume, progress=progress)
        else:
            summaries = Engine(config, run_dir, progress=progress, resume=resume).run()
    except ResumeError as exc:
        print(f"edgebench: error: {exc}", file=sys.stderr)
        return 2
    for s in summaries:
        if s.extra.get("skipped"):
            continue
        acc = f"{s.final_accuracy:.4f}" if s.final_accuracy is not None else "n/a"
        print(f"{s.label}: {s.rounds_run} rounds in {s.wall_s:.1f} s, final accuracy {acc}, {s.bytes_total} bytes")
    print(f"results: {run_dir}")
    if args.report:
        from edgebench.methods import default_baseline
        from edgebench.report.build import build_report

        out = Path("reports") / run_dir.name if args.report is True else args.report
        baseline = default_baseline((m.label, m.method) for m in config.methods)
        result = build_report([run_dir], out, baseline=baseline)
        print(f"report: {result.html}")
    return 0


def _partition(config) -> int:
    import pandas as pd

    from edgebench.fl.prepared import prepare_data

    data = prepare_data(config)
    names = data.splits.train.label_names
    counts = data.partition.label_counts(data.splits.train.labels, len(names))
    table = pd.DataFrame(counts, columns=names)
    table.insert(0, "num_examples", counts.sum(axis=1))
    table.index.name = "client_id"
    print(
        f"{config.partition.scheme} partition of {data.splits.name} ({len(data.splits.train)} train rows) "
        f"over {config.federation.num_clients} clients, seed {config.seed}"
    )
    with pd.option_context("display.max_columns", None, "display.width", 200):
        print(table.to_string())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
