"""The one writer of a run directory (see docs/results-contract.md).

Rows are appended and flushed as they are produced, so a killed run keeps every finished round;
`run.json` is rewritten atomically whenever the run's status changes.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from edgebench.results.rows import CLIENT_COLUMNS, RANK_COLUMNS, ROUND_COLUMNS, ClientRow, RankRow, RoundRow
from edgebench.results.run_meta import RunMeta

CLIENTS_CSV = "clients.csv"
ROUNDS_CSV = "rounds.csv"
RANKS_CSV = "ranks.csv"
PARTITION_CSV = "partition.csv"
RUN_JSON = "run.json"


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON to a temporary file in the same folder, fsync it, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=False, allow_nan=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
        with self.path.open(newline="") as fh:
            return list(csv.DictReader(fh))

    def keep_only(self, keep: Callable[[Mapping[str, str]], bool]) -> int:
        """Atomically drop rows for which `keep(row)` is false; returns how many were dropped."""
        rows = self.read()
        kept = [r for r in rows if keep(r)]
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns)
            writer.writeheader()
            writer.writerows(kept)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        return len(rows) - len(kept)


def _cell(value: Any) -> Any:
    """Empty cell for missing values; floats written with full precision."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(float(value))  # numpy floats are floats, but their repr is not a number
    return value


class ResultsWriter:
    """Owns the contract files of one run directory."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
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
        write_json_atomic(self.run_dir / RUN_JSON, meta.to_json())

    def drop_rows_after(self, method: str, last_round: int) -> None:
        """Forget `method`'s rows beyond `last_round` (rows of an interrupted round, before resuming)."""

        def keep(row: Mapping[str, str]) -> bool:
            return row["method"] != method or int(row["round"]) <= last_round

        for table in (self.clients, self.rounds, self.ranks):
            table.keep_only(keep)
