"""Where a run's results go: the run directory named by --out / --resume, or a fresh default one; and the
claim a run holds on it for its whole life (one run per directory, docs/results-contract.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from edgebench.config import ConfigError, ExperimentConfig
from edgebench.results import CLIENTS_CSV, PARTITION_CSV, RANKS_CSV, ROUNDS_CSV, RUN_JSON
from edgebench.results.lock import LOCK_FILE, RunDirBusy, RunDirLock
from edgebench.results.run_meta import describe_error
from edgebench.results.store import SPACE_RESERVE

#: What a run writes into its directory (besides run.json); a new run refuses a directory holding any of them.
RESULT_FILES = (CLIENTS_CSV, ROUNDS_CSV, RANKS_CSV, PARTITION_CSV, "checkpoints")


class ResumeError(RuntimeError):
    """A run directory cannot be used: it already holds a run, another run is using it, the OS refuses it,
    or it cannot be resumed with this config."""


class RunInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised in the main thread by :func:`signals_interrupt` (a KeyboardInterrupt, so
    code that treats Ctrl-C specially treats SIGTERM the same way)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal_name(signum))


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


@contextlib.contextmanager
def signals_interrupt(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """While inside, each of `signals` raises :class:`RunInterrupted` in the main thread (previous handlers
    restored on leaving). Outside the main thread, where handlers cannot be installed, this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise RunInterrupted(signum)

    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old if old is not None else signal.SIG_DFL)


def default_run_dir(config: ExperimentConfig) -> Path:
    """`<output.dir>/<output.name or config stem>-<UTC timestamp>-<random suffix>`: unique even for runs
    started in the same second (and a clash would still be refused by the directory's lock)."""
    stem = config.output.name or (config.source.stem if config.source else "run")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path(config.output.dir) / f"{stem}-{stamp}-{secrets.token_hex(3)}"


def resolve_run_dir(config: ExperimentConfig, out: Path | None, resume: Path | None) -> Path:
    """The run directory named by --out / --resume (not both), else a fresh default one. Whether it may be
    used is decided by :func:`claim_run_dir`, under the directory's lock."""
    if out is not None and resume is not None:
        raise ConfigError(str(config.source), [("", "give either --out or --resume, not both")])
    if resume is not None:
        return resume
    return out or default_run_dir(config)


class RunDirClaim:
    """A run's hold on its directory: the directory lock, and whether this claim created the directory."""

    def __init__(self, run_dir: Path, lock: RunDirLock, created: bool) -> None:
        self.run_dir = run_dir
        self.lock = lock
        self.created = created

    def release(self) -> None:
        self.lock.release()

    def discard(self) -> None:
        """Remove what a new run wrote before it could start (its directory when it made it, else the files
        it made in the empty directory it was given), then release the lock."""
        try:
            if self.created:
                shutil.rmtree(self.run_dir, ignore_errors=True)
            else:
                for name in (*RESULT_FILES, RUN_JSON, SPACE_RESERVE, LOCK_FILE):
                    path = self.run_dir / name
                    if path.is_dir():
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink(missing_ok=True)
        finally:
            self.release()

    def __enter__(self) -> RunDirClaim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def claim_run_dir(run_dir: Path, resume: bool) -> RunDirClaim:
    """Lock `run_dir` for one run before anything is written into it.

    A new run creates the directory when needed and refuses one that holds a run (run.json) or another
    run's results files; a resumed run needs run.json. Either refuses a directory whose lock another live
    run holds. Every refusal, and every OS error (read-only, not a directory, no space), is a one-line
    ResumeError naming the path.
    """
    created = False
    try:
        if resume:
            if not run_dir.is_dir():
                raise ResumeError(f"{run_dir}: no such run directory")
        elif run_dir.exists() and not run_dir.is_dir():
            raise ResumeError(f"cannot use {run_dir} as a run directory: it exists and is not a directory")
        else:
            try:
                run_dir.mkdir(parents=True)
                created = True
            except FileExistsError:
                if not run_dir.is_dir():
                    raise
        lock = RunDirLock.acquire(run_dir)
    except RunDirBusy as exc:
        raise ResumeError(
            f"{run_dir} is in use by another edgebench run ({exc.holder}); wait for it to end or use another --out"
        ) from None
    except OSError as exc:
        if created:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise ResumeError(f"cannot use {run_dir} as a run directory: {describe_error(exc)}") from None
    claim = RunDirClaim(run_dir, lock, created)
    try:
        _check_contents(run_dir, resume)
    except BaseException:
        claim.release()
        raise
    return claim


def _check_contents(run_dir: Path, resume: bool) -> None:
    has_meta = (run_dir / RUN_JSON).exists()
    if resume:
        if not has_meta:
            raise ResumeError(f"{run_dir}: no {RUN_JSON}; not a run directory")
        return
    if has_meta:
        raise ResumeError(f"{run_dir} already holds a run; use --resume {run_dir} or another --out")
    found = [name for name in RESULT_FILES if (run_dir / name).exists()]
    if found:
        raise ResumeError(
            f"{run_dir} holds results files ({', '.join(found)}) but no {RUN_JSON}: not a run this version can "
            "resume; use another --out, or remove them"
        )
