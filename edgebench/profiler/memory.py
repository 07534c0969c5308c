"""Per-window peak memory: host RSS high-water mark and CUDA allocator peak.

Linux keeps a per-process RSS high-water mark (VmHWM in /proc/self/status) that writing "5" to
/proc/self/clear_refs resets, which gives a true per-window peak. Where that is unavailable the
process-lifetime ``ru_maxrss`` is used and labelled as such.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

PROC_STATUS = Path("/proc/self/status")
PROC_CLEAR_REFS = Path("/proc/self/clear_refs")
_RESET_HWM = "5"


class HostPeakMemory:
    """Reads and resets the host RSS peak; `provenance` says which mechanism is in use."""

    def __init__(self, status_path: Path = PROC_STATUS, clear_refs_path: Path = PROC_CLEAR_REFS) -> None:
        self._status = status_path
        self._clear_refs = clear_refs_path
        self.resettable = self._probe()
        self.provenance = (
            "measured-counter: VmHWM, reset per window via clear_refs"
            if self.resettable
            else "measured-counter: ru_maxrss (process-lifetime peak, not reset per window)"
        )

    def _probe(self) -> bool:
        try:
            return self._read_hwm() is not None and self._write_reset()
        except OSError:
            return False

    def _write_reset(self) -> bool:
        try:
            self._clear_refs.write_text(_RESET_HWM)
        except OSError:
            return False
        return True

    def _read_hwm(self) -> int | None:
        for line in self._status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return None

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


class CudaPeakMemory:
    """CUDA caching-allocator peak (allocated bytes) of the current device, when CUDA is in use."""

    def __init__(self) -> None:
        try:
            import torch

            self._torch = torch if torch.cuda.is_available() and torch.cuda.is_initialized() else None
        except ImportError:  # pragma: no cover - torch is a hard dependency
            self._torch = None
        self.available = self._torch is not None
        self.provenance = (
            "measured-counter: torch.cuda.max_memory_allocated" if self.available else "unavailable: CUDA not in use"
        )

    def synchronize(self) -> None:
        if self._torch is not None:
            self._torch.cuda.synchronize()

    def read_bytes(self) -> int | None:
        return int(self._torch.cuda.max_memory_allocated()) if self._torch is not None else None

    def reset(self) -> None:
        if self._torch is not None:
            self._torch.cuda.reset_peak_memory_stats()
