"""What every :class:`~edgebench.api.Monitor` window returns: the engine's client record, named, as a CSV row.

A :class:`WindowMeasurement` *is* a :class:`~edgebench.results.ClientMeasurement` (the record the engine
writes for each client round), with the window's path and start time and the three identity cells a caller
may add (`round`, `client_id`, `num_examples`). Its CSV row uses the results contract's column names
(docs/results-contract.md) after ``window`` and ``started_at``; an empty cell means *not measured*.
"""

from __future__ import annotations

import csv
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgebench.profiler.windows import WindowRecord
from edgebench.results.rows import MEASUREMENT_COLUMNS, PHASES, ClientMeasurement, window_cells
from edgebench.results.store import CsvTable

#: The columns of a window CSV, in file order: the window's path and start, the identity cells of
#: clients.csv, then the measurement columns of clients.csv.
WINDOW_CSV_COLUMNS: tuple[str, ...] = (
    "window",
    "started_at",
    "round",
    "client_id",
    "num_examples",
    *MEASUREMENT_COLUMNS,
)

#: Cells the caller knows and the window cannot measure; everything else is measured.
CALLER_CELLS = ("round", "client_id", "num_examples", "num_steps", "bytes_down", "bytes_up", "train_loss")

CommEstimate = Callable[[int, int], tuple[float, float | None]]


@dataclass(kw_only=True)
class WindowMeasurement(ClientMeasurement):
    """One window's measurement (seconds, joules, watts, bytes); complete once the window has ended.

    `window`: the window's path (``outer/inner`` for nested windows); `started_at`: its start, UTC
    ISO 8601. While the window is open (`closed` false) the measured cells are empty.
    """

    window: str = ""
    started_at: str | None = None
    round: int | None = None
    client_id: int | None = None
    num_examples: int | None = None
    #: The profiler's raw window, with its nested windows as `children`.
    record: WindowRecord | None = field(default=None, repr=False, compare=False)
    closed: bool = field(default=False, repr=False, compare=False)
    _comm_estimate: CommEstimate | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        """The window's own name (the last part of its path)."""
        return self.window.rsplit("/", 1)[-1]

    @property
    def duration_s(self) -> float | None:
        """Wall time of the window (monotonic clock); the contract's `total_s`."""
        return self.total_s

    @property
    def flags(self) -> list[str]:
        """The window's flags and its nested windows' (``<child>:<flag>``), e.g. ``contended``."""
        return self.window_flags.split(";") if self.window_flags else []

    def finish(self) -> None:
        """Fill the measured cells from the ended profiler window (the monitor calls this)."""
        assert self.record is not None
        for name, value in window_cells(self.record).items():
            setattr(self, name, value)
        if self.window_flags:  # many nested windows of one name: each of their flags once
            self.window_flags = ";".join(dict.fromkeys(self.window_flags.split(";")))
        for child in self.record.children:
            if child.name in PHASES:  # the engine's phase windows, when the caller nests them
                setattr(self, f"{child.name}_s", child.duration_s)
                setattr(self, f"{child.name}_energy_j", child.energy_j)
        self.closed = True
        self._fill_comm()

    def update(self, **cells: Any) -> WindowMeasurement:
        """Set cells the caller knows (see :data:`CALLER_CELLS`); returns self.

        With both `bytes_down` and `bytes_up`, `comm_time_est_s` and `comm_energy_est_j` are estimated from
        the device profile's link model, as the engine does.
        """
        unknown = sorted(set(cells) - set(CALLER_CELLS))
        if unknown:
            measured = [c for c in unknown if c in WINDOW_CSV_COLUMNS]
            why = f"{', '.join(measured)} measured by the window; " if measured else ""
            raise ValueError(
                f"cannot set {', '.join(unknown)}: {why}the cells a caller may set are {', '.join(CALLER_CELLS)}"
            )
        for name, value in cells.items():
            setattr(self, name, _caller_cell(name, value))
        self._fill_comm()
        return self

    def _fill_comm(self) -> None:
        if self._comm_estimate is None or self.bytes_down is None or self.bytes_up is None:
            return
        self.comm_time_est_s, self.comm_energy_est_j = self._comm_estimate(self.bytes_down, self.bytes_up)

    def cells(self) -> dict[str, Any]:
        """The clients.csv measurement cells (column name -> value, None = not measured), as the engine's."""
        return {name: getattr(self, name) for name in MEASUREMENT_COLUMNS}

    def measurement(self) -> ClientMeasurement:
        """A plain :class:`~edgebench.results.ClientMeasurement` with the same cells."""
        return ClientMeasurement.from_cells(self.cells())

    def row(self) -> dict[str, Any]:
        """The CSV row: :data:`WINDOW_CSV_COLUMNS` -> value."""
        self._require_closed()
        return {name: getattr(self, name) for name in WINDOW_CSV_COLUMNS}

    def append_csv(self, path: str | Path, **cells: Any) -> Path:
        """Append this window as one row to the CSV at `path` (created with its header when absent), after
        setting `cells` (:meth:`update`). ValueError when the file has another header."""
        self._require_closed()
        if cells:
            self.update(**cells)
        return append_window_rows(path, [self.row()])

    def _require_closed(self) -> None:
        if not self.closed:
            raise RuntimeError(f"window {self.window!r} is still open: its measurement is complete once it ends")


def _caller_cell(name: str, value: Any) -> int | float | None:
    """`value` as the contract's type for `name`: an integer >= 0 (a count or bytes), or a number for
    `train_loss`; ValueError otherwise. None leaves the cell empty."""
    if value is None:
        return None
    if name == "train_loss":
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
        raise ValueError(f"train_loss must be a number, got {value!r}")
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0:
        return int(value)
    raise ValueError(f"{name} must be an integer >= 0, got {value!r}")


def append_window_rows(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Append window rows (:meth:`WindowMeasurement.row`, or such a row after a trip through a Flower
    ConfigRecord, absent cells left out) to the CSV at `path`, created with its header when absent.

    ValueError when a row has a cell outside :data:`WINDOW_CSV_COLUMNS` or the file has another header.
    """
    rows = list(rows)
    for row in rows:
        unknown = sorted(set(row) - set(WINDOW_CSV_COLUMNS))
        if unknown:
            raise ValueError(f"{path}: not window columns: {', '.join(unknown)} (see edgebench.api.WINDOW_CSV_COLUMNS)")
    path = Path(path)
    check_window_csv(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    CsvTable(path, WINDOW_CSV_COLUMNS).append(rows)
    return path


def check_window_csv(path: Path) -> None:
    """ValueError naming `path` when it exists with a header other than :data:`WINDOW_CSV_COLUMNS`."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open(newline="") as fh:
        header = next(csv.reader(fh), [])
    if tuple(header) != WINDOW_CSV_COLUMNS:
        raise ValueError(
            f"{path}: header is not edgebench's window columns (expected {', '.join(WINDOW_CSV_COLUMNS[:6])}, ...; "
            f"found {', '.join(header[:6]) or 'nothing'}{', ...' if len(header) > 6 else ''}); write to a new file"
        )
