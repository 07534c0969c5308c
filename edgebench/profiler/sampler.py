"""Parent side of the sampler process (see :mod:`edgebench.profiler.sampler_child`).

The child is started with a fixed argv (``sys.executable -m edgebench.profiler.sampler_child ...``),
writes records to a file in a private temporary folder, and is stopped by closing its stdin (then
SIGTERM, then SIGKILL if it lingers). Samples are read from the file at window edges, so nothing runs
in the training process between edges. Both processes stamp samples with CLOCK_MONOTONIC, which is
system-wide on Linux, so child samples and parent window edges share one time axis.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any

import numpy as np

import edgebench
from edgebench.meters.base import MeterUnavailable

_PACKAGE_PARENT = str(Path(edgebench.__file__).resolve().parent.parent)


def _stop(proc: subprocess.Popen[bytes], folder: str, handles: list[Any]) -> None:
    """Stop the child (close stdin, then SIGTERM, then SIGKILL) and remove its folder."""
    try:
        if proc.stdin is not None and not proc.stdin.closed:
            proc.stdin.close()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=3)
        if proc.stdout is not None:
            proc.stdout.close()
    finally:
        for handle in handles:
            handle.close()
        shutil.rmtree(folder, ignore_errors=True)


class SamplerProcess:
    """One power meter sampled at `rate_hz` by a separate process; samples readable as numpy arrays."""

    def __init__(
        self,
        spec: dict[str, Any],
        rate_hz: float,
        meminfo_path: str | Path | None = None,
        startup_timeout_s: float = 30.0,
    ) -> None:
        self.spec = spec
        self.rate_hz = float(rate_hz)
        self.meminfo_path = str(meminfo_path) if meminfo_path else None
        self.startup_timeout_s = startup_timeout_s
        self.channels: list[str] = []
        self.info: dict[str, Any] = {}
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize | None = None
        self._dtype: np.dtype | None = None
        self._record_size = 0
        self._leftover = b""
        self._data: np.ndarray | None = None
        self._fh: Any = None
        self._err_fh: Any = None
        self._folder = ""

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the child and wait for its first reading; :class:`MeterUnavailable` if it cannot sample."""
        self._folder = tempfile.mkdtemp(prefix="edgebench-sampler-")
        out = Path(self._folder) / "samples.bin"
        err = Path(self._folder) / "stderr.txt"
        out.touch()
        argv = [
            sys.executable,
            "-m",
            "edgebench.profiler.sampler_child",
            "--spec",
            json.dumps(self.spec),
            "--out",
            str(out),
            "--rate-hz",
            repr(self.rate_hz),
        ]
        if self.meminfo_path:
            argv += ["--meminfo", self.meminfo_path]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
        self._err_fh = err.open("wb")
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err_fh, env=env, close_fds=True
            )
        except OSError as exc:
            self._err_fh.close()
            shutil.rmtree(self._folder, ignore_errors=True)
            raise MeterUnavailable(f"cannot start the sampler process: {exc}") from exc
        self._proc = proc
        self.pid = proc.pid
        self._fh = out.open("rb")
        self._finalizer = weakref.finalize(self, _stop, proc, self._folder, [self._fh, self._err_fh])
        line = self._read_status_line()
        try:
            status = json.loads(line) if line else {}
        except json.JSONDecodeError:
            status = {}
        if status.get("status") != "ready":
            reason = status.get("reason") or self._stderr_tail() or "no status line"
            self.stop()
            raise MeterUnavailable(f"sampler process failed to start: {reason}")
        self.info = status
        self.channels = list(status["channels"])
        self._dtype = np.dtype([("ns", "<i8"), ("v", "<f8", (len(self.channels),))])
        self._record_size = struct.calcsize(status["record_format"])
        assert self._record_size == self._dtype.itemsize

    def _read_status_line(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self._proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + self.startup_timeout_s
        buf = b""
        try:
            while b"\n" not in buf:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(timeout=remaining):
                    return ""
                chunk = os.read(self._proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                buf += chunk
        finally:
            selector.close()
        return buf.split(b"\n", 1)[0].decode(errors="replace")

    def _stderr_tail(self) -> str:
        try:
            lines = (Path(self._folder) / "stderr.txt").read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def stop(self) -> None:
        """Stop the child and delete its files (idempotent)."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._finalizer is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    # -- samples ---------------------------------------------------------------------------------
    def poll(self) -> None:
        """Read the records the child appended since the previous poll."""
        if self._fh is None or self._dtype is None or self._finalizer is None:
            return
        chunk = self._leftover + self._fh.read()
        usable = len(chunk) - len(chunk) % self._record_size
        self._leftover = chunk[usable:]
        if not usable:
            return
        new = np.frombuffer(chunk[:usable], dtype=self._dtype)
        self._data = new.copy() if self._data is None else np.concatenate((self._data, new))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(monotonic ns, values[:, channel]) of every sample kept."""
        if self._data is None or self._dtype is None:
            return np.empty(0, dtype=np.int64), np.empty((0, max(1, len(self.channels))))
        return self._data["ns"], self._data["v"]

    def trim(self, before_ns: int) -> None:
        """Forget samples older than `before_ns`, keeping the last one before it (for interpolation)."""
        if self._data is None or not len(self._data):
            return
        keep_from = max(0, int(np.searchsorted(self._data["ns"], before_ns)) - 1)
        if keep_from:
            self._data = self._data[keep_from:].copy()

    def last_error(self, before_ns: int) -> str:
        """The newest message the child logged for a failed read up to `before_ns` (or its stderr tail)."""
        try:
            text = (Path(self._folder) / "stderr.txt").read_text(errors="replace")
        except OSError:
            return ""
        found = ""
        for line in text.splitlines():
            stamp, _, message = line.partition("\t")
            if stamp.isdigit() and int(stamp) <= before_ns:
                found = message
        return found or self._stderr_tail()
