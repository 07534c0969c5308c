"""How the report shows a run that did not complete (issue 12, item 6): an interrupted run as interrupted,
and a run still marked `running` that no live process holds (killed by SIGKILL or a power cut) as stopped."""

from __future__ import annotations

from pathlib import Path

from edgebench.report import build_report
from edgebench.report.load import load_run
from tests.report.synth import write_run


def test_an_interrupted_run_is_shown_interrupted_and_partial(tmp_path: Path) -> None:
    run = write_run(tmp_path / "stopped", status="interrupted", rounds_done={"fedara": 2})
    result = build_report([run], tmp_path / "report")
    md = result.markdown.read_text()
    assert "| stopped | interrupted |" in md
    assert "fedara (partial): only unfinished runs (stopped: 2 rounds)" in md


def test_a_running_run_nobody_holds_is_shown_stopped(tmp_path: Path) -> None:
    from edgebench.results.lock import LOCK_FILE, RunDirLock

    run = write_run(tmp_path / "killed", status="running", rounds_done={"fedara": 2})
    assert load_run(run).status == "running"  # no lock file: written before locks, cannot tell
    (run / LOCK_FILE).write_text("pid 1 on elsewhere\n")  # what a killed run leaves: its lock file, unheld
    assert load_run(run).status == "stopped: killed while running (no process holds its lock)"
    with RunDirLock.acquire(run):
        assert load_run(run).status == "running"
    md = build_report([run], tmp_path / "report").markdown.read_text()
    assert "| killed | stopped: killed while running (no process holds its lock) |" in md
