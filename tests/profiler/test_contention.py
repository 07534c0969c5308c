"""Contention: other processes' CPU per window from /proc/stat fixtures, a real CPU hog beside a window,
host load at run start and end, `edgebench doctor`'s warning, and OMP_WAIT_POLICY / torch threads.

The fixture /proc/stat files (tests/fixtures/proc) hold known tick counts, so the expected share of
other work is exact. The hog test runs a real process that burns CPU; on a shared machine it checks the
window's figure against what the hog itself used (from its /proc/<pid>/stat) and the flag against the
flag rule applied to the measured values, never against an assumed quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgebench.cli import RUN_VALUE_OPTIONS, _parser, main
from edgebench.profiler import threads
from edgebench.profiler.contention import (
    USER_HZ,
    ContentionMeter,
    CpuMark,
    ProcessTree,
    describe_load,
    host_load,
    judge,
    parse_proc_stat,
)
from edgebench.profiler.settings import ProfilerSettings
from edgebench.profiler.setup import build_measurement
from edgebench.profiler.windows import Profiler

PROC = Path(__file__).resolve().parent.parent / "fixtures" / "proc"


class FakeTree:
    """This process tree's CPU seconds, stepped by the test."""

    def __init__(self) -> None:
        self.cpu_s = 100.0
        self.descendants: list[int] = []

    def __call__(self, refresh: bool) -> float:
        return self.cpu_s


class FakeClock:
    def __init__(self) -> None:
        self.ns = 10**12

    def __call__(self) -> int:
        return self.ns


def _fixture_meter(tmp_path: Path, threshold: float = 0.2) -> tuple[ContentionMeter, FakeTree, FakeClock, Path]:
    proc = tmp_path / "proc"
    proc.mkdir()
    shutil.copy(PROC / "stat-start", proc / "stat")
    tree, clock = FakeTree(), FakeClock()
    meter = ContentionMeter(threshold, proc_root=proc, tree_cpu_s=tree, cpus={0, 1}, clock_ns=clock)
    return meter, tree, clock, proc


def _one_second(proc: Path, tree: FakeTree, clock: FakeClock, stat: str) -> None:
    """What the window's second does: this tree uses 1.00 core-s, /proc/stat becomes `stat`."""
    tree.cpu_s += 1.0
    clock.ns += 10**9
    shutil.copy(PROC / stat, proc / "stat")


def test_parse_proc_stat_sums_idle_and_iowait_of_the_affinity_cpus() -> None:
    text = (PROC / "stat-start").read_text()
    assert parse_proc_stat(text, {0, 1}) == (pytest.approx((10000 + 50 + 12000 + 20) / USER_HZ), 2)
    assert parse_proc_stat(text, None)[1] == 4  # every cpuN line, not the aggregate "cpu " line
    with pytest.raises(ValueError):
        parse_proc_stat(text, {7})


@pytest.mark.parametrize(("stat", "other", "contended"), [("stat-quiet-1s", 0.05, False), ("stat-busy-1s", 0.8, True)])
def test_window_records_other_processes_cores_from_proc_stat(
    tmp_path: Path, stat: str, other: float, contended: bool
) -> None:
    meter, tree, clock, proc = _fixture_meter(tmp_path)
    with Profiler(enabled=False, contention=meter) as profiler, profiler.window("train") as window:
        _one_second(proc, tree, clock, stat)
    # busy = 2 CPUs x 1 s - idle; minus this tree's 1.00 s. cpu2-3, outside the affinity, never count.
    assert window.other_cpu_cores == pytest.approx(other)
    assert ("contended" in window.flags) is contended
    assert window.all_flags() == (["contended"] if contended else [])


def test_quiet_window_is_never_flagged_and_flags_reach_the_parent(tmp_path: Path) -> None:
    meter, tree, clock, proc = _fixture_meter(tmp_path)
    with Profiler(enabled=False, contention=meter) as profiler, profiler.window("client") as client:
        with profiler.window("download"):
            _one_second(proc, tree, clock, "stat-quiet-1s")
        with profiler.window("train"):
            _one_second(proc, tree, clock, "stat-quiet-then-busy-2s")  # the busy second after the quiet one
    assert client.child("download").other_cpu_cores == pytest.approx(0.05) and client.child("download").flags == []
    assert client.child("train").other_cpu_cores == pytest.approx(0.8)
    assert client.other_cpu_cores == pytest.approx(0.425)  # 0.85 core-s of other work over the client's 2 s
    assert client.all_flags() == ["contended", "train:contended"]


def test_threshold_and_resolution_decide_the_flag() -> None:
    meter = ContentionMeter(0.2, cpus={0, 1})
    start = CpuMark(ns=0, idle_s=100.0, cpus=2, tree_s=10.0, tree_size=0)
    # 20 ms with 10 ms of apparent other work: 0.5 cores, but two 10 ms ticks are 1 core of resolution
    short = meter.measure(start, CpuMark(ns=20_000_000, idle_s=100.02, cpus=2, tree_s=10.01, tree_size=0))
    assert short is not None and short.other_cpu_cores == pytest.approx(0.5) and not short.contended
    assert short.resolution_cores == pytest.approx(2 / USER_HZ / 0.02)
    # 2 s with 0.6 core-s of other work: 0.3 cores, beyond threshold + resolution (0.2 + 0.01)
    long = meter.measure(start, CpuMark(ns=2 * 10**9, idle_s=102.4, cpus=2, tree_s=11.0, tree_size=0))
    assert long is not None and long.other_cpu_cores == pytest.approx(0.3) and long.contended
    # this tree's own work never counts as other work, and rounding below zero is clamped
    own = meter.measure(start, CpuMark(ns=10**9, idle_s=100.0, cpus=2, tree_s=12.05, tree_size=0))
    assert own is not None and own.other_cpu_cores == 0.0 and not own.contended
    assert judge(0.25, 0.04, 0.2) and not judge(0.25, 0.06, 0.2)
    assert meter.measure(None, start) is None


def test_unreadable_proc_stat_leaves_the_cell_empty(tmp_path: Path) -> None:
    meter = ContentionMeter(0.2, proc_root=tmp_path / "nowhere", cpus={0})
    with Profiler(enabled=False, contention=meter) as profiler, profiler.window("w") as window:
        pass
    assert window.other_cpu_cores is None and window.flags == []
    assert "cannot read" in meter.describe()["error"]


def test_host_load_counts_other_busy_processes(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    shutil.copytree(PROC / "host-before", proc)

    def later(seconds: float) -> None:  # the machine moves on while host_load waits
        shutil.copytree(PROC / "host-after", proc, dirs_exist_ok=True)
        time.sleep(seconds)

    load = host_load(0.2, proc_root=proc, sleep=later)
    assert load["loadavg"] == [3.35, 2.20, 3.12]
    assert load["cpus"] == 2
    # hog: 20 ticks in ~0.2 s = ~1 core; newcomer (not there before): 10 ticks; the daemon's 1 tick is idle
    assert [p["name"] for p in load["busiest"]] == ["burn cpu (hog)", "newcomer"]
    assert load["other_busy_processes"] == 2
    assert load["busiest"][0]["cores"] == pytest.approx(1.0, rel=0.25)
    # 2 CPUs x ~0.2 s minus 9 ticks of idle, minus this process's (small) CPU time: ~1.5 cores
    assert 1.2 < load["other_cpu_cores"] <= 2.0
    assert load["busy"] is True
    text = describe_load(load)
    assert text.startswith("load average 3.35 on 2 CPUs; other processes used")
    assert "burn cpu (hog) (pid 4242, " in text


class _Hog:
    """A CPU burner that is not in this process tree (another process on the machine, not our child)."""

    def __init__(self, seconds: float) -> None:
        burn = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"
        launch = (
            "import subprocess, sys\n"
            "quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # hold no pipe of ours\n"
            f"p = subprocess.Popen([sys.executable, '-c', {burn!r}], start_new_session=True, **quiet)\n"
            "print(p.pid, flush=True)\n"
        )
        out = subprocess.run([sys.executable, "-c", launch], capture_output=True, text=True, check=True)
        self.pid = int(out.stdout.strip())  # its launcher has exited: the burner was re-parented away from us

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _cpu_s(pid: int) -> float:
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / USER_HZ


def _others_cpu_s() -> dict[int, float]:
    mine = {os.getpid(), *ProcessTree().find_descendants()}
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) not in mine:
            try:
                out[int(entry.name)] = _cpu_s(int(entry.name))
            except (OSError, ValueError, IndexError):
                pass
    return out


@pytest.mark.skipif(not Path("/proc/stat").is_file(), reason="needs Linux /proc")
def test_a_real_cpu_hog_beside_a_window_is_measured_and_flagged() -> None:
    meter = ContentionMeter(0.2)
    cpus = len(meter.cpus or os.sched_getaffinity(0))
    with Profiler(enabled=False, contention=meter) as profiler:
        # no hog; this process burns CPU itself, which must not count as other work
        before = _others_cpu_s()
        with profiler.window("own-work") as own:
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                pass
        after = _others_cpu_s()
        background = sum(after[p] - before[p] for p in after if p in before) / own.duration_s
        hog = _Hog(4.0)
        try:
            time.sleep(0.3)  # let it start spinning
            hog_before = _cpu_s(hog.pid)
            with profiler.window("beside-hog") as beside:
                time.sleep(1.5)  # this process idles; the hog runs
            hog_cores = (_cpu_s(hog.pid) - hog_before) / beside.duration_s
        finally:
            hog.kill()
    for window in (own, beside):
        resolution = cpus / USER_HZ / window.duration_s
        assert window.other_cpu_cores is not None
        assert ("contended" in window.flags) == judge(window.other_cpu_cores, resolution, 0.2), window.name
    # our own busy second is not "other": the window agrees with the other processes' own CPU counters
    # (tick truncation of each process and of each CPU allowed), instead of showing ~1 extra core
    own_resolution = cpus / USER_HZ / own.duration_s
    assert own.other_cpu_cores == pytest.approx(background, abs=0.25 + own_resolution)
    if background + 0.25 + own_resolution < 0.2:
        assert "contended" not in own.flags  # a quiet machine: the quiet window is not flagged
    # the hog's CPU time is all counted as other work, and a hog that got a real share flags the window
    resolution = cpus / USER_HZ / beside.duration_s
    assert beside.other_cpu_cores >= hog_cores - 2 * resolution - 0.05
    if hog_cores > 0.2 + 2 * resolution:
        assert "contended" in beside.flags


def test_settings_reach_the_contention_meter_and_run_json(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    threads_before = torch.get_num_threads()
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # restored afterwards
    monkeypatch.setattr(threads, "_applied", None)
    settings = ProfilerSettings(enabled=False, contention_threshold_cores=0.5, omp_wait_policy="ACTIVE")
    measurement = build_measurement(settings, "raspberry-pi-5")
    assert measurement.profiler.contention is not None and measurement.profiler.contention.threshold_cores == 0.5
    try:
        assert measurement.apply_torch_threads(None) == 4  # the profile's torch.threads
        assert torch.get_num_threads() == 4
        measurement.host_sample_s = 0.05
        described = measurement.start(lambda _: None)
        measurement.close()
    finally:
        torch.set_num_threads(threads_before)
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    omp = described["threads"]["omp_wait_policy"]
    assert omp["requested"] == "ACTIVE" and omp["previous"] == "PASSIVE"
    assert omp["effective"] is False  # torch was imported before: too late for this process
    assert "already imported" in omp["note"]
    record = described["threads"]["torch"]
    assert record["intra_op"] == 4 and record["source"] == "device profile raspberry-pi-5 torch.threads"
    start = described["host_load"]["start"]
    assert {"loadavg", "other_cpu_cores", "other_busy_processes", "busiest", "busy"} <= set(start)
    assert set(measurement.host_load) == {"start", "end"} and "end" not in described["host_load"]
    assert described["contention"]["threshold_cores"] == 0.5


def test_run_finds_config_before_argparse_and_the_value_options_match_the_parser() -> None:
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    run = sub.choices["run"]
    takes_value = {s for a in run._actions if a.option_strings and a.nargs != 0 for s in a.option_strings}
    assert takes_value == set(RUN_VALUE_OPTIONS)
    find = threads.config_path_of_run
    assert find(["run", "--out", "x", "--quiet", "exp.yaml", "--methods", "a"], RUN_VALUE_OPTIONS) == "exp.yaml"
    assert find(["run", "--engine=inprocess", "exp.yaml"], RUN_VALUE_OPTIONS) == "exp.yaml"
    assert find(["report", "runs/x"], RUN_VALUE_OPTIONS) is None


def test_cli_sets_omp_wait_policy_before_torch_is_imported(write_config, tmp_path: Path) -> None:
    config = write_config({"profiler": {"omp_wait_policy": "PASSIVE"}})
    code = (
        "import json, sys\n"
        "from edgebench.cli import main\n"
        "from edgebench.profiler import threads\n"
        f"main(['run', {str(config)!r}, '--out', {str(tmp_path / 'run')!r}, '--methods', 'nope'])\n"
        "print(json.dumps({'applied': threads._applied, 'torch': 'torch' in sys.modules}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["torch"], "the run went on to load the config (and torch)"
    assert result["applied"]["value"] == "PASSIVE" and result["applied"]["effective"] is True


def test_run_json_records_host_load_threads_and_other_cpu(write_config, tmp_path: Path) -> None:
    config = write_config({"federation": {"rounds": 1}, "methods": [{"method": "lora", "r": 2}]})
    out = tmp_path / "run"
    assert main(["run", str(config), "--out", str(out), "--quiet", "--device", "x86-cpu"]) == 0
    measurement = json.loads((out / "run.json").read_text())["measurement"]
    assert set(measurement["host_load"]) == {"start", "end"}
    for sample in measurement["host_load"].values():
        assert sample["other_busy_processes"] >= 0 and len(sample["loadavg"]) == 3
    assert measurement["threads"]["torch"]["intra_op"] >= 1
    assert measurement["threads"]["omp_wait_policy"]["requested"] == "PASSIVE"
    header, *rows = (out / "clients.csv").read_text().splitlines()
    columns = header.split(",")
    assert columns.index("other_cpu_cores") > columns.index("comm_energy_est_j")
    assert rows and all(row.split(",")[columns.index("other_cpu_cores")] != "" for row in rows)
