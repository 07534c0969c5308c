"""runners/devices/*.sh: valid bash, the Python/flwr decision of `check_python`, and server.sh's SuperLink flags
taken from edgebench.fl.flower.compat (so that a flwr 1.30 federation starts too)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[3] / "runners" / "devices"
BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="no bash")


@pytest.mark.parametrize("script", sorted(p.name for p in SCRIPTS.glob("*.sh")))
def test_every_script_is_valid_bash(script: str) -> None:
    subprocess.run([BASH, "-n", str(SCRIPTS / script)], check=True, timeout=30)


def _check_python(tmp_path: Path, python: str, flwr: str, edgebench: str = "yes") -> subprocess.CompletedProcess:
    """check_python from common.sh with a fake `python3` on PATH that reports these versions."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "python3"
    fake.write_text(f"#!/bin/sh\necho '{python} {flwr} {edgebench}'\n")
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "EB_PYTHON"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [BASH, "-c", 'source "$1" && check_python', "bash", str(SCRIPTS / "common.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("python", "flwr"),
    [("3.10", "1.30.0"), ("3.11", "1.42.0"), ("3.12", "1.42.3"), ("3.12", "1.30.0")],
)
def test_check_python_accepts_the_supported_pairs(tmp_path: Path, python: str, flwr: str) -> None:
    done = _check_python(tmp_path, python, flwr)
    assert done.returncode == 0, done.stderr
    assert f"Python {python}, flwr {flwr}" in done.stderr


@pytest.mark.parametrize(
    ("python", "flwr", "says"),
    [
        ("3.10", "1.42.0", "pip install 'flwr==1.30.0'"),  # JetPack 6: only the 1.30 line installs there
        ("3.10", "none", "'flwr==1.30.0'"),
        ("3.11", "none", "'flwr==1.42.0'"),
        ("3.11", "1.35.0", "flwr 1.35.0 is not supported"),
        ("3.9", "1.30.0", "Python 3.9"),
    ],
)
def test_check_python_refuses_with_what_to_install(tmp_path: Path, python: str, flwr: str, says: str) -> None:
    done = _check_python(tmp_path, python, flwr)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and says in done.stderr


def test_check_python_wants_edgebench_installed(tmp_path: Path) -> None:
    done = _check_python(tmp_path, "3.11", "1.42.0", edgebench="no")
    assert done.returncode == 2 and "edgebench is not installed" in done.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_superlink_argv(tmp_path: Path, python: str) -> tuple[list[str], int]:
    """Run server.sh (insecure) with a stand-in `flower-superlink` that records its argv and exits."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    recorded = tmp_path / "superlink-argv"
    fake = bin_dir / "flower-superlink"
    fake.write_text(f'#!/bin/sh\nfor a in "$@"; do echo "$a"; done > {recorded}\nexit 1\n')
    fake.chmod(0o755)
    port = _free_port()
    env = dict(os.environ)
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        EB_PYTHON=python,
        EB_INSECURE="1",
        EB_HOST="127.0.0.1",
        EB_PORT=str(port),
        EB_STATE=str(tmp_path / "state"),
        EB_SECRETS=str(tmp_path / "secrets"),
    )
    done = subprocess.run(
        [BASH, str(SCRIPTS / "server.sh"), "unused.yaml"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "the SuperLink exited" in done.stderr, done.stderr
    return recorded.read_text().splitlines(), port


def test_server_sh_starts_the_superlink_with_the_installed_flwrs_flags(tmp_path: Path) -> None:
    pytest.importorskip("flwr")
    from edgebench.fl.flower.compat import superlink_args

    argv, port = _server_superlink_argv(tmp_path, sys.executable)
    state = tmp_path / "state"
    assert argv == [*superlink_args("127.0.0.1", port), "--database", f"{state}/superlink.db", "--insecure"]


FLWR_130_PYTHON = Path(__file__).resolve().parents[3] / ".venv-flwr130" / "bin" / "python"


@pytest.mark.skipif(not FLWR_130_PYTHON.exists(), reason="no .venv-flwr130 (make test-flwr-min builds it)")
def test_server_sh_on_flwr_130_gives_the_fleet_and_control_api_addresses(tmp_path: Path) -> None:
    argv, port = _server_superlink_argv(tmp_path, str(FLWR_130_PYTHON))
    assert argv[:4] == ["--fleet-api-address", f"127.0.0.1:{port}", "--control-api-address", "127.0.0.1:9093"]
    assert "--port" not in argv and "--disable-runtime-dependency-installation" not in argv
