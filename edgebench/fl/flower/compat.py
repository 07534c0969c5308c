"""Where the supported flwr release lines differ, and nothing else. Importable without flwr.

edgebench supports two flwr release lines, each tested with ``tests/fl/flower`` (the oldest with
``make test-flwr-min``; see docs/flower.md):

- **1.30.x**: the last release that installs on Python 3.10, JetPack 6's Python, for which NVIDIA
  builds its CUDA torch wheels;
- **1.42.x**: the current release (Python >= 3.11).

The releases in between change Flower's command-line flags one process at a time and are not
supported (the ``flower`` extra excludes them). The Python API that edgebench uses (``flwr.app``,
``flwr.serverapp``, ``flwr.clientapp``, ``flwr.simulation``, ``flwr.common.constant.ErrorCode``,
``flwr.common.config.parse_config_args``) is the same in both lines; what differs is held here:

- **SuperLink addresses.** 1.30: three gRPC APIs, ``--fleet-api-address`` (SuperNodes, default
  ``:9092``), ``--control-api-address`` (the flwr CLI, ``:9093``) and ``--serverappio-api-address``
  (the ServerApp, ``:9091``). 1.42: one HTTP API for all three, ``--host`` / ``--port`` (``8000``).
- **Runtime installation of app dependencies.** 1.30: off by default, and no flag turns it off.
  1.42: on by default; ``--disable-runtime-dependency-installation``.
- **A SuperNode's local API** (its ClientApps connect to it). 1.30: ``--clientappio-api-address
  HOST:PORT``. 1.42: ``--host`` / ``--port``.
- **For Grid implementations outside Flower's runtime** (the tests' in-process grid): the ``Run``
  record moved from ``flwr.common.typing`` (1.30) to ``flwr.supercore.run`` (1.42), and 1.42 stamps
  a task identity (``flwr.supercore.task_identity``, set by its runtime) on every new Message.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

# (major, minor) of the supported release lines, oldest first.
SUPPORTED_LINES: tuple[tuple[int, int], ...] = ((1, 30), (1, 42))
# The ``flower`` extra's requirement (pyproject.toml says the same; a test checks that they agree).
FLWR_REQUIREMENT = "flwr>=1.30,<1.43," + ",".join(f"!=1.{minor}.*" for minor in range(31, 42))

# flwr 1.30's default Control API port (its SuperNodes' Fleet API defaults to 9092); 1.42 serves both on one port.
CONTROL_PORT_130 = 9093
HTTP_PORT_142 = 8000


def installed_flwr_version() -> str | None:
    """The installed flwr's version string, or None when flwr is not installed (read without importing it)."""
    try:
        return metadata.version("flwr")
    except metadata.PackageNotFoundError:
        return None


def release_line(version: str) -> tuple[int, int] | None:
    """``(major, minor)`` of a version string such as ``"1.30.0"`` or ``"1.42.0rc1"``; None if unreadable."""
    parts = version.split(".")
    try:
        return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or "x")
    except (IndexError, ValueError):
        return None


def is_supported(version: str | None) -> bool:
    """Whether `version` belongs to one of :data:`SUPPORTED_LINES`."""
    return version is not None and release_line(version) in SUPPORTED_LINES


def split_apis(version: str | None = None) -> bool:
    """True where the SuperLink serves SuperNodes, the flwr CLI and the ServerApp on separate gRPC
    ports (flwr 1.30); False where one HTTP port serves all three (1.42). `version`: the installed flwr's."""
    version = version if version is not None else installed_flwr_version()
    line = release_line(version) if version else None
    return line is not None and line <= (1, 30)


def control_api_port(port: int, version: str | None = None) -> int:
    """The port of a SuperLink's Control API (the flwr CLI's, ``edgebench server --superlink``) when its
    SuperNodes connect to `port` and no other Control port was chosen: 9093 with flwr 1.30, else `port`."""
    return CONTROL_PORT_130 if split_apis(version) else port


def default_control_address(version: str | None = None) -> str:
    """Where ``edgebench server`` (the flwr CLI) finds a SuperLink on this host when none is given."""
    return f"127.0.0.1:{control_api_port(HTTP_PORT_142, version)}"


def superlink_args(
    host: str,
    port: int,
    control_port: int | None = None,
    serverappio_port: int | None = None,
    version: str | None = None,
) -> list[str]:
    """``flower-superlink`` arguments: SuperNodes connect to `host`:`port`, runtime dependency installation off.

    With flwr 1.30 the flwr CLI (``edgebench server --superlink``) connects to `control_port` (default
    9093) and the ServerApp to `serverappio_port` (default: Flower's 9091, bound on 127.0.0.1 when given);
    with 1.42 both use `port` and the other two must be None.
    """
    if split_apis(version):
        args = [
            "--fleet-api-address",
            f"{host}:{port}",
            "--control-api-address",
            f"{host}:{control_port or CONTROL_PORT_130}",
        ]
        if serverappio_port is not None:
            args += ["--serverappio-api-address", f"127.0.0.1:{serverappio_port}"]
        return args  # flwr 1.30 installs no app dependencies at run time unless told to
    if control_port is not None or serverappio_port is not None:
        raise ValueError("this flwr serves the flwr CLI and the ServerApp on the SuperNodes' port: give only `port`")
    return ["--host", host, "--port", str(port), "--disable-runtime-dependency-installation"]


def supernode_local_api_args(port: int, version: str | None = None) -> list[str]:
    """``flower-supernode`` arguments for the port of its local API (ClientApps connect to it), on 127.0.0.1."""
    if split_apis(version):
        return ["--clientappio-api-address", f"127.0.0.1:{port}"]
    return ["--port", str(port)]


def warm_worker_supported(version: str | None = None) -> bool:
    """Whether edgebench's warm ClientApp worker (:mod:`~edgebench.fl.flower.warm`, a client of the
    SuperNode's HTTP runtime API of flwr 1.42) can serve this flwr; with 1.30 each message gets a fresh
    ClientApp process (Flower's default)."""
    return not split_apis(version)


# -- for Grid implementations outside Flower's runtime (tests' in-process grid) --------------------------
def empty_run(run_id: int) -> Any:
    """An empty ``Run`` record, what ``Grid.run`` returns (the class moved between the release lines)."""
    try:
        from flwr.supercore.run import Run
    except ImportError:  # flwr 1.30
        from flwr.common.typing import Run
    return Run.create_empty(run_id=run_id)


def set_task_identity(run_id: int, node_id: int, task_id: int = 1) -> None:
    """Stamp the identity flwr 1.42 puts on every new Message (its runtime does this in a real run).

    flwr 1.30 has no task identity (a message gets its run and source when pushed): nothing to do.
    """
    try:
        from flwr.supercore.task_identity import TaskIdentity
    except ImportError:  # flwr 1.30
        return
    TaskIdentity.task_id = task_id
    TaskIdentity.run_id = run_id
    TaskIdentity.node_id = node_id


def main(argv: list[str] | None = None) -> int:
    """For shell scripts that start Flower's processes themselves (runners/devices/server.sh):

    ``python -m edgebench.fl.flower.compat superlink-args HOST PORT`` prints the ``flower-superlink``
    arguments, one a line; ``python -m edgebench.fl.flower.compat control-port PORT`` prints the port
    of its Control API (the flwr CLI's).
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m edgebench.fl.flower.compat", description=main.__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    listen = sub.add_parser("superlink-args", help="flower-superlink arguments to listen on HOST:PORT")
    listen.add_argument("host")
    listen.add_argument("port", type=int)
    control = sub.add_parser("control-port", help="the Control API port of a SuperLink listening on PORT")
    control.add_argument("port", type=int)
    args = parser.parse_args(argv)
    if args.what == "superlink-args":
        print("\n".join(superlink_args(args.host, args.port)))
    else:
        print(control_api_port(args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
