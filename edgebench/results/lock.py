"""One run per directory: an exclusive lock on `<run dir>/.lock`, held for the whole run.

The lock is flock(2) on an open file, so the kernel drops it when the holder ends however it ends
(SIGKILL and power loss included): a dead run never leaves a stale lock. The file itself stays; what it
holds (the holder's pid, host and start time) is only used in messages. Two opens of the file conflict
even within one process, so a second run in another thread is refused too.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks; runs are not protected there
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"

# A report probing the lock holds it (shared) for microseconds: retry a held lock briefly before refusing.
_ATTEMPTS = 10
_PAUSE_S = 0.02


class RunDirBusy(RuntimeError):
    """Another process (or thread) holds the run directory's lock; `holder` says who, when known."""

    def __init__(self, run_dir: Path, holder: str) -> None:
        self.run_dir = run_dir
        self.holder = holder
        super().__init__(f"{run_dir} is in use by another edgebench run ({holder})")


class RunDirLock:
    """The held lock of one run directory; :meth:`release` (or leaving the `with` block) frees it."""

    def __init__(self, run_dir: Path, fd: int | None) -> None:
        self.run_dir = run_dir
        self._fd = fd

    @classmethod
    def acquire(cls, run_dir: Path) -> RunDirLock:
        """Take the lock of the existing directory `run_dir` without waiting.

        RunDirBusy when another run holds it; OSError when the lock file cannot be created or opened.
        """
        if fcntl is None:  # pragma: no cover
            return cls(run_dir, None)
        path = run_dir / LOCK_FILE
        holder = "holder unknown"
        for attempt in range(_ATTEMPTS):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or holder
                os.close(fd)
                if attempt + 1 < _ATTEMPTS:
                    time.sleep(_PAUSE_S)
                continue
            except BaseException:
                os.close(fd)
                raise
            if not _still_at(fd, path):  # a run that could not start removed it while we waited: open anew
                os.close(fd)
                continue
            try:
                os.ftruncate(fd, 0)
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
                os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {stamp}\n".encode(), 0)
            except BaseException:
                os.close(fd)
                raise
            return cls(run_dir, fd)
        raise RunDirBusy(run_dir, holder)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor of this open file drops the flock
            self._fd = None

    def __enter__(self) -> RunDirLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _still_at(fd: int, path: Path) -> bool:
    """Whether the open lock file `fd` is still the file at `path` (not unlinked or replaced)."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def run_dir_in_use(run_dir: Path) -> bool | None:
    """Whether a live process holds `run_dir`'s lock: None when it cannot be told (no lock file: a run
    written before locks, or one that never started; no advisory locks on this system)."""
    if fcntl is None:  # pragma: no cover
        return None
    try:
        fd = os.open(run_dir / LOCK_FILE, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)
    return False
