"""Progress display: a live bar on a terminal, plain log lines otherwise (CI, pipes, files).

With a heartbeat (the CLI turns it on), a command never goes quiet for long: whenever nothing has been
shown for `heartbeat_s` seconds, the current status is printed as a line (or, on a terminal, the live
bar is redrawn with its clock), so model loading, tokenization, evaluation and report writing are not
silent stretches.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, TextIO

from tqdm import tqdm

if TYPE_CHECKING:
    from edgebench.config import ExperimentConfig

#: Seconds without output after which the heartbeat speaks (under the 10 s the CLI promises).
HEARTBEAT_S = 8.0
#: Seconds after a command starts before the heartbeat's first line (commands that finish sooner,
#: including every error exit, print only their own output).
FIRST_HEARTBEAT_S = 2.0


class Progress:
    """Reports rounds, clients and the latest accuracy of the method being run.

    `heartbeat_s`: print the current status after this many seconds without output (None: never; the
    default, so library users and tests get only the lines they ask for). `first_heartbeat_s`: the
    first such line may come this soon after the Progress is made. Call :meth:`close` (or use it as a
    context manager) to stop the heartbeat.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        interactive: bool | None = None,
        quiet: bool = False,
        heartbeat_s: float | None = None,
        first_heartbeat_s: float | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.interactive = _isatty(self.stream) if interactive is None else interactive
        self.quiet = quiet
        self._bar: tqdm | None = None
        self._label = ""
        self._rounds = 0
        self._lock = threading.RLock()
        now = time.monotonic()
        self._status = "starting"
        self._status_since = now
        self._heartbeat_s = heartbeat_s
        first = heartbeat_s if first_heartbeat_s is None or heartbeat_s is None else min(first_heartbeat_s, heartbeat_s)
        # As if the last output had been `heartbeat_s - first` ago: the first heartbeat comes at `first`.
        self._last_output = now - ((heartbeat_s or 0.0) - (first or 0.0))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if heartbeat_s is not None and not quiet:
            self._thread = threading.Thread(target=self._beat, name="edgebench-progress", daemon=True)
            self._thread.start()

    # -- heartbeat -------------------------------------------------------------------------------
    def status(self, text: str, announce: bool = False) -> None:
        """Set what the heartbeat says is going on (and print it now when `announce`)."""
        with self._lock:
            self._status, self._status_since = text, time.monotonic()
            if announce:
                self.message(text)

    def close(self) -> None:
        """Stop the heartbeat and close a live bar (idempotent)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self.end_method()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _beat(self) -> None:
        assert self._heartbeat_s is not None
        tick = min(1.0, self._heartbeat_s / 4)
        while not self._stop.wait(tick):
            with self._lock:
                now = time.monotonic()
                if now - self._last_output < self._heartbeat_s:
                    continue
                try:
                    if self._bar is not None:
                        self._bar.refresh()  # the bar's clock and rate move: the terminal shows life
                        self._last_output = now
                    else:
                        self._log(f"{self._status} ({now - self._status_since:.0f} s)")
                except (OSError, ValueError):  # the reader went away (a closed pipe): stop beating, quietly
                    return

    # -- engine events -----------------------------------------------------------------------------
    def _log(self, text: str) -> None:
        if not self.quiet:
            with self._lock:
                print(text, file=self.stream, flush=True)
                self._last_output = time.monotonic()

    def start_method(self, label: str, rounds: int, clients_per_round: int, first_round: int = 1) -> None:
        with self._lock:
            self._label, self._rounds = label, rounds
            self.status(f"[{label}] round {first_round}/{rounds}: training {clients_per_round} clients")
            if self.interactive and not self.quiet:
                total = (rounds - first_round + 1) * clients_per_round
                self._bar = tqdm(total=total, desc=f"{label}", unit="client", file=self.stream, leave=True)
                self._last_output = time.monotonic()
            else:
                resumed = f" (resuming at round {first_round})" if first_round > 1 else ""
                self._log(f"[{label}] {rounds} rounds x {clients_per_round} clients{resumed}")

    def client_done(self, rnd: int, index: int, count: int, loss: float) -> None:
        with self._lock:
            after = "; aggregating and evaluating" if index == count else ""
            self._status = f"[{self._label}] round {rnd}/{self._rounds}: {index}/{count} clients trained{after}"
            if self._bar is not None:
                self._bar.update(1)
                self._bar.set_postfix_str(f"round {rnd}/{self._rounds} client {index}/{count} loss {loss:.3f}")
                self._last_output = time.monotonic()

    def round_done(self, rnd: int, round_s: float, accuracy: float | None, rejected: int) -> None:
        acc = f" accuracy {accuracy:.4f}" if accuracy is not None else ""
        rej = f" rejected {rejected}" if rejected else ""
        with self._lock:
            if rnd < self._rounds:
                self.status(f"[{self._label}] round {rnd + 1}/{self._rounds}: training clients")
            else:
                self.status(f"[{self._label}] finished: saving, then the next method or the summary")
            if self._bar is not None:
                if accuracy is not None:
                    self._bar.set_description(f"{self._label} acc {accuracy:.3f}")
                self._last_output = time.monotonic()
            else:
                self._log(f"[{self._label}] round {rnd}/{self._rounds} {round_s:.1f}s{acc}{rej}")

    def end_method(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None

    def message(self, text: str) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.write(text, file=self.stream)
                self._last_output = time.monotonic()
            else:
                self._log(text)


def describe_plan(config: ExperimentConfig) -> str:
    """One line saying what a run will do: methods, rounds, clients, local work, model and data."""
    fed = config.federation
    labels = ", ".join(m.label for m in config.methods)
    work = f"{fed.local_steps} steps" if fed.local_steps is not None else f"{fed.local_epochs} epochs"
    count = len(config.methods)
    return (
        f"{count} method{'s' if count != 1 else ''} ({labels}) x {fed.rounds} rounds x "
        f"{fed.clients_per_round} of {fed.num_clients} clients x {work}; model {config.model.name}, "
        f"data {config.data.dataset}"
    )


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or bare stream
        return False
