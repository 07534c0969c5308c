"""`edgebench run` against a hostile file system and config (issue 12, items 7 and 10): one line naming the
path and the OS reason, exit code 2, nothing left behind; partition errors and device profile paths named
and resolved like the rest of the experiment file."""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from edgebench.cli import main
from edgebench.config import load_config
from edgebench.fl.progress import Progress
from edgebench.results import ResultsWriter

ONE_METHOD = {"methods": [{"method": "lora", "r": 4}], "federation": {"rounds": 2}}
REPO = Path(__file__).resolve().parents[2]


def _run(path: Path, out: Path, capsys) -> tuple[int, str]:
    rc = main(["run", str(path), "--out", str(out), "--quiet"])
    return rc, capsys.readouterr().err.strip()


# -- 7. --out the OS refuses -------------------------------------------------------------------------------


def test_out_under_a_regular_file(write_config, tmp_path: Path, capsys) -> None:
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "run"
    rc, err = _run(write_config(ONE_METHOD), out, capsys)
    assert (rc, err) == (2, f"edgebench: error: cannot use {out} as a run directory: {out}: Not a directory")


def test_out_is_a_regular_file(write_config, tmp_path: Path, capsys) -> None:
    out = tmp_path / "file"
    out.write_text("x")
    rc, err = _run(write_config(ONE_METHOD), out, capsys)
    assert (rc, err) == (2, f"edgebench: error: cannot use {out} as a run directory: it exists and is not a directory")
    assert out.read_text() == "x"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="no /proc")
def test_out_on_proc(write_config, capsys) -> None:
    out = Path("/proc/edgebench-run")
    rc, err = _run(write_config(ONE_METHOD), out, capsys)
    assert rc == 2
    assert err.startswith(f"edgebench: error: cannot use {out} as a run directory: {out}: ")
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def _read_only_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        (folder / "probe").touch()
    except PermissionError:
        return folder
    (folder / "probe").unlink()
    folder.chmod(0o755)
    pytest.skip("permissions are not enforced for this user (root)")


def test_out_in_a_read_only_directory(write_config, tmp_path: Path, capsys) -> None:
    folder = _read_only_dir(tmp_path)
    try:
        rc, err = _run(write_config(ONE_METHOD), folder, capsys)
    finally:
        folder.chmod(0o755)
    assert (rc, err) == (
        2,
        f"edgebench: error: cannot use {folder} as a run directory: {folder / '.lock'}: Permission denied",
    )


def test_out_on_a_file_system_that_refuses_new_directories(write_config, capsys) -> None:
    out = Path("/sys/edgebench-run")  # sysfs: no new directories, even for root
    try:
        out.mkdir()
    except OSError:
        pass
    else:
        out.rmdir()
        pytest.skip("/sys accepts new directories here")
    rc, err = _run(write_config(ONE_METHOD), out, capsys)
    assert rc == 2
    assert err.startswith(f"edgebench: error: cannot use {out} as a run directory: {out}: ")
    assert len(err.splitlines()) == 1
    assert not out.exists()


def test_out_on_a_full_disk_at_start(write_config, tmp_path: Path, capsys, monkeypatch) -> None:
    real_init = ResultsWriter.__init__

    def full(self, run_dir: Path, *args, **kwargs) -> None:
        real_init(self, run_dir, *args, **kwargs)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ResultsWriter, "__init__", full)
    out = tmp_path / "run"
    rc, err = _run(write_config(ONE_METHOD), out, capsys)
    assert (rc, err) == (2, f"edgebench: error: {out}: No space left on device")
    assert not out.exists()  # a run that could not start leaves nothing


# -- 7. a real full disk (a small tmpfs; needs the right to mount) -------------------------------------------


@contextlib.contextmanager
def _tiny_tmpfs(where: Path, size: str, options: str = "rw"):
    where.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    command = ["mount", "-t", "tmpfs", "-o", f"{options},size={size}", "tmpfs", str(where)]
    done = subprocess.run(command, capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(folder: Path) -> None:
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\1" * 65536)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


@pytest.mark.parametrize("inside", [False, True], ids=["the-mount", "a-folder-in-it"])
def test_out_on_a_read_only_file_system(write_config, tmp_path: Path, capsys, inside: bool) -> None:
    with _tiny_tmpfs(tmp_path / "ro", "1m", "ro") as mount:
        out = mount / "run" if inside else mount
        rc, err = _run(write_config(ONE_METHOD), out, capsys)
    culprit = out if inside else out / ".lock"
    assert (rc, err) == (2, f"edgebench: error: cannot use {out} as a run directory: {culprit}: Read-only file system")


class _FillDiskAfterRound(Progress):
    def __init__(self, folder: Path) -> None:
        super().__init__(quiet=True)
        self.folder = folder

    def round_done(self, rnd: int, *args, **kwargs) -> None:
        if rnd == 1:
            _fill(self.folder)


def test_a_real_full_disk_mid_run_is_recorded_and_resumable(write_config, tmp_path: Path) -> None:
    from edgebench.fl.engine import run_experiment

    path = write_config(ONE_METHOD)
    with _tiny_tmpfs(tmp_path / "disk", "16m") as disk:
        out = disk / "run"
        with pytest.raises(OSError) as info:
            run_experiment(load_config(path), out=out, progress=_FillDiskAfterRound(disk))
        assert info.value.errno == errno.ENOSPC
        meta = json.loads((out / "run.json").read_text())
        assert meta["status"].startswith("failed: OSError: ") and "No space left on device" in meta["status"]
        (disk / "filler").unlink()
        run_experiment(load_config(path), resume=out, progress=Progress(quiet=True))
        assert json.loads((out / "run.json").read_text())["status"] == "complete"
        with (out / "rounds.csv").open(newline="") as fh:
            assert [(r["method"], r["round"]) for r in csv.DictReader(fh)] == [("lora", "1"), ("lora", "2")]


# -- 10. partition errors and device profile paths -----------------------------------------------------------


@pytest.mark.parametrize(
    ("partition", "field", "problem"),
    [
        ({"min_samples": 1000}, "partition.min_samples", "240 training samples cannot give 4 clients 1000 samples"),
        ({"alpha": 0.001, "min_samples": 50, "max_attempts": 3}, "partition.alpha", "raise alpha"),
        ({"scheme": "shards", "shards_per_client": 100}, "partition.shards_per_client", "non-empty shards"),
    ],
    ids=["min_samples", "alpha", "shards"],
)
def test_partition_errors_name_the_file_and_field(write_config, capsys, partition, field, problem) -> None:
    path = write_config({"partition": partition})
    assert main(["partition", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"edgebench: error: {path}: {field}: ") and problem in err, err


def test_device_profile_path_resolves_against_the_config_folder(write_config, tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "experiments"
    (folder / "profiles").mkdir(parents=True)
    shutil.copy(REPO / "device_profiles" / "x86-cpu.yaml", folder / "profiles" / "x86-cpu.yaml")
    path = write_config({"device": {"name": "profiles/x86-cpu.yaml"}}, name="exp.yaml")
    path = Path(shutil.move(path, folder / "exp.yaml"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(Path("..") / "experiments" / "exp.yaml")
    assert config.device.name == str(folder / "profiles" / "x86-cpu.yaml")
    # Resuming from another working directory sees the same config (hash).
    monkeypatch.chdir(folder)
    assert load_config("exp.yaml").hash() == config.hash()
