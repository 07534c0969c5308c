"""``edgebench server`` and ``edgebench client``: thin wrappers around Flower's own processes.

Flower's conventions are kept: a long-running ``flower-superlink`` on the server, one
``flower-supernode`` per device, runs submitted with ``flwr run``. The wrappers only fill in what
edgebench needs:

- ``edgebench client`` execs ``flower-supernode`` (same pid) with the node config edgebench reads
  (``partition-id``, ``num-partitions``, ``device-profile``, ``data-path``, ``torch-threads``), after
  checking the device profile and data path on the device;
- ``edgebench server CONFIG`` writes the Flower App (a ``pyproject.toml`` naming edgebench's
  components), submits it with ``flwr run --stream`` and the experiment as run config, waits, and
  prints the same summary as ``edgebench run``.

This module imports flwr only when a command runs, so ``edgebench --help`` works without it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

FLOWER_MISSING = (
    "Flower is not installed: pip install 'edgebench[flower]' (flwr; Python >= 3.11 for flwr 1.42), "
    "plus 'flwr[simulation]' for --engine flower-sim"
)
DEFAULT_SUPERLINK = "127.0.0.1:8000"  # flower-superlink's default --host/--port
# Flower phones home (telemetry, update checks) unless told not to: off by default here, because those
# requests would fail offline and would add network and CPU activity to the windows being measured.
QUIET_FLOWER_ENV = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1"}


def quiet_flower_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's) with Flower's telemetry and update check off unless set by the user."""
    target = os.environ if env is None else env
    for key, value in QUIET_FLOWER_ENV.items():
        target.setdefault(key, value)
    return dict(target)


class FlowerCliError(RuntimeError):
    """A command-line problem worth one line (exit status 2)."""


# -- argument parsers -------------------------------------------------------------------------------
def add_flower_commands(sub: Any) -> None:
    """Add the ``server`` and ``client`` sub-commands to the ``edgebench`` parser."""
    server = sub.add_parser(
        "server",
        help="run an experiment file over Flower SuperNodes (submits it to a SuperLink with flwr run)",
        description="Submit CONFIG to a running flower-superlink; the ServerApp writes the run directory "
        "on the SuperLink host. See docs/flower.md.",
    )
    server.add_argument("config", type=Path, help="experiment YAML file")
    server.add_argument("--out", type=Path, help="run directory to create on the SuperLink host")
    server.add_argument("--resume", type=Path, help="continue the run in this directory from its last checkpoint")
    server.add_argument("--methods", help="comma-separated method labels to run (default: all in the file)")
    server.add_argument(
        "--compute", help="where clients train: auto, cpu, cuda, cuda:N or mps (overrides compute.device)"
    )
    link = server.add_argument_group("SuperLink connection (or --connection)")
    link.add_argument("--superlink", default=None, help=f"SuperLink address host:port (default {DEFAULT_SUPERLINK})")
    link.add_argument("--root-certificates", type=Path, help="CA certificate (PEM) of the SuperLink's TLS certificate")
    link.add_argument("--insecure", action="store_true", help="plain HTTP to the SuperLink (loopback or tests only)")
    link.add_argument("--connection", help="a SuperLink connection of your Flower config (~/.flwr/config.toml)")
    server.add_argument(
        "--app-dir",
        type=Path,
        help="keep the Flower App (DIR/app), its run config (DIR/run-config.toml) and Flower CLI home (DIR/flwr-home) "
        "here instead of a temporary folder",
    )
    server.add_argument("--print-command", action="store_true", help="print the flwr run command and exit")

    client = sub.add_parser(
        "client",
        help="start this device's Flower SuperNode as edgebench client K (execs flower-supernode)",
        description="Connect this device to a SuperLink as federated client K. See docs/flower.md.",
    )
    client.add_argument("--superlink", required=True, help="SuperLink address host:port (its Fleet API)")
    client.add_argument("--partition-id", type=int, required=True, help="this client's id (row of partition.csv)")
    client.add_argument("--num-partitions", type=int, help="number of clients (checked against the experiment)")
    client.add_argument("--device-profile", help="device profile (name or .yaml); default: detect this device")
    client.add_argument("--data", type=Path, help="the dataset on this device (overrides data.path of the experiment)")
    client.add_argument("--torch-threads", type=int, help="intra-op threads for training")
    client.add_argument("--compute", help="where this device trains: auto, cpu, cuda, cuda:N or mps (default: config)")
    client.add_argument("--root-certificates", type=Path, help="CA certificate (PEM) to verify the SuperLink")
    client.add_argument("--insecure", action="store_true", help="plain HTTP to the SuperLink (loopback or tests only)")
    client.add_argument("--auth-key", type=Path, help="this SuperNode's private key (SuperLink with node auth)")
    client.add_argument("--port", type=int, help="local port of the SuperNode's runtime API (default 9094)")
    client.add_argument("--max-wait-time", type=float, help="give up after this many seconds without a SuperLink")
    client.add_argument("--print-command", action="store_true", help="print the flower-supernode command and exit")


def flower_command(args: argparse.Namespace) -> int:
    """Dispatch ``edgebench server`` / ``edgebench client``; returns the exit status."""
    try:
        if args.command == "client":
            return client_command(args)
        return server_command(args)
    except FlowerCliError as exc:
        print(f"edgebench: error: {exc}", file=sys.stderr)
        return 2


# -- edgebench client -----------------------------------------------------------------------------
def _flower_tool(name: str) -> str:
    """A Flower executable: next to this Python (a venv) first, else on PATH."""
    sibling = Path(sys.executable).parent / name
    if sibling.exists():
        return str(sibling)
    found = shutil.which(name)
    if found is None:
        raise FlowerCliError(f"{name} not found; {FLOWER_MISSING}")
    return found


def node_config(
    partition_id: int,
    num_partitions: int | None = None,
    device_profile: str | None = None,
    data_path: str | None = None,
    torch_threads: int | None = None,
    compute: str | None = None,
) -> str:
    """The ``--node-config`` string edgebench's ClientApp reads."""
    from edgebench.fl.flower.project import toml_string

    items: list[str] = [f"partition-id={partition_id}"]
    if num_partitions is not None:
        items.append(f"num-partitions={num_partitions}")
    for key, value in (("device-profile", device_profile), ("data-path", data_path), ("compute", compute)):
        if value is not None:
            if '"' in value or "'" in value or "\\" in value:
                raise FlowerCliError(f"{key} {value!r}: quotes and backslashes cannot pass through --node-config")
            items.append(f"{key}={toml_string(value)}")
    if torch_threads is not None:
        items.append(f"torch-threads={torch_threads}")
    return " ".join(items)


def supernode_command(args: argparse.Namespace) -> list[str]:
    """The flower-supernode argv for ``edgebench client`` arguments (validated)."""
    if args.partition_id < 0:
        raise FlowerCliError("--partition-id must be >= 0")
    if args.num_partitions is not None and not 0 <= args.partition_id < args.num_partitions:
        raise FlowerCliError(f"--partition-id {args.partition_id} is outside 0..{args.num_partitions - 1}")
    if args.insecure == (args.root_certificates is not None):
        raise FlowerCliError("give exactly one of --root-certificates CA.pem (TLS) and --insecure")
    if args.device_profile:
        from edgebench.devices.profiles import ProfileError, get_profile

        try:
            get_profile(args.device_profile)
        except ProfileError as exc:
            raise FlowerCliError(f"--device-profile: {exc}") from None
    data_path = None
    if args.data is not None:
        data = args.data.expanduser().resolve()
        if not data.exists():
            raise FlowerCliError(f"--data {args.data}: no such file or directory on this device")
        data_path = str(data)
    for flag, path in (("--root-certificates", args.root_certificates), ("--auth-key", args.auth_key)):
        if path is not None and not path.expanduser().is_file():
            raise FlowerCliError(f"{flag} {path}: no such file")
    if args.compute is not None:
        from edgebench.devices.compute import ComputeUnavailable, resolve_compute

        try:
            resolve_compute(args.compute)
        except ComputeUnavailable as exc:
            raise FlowerCliError(f"--compute: {exc}") from None
    config = node_config(
        args.partition_id, args.num_partitions, args.device_profile, data_path, args.torch_threads, args.compute
    )
    argv = [_flower_tool("flower-supernode"), "--superlink", args.superlink, "--node-config", config]
    if args.insecure:
        argv.append("--insecure")
    else:
        argv += ["--root-certificates", str(args.root_certificates.expanduser().resolve())]
    if args.auth_key is not None:
        argv += ["--auth-supernode-private-key", str(args.auth_key.expanduser().resolve())]
    if args.port is not None:
        argv += ["--port", str(args.port)]
    if args.max_wait_time is not None:
        argv += ["--max-wait-time", f"{args.max_wait_time:g}"]
    return argv


def client_command(args: argparse.Namespace) -> int:
    argv = supernode_command(args)
    if args.print_command:
        print(" ".join(_quote(a) for a in argv))
        return 0
    print(f"edgebench client {args.partition_id}: exec {' '.join(_quote(a) for a in argv)}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, quiet_flower_env(dict(os.environ)))
    return 0  # pragma: no cover - execv does not return


# -- edgebench server -----------------------------------------------------------------------------
def connection_toml(address: str, insecure: bool, root_certificates: Path | None) -> str:
    """A Flower CLI config (``$FLWR_HOME/config.toml``) with one SuperLink connection, ``edgebench``."""
    from edgebench.fl.flower.project import toml_string

    lines = ["[superlink]", 'default = "edgebench"', "", "[superlink.edgebench]", f"address = {toml_string(address)}"]
    if insecure:
        lines.append("insecure = true")
    else:
        assert root_certificates is not None
        lines.append(f"root-certificates = {toml_string(str(root_certificates.expanduser().resolve()))}")
    return "\n".join(lines) + "\n"


def server_command(args: argparse.Namespace) -> int:
    from edgebench.config import ConfigError, load_config
    from edgebench.fl.flower.project import run_config_toml, write_app
    from edgebench.fl.run_dir import default_run_dir
    from edgebench.results import RUN_JSON

    if args.out is not None and args.resume is not None:
        raise FlowerCliError("give either --out or --resume, not both")
    if args.connection and (args.superlink or args.insecure or args.root_certificates):
        raise FlowerCliError("--connection replaces --superlink/--insecure/--root-certificates; give one or the other")
    if not args.connection and args.insecure == (args.root_certificates is not None):
        raise FlowerCliError("give exactly one of --root-certificates CA.pem (TLS) and --insecure (or --connection)")
    try:
        config = load_config(args.config)
        methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else []
        if methods:
            config = config.select_methods(methods)
        if args.compute:  # validated here, applied by the ServerApp
            config.override("compute", {"device": args.compute}, "--compute")
    except ConfigError as exc:
        raise FlowerCliError(str(exc)) from None
    run_dir = (args.resume or args.out or default_run_dir(config)).expanduser().resolve()
    if args.resume is None and (run_dir / RUN_JSON).exists():
        raise FlowerCliError(f"{run_dir} already holds a run; use --resume {run_dir} or another --out")
    if args.resume is not None and not (run_dir / RUN_JSON).exists():
        raise FlowerCliError(f"{run_dir}: no {RUN_JSON}; not a run directory")

    with tempfile.TemporaryDirectory(prefix="edgebench-flower-") as tmp:
        work = args.app_dir.expanduser().resolve() if args.app_dir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        app_dir = write_app(work / "app")
        overrides = work / "run-config.toml"
        overrides.write_text(
            run_config_toml(
                {
                    "config": str(args.config.expanduser().resolve()),
                    "config-yaml": args.config.read_text(),
                    "run-dir": str(run_dir),
                    "resume": args.resume is not None,
                    "methods": ",".join(methods),
                    "compute": args.compute or "",
                }
            )
        )
        env = quiet_flower_env(dict(os.environ))
        if args.connection:
            connection = args.connection
        else:
            connection = "edgebench"
            home = work / "flwr-home"
            home.mkdir(exist_ok=True)
            address = args.superlink or DEFAULT_SUPERLINK
            (home / "config.toml").write_text(connection_toml(address, args.insecure, args.root_certificates))
            env["FLWR_HOME"] = str(home)
        argv = [_flower_tool("flwr"), "run", str(app_dir), connection, "--run-config", str(overrides), "--stream"]
        if args.print_command:
            print(" ".join(_quote(a) for a in argv))
            if not args.connection:
                home = Path(env["FLWR_HOME"])
                print(f"# with FLWR_HOME={home} holding:\n{(home / 'config.toml').read_text()}")
            return 0
        print(f"edgebench server: submitting {args.config} -> {run_dir}", file=sys.stderr, flush=True)
        rc = _follow_run(argv, connection, env)
    if rc == 130:
        print(f"edgebench server: interrupted and stopped; continue with --resume {run_dir}", file=sys.stderr)
        return 130
    return _report_run(run_dir, rc)


def _follow_run(argv: list[str], connection: str, env: dict[str, str]) -> int:
    """Run ``flwr run --stream``, echoing its output; on Ctrl-C also stop the run on the SuperLink."""
    import re

    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    run_id: str | None = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            found = re.search(r"Successfully started run (\d+)", line)
            if found:
                run_id = found.group(1)
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if run_id is not None:
            print(f"\nedgebench server: stopping run {run_id} on the SuperLink", file=sys.stderr, flush=True)
            stop = [_flower_tool("flwr"), "stop", run_id, connection]
            try:
                subprocess.run(stop, env=env, timeout=60, check=False)
            except subprocess.TimeoutExpired:
                print(f"edgebench server: `flwr stop {run_id}` timed out", file=sys.stderr)
        return 130


def _report_run(run_dir: Path, flwr_rc: int) -> int:
    """Print the summary of a finished run (like ``edgebench run``); 0 when it completed."""
    from edgebench.results import RUN_JSON

    path = run_dir / RUN_JSON
    if not path.exists():
        print(f"edgebench: error: no {RUN_JSON} in {run_dir} (flwr run exited with {flwr_rc})", file=sys.stderr)
        return 1
    meta = json.loads(path.read_text())
    status = str(meta.get("status"))
    for label, rows in _final_rows(run_dir).items():
        acc = rows.get("eval_accuracy") or "n/a"
        print(f"{label}: {rows.get('round')} rounds, final accuracy {acc}")
    print(f"results: {run_dir}")
    if status == "complete":
        return 0
    if status == "running":
        print(
            "the run is still going on the SuperLink (flwr run stopped streaming); follow it with `flwr ls` / "
            "`flwr log <run-id>`",
            file=sys.stderr,
        )
    else:
        print(f"edgebench: run {status}", file=sys.stderr)
    return 1


def _final_rows(run_dir: Path) -> dict[str, dict[str, str]]:
    import csv

    from edgebench.results import ROUNDS_CSV

    path = run_dir / ROUNDS_CSV
    last: dict[str, dict[str, str]] = {}
    if path.exists():
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                last[row["method"]] = row
    return last


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


# -- edgebench run --engine flower-sim ----------------------------------------------------------------
def run_flower_simulation(config: Any, run_dir: Path | None = None, resume: bool = False, progress: Any = None):
    """``edgebench run --engine flower-sim`` (see :mod:`edgebench.fl.flower.simulation`)."""
    quiet_flower_env()  # read by flwr when it is imported
    try:
        import flwr  # noqa: F401
        import ray  # noqa: F401
    except ImportError:
        raise FlowerCliError(f"--engine flower-sim needs Flower's simulation runtime; {FLOWER_MISSING}") from None
    from edgebench.fl.flower.simulation import run_flower_simulation as run

    return run(config, run_dir, resume=resume, progress=progress)
