"""SIGINT and SIGTERM during `edgebench run` (issue 12, item 6): run.json ends `interrupted` with the rounds
each method finished, the rows written so far stay, one line gives the exact `--resume` command (no
traceback), the exit code is 128 + the signal, and that command completes the run."""

from __future__ import annotations

import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgebench.cli import main

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "runners" / "configs" / "smoke.yaml"
METHODS = ("lora", "ffa_lora", "fedara", "fedadalora")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _wait_for_first_round(proc: subprocess.Popen, rounds_csv: Path, stderr: Path, deadline_s: float = 600.0) -> None:
    """Poll until rounds.csv holds a complete row (the first round is written), or the run ends."""
    give_up = time.monotonic() + deadline_s
    while time.monotonic() < give_up:
        if proc.poll() is not None:
            pytest.fail(f"the run ended (rc {proc.returncode}) before it was interrupted:\n{stderr.read_text()}")
        if rounds_csv.exists():
            text = rounds_csv.read_text()
            if text.count("\n") >= 2:  # header + one finished row
                return
        time.sleep(0.05)  # polling interval, not a stand-in for work
    proc.kill()
    pytest.fail("no round was written in time")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_a_signal_ends_the_run_interrupted_and_resume_completes_it(tmp_path: Path, capsys, signum, code) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as err_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgebench.cli", "run", str(SMOKE), "--out", str(out), "--quiet"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err_file,
        )
        try:
            _wait_for_first_round(proc, out / "rounds.csv", stderr)
            proc.send_signal(signum)
            proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    err = stderr.read_text()
    name = signal.Signals(signum).name
    assert proc.returncode == code, err
    # Libraries may print warnings (transformers' FutureWarnings); edgebench itself prints one line.
    lines = [line for line in err.splitlines() if line.startswith("edgebench")]
    assert "Traceback" not in err and len(lines) == 1, err
    line = lines[0]
    assert line.startswith(f"edgebench: interrupted ({name}) after rounds lora "), line
    command = line.split("continue with: ", 1)[1]
    assert command == shlex.join(["edgebench", "run", str(SMOKE), "--resume", str(out)])

    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "interrupted"
    assert meta["interruption"]["signal"] == name
    done = meta["interruption"]["rounds_done"]
    assert set(done) == set(METHODS) and done["lora"] >= 1
    rows = _rows(out / "rounds.csv")
    for label in METHODS:  # the rows written so far are intact: rounds 1..done, nothing else
        got = [int(r["round"]) for r in rows if r["method"] == label]
        assert got == list(range(1, done[label] + 1)), (label, got)
    running = [m for m, info in meta["methods"].items() if info["status"] != "complete"]
    assert all(meta["methods"][m]["status"] == "interrupted" for m in running)

    assert main([*shlex.split(command)[1:], "--quiet"]) == 0
    capsys.readouterr()
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "complete" and "interruption" not in meta and len(meta["resumed_at"]) == 1
    got = [(r["method"], int(r["round"])) for r in _rows(out / "rounds.csv")]
    assert sorted(got) == sorted((m, r) for m in METHODS for r in (1, 2))
