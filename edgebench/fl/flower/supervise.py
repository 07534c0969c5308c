"""``edgebench client``'s supervisor: the SuperNode and the warm worker, restarted with backoff.

A device should not need a person at its keyboard when the server restarts, a new experiment starts
or the network drops. ``flower-supernode`` retries while it waits for a SuperLink, but it *exits* when
the SuperLink refuses it (HTTP 401 from a SuperLink that lost its state, exit 305 when its key is
still marked online after a crash) or after ``--max-wait-time``. With ``reconnect`` the supervisor
starts it again after a backoff (doubling from ``backoff_min_s`` to ``backoff_max_s``, back to the
minimum once a SuperNode stayed up ``stable_s``). The warm worker (:mod:`edgebench.fl.flower.warm`)
is started once and kept across SuperNode restarts (its caches stay warm); if it dies it is restarted
the same way. On SIGINT / SIGTERM the supervisor first gives the children ``grace_s`` to end by
themselves (Ctrl-C, ``kill -- -PGID`` and systemd reach the whole process group, and a second signal would
kill a SuperNode before it leaves the federation), then sends SIGTERM, then SIGKILL; it ends with
``128 + signal``. Importable without flwr.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff_s: float = 0.0
    restart_at: float | None = None
    exits: list[int] = field(default_factory=list)


class Supervisor:
    """Runs the SuperNode (and the warm worker) until a signal, restarting them when `reconnect`."""

    def __init__(
        self,
        supernode: list[str],
        worker: list[str] | None,
        env: dict[str, str],
        label: str,
        reconnect: bool = False,
        backoff_min_s: float = 2.0,
        backoff_max_s: float = 60.0,
        stable_s: float = 60.0,
        grace_s: float = 10.0,
        poll_s: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.children = [_Child("SuperNode", supernode)]
        if worker is not None:
            self.children.append(_Child("warm worker", worker))
        self.env = env
        self.label = label
        self.reconnect = reconnect
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = max(backoff_max_s, backoff_min_s)
        self.stable_s = stable_s
        self.grace_s = grace_s
        self.poll_s = poll_s
        self.clock = clock
        self.sleep = sleep
        self.log = log or (lambda text: print(f"{label}: {text}", file=sys.stderr, flush=True))
        self.signal: int | None = None

    def _start(self, child: _Child) -> None:
        self.log(f"starting the {child.name}: {' '.join(child.argv)}")
        child.proc = subprocess.Popen(child.argv, env=self.env)
        child.started_at = self.clock()
        child.restart_at = None

    def _on_exit(self, child: _Child, code: int) -> int | None:
        """Schedule a restart (reconnect) or return the supervisor's exit status."""
        child.exits.append(code)
        child.proc = None
        if not self.reconnect:
            self.log(f"the {child.name} exited with {code}; stopping")
            return code if code != 0 else (0 if child.name == "SuperNode" else 1)
        if self.clock() - child.started_at >= self.stable_s:
            child.backoff_s = 0.0
        child.backoff_s = min(self.backoff_max_s, max(self.backoff_min_s, child.backoff_s * 2))
        child.restart_at = self.clock() + child.backoff_s
        self.log(f"the {child.name} exited with {code}; starting it again in {child.backoff_s:g} s")
        return None

    def run(self) -> int:
        """Supervise until a signal (128 + signal number) or, without reconnect, a child's exit (its status)."""

        def on_signal(signum: int, frame: object) -> None:
            self.signal = signum

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for child in self.children:
                self._start(child)
            while self.signal is None:
                for child in self.children:
                    if child.proc is not None and (code := child.proc.poll()) is not None:
                        status = self._on_exit(child, code)
                        if status is not None:
                            return status
                    elif child.proc is None and child.restart_at is not None and self.clock() >= child.restart_at:
                        self._start(child)
                self.sleep(self.poll_s)
            self.log(f"{signal.Signals(self.signal).name}: stopping")
            return 128 + self.signal
        finally:
            self._stop_all(signalled=self.signal is not None)
            for s, old in previous.items():
                signal.signal(s, old)

    def _stop_all(self, signalled: bool) -> None:
        """End the children: after a signal, wait `grace_s` for them first (they most likely got it too)."""
        running = [c.proc for c in self.children if c.proc is not None and c.proc.poll() is None]
        if signalled:
            running = self._wait(running, self.grace_s)
        for proc in running:
            proc.terminate()
        for proc in self._wait(running, self.grace_s):
            proc.kill()
            proc.wait(timeout=10)

    def _wait(self, procs: list[subprocess.Popen], timeout_s: float) -> list[subprocess.Popen]:
        """Wait up to `timeout_s` for `procs` to exit; returns those still running."""
        deadline = self.clock() + timeout_s
        for proc in procs:
            try:
                proc.wait(timeout=max(0.01, deadline - self.clock()))
            except subprocess.TimeoutExpired:
                pass
        return [proc for proc in procs if proc.poll() is None]
