"""``edgebench server`` and ``edgebench client``: thin wrappers around Flower's own processes.

Flower's conventions are kept: a long-running ``flower-superlink`` on the server, one
``flower-supernode`` per device, runs submitted with ``flwr run``. The wrappers only fill in what
edgebench needs:

- ``edgebench client`` starts ``flower-supernode --isolation process`` with the node config edgebench
  reads (``partition-id``, ``num-partitions``, ``device-profile``, ``data-path``, ``torch-threads``,
  ``compute``, ``state-dir``) next to one warm ClientApp worker (:mod:`~edgebench.fl.flower.warm`),
  supervised and, with ``--reconnect``, restarted with backoff (:mod:`~edgebench.fl.flower.supervise`),
  after checking the device profile and data path on the device; ``--cold`` without ``--reconnect``
  execs ``flower-supernode`` (same pid) with Flower's per-message ClientApp processes;
- ``edgebench server CONFIG`` writes the Flower App for the experiment into a kept folder, stores the
  SuperLink connection in Flower's own config (the default connection of ``$FLWR_HOME/config.toml``),
  submits the app with ``flwr run --stream``, waits, and prints the same summary as ``edgebench run``;
  Ctrl-C stops the run on the SuperLink (``flwr stop``, checked) and reports what run.json says.

This module imports flwr only when a command runs, so ``edgebench --help`` works without it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from edgebench.fl.flower.compat import default_control_address, supernode_local_api_args, warm_worker_supported

FLOWER_MISSING = (
    "Flower is not installed: pip install 'edgebench[flower]' (flwr; Python >= 3.11 for flwr 1.42), "
    "plus 'flwr[simulation]' for --engine flower-sim"
)
DEFAULT_RUNTIME_PORT = 9094  # flower-supernode's default --port (its Runtime API, on 127.0.0.1)
STATE_DIR_TEXT = "$XDG_STATE_HOME/edgebench/node-state, i.e. ~/.local/state/edgebench/node-state"
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
    link.add_argument("--superlink", help=f"SuperLink address host:port (default {default_control_address()})")
    link.add_argument("--root-certificates", type=Path, help="CA certificate (PEM) of the SuperLink's TLS certificate")
    link.add_argument("--insecure", action="store_true", help="plain HTTP to the SuperLink (loopback or tests only)")
    link.add_argument("--connection", help="a SuperLink connection of your Flower config (~/.flwr/config.toml)")
    server.add_argument(
        "--app-dir",
        type=Path,
        help="write the Flower App (DIR/pyproject.toml, this experiment as its run config) here (default: "
        "~/.local/share/edgebench/flower-apps/<run name>); it is kept: `flwr run DIR` repeats the experiment",
    )
    server.add_argument(
        "--print-command",
        action="store_true",
        help="write the app and the connection, print the flwr run command, exit",
    )

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
    client.add_argument(
        "--cold",
        action="store_true",
        help="Flower's default: a fresh ClientApp process per message (default: one warm worker process per node)",
    )
    client.add_argument(
        "--state-dir",
        type=Path,
        help=f"where this node keeps client method state between rounds, runs and restarts (default {STATE_DIR_TEXT})",
    )
    client.add_argument(
        "--reconnect",
        action="store_true",
        help="restart the SuperNode (with backoff) whenever it exits, e.g. refused or after a SuperLink restart",
    )
    client.add_argument("--backoff-max-s", type=float, default=60.0, help="longest wait between reconnects (s)")
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
    state_dir: str | None = None,
) -> str:
    """The ``--node-config`` string edgebench's ClientApp reads."""
    from edgebench.fl.flower.project import toml_string

    items: list[str] = [f"partition-id={partition_id}"]
    if num_partitions is not None:
        items.append(f"num-partitions={num_partitions}")
    for key, value in (
        ("device-profile", device_profile),
        ("data-path", data_path),
        ("compute", compute),
        ("state-dir", state_dir),
    ):
        if value is not None:
            if '"' in value or "'" in value or "\\" in value:
                raise FlowerCliError(f"{key} {value!r}: quotes and backslashes cannot pass through --node-config")
            items.append(f"{key}={toml_string(value)}")
    if torch_threads is not None:
        items.append(f"torch-threads={torch_threads}")
    return " ".join(items)


def supernode_command(args: argparse.Namespace) -> list[str]:
    """The flower-supernode argv for ``edgebench client`` arguments (validated)."""
    if not args.cold and not warm_worker_supported():  # flwr 1.30: a Flower ClientApp process per message
        args.cold = True
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
    from edgebench.fl.flower.node_state import default_state_dir

    state_dir = (args.state_dir or default_state_dir()).expanduser().resolve()
    config = node_config(
        args.partition_id,
        args.num_partitions,
        args.device_profile,
        data_path,
        args.torch_threads,
        args.compute,
        str(state_dir),
    )
    argv = [_flower_tool("flower-supernode"), "--superlink", args.superlink, "--node-config", config]
    if not args.cold:  # the warm worker (edgebench.fl.flower.warm) claims the messages, no flwr-clientapp
        argv += ["--isolation", "process"]
    if args.insecure:
        argv.append("--insecure")
    else:
        argv += ["--root-certificates", str(args.root_certificates.expanduser().resolve())]
    if args.auth_key is not None:
        argv += ["--auth-supernode-private-key", str(args.auth_key.expanduser().resolve())]
    if args.port is not None:
        argv += supernode_local_api_args(args.port)
    if args.max_wait_time is not None:
        argv += ["--max-wait-time", f"{args.max_wait_time:g}"]
    return argv


def warm_worker_command(args: argparse.Namespace, parent_pid: int) -> list[str]:
    """The warm ClientApp worker's argv for the SuperNode that ``args`` start."""
    port = args.port if args.port is not None else DEFAULT_RUNTIME_PORT
    return [
        sys.executable,
        "-m",
        "edgebench.fl.flower.warm",
        "--runtime-api-address",
        f"127.0.0.1:{port}",
        "--parent-pid",
        str(parent_pid),
    ]


def client_command(args: argparse.Namespace) -> int:
    argv = supernode_command(args)
    if args.print_command:
        print(" ".join(_quote(a) for a in argv))
        if not args.cold:
            worker = warm_worker_command(args, 0)[:-2]  # its --parent-pid is the supervisor's
            print(f"# and next to it, the warm ClientApp worker: {' '.join(_quote(a) for a in worker)}")
        return 0
    env = quiet_flower_env(dict(os.environ))
    if args.cold and not args.reconnect:
        print(f"edgebench client {args.partition_id}: exec {' '.join(_quote(a) for a in argv)}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(argv[0], argv, env)
        return 0  # pragma: no cover - execv does not return
    from edgebench.fl.flower.supervise import Supervisor

    worker = None if args.cold else warm_worker_command(args, os.getpid())
    label = f"edgebench client {args.partition_id}"
    return Supervisor(argv, worker, env, label, reconnect=args.reconnect, backoff_max_s=args.backoff_max_s).run()


# -- edgebench server -----------------------------------------------------------------------------
CONNECTION = "edgebench"  # the SuperLink connection edgebench keeps in Flower's config.toml


def store_connection(address: str, insecure: bool, root_certificates: Path | None, name: str = CONNECTION) -> Path:
    """Write SuperLink connection `name` into Flower's own config (``$FLWR_HOME/config.toml``, by default
    ``~/.flwr/config.toml``) and make it the default, so ``flwr ls`` / ``flwr log`` / ``flwr stop`` work
    without arguments; returns the file. Other connections in the file are kept."""
    try:
        from flwr.cli.flower_config import set_default_superlink_connection, write_superlink_connection
        from flwr.cli.typing import SuperLinkConnection
        from flwr.supercore.utils import get_flwr_home
    except ImportError:
        raise FlowerCliError(
            "this flwr keeps no SuperLink connections in ~/.flwr/config.toml; use --connection"
        ) from None
    certificates = None if insecure else str(root_certificates.expanduser().resolve()) if root_certificates else None
    write_superlink_connection(
        SuperLinkConnection(name, address=address, root_certificates=certificates, insecure=insecure)
    )
    set_default_superlink_connection(name)
    return get_flwr_home() / "config.toml"


def server_command(args: argparse.Namespace) -> int:
    from edgebench.config import ConfigError, load_config
    from edgebench.fl.flower.project import default_app_dir, write_app
    from edgebench.fl.run_dir import default_run_dir
    from edgebench.results import RUN_JSON

    if args.out is not None and args.resume is not None:
        raise FlowerCliError("give either --out or --resume, not both")
    if args.connection and (args.superlink or args.insecure or args.root_certificates):
        raise FlowerCliError("--connection replaces --superlink/--insecure/--root-certificates; give one or the other")
    if not args.connection and args.insecure == (args.root_certificates is not None):
        raise FlowerCliError("give exactly one of --root-certificates CA.pem (TLS) and --insecure (or --connection)")
    if args.root_certificates is not None and not args.root_certificates.expanduser().is_file():
        raise FlowerCliError(f"--root-certificates {args.root_certificates}: no such file")
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

    # The app is kept (never a temporary folder): `flwr run <app>` repeats this experiment.
    app_dir = (args.app_dir or default_app_dir(run_dir.name)).expanduser().resolve()
    write_app(
        app_dir,
        {
            "config": str(args.config.expanduser().resolve()),
            "config-yaml": args.config.read_text(),
            "run-dir": str(run_dir),
            "resume": args.resume is not None,
            "methods": ",".join(methods),
            "compute": args.compute or "",
        },
    )
    env = quiet_flower_env(dict(os.environ))
    connection = args.connection or CONNECTION
    if not args.connection:
        address = args.superlink or default_control_address()
        stored = store_connection(address, args.insecure, args.root_certificates)
        print(
            f"edgebench server: SuperLink connection '{CONNECTION}' ({address}) is the default in {stored}",
            file=sys.stderr,
        )
    argv = [_flower_tool("flwr"), "run", str(app_dir), connection, "--stream"]
    if args.print_command:
        print(" ".join(_quote(a) for a in argv))
        print(f'# the app (kept): {app_dir}/pyproject.toml; add --run-config "federation.rounds=5" to change a field')
        return 0
    print(f"edgebench server: submitting {args.config} -> {run_dir} (app {app_dir})", file=sys.stderr, flush=True)
    rc = _follow_run(argv, connection, env)
    if rc == 130:
        return _report_interrupted(run_dir)
    if rc == STOP_FAILED:
        return 1
    return _report_run(run_dir, rc)


STOP_FAILED = -1  # _follow_run: Ctrl-C, and `flwr stop` did not confirm the stop


def _follow_run(argv: list[str], connection: str, env: dict[str, str]) -> int:
    """Run ``flwr run --stream``, echoing its output; on Ctrl-C also stop the run on the SuperLink.

    Returns flwr's exit status; 130 after Ctrl-C when ``flwr stop`` confirmed the stop (or the run had not
    started), :data:`STOP_FAILED` when it did not (the run may still be going on the SuperLink).
    """
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
        if run_id is None:
            print("\nedgebench server: interrupted before the SuperLink started the run", file=sys.stderr)
            return 130
        print(f"\nedgebench server: stopping run {run_id} on the SuperLink (flwr stop)", file=sys.stderr, flush=True)
        stop = [_flower_tool("flwr"), "stop", run_id, connection]
        try:
            done = subprocess.run(stop, env=env, timeout=60, check=False, capture_output=True, text=True)
        except subprocess.TimeoutExpired:
            print(
                f"edgebench server: error: `flwr stop {run_id}` timed out; the run may still be going", file=sys.stderr
            )
            return STOP_FAILED
        if done.returncode != 0:
            why = (done.stdout + done.stderr).strip().splitlines()
            print(
                f"edgebench server: error: `flwr stop {run_id} {connection}` failed ({done.returncode}: "
                f"{why[-1] if why else 'no output'}); the run may still be going on the SuperLink (`flwr ls`)",
                file=sys.stderr,
            )
            return STOP_FAILED
        return 130


def _report_interrupted(run_dir: Path, wait_s: float = 30.0) -> int:
    """After Ctrl-C and a confirmed ``flwr stop``: what run.json says once the ServerApp recorded it."""
    import time

    from edgebench.results import RUN_JSON

    path = run_dir / RUN_JSON
    deadline = time.monotonic() + wait_s
    status = "no run.json"
    while time.monotonic() < deadline:
        if path.exists():
            try:
                status = str(json.loads(path.read_text()).get("status"))
            except (OSError, ValueError):
                status = "unreadable run.json"
            if status != "running":
                break
        time.sleep(0.5)
    print(f"edgebench server: stopped; run.json status: {status}; continue with --resume {run_dir}", file=sys.stderr)
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
