"""`edgebench` command line: run, partition, report, doctor, devices, calibrate, server, client, --version."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import edgebench


def _add_set_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override one field of the file, validated as the file is; VALUE is YAML; repeatable "
        "(e.g. --set federation.rounds=3 --set methods.0.r0=8)",
    )


def _add_run_arguments(run: argparse.ArgumentParser) -> argparse.ArgumentParser:
    run.add_argument("config", type=Path, help="experiment YAML file")
    _add_set_argument(run)
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
    return run


#: Options of `edgebench run` that take a value, so that main can find CONFIG before building the whole
#: parser (whose set-up imports torch).
RUN_VALUE_OPTIONS = tuple(
    option
    for action in _add_run_arguments(argparse.ArgumentParser(add_help=False))._actions
    if action.nargs != 0
    for option in action.option_strings
)


#: One or two examples per command, shown at the end of its --help (None: `edgebench --help`).
EXAMPLES: dict[str | None, list[str]] = {
    None: [
        "edgebench run runners/configs/quickstart.yaml --report   # FedARA vs LoRA, about 2 min on 2 cores",
        "edgebench run runners/configs/smoke.yaml --set federation.rounds=1",
        "edgebench doctor                                         # which energy meters work here, and why",
    ],
    "run": [
        "edgebench run runners/configs/quickstart.yaml --report",
        "edgebench run runners/configs/smoke.yaml --methods lora,fedara --set federation.rounds=3 --set methods.0.r=4",
    ],
    "partition": ["edgebench partition runners/configs/quickstart.yaml --set partition.alpha=0.1"],
    "report": [
        "edgebench report runs/quickstart-*                      # one report from every quickstart run",
        "edgebench report runs/seed0 runs/seed1 --baseline lora-r12 --target-accuracy 0.8 --out reports/seeds",
    ],
    "doctor": ["edgebench doctor", "edgebench doctor --json --config runners/configs/quickstart.yaml"],
    "devices": ["edgebench devices", "edgebench devices --json"],
    "calibrate": ["edgebench calibrate --seconds 60", "edgebench calibrate --device raspberry-pi-5 --no-store"],
    "project": [
        "edgebench project runners/fleets/mixed-edge.yaml --runs runs/quickstart-* --out reports/fleet --report"
    ],
    "server": [
        "edgebench server runners/configs/quickstart.yaml --out runs/orin-vs-pi "
        "--superlink 127.0.0.1:8000 --root-certificates certs/ca.pem"
    ],
    "client": [
        "edgebench client --superlink 10.0.0.2:8000 --partition-id 0 --num-partitions 3 "
        "--root-certificates certs/ca.pem --auth-key keys/jetson"
    ],
}


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Wraps one-paragraph descriptions as argparse does; keeps text with line breaks (the examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return super()._fill_text(text, width, indent)
        return argparse.HelpFormatter._fill_text(self, text, width, indent)


def _examples(command: str | None) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in EXAMPLES[command])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgebench", description=edgebench.__doc__, epilog=_examples(None), formatter_class=_HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"edgebench {edgebench.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    _add_run_arguments(sub.add_parser("run", help="run an experiment file (all its methods) into a run directory"))

    part = sub.add_parser("partition", help="print the per-client label counts a config produces")
    part.add_argument("config", type=Path, help="experiment YAML file")
    _add_set_argument(part)

    from edgebench.profiler.commands import add_measurement_commands

    add_measurement_commands(sub)

    from edgebench.report.cli import add_report_arguments

    add_report_arguments(sub.add_parser("report", help="HTML + Markdown report (tables, figures) from run directories"))

    from edgebench.projection.cli import add_project_arguments

    add_project_arguments(
        sub.add_parser(
            "project", help="project measured runs onto a large fleet: time, energy, bytes (docs/projection.md)"
        )
    )

    from edgebench.fl.flower.cli import add_flower_commands

    add_flower_commands(sub)
    for name, command in sub.choices.items():
        if name in EXAMPLES:
            command.epilog, command.formatter_class = _examples(name), _HelpFormatter
    return parser


#: What the heartbeat says while a command works (after FIRST_HEARTBEAT_S without output, then every
#: HEARTBEAT_S; a command that ends sooner, error exits included, prints only its own lines).
WORKING = {
    "run": "importing torch and transformers",
    "partition": "importing torch, loading and partitioning the data",
    "report": "reading the runs, drawing the figures",
    "project": "projecting the runs onto the fleet",
    "doctor": "checking meters, devices and packages",
    "devices": "matching device profiles",
    "calibrate": "measuring idle power",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    with _command_progress(argv) as progress:
        return _main(argv, progress)


def _command_progress(argv: list[str]):
    """The progress of this command, made before torch is imported: its heartbeat speaks within seconds
    whatever the imports cost. Silent for --help, --quiet and the Flower commands (which log their own)."""
    from edgebench.fl.progress import FIRST_HEARTBEAT_S, HEARTBEAT_S, Progress

    command = argv[0] if argv else None
    quiet = command not in WORKING or bool({"-h", "--help", "--quiet"} & set(argv))
    progress = Progress(quiet=quiet, heartbeat_s=HEARTBEAT_S, first_heartbeat_s=FIRST_HEARTBEAT_S)
    if not quiet:
        progress.status(f"edgebench {command}: {WORKING[str(command)]}")
    return progress


def _main(argv: list[str], progress) -> int:
    from edgebench.profiler.threads import config_path_of_run, preset_from_config_file

    # OMP_WAIT_POLICY must be in the environment before torch loads its OpenMP runtime (docs/measurement.md)
    config_path = config_path_of_run(argv, RUN_VALUE_OPTIONS)
    if config_path is not None:
        preset_from_config_file(config_path)
    args = _parser().parse_args(argv)
    progress.quiet = progress.quiet or bool(getattr(args, "quiet", False))  # also `--qu`, as argparse reads it
    if args.command == "report":
        from edgebench.report.cli import report_command

        return report_command(args)
    if args.command == "project":
        from edgebench.projection.cli import project_command

        return project_command(args)
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
        config = load_config(args.config, args.set)
        if args.command == "partition":
            return _partition(config)
        return _run(config, args, progress)
    except (ConfigError, DataError, PartitionError, ModelError, ComputeUnavailable) as exc:
        print(f"edgebench: error: {exc}", file=sys.stderr)
        return 2


def _run(config, args: argparse.Namespace, progress) -> int:
    import signal

    from edgebench.fl.run_dir import ResumeError, resolve_run_dir, signals_interrupt

    run_dir: Path | None = None
    try:
        with signals_interrupt():  # SIGINT and SIGTERM: RunInterrupted, recorded as `interrupted`
            from edgebench.fl.engine import Engine
            from edgebench.fl.progress import describe_plan

            if args.methods:
                config = config.select_methods([m.strip() for m in args.methods.split(",") if m.strip()])
            if args.device:
                config = config.override("device", {"name": args.device}, "--device")
            if args.compute:
                config = config.override("compute", {"device": args.compute}, "--compute")
            progress.message(f"edgebench run {args.config}: {describe_plan(config)}")
            progress.status("loading the data, the device profile and the model")
            resume = args.resume is not None
            run_dir = resolve_run_dir(config, args.out, args.resume)
            if args.engine == "flower-sim":
                from edgebench.fl.flower.cli import run_flower_simulation

                summaries = run_flower_simulation(config, run_dir, resume=resume, progress=progress)
            else:
                summaries = Engine(config, run_dir, progress=progress, resume=resume).run()
    except ResumeError as exc:
        print(f"edgebench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        signum = int(getattr(exc, "signum", signal.SIGINT))
        print(_interrupted_line(signum, args, run_dir), file=sys.stderr)
        return 128 + signum
    except OSError as exc:
        print(_os_error_line(exc, args, run_dir), file=sys.stderr)
        return 2
    for s in summaries:
        if s.extra.get("skipped"):
            continue
        acc = f"{s.final_accuracy:.4f}" if s.final_accuracy is not None else "n/a"
        sent = f"{s.bytes_total / 1e6:.3f} MB down + up"
        print(f"{s.label}: {s.rounds_run} rounds in {s.wall_s:.1f} s, final accuracy {acc}, {sent}")
    print(f"results: {run_dir}")
    if args.report:
        from edgebench.methods import default_baseline
        from edgebench.report.build import build_report

        out = Path("reports") / run_dir.name if args.report is True else args.report
        progress.status(f"writing the report into {out}", announce=True)
        baseline = default_baseline((m.label, m.method) for m in config.methods)
        result = build_report([run_dir], out, baseline=baseline)
        print(f"report: {result.html}")
    return 0


def _resume_command(args: argparse.Namespace, run_dir: Path) -> str:
    """The exact command that continues this run (the flags that change the config hash included)."""
    import shlex

    argv = ["edgebench", "run", str(args.config), "--resume", str(run_dir)]
    for item in getattr(args, "set", None) or []:
        argv += ["--set", item]
    for flag in ("methods", "device", "compute"):
        value = getattr(args, flag, None)
        if value:
            argv += [f"--{flag}", str(value)]
    if args.engine != "inprocess":
        argv += ["--engine", args.engine]
    return shlex.join(argv)


def _started_meta(run_dir: Path | None) -> dict | None:
    """run.json of `run_dir` when the run got far enough to write one (None otherwise)."""
    import json

    from edgebench.results import RUN_JSON

    if run_dir is None:
        return None
    try:
        return json.loads((run_dir / RUN_JSON).read_text())
    except (OSError, ValueError):
        return None


def _interrupted_line(signum: int, args: argparse.Namespace, run_dir: Path | None) -> str:
    """One line for a run ended by SIGINT/SIGTERM: where it got to and the command that continues it."""
    from edgebench.fl.run_dir import signal_name

    name = signal_name(signum)
    meta = _started_meta(run_dir)
    if meta is None or run_dir is None:
        return f"edgebench: interrupted ({name}) before the run started; nothing was written"
    done = (meta.get("interruption") or {}).get("rounds_done") or {}
    planned = ((meta.get("config") or {}).get("federation") or {}).get("rounds", "?")
    reached = ", ".join(f"{label} {n}/{planned}" for label, n in done.items())
    where = f" after rounds {reached}" if reached else ""
    return (
        f"edgebench: interrupted ({name}){where}; finished rounds are kept in {run_dir}; "
        f"continue with: {_resume_command(args, run_dir)}"
    )


def _os_error_line(exc: OSError, args: argparse.Namespace, run_dir: Path | None) -> str:
    """One line for an OS error (no space, read-only, ...): the path and the OS reason, and for a run that had
    started, the command that continues it once the cause is fixed."""
    from edgebench.results.run_meta import describe_error

    reason = describe_error(exc)
    if exc.filename is None and run_dir is not None:
        reason = f"{run_dir}: {reason}"
    if _started_meta(run_dir) is None or run_dir is None:
        return f"edgebench: error: {reason}"
    return (
        f"edgebench: error: {reason}; the run stopped with its finished rounds kept in {run_dir}; "
        f"once that is fixed, continue with: {_resume_command(args, run_dir)}"
    )


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
