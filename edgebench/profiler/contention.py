"""Contention: how much CPU *other* processes used while a window was open, and how busy the host is.

A window's other-process CPU time is the busy time of the CPUs this process may run on (its affinity,
from ``/proc/stat``) minus the CPU time of this process tree (this process, all threads, plus its
descendants), over the window: core-seconds per second, i.e. the average number of cores other work
took. Busy time is ``CPUs x elapsed - (idle + iowait)``: on tickless kernels (``NO_HZ``, the usual
case) idle time is accounted exactly at idle entry and exit, so this is not a sampled figure; the
counters are printed in clock ticks (``USER_HZ``, 100 per second), so each CPU's value is truncated to
10 ms. A window is ``contended`` when the other-process share exceeds the threshold by more than that
resolution (``CPUs x tick / duration``), so a window too short to resolve the threshold is never
flagged, and a quiet window never is.

Host load (run start and end, ``edgebench doctor``): the load averages, and every other process that
used at least :data:`BUSY_PROCESS_CORES` of a core over a short sampling interval.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROC_ROOT = Path("/proc")
#: Clock ticks per second of /proc/stat and /proc/<pid>/stat values.
USER_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
#: A process using at least this share of one core over the sampling interval counts as busy.
BUSY_PROCESS_CORES = 0.1
#: Default other-process share (cores) above which a window is contended (`profiler.contention_threshold_cores`).
DEFAULT_THRESHOLD_CORES = 0.2


def affinity_cpus() -> set[int] | None:
    """The CPUs this process may run on (None where the platform cannot say)."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def parse_proc_stat(text: str, cpus: set[int] | None = None) -> tuple[float, int]:
    """(idle + iowait seconds summed over `cpus`, number of those CPUs present) from /proc/stat text.

    `cpus` None: every CPU listed (the online ones). ValueError when no CPU line matches.
    """
    idle_ticks = 0
    count = 0
    for line in text.splitlines():
        if not line.startswith("cpu") or line.startswith("cpu "):
            continue
        name, *fields = line.split()
        index = int(name[3:])
        if cpus is not None and index not in cpus:
            continue
        idle_ticks += int(fields[3]) + (int(fields[4]) if len(fields) > 4 else 0)
        count += 1
    if not count:
        raise ValueError("no matching cpuN lines in /proc/stat")
    return idle_ticks / USER_HZ, count


def _stat_fields(text: str) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (which may contain spaces and parentheses)."""
    return text[text.rindex(")") + 2 :].split()


def _stat_cpu_s(fields: list[str]) -> float:
    """utime + stime + cutime + cstime (the process and its reaped children), in seconds."""
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / USER_HZ


class ProcessTree:
    """CPU seconds of this process (all threads, exact) and its descendants, for :class:`ContentionMeter`.

    Descendants are found through ``/proc/<pid>/task/<tid>/children`` when :meth:`cpu_s` is asked to
    refresh (the profiler does so at the outermost window edges) and their ``/proc/<pid>/stat`` times
    read at every call; children this process has reaped are in :func:`os.times`.
    """

    def __init__(self, proc_root: Path = PROC_ROOT) -> None:
        self.proc_root = Path(proc_root)
        self.pid = os.getpid()
        self.descendants: list[int] = []

    def find_descendants(self) -> list[int]:
        found: list[int] = []
        queue = [self.pid]
        while queue:
            pid = queue.pop()
            try:
                tasks = os.listdir(self.proc_root / str(pid) / "task")
            except OSError:
                continue
            for tid in tasks:
                try:
                    children = (self.proc_root / str(pid) / "task" / tid / "children").read_bytes().split()
                except OSError:
                    continue
                for child in children:
                    found.append(int(child))
                    queue.append(int(child))
        return found

    def pids(self) -> set[int]:
        """This process and its descendants (as last found)."""
        return {self.pid, *self.descendants}

    def cpu_s(self, refresh: bool = False) -> float:
        if refresh:
            self.descendants = self.find_descendants()
        own = os.times()
        total = time.process_time() + own.children_user + own.children_system
        for pid in self.descendants:
            try:
                total += _stat_cpu_s(_stat_fields((self.proc_root / str(pid) / "stat").read_text()))
            except (OSError, ValueError, IndexError):
                continue  # exited and reaped: its time moved to its parent's children times
        return total


@dataclass(frozen=True)
class CpuMark:
    """One edge: monotonic ns, idle seconds of the watched CPUs, their number, this tree's CPU seconds."""

    ns: int
    idle_s: float
    cpus: int
    tree_s: float
    tree_size: int


@dataclass(frozen=True)
class Contention:
    """Other processes' CPU use over a window: average cores, the resolution, and the verdict."""

    other_cpu_cores: float
    resolution_cores: float
    contended: bool


def judge(other_cpu_cores: float, resolution_cores: float, threshold_cores: float) -> bool:
    """Contended only when the share exceeds the threshold by more than the measurement's resolution."""
    return other_cpu_cores - resolution_cores > threshold_cores


class ContentionMeter:
    """Reads /proc/stat and this process tree's CPU time at window edges.

    `proc_root`, `cpus`, `tree_cpu_s` and `clock_ns` are injectable (tests use fixture /proc/stat files).
    """

    def __init__(
        self,
        threshold_cores: float = DEFAULT_THRESHOLD_CORES,
        proc_root: Path = PROC_ROOT,
        tree_cpu_s: Callable[[bool], float] | None = None,
        cpus: set[int] | None = None,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.threshold_cores = threshold_cores
        self.stat_path = Path(proc_root) / "stat"
        self.tree = ProcessTree(proc_root)
        self._tree_cpu_s = tree_cpu_s or self.tree.cpu_s
        self.cpus = cpus if cpus is not None else affinity_cpus()
        self._clock_ns = clock_ns
        self.error: str | None = None

    def mark(self, refresh: bool = False) -> CpuMark | None:
        """The counters now (None when /proc/stat cannot be read; `error` says why)."""
        try:
            text = self.stat_path.read_text()
            ns = self._clock_ns()
            idle_s, cpus = parse_proc_stat(text, self.cpus)
        except (OSError, ValueError) as exc:
            self.error = f"cannot read {self.stat_path}: {exc}"
            return None
        tree_s = self._tree_cpu_s(refresh)
        return CpuMark(ns, idle_s, cpus, tree_s, len(self.tree.descendants))

    def measure(self, start: CpuMark | None, end: CpuMark | None) -> Contention | None:
        """Other processes' cores over [start, end] (None when either mark is missing or spans nothing)."""
        if start is None or end is None or end.ns <= start.ns:
            return None
        elapsed_s = (end.ns - start.ns) / 1e9
        cpus = min(start.cpus, end.cpus)
        busy_s = cpus * elapsed_s - (end.idle_s - start.idle_s)
        other_s = busy_s - (end.tree_s - start.tree_s)
        other = max(0.0, other_s / elapsed_s)
        # each CPU's idle counter is truncated to one tick at each end; each descendant's times too
        resolution = (cpus + max(start.tree_size, end.tree_size)) / USER_HZ / elapsed_s
        return Contention(other, resolution, judge(other, resolution, self.threshold_cores))

    def describe(self) -> dict[str, Any]:
        return {
            "source": f"{self.stat_path} (CPUs x elapsed - idle - iowait) minus this process tree's CPU time",
            "cpus": sorted(self.cpus) if self.cpus is not None else "all online",
            "threshold_cores": self.threshold_cores,
            "tick_s": 1 / USER_HZ,
            "error": self.error,
        }


# -- host load ------------------------------------------------------------------------------------
def read_loadavg(proc_root: Path = PROC_ROOT) -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None when unreadable)."""
    try:
        return [float(x) for x in (Path(proc_root) / "loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return None


def _process_times(proc_root: Path) -> dict[int, tuple[str, float]]:
    """pid -> (command name, utime + stime seconds) of every process readable under `proc_root`."""
    out: dict[int, tuple[str, float]] = {}
    for entry in os.scandir(proc_root):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
            fields = _stat_fields(text)
            name = text[text.index("(") + 1 : text.rindex(")")]
            out[int(entry.name)] = (name, (int(fields[11]) + int(fields[12])) / USER_HZ)
        except (OSError, ValueError, IndexError):
            continue
    return out


def host_load(
    sample_s: float = 0.2,
    proc_root: Path = PROC_ROOT,
    threshold_cores: float = DEFAULT_THRESHOLD_CORES,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """How busy the machine is now: load averages, other processes' cores over `sample_s` seconds of
    doing nothing, the other busy processes (at least :data:`BUSY_PROCESS_CORES` of a core) and the
    busiest of them, and whether that is above `threshold_cores` (``busy``). JSON-safe."""
    proc_root = Path(proc_root)
    meter = ContentionMeter(threshold_cores, proc_root)
    out: dict[str, Any] = {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "loadavg": read_loadavg(proc_root)}
    try:
        before = _process_times(proc_root)
    except OSError as exc:
        out["error"] = f"cannot list {proc_root}: {exc}"
        return out
    start = meter.mark(refresh=True)
    sleep(sample_s)
    end = meter.mark(refresh=True)
    after = _process_times(proc_root)
    elapsed_s = (end.ns - start.ns) / 1e9 if start is not None and end is not None else sample_s
    mine = meter.tree.pids()
    busy = []
    for pid, (name, cpu_s) in after.items():
        if pid in mine:
            continue
        cores = (cpu_s - before[pid][1] if pid in before else cpu_s) / elapsed_s  # new: all of it is recent
        if cores >= BUSY_PROCESS_CORES:
            busy.append({"pid": pid, "name": name, "cores": round(cores, 2)})
    busy.sort(key=lambda p: -p["cores"])
    contention = meter.measure(start, end)
    out.update(
        {
            "cpus": start.cpus if start is not None else None,
            "sample_s": round(elapsed_s, 3),
            "other_cpu_cores": round(contention.other_cpu_cores, 3) if contention else None,
            "other_busy_processes": len(busy),
            "busiest": busy[:5],
            "threshold_cores": threshold_cores,
            "busy": contention.contended if contention else None,
        }
    )
    if contention is None:
        out["error"] = meter.error
    return out


def describe_load(load: dict[str, Any]) -> str:
    """One line for people: load average, other processes' cores, the busiest processes."""
    if load.get("other_cpu_cores") is None:
        return f"host load unknown ({load.get('error') or 'no /proc'})"
    avg = load.get("loadavg")
    text = f"load average {avg[0]:.2f} on {load['cpus']} CPUs; " if avg else ""
    text += (
        f"other processes used {load['other_cpu_cores']:.2f} cores over {load['sample_s']:g} s "
        f"({load['other_busy_processes']} busy"
    )
    if load["busiest"]:
        text += ": " + ", ".join(f"{p['name']} (pid {p['pid']}, {p['cores']:.2f})" for p in load["busiest"][:3])
    return text + ")"
