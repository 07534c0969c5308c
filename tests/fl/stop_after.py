"""A Progress that simulates a crash: it raises once a given method has finished a given round."""

from __future__ import annotations

from edgebench.fl.progress import Progress


class StopAfter(Progress):
    """Raises `error` once `label` finishes round `rnd`: after its rows are written, before its checkpoint."""

    def __init__(self, label: str, rnd: int, error: BaseException | type[BaseException] = KeyboardInterrupt) -> None:
        super().__init__(quiet=True)
        self.label, self.rnd, self.error, self.current = label, rnd, error, ""

    def start_method(self, label: str, *args, **kwargs) -> None:
        self.current = label

    def round_done(self, rnd: int, *args, **kwargs) -> None:
        if self.current == self.label and rnd == self.rnd:
            raise self.error
