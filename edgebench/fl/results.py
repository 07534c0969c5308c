"""The results contract: what every runner writes into a run directory (see docs/results-contract.md).

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

CLIENT_COLUMNS = [
    "method",
    "round",
    "client_id",
    "num_examples",
    "num_steps",
    "download_s",
    "train_s",
    "upload_s",
    "total_s",
    "bytes_down",
    "bytes_up",
    "train_loss",
    "energy_j",
    "energy_provenance",
    "power_avg_w",
    "peak_rss_bytes",
    "peak_accel_bytes",
    "memory_provenance",
    "active_rank",
    "active_modules",
    "status",
    "energy_net_j",
    "idle_power_w",
    "energy_scope",
    "sample_rate_hz",
    "max_gap_s",
    "window_flags",
    "download_energy_j",
    "train_energy_j",
    "upload_energy_j",
    "energy_rails_j",
    "peak_accel_reserved_bytes",
    "mem_available_min_bytes",
    "nvmap_peak_bytes",
    "comm_time_est_s",
    "comm_energy_est_j",
    # Flower runners only (empty in-process): see docs/results-contract.md and docs/flower.md.
    "flower_bytes_down",
    "flower_bytes_up",
    "flower_reply_s",
    "client_device",
]
ROUND_COLUMNS = [
    "method",
    "round",
    "clients",
    "clients_rejected",
    "bytes_down",
    "bytes_up",
    "round_s",
    "eval_s",
    "eval_accuracy",
    "eval_loss",
    "eval_examples",
    "energy_j",
    "energy_provenance",
    "active_rank",
    "active_modules",
    "budget",
    "energy_net_j",
    "eval_energy_j",
    "eval_energy_provenance",
    "comm_time_est_s",
    "comm_energy_est_j",
    # Flower runners only (empty in-process).
    "clients_dropped",
    "flower_bytes_down",
    "flower_bytes_up",
]
RANK_COLUMNS = ["method", "round", "module", "rank"]

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
        return repr(value)
    return value


class ResultsWriter:
    """Owns the contract files of one run directory."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        self.clients = CsvTable(run_dir / CLIENTS_CSV, CLIENT_COLUMNS)
        self.rounds = CsvTable(run_dir / ROUNDS_CSV, ROUND_COLUMNS)
        self.ranks = CsvTable(run_dir / RANKS_CSV, RANK_COLUMNS)

    def write_partition(self, counts: Sequence[Sequence[int]], label_names: Sequence[str]) -> None:
        """partition.csv: one row per client with its sample count per label."""
        path = self.run_dir / PARTITION_CSV
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["client_id", "num_examples", *label_names])
            for cid, row in enumerate(counts):
                writer.writerow([cid, int(sum(row)), *(int(x) for x in row)])

    def write_run_json(self, data: Mapping[str, Any]) -> None:
        write_json_atomic(self.run_dir / RUN_JSON, data)

    def drop_rows_after(self, method: str, last_round: int) -> None:
        """Forget `method`'s rows beyond `last_round` (rows of an interrupted round, before resuming)."""

        def keep(row: Mapping[str, str]) -> bool:
            return row["method"] != method or int(row["round"]) <= last_round

        for table in (self.clients, self.rounds, self.ranks):
            table.keep_only(keep)
