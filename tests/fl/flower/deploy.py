"""A loopback Flower deployment for tests: SuperLink, SuperNodes and `edgebench server` as subprocesses.

Every process is started in its own session, with an environment tag inherited by everything it
spawns (SuperExec, ServerApp and ClientApp processes, Ray workers). :meth:`Processes.stop` ends each
started process group by pid (SIGTERM, then SIGKILL after a timeout), then finds any tagged process
left behind (re-parented helpers) and ends it by pid; :meth:`Processes.survivors` lists what is still
alive, so a test can assert that nothing it started outlives it.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from edgebench.fl.flower.compat import split_apis, superlink_args

BIN = Path(sys.executable).parent
TAG = "EDGEBENCH_TEST_PROCESS_TAG"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args[0]} exited with {proc.returncode} before port {port} opened")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:g} s")


@dataclass
class Started:
    name: str
    proc: subprocess.Popen
    log: Path


@dataclass
class Processes:
    """Processes started by one test, each in its own session, all carrying one environment tag."""

    folder: Path
    tag: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: list[Started] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        env["HF_HUB_OFFLINE"] = "1"
        env["PYTHONUNBUFFERED"] = "1"
        env["FLWR_TELEMETRY_ENABLED"] = "0"
        env["FLWR_DISABLE_UPDATE_CHECK"] = "1"
        # Node state, kept apps: in the test's folder, never the user's ~/.local
        env["XDG_STATE_HOME"] = str(self.folder / "xdg-state")
        env["XDG_DATA_HOME"] = str(self.folder / "xdg-data")
        env[TAG] = self.tag
        env.update(extra)
        return env

    def start(self, name: str, argv: list[str], **env: str) -> Started:
        log = self.folder / f"{name}.log"
        with log.open("ab") as fh:
            proc = subprocess.Popen(
                argv, stdout=fh, stderr=subprocess.STDOUT, env=self.env(**env), start_new_session=True, cwd=self.folder
            )
        started = Started(name, proc, log)
        self.started.append(started)
        return started

    def run(self, name: str, argv: list[str], timeout_s: float, **env: str) -> subprocess.CompletedProcess:
        """Run to completion (killed, by its process group, on timeout)."""
        started = self.start(name, argv, **env)
        try:
            started.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._kill_group(started.proc, signal.SIGKILL)
            started.proc.wait(timeout=30)
            raise TimeoutError(f"{name} did not finish in {timeout_s:g} s; log:\n{self.tail(name)}") from None
        return subprocess.CompletedProcess(argv, started.proc.returncode, started.log.read_text(), "")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill `name`'s whole process group (a device losing power)."""
        for s in self.started:
            if s.name == name:
                self._kill_group(s.proc, sig)
                s.proc.wait(timeout=30)

    def tail(self, name: str, lines: int = 60) -> str:
        for s in self.started:
            if s.name == name and s.log.exists():
                return "\n".join(s.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def logs(self) -> str:
        return "\n".join(f"===== {s.name} =====\n{self.tail(s.name, 40)}" for s in self.started)

    @staticmethod
    def _kill_group(proc: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)  # the session leader's pid is its group id
        except (ProcessLookupError, PermissionError):
            pass

    def tagged(self) -> list[psutil.Process]:
        """Live processes (not zombies) carrying this test's tag, whoever their parent is now."""
        found = []
        for p in psutil.process_iter(["pid", "status"]):
            if p.pid == os.getpid() or p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            try:
                if p.environ().get(TAG) == self.tag:
                    found.append(p)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM every started group, wait, SIGKILL what is left; then end tagged stragglers by pid."""
        for s in self.started:
            if s.proc.poll() is None:
                self._kill_group(s.proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for s in self.started:
            try:
                s.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._kill_group(s.proc, signal.SIGKILL)
                s.proc.wait(timeout=10)
        for s in self.started:  # helpers left in a group whose leader already exited
            self._kill_group(s.proc, signal.SIGKILL)
        stragglers = self.tagged()
        for p in stragglers:
            try:
                p.terminate()
            except psutil.NoSuchProcess:
                continue
        _, alive = psutil.wait_procs(stragglers, timeout=10)
        for p in alive:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                continue
        psutil.wait_procs(alive, timeout=10)

    def survivors(self, wait_s: float = 10.0) -> list[str]:
        deadline = time.monotonic() + wait_s
        while True:
            alive = [f"{p.pid} {' '.join(p.cmdline()[:3])}" for p in self.tagged() if p.is_running()]
            if not alive or time.monotonic() >= deadline:
                return alive
            time.sleep(0.5)


@dataclass
class Loopback:
    """SuperLink + SuperNodes on 127.0.0.1, optionally with TLS and SuperNode authentication."""

    procs: Processes
    tls: Path | None = None  # folder holding ca.pem, server.pem, server.key
    node_auth: bool = False
    database: Path | None = None  # the SuperLink's state on disk (--database), else in memory
    port: int = field(default_factory=free_port)
    # flwr 1.30 serves the flwr CLI and the ServerApp on ports of their own (1.42: all on `port`)
    control_port: int | None = field(default_factory=lambda: free_port() if split_apis() else None)
    serverappio_port: int | None = field(default_factory=lambda: free_port() if split_apis() else None)

    @property
    def address(self) -> str:
        """Where SuperNodes connect."""
        return f"127.0.0.1:{self.port}"

    @property
    def control_address(self) -> str:
        """Where the flwr CLI (`edgebench server`) connects."""
        return f"127.0.0.1:{self.control_port or self.port}"

    def security(self) -> list[str]:
        return ["--root-certificates", str(self.tls / "ca.pem")] if self.tls else ["--insecure"]

    def start_superlink(self) -> Started:
        argv = [
            str(BIN / "flower-superlink"),
            *superlink_args("127.0.0.1", self.port, self.control_port, self.serverappio_port),
        ]
        if self.tls:
            argv += [
                "--ssl-ca-certfile",
                str(self.tls / "ca.pem"),
                "--ssl-certfile",
                str(self.tls / "server.pem"),
                "--ssl-keyfile",
                str(self.tls / "server.key"),
            ]
        else:
            argv.append("--insecure")
        if self.node_auth:
            argv.append("--enable-supernode-auth")
        if self.database is not None:
            argv += ["--database", str(self.database)]
        started = self.procs.start("superlink", argv, FLWR_HOME=str(self.procs.folder / "home-superlink"))
        wait_for_port(self.port, proc=started.proc)
        wait_for_port(self.control_port or self.port, proc=started.proc)
        return started

    def flwr_home(self) -> Path:
        """A Flower CLI home with a connection named `loopback` to this SuperLink (for `flwr ...`)."""
        home = self.procs.folder / "home-cli"
        home.mkdir(exist_ok=True)
        security = f'root-certificates = "{self.tls / "ca.pem"}"' if self.tls else "insecure = true"
        (home / "config.toml").write_text(
            f'[superlink]\ndefault = "loopback"\n\n[superlink.loopback]\n'
            f'address = "{self.control_address}"\n{security}\n'
        )
        return home

    def register(self, public_key: Path) -> None:
        """`flwr supernode register` (SuperLink with --enable-supernode-auth)."""
        result = self.procs.run(
            f"register-{public_key.stem}",
            [str(BIN / "flwr"), "supernode", "register", str(public_key), "loopback"],
            timeout_s=60,
            FLWR_HOME=str(self.flwr_home()),
        )
        assert result.returncode == 0, result.stdout

    def start_client(
        self,
        cid: int,
        num: int,
        auth_key: Path | None = None,
        name: str | None = None,
        client_args: tuple[str, ...] = (),
        **extra: str,
    ) -> Started:
        argv = [
            str(BIN / "edgebench"),
            "client",
            "--superlink",
            self.address,
            "--partition-id",
            str(cid),
            "--num-partitions",
            str(num),
            "--port",
            str(free_port()),
            *self.security(),
        ]
        if auth_key is not None:
            argv += ["--auth-key", str(auth_key)]
        argv += client_args
        name = name or f"client{cid}"
        return self.procs.start(name, argv, FLWR_HOME=str(self.procs.folder / f"home-{name}"), **extra)

    def server_argv(self, config: Path, run_dir: Path, flag: str = "--out") -> list[str]:
        """`edgebench server CONFIG --out RUN_DIR` (or `flag="--resume"`) against this SuperLink."""
        argv = [str(BIN / "edgebench"), "server", str(config), flag, str(run_dir), "--superlink", self.control_address]
        return [*argv, *self.security()]

    def run_server(
        self, config: Path, run_dir: Path, flag: str = "--out", timeout_s: float = 600
    ) -> subprocess.CompletedProcess:
        home = str(self.procs.folder / "home-server")  # `edgebench server` keeps its connection there
        return self.procs.run("server", self.server_argv(config, run_dir, flag), timeout_s=timeout_s, FLWR_HOME=home)

    def start_server(self, config: Path, run_dir: Path, flag: str = "--out") -> Started:
        home = str(self.procs.folder / "home-server")
        return self.procs.start("server", self.server_argv(config, run_dir, flag), FLWR_HOME=home)


def stamp() -> str:
    return dt.datetime.now().strftime("%H:%M:%S")
