"""Per-window peak memory: host RSS high-water mark and CUDA allocator peak.

Linux keeps a per-process RSS high-water mark (VmHWM in /proc/self/status) that writing "5" to
/proc/self/clear_refs resets, which gives a true per-window peak. Where that is unavailable the
process-lifetime ``ru_maxrss`` is used and labelled as such.
"""

from __future__ import annotations

import os
import resource
import sys
import weakref
from pathlib import Path

PROC_STATUS = Path("/proc/self/status")
PROC_CLEAR_REFS = Path("/proc/self/clear_refs")
_RESET_HWM = b"5"


class HostPeakMemory:
    """Reads and resets the host RSS peak; `provenance` says which mechanism is in use.

    Both proc files stay open (re-read with pread from offset 0), so an edge costs two system calls
    rather than two opens: window edges are on the training path.
    """

    def __init__(self, status_path: Path = PROC_STATUS, clear_refs_path: Path = PROC_CLEAR_REFS) -> None:
        self._status_fd: int | None = None
        self._clear_fd: int | None = None
        try:
            self._status_fd = os.open(status_path, os.O_RDONLY)
            self._clear_fd = os.open(clear_refs_path, os.O_WRONLY)
        except OSError:
            self._close()
        self._finalizer = weakref.finalize(self, _close_fds, [self._status_fd, self._clear_fd])
        self.resettable = self._probe()
        self.provenance = (
            "measured-counter: VmHWM, reset per window via clear_refs"
            if self.resettable
            else "measured-counter: ru_maxrss (process-lifetime peak, not reset per window)"
        )

    def _close(self) -> None:
        _close_fds([self._status_fd, self._clear_fd])
        self._status_fd = self._clear_fd = None

    def _probe(self) -> bool:
        try:
            return self._read_hwm() is not None and self._write_reset()
        except OSError:
            return False

    def _write_reset(self) -> bool:
        if self._clear_fd is None:
            return False
        try:
            os.write(self._clear_fd, _RESET_HWM)
        except OSError:
            return False
        return True

    def _read_hwm(self) -> int | None:
        if self._status_fd is None:
            return None
        text = os.pread(self._status_fd, 65536, 0)
        at = text.find(b"VmHWM:")
        if at < 0:
            return None
        return int(text[at + 6 : text.index(b"kB", at)]) * 1024

    def read_bytes(self) -> int:
        """Peak RSS since the last reset (or process start), in bytes."""
        if self.resettable:
            value = self._read_hwm()
            if value is not None:
                return value
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024

    def reset(self) -> None:
        """Start a new peak from the current RSS (no-op when not resettable)."""
        if self.resettable:
            self._write_reset()


def _close_fds(fds: list[int | None]) -> None:
    for fd in fds:
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


class CudaPeakMemory:
    """CUDA caching-allocator peaks (allocated and reserved bytes) of the current device.

    CUDA counts as in use once this process has initialised it; the profiler never initialises CUDA
    itself (a CPU-only run stays CPU-only), so availability is checked at every call.
    """

    def __init__(self) -> None:
        try:
            import torch

            self._torch = torch if torch.cuda.is_available() else None
            mps = getattr(torch.backends, "mps", None)
            self._mps = torch.mps if mps is not None and mps.is_available() else None
        except ImportError:  # pragma: no cover - torch is a hard dependency
            self._torch = self._mps = None

    @property
    def present(self) -> bool:
        """torch has CUDA and sees a device (it may not be initialised yet)."""
        return self._torch is not None

    @property
    def available(self) -> bool:
        """This process has initialised CUDA, so its allocator peaks mean something."""
        return self._torch is not None and bool(self._torch.cuda.is_initialized())

    @property
    def provenance(self) -> str:
        return (
            "measured-counter: torch.cuda.max_memory_allocated/max_memory_reserved, reset per window"
            if self.available
            else "unavailable: CUDA not in use"
        )

    def synchronize(self) -> None:
        """Wait for queued accelerator work (CUDA; Apple MPS too), so a window edge is where work ended."""
        if self.available:
            assert self._torch is not None
            self._torch.cuda.synchronize()
        if self._mps is not None:
            self._mps.synchronize()

    def read_bytes(self) -> int | None:
        """Peak allocated bytes since the last reset (None without CUDA)."""
        return int(self._torch.cuda.max_memory_allocated()) if self.available and self._torch else None

    def read_reserved_bytes(self) -> int | None:
        """Peak reserved (allocator cache) bytes since the last reset (None without CUDA)."""
        return int(self._torch.cuda.max_memory_reserved()) if self.available and self._torch else None

    def reset(self) -> None:
        if self.available and self._torch is not None:
            self._torch.cuda.reset_peak_memory_stats()


PROC_MEMINFO = Path("/proc/meminfo")


def parse_meminfo(text: str) -> dict[str, int]:
    """``/proc/meminfo`` as bytes per field (values given in kB are converted)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if not parts:
            continue
        try:
            value = int(parts[0])
        except ValueError:
            continue
        out[key.strip()] = value * 1024 if len(parts) > 1 and parts[1] == "kB" else value
    return out


class MeminfoMemory:
    """System memory on unified-memory boards (Jetson): MemAvailable and NvMapMemUsed from /proc/meminfo.

    On Jetson the GPU allocates from system RAM, so CUDA counters alone miss memory pressure; the
    minimum of MemAvailable and the peak of NvMapMemUsed (the GPU's nvmap allocations, Jetson kernels
    only) are tracked per window, at window edges and, when a sampler process runs, between them.
    """

    def __init__(self, path: Path = PROC_MEMINFO) -> None:
        self.path = path

    def read(self) -> tuple[int | None, int | None]:
        """(MemAvailable bytes, NvMapMemUsed bytes); None for a field the kernel does not have."""
        try:
            fields = parse_meminfo(self.path.read_text())
        except OSError:
            return None, None
        return fields.get("MemAvailable"), fields.get("NvMapMemUsed")
