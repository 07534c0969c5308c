"""Run directories: one run per directory (a lock held for the run's life), unique default names, no
leftovers from a run that could not start, the user's umask on every file, and a full disk that leaves
a resumable run marked `failed` (issue 12, items 1, 7 and 10)."""

from __future__ import annotations

import csv
import errno
import json
import os
import shlex
import stat
import threading
from pathlib import Path

import pytest

from edgebench.cli import main
from edgebench.config import load_config
from edgebench.fl.engine import run_experiment
from edgebench.fl.progress import Progress
from edgebench.fl.run_dir import ResumeError, default_run_dir
from edgebench.results import ResultsWriter, RunMeta
from edgebench.results import store as store_mod

# Imported inside the tests that use them, so that the behavioural tests also run (and fail) on a tree
# without locks: edgebench.results.lock, edgebench.fl.run_dir.claim_run_dir.
RESERVE = ".space-reserve"
ONE_METHOD = {"methods": [{"method": "lora", "r": 4}], "federation": {"rounds": 2}}


def _rounds(run_dir: Path) -> list[tuple[str, str]]:
    with (run_dir / "rounds.csv").open(newline="") as fh:
        return [(r["method"], r["round"]) for r in csv.DictReader(fh)]


def _status(run_dir: Path) -> str:
    return json.loads((run_dir / "run.json").read_text())["status"]


class _PauseAfterRound(Progress):
    """Holds the run (and so its directory lock) after its first round until `go` is set."""

    def __init__(self) -> None:
        super().__init__(quiet=True)
        self.reached, self.go = threading.Event(), threading.Event()

    def round_done(self, rnd: int, *args, **kwargs) -> None:
        if rnd == 1:
            self.reached.set()
            assert self.go.wait(timeout=600)


# -- 1. one run per directory --------------------------------------------------------------------------


def test_a_second_run_into_a_busy_directory_refuses_and_rows_are_not_doubled(write_config, tmp_path, capsys) -> None:
    path = write_config(ONE_METHOD)
    out = tmp_path / "run"
    pause = _PauseAfterRound()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            run_experiment(load_config(path), out=out, progress=pause)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    worker = threading.Thread(target=first)
    worker.start()
    try:
        assert pause.reached.wait(timeout=600), "the first run never finished its first round"
        assert main(["run", str(path), "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"edgebench: error: {out} is in use by another edgebench run (pid {os.getpid()} on ")
        assert len(err.splitlines()) == 1
        assert main(["run", str(path), "--resume", str(out), "--quiet"]) == 2  # resume takes the lock too
        assert "is in use by another edgebench run" in capsys.readouterr().err
    finally:
        pause.go.set()
        worker.join()
    assert not errors
    assert _status(out) == "complete"
    assert _rounds(out) == [("lora", "1"), ("lora", "2")]
    assert main(["run", str(path), "--resume", str(out), "--quiet"]) == 0  # released at the end


def test_the_lock_conflicts_within_one_process_and_is_released(tmp_path: Path) -> None:
    from edgebench.fl.run_dir import claim_run_dir
    from edgebench.results.lock import LOCK_FILE, RunDirLock, run_dir_in_use

    with RunDirLock.acquire(tmp_path):
        assert run_dir_in_use(tmp_path) is True
        with pytest.raises(ResumeError, match=r"is in use by another edgebench run \(pid \d+ on .+ since "):
            claim_run_dir(tmp_path, resume=False)
    assert run_dir_in_use(tmp_path) is False
    claim = claim_run_dir(tmp_path, resume=False)
    claim.release()
    assert (tmp_path / LOCK_FILE).exists()


def test_resume_of_a_live_run_is_refused_before_reading_it(tmp_path: Path) -> None:
    from edgebench.fl.run_dir import claim_run_dir
    from edgebench.results.lock import RunDirLock

    (tmp_path / "run.json").write_text("{}")
    with RunDirLock.acquire(tmp_path), pytest.raises(ResumeError, match="in use by another edgebench run"):
        claim_run_dir(tmp_path, resume=True)
    with pytest.raises(ResumeError, match="no such run directory"):
        claim_run_dir(tmp_path / "missing", resume=True)


def test_default_run_dirs_are_unique_within_one_second(write_config) -> None:
    config = load_config(write_config({"output": {"name": "same"}}))
    names = [default_run_dir(config).name for _ in range(50)]
    assert len(set(names)) == 50
    assert all(n.startswith("same-") for n in names)


# -- 10. directories a new run refuses, and what a run that cannot start leaves -----------------------------


def test_a_new_run_refuses_a_directory_with_results_files_but_no_run_json(write_config, tmp_path, capsys) -> None:
    out = tmp_path / "old"
    out.mkdir()
    (out / "clients.csv").write_text("method,round\nlora,1\n")
    assert main(["run", str(write_config(ONE_METHOD)), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"edgebench: error: {out} holds results files (clients.csv) but no run.json: not a run this version "
        "can resume; use another --out, or remove them"
    )
    assert (out / "clients.csv").read_text() == "method,round\nlora,1\n"


@pytest.mark.parametrize("existing", [False, True], ids=["new-dir", "empty-existing-dir"])
def test_a_data_error_leaves_no_files_behind(write_config, tmp_path, capsys, existing: bool) -> None:
    path = write_config({**ONE_METHOD, "partition": {"min_samples": 1000}})
    out = tmp_path / "run"
    if existing:
        out.mkdir()
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"edgebench: error: {path}: partition.min_samples: 240 training samples cannot give 4 clients 1000 samples each"
    )
    if existing:
        assert list(out.iterdir()) == []
    else:
        assert not out.exists()


def test_every_run_file_gets_the_umask(write_config, tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        run_dir, _ = run_experiment(
            load_config(write_config(ONE_METHOD)), out=tmp_path / "run", progress=Progress(quiet=True)
        )
    finally:
        os.umask(previous)
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    names = {p.relative_to(run_dir).as_posix() for p in files}
    assert {
        "run.json",
        "clients.csv",
        "rounds.csv",
        "ranks.csv",
        "partition.csv",
        "checkpoints/lora.safetensors",
    } <= names
    assert RESERVE not in names  # given back at the end
    modes = {p.relative_to(run_dir).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in files}
    assert set(modes.values()) == {0o640}, modes


# -- 7. a full disk ------------------------------------------------------------------------------------------


def test_a_full_disk_mid_run_fails_cleanly_and_the_run_resumes(write_config, tmp_path, capsys, monkeypatch) -> None:
    path = write_config({**ONE_METHOD, "federation": {"rounds": 3}})
    out = tmp_path / "run"
    real = ResultsWriter.append_round
    calls: list[int] = []

    def disk_full_after_first_round(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ResultsWriter, "append_round", disk_full_after_first_round)
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"edgebench: error: {out}: No space left on device; the run stopped with its finished ")
    command = err.split("continue with: ", 1)[1]
    assert command == shlex.join(["edgebench", "run", str(path), "--resume", str(out)])
    assert _status(out) == "failed: OSError: No space left on device"
    assert _rounds(out) == [("lora", "1")]
    assert not (out / RESERVE).exists()

    monkeypatch.setattr(ResultsWriter, "append_round", real)
    assert main([*shlex.split(command)[1:], "--quiet"]) == 0
    assert _status(out) == "complete"
    assert _rounds(out) == [("lora", "1"), ("lora", "2"), ("lora", "3")]


def test_run_json_is_written_from_the_space_reserve_when_the_disk_is_full(tmp_path: Path, monkeypatch) -> None:
    writer = ResultsWriter(tmp_path, reserve=True)
    assert (tmp_path / RESERVE).stat().st_size == store_mod.SPACE_RESERVE_BYTES
    real = store_mod.write_json_atomic

    def full_while_reserved(path: Path, data) -> None:
        if (tmp_path / RESERVE).exists():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path, data)

    monkeypatch.setattr(store_mod, "write_json_atomic", full_while_reserved)
    meta = RunMeta(config_file=None, config_hash="h", config={}, run_dir=str(tmp_path), device={})
    meta.fail(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    writer.write_meta(meta)
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "failed: OSError: No space left on device"
    assert not (tmp_path / RESERVE).exists()
    monkeypatch.setattr(store_mod, "write_json_atomic", lambda path, data: _full())
    with pytest.raises(OSError, match="No space left"):  # no reserve left: the error is the caller's
        writer.write_meta(meta)


def _full() -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
