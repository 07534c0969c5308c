"""Progress display: a live bar on a terminal, plain log lines otherwise (CI, pipes, files)."""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm


class Progress:
    """Reports rounds, clients and the latest accuracy of the method being run."""

    def __init__(self, stream: TextIO | None = None, interactive: bool | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.quiet = quiet
        self._bar: tqdm | None = None
        self._label = ""
        self._rounds = 0

    def _log(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    def start_method(self, label: str, rounds: int, clients_per_round: int, first_round: int = 1) -> None:
        self._label, self._rounds = label, rounds
        if self.interactive and not self.quiet:
            total = (rounds - first_round + 1) * clients_per_round
            self._bar = tqdm(total=total, desc=f"{label}", unit="client", file=self.stream, leave=True)
        else:
            resumed = f" (resuming at round {first_round})" if first_round > 1 else ""
            self._log(f"[{label}] {rounds} rounds x {clients_per_round} clients{resumed}")

    def client_done(self, rnd: int, index: int, count: int, loss: float) -> None:
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix_str(f"round {rnd}/{self._rounds} client {index}/{count} loss {loss:.3f}")

    def round_done(self, rnd: int, round_s: float, accuracy: float | None, rejected: int) -> None:
        acc = f" accuracy {accuracy:.4f}" if accuracy is not None else ""
        rej = f" rejected {rejected}" if rejected else ""
        if self._bar is not None:
            if accuracy is not None:
                self._bar.set_description(f"{self._label} acc {accuracy:.3f}")
        else:
            self._log(f"[{self._label}] round {rnd}/{self._rounds} {round_s:.1f}s{acc}{rej}")

    def end_method(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def message(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            self._log(text)
