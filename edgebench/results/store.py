"""The one writer of a run directory (see docs/results-contract.md).

Rows are appended and flushed as they are produced, so a killed run keeps every finished round;
`run.json` is rewritten atomically whenever the run's status changes.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from edgebench.results.rows import CLIENT_COLUMNS, RANK_COLUMNS, ROUND_COLUMNS, ClientRow, RankRow, RoundRow
from edgebench.results.run_meta import RunMeta
from edgebench.results.scan import CONTRACT_KINDS, scan_table

CLIENTS_CSV = "clients.csv"
ROUNDS_CSV = "rounds.csv"
RANKS_CSV = "ranks.csv"
PARTITION_CSV = "partition.csv"
RUN_JSON = "run.json"
#: Space held while a run goes on, given back to record its end in run.json when the disk fills up.
SPACE_RESERVE = ".space-reserve"
SPACE_RESERVE_BYTES = 1 << 20
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def file_mode() -> int:
    """The mode `open()` gives a new file under this process's umask (0o666 & ~umask).

    Files made by `tempfile.mkstemp` (then renamed into place) are 0600: they get this mode instead, so every
    file of a run directory has the same permissions. The umask is read from /proc where it is shown, as
    `os.umask` can only be read by setting it, which would race with other threads creating files.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file in the same folder, fsync it, then rename over `path`.

    A crash leaves the old file or the new one, never a torn one; written from Python, so a full disk
    is an OSError (ENOSPC); mkstemp's 0600 is replaced by the user's umask, like every results file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """`data` as indented JSON (NaN refused), atomically (:func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, (json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n").encode())


class CsvTable:
    """An append-only CSV file with a fixed header; each append is flushed to the OS."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = path
        self.columns = list(columns)
        if not path.exists() or path.stat().st_size == 0:
            with path.open("w", newline="") as fh:
                csv.writer(fh).writerow(self.columns)

    def append(self, rows: Iterable[Mapping[str, Any]]) -> None:
        with self.path.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns, extrasaction="raise")
            for row in rows:
                writer.writerow({k: _cell(row.get(k)) for k in self.columns})
            fh.flush()

    def read(self) -> list[dict[str, str]]:
        """The complete rows; an incomplete tail (rows cut short by a crash, see `keep_only`) is left out.

        CorruptTableError (edgebench.results.scan) when a broken row has complete rows after it.
        """
        return scan_table(self.path, CONTRACT_KINDS).dicts()

    def keep_only(self, keep: Callable[[Mapping[str, str]], bool]) -> list[str]:
        """Atomically drop rows for which `keep(row)` is false (the file is not rewritten when nothing goes).

        An incomplete tail (a last row without its line end, with the wrong number of fields, or with a
        cell that does not parse for its column) is dropped too; returns its rows as
        ``<file> line N (<what is wrong>)``.
        """
        scan = scan_table(self.path, CONTRACT_KINDS)
        rows = scan.dicts()
        kept = [r for r in rows if keep(r)]
        torn = [b.describe(self.path.name) for b in scan.tail]
        if len(kept) == len(rows) and not torn and scan.header == self.columns:
            return torn
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=self.columns)
        writer.writeheader()
        writer.writerows(kept)
        write_bytes_atomic(self.path, text.getvalue().encode())
        return torn


def _cell(value: Any) -> Any:
    """Empty cell for missing values; floats written with full precision."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(float(value))  # numpy floats are floats, but their repr is not a number
    return value


class ResultsWriter:
    """Owns the contract files of one run directory.

    With `reserve`, it also holds :data:`SPACE_RESERVE_BYTES` in a hidden file until :meth:`close`, and gives
    them back when run.json cannot be written for lack of space, so a run stopped by a full disk still records
    why (OSError when even the reserve cannot be made: the disk is already full).
    """

    def __init__(self, run_dir: Path, reserve: bool = False) -> None:
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        self._reserve = run_dir / SPACE_RESERVE if reserve else None
        if self._reserve is not None:
            try:
                with self._reserve.open("wb") as fh:
                    fh.write(os.urandom(SPACE_RESERVE_BYTES))  # incompressible: real blocks, even on zfs/btrfs
                    fh.flush()
                    os.fsync(fh.fileno())
            except BaseException:
                self._reserve.unlink(missing_ok=True)
                raise
        self.clients = CsvTable(run_dir / CLIENTS_CSV, CLIENT_COLUMNS)
        self.rounds = CsvTable(run_dir / ROUNDS_CSV, ROUND_COLUMNS)
        self.ranks = CsvTable(run_dir / RANKS_CSV, RANK_COLUMNS)

    def append_round(self, clients: Sequence[ClientRow], totals: RoundRow, ranks: Sequence[RankRow]) -> None:
        """One finished round: its client rows, its totals and its per-module ranks."""
        self.clients.append(row.cells() for row in clients)
        self.rounds.append([totals.cells()])
        self.ranks.append(row.cells() for row in ranks)

    def write_partition(self, counts: Sequence[Sequence[int]], label_names: Sequence[str]) -> None:
        """partition.csv: one row per client with its sample count per label."""
        path = self.run_dir / PARTITION_CSV
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["client_id", "num_examples", *label_names])
            for cid, row in enumerate(counts):
                writer.writerow([cid, int(sum(row)), *(int(x) for x in row)])

    def write_meta(self, meta: RunMeta) -> None:
        try:
            write_json_atomic(self.run_dir / RUN_JSON, meta.to_json())
        except OSError as exc:
            if exc.errno not in _DISK_FULL or not self._give_back_reserve():
                raise
            write_json_atomic(self.run_dir / RUN_JSON, meta.to_json())

    def _give_back_reserve(self) -> bool:
        if self._reserve is None or not self._reserve.exists():
            return False
        self._reserve.unlink()
        return True

    def close(self) -> None:
        """Remove the space reserve (the run is over)."""
        if self._reserve is not None:
            self._reserve.unlink(missing_ok=True)

    def drop_rows_after(self, method: str, last_round: int) -> list[str]:
        """Forget `method`'s rows beyond `last_round` (rows of an interrupted round, before resuming).

        Rows a crash cut short at the end of any table are dropped too; returns them as
        ``<file> line N (<what is wrong>)``. CorruptTableError when a broken row has complete rows after it.
        """

        def keep(row: Mapping[str, str]) -> bool:
            return row["method"] != method or int(row["round"]) <= last_round

        return [torn for table in (self.clients, self.rounds, self.ranks) for torn in table.keep_only(keep)]
