"""Run directories (read by :mod:`edgebench.results.reader`) as the report sees them.

A run directory without `run.json` or without any rows is still returned, with `problems` saying why
it cannot be used.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from edgebench.results.lock import run_dir_in_use
from edgebench.results.reader import RunFiles, read_run
from edgebench.results.store import CLIENTS_CSV, PARTITION_CSV, ROUNDS_CSV

#: The engine of a run whose run.json has no `runtime` section (the in-process engine writes none).
IN_PROCESS = "in-process"
DROPOUT, REJECTED = "dropout", "rejected"


@dataclass(frozen=True)
class Delivery:
    """How many sampled clients of one method's rounds delivered a usable reply."""

    sampled: int  # client rows (one per sampled client per round)
    dropped: int  # `dropout: ...` (the node was missing, left, failed or timed out)
    rejected: int  # `rejected: ...` (a reply came back and could not be used)
    partial_rounds: tuple[int, ...]  # rounds aggregated from fewer clients than were sampled

    @property
    def complete(self) -> bool:
        return not self.dropped and not self.rejected

    def text(self) -> str:
        """e.g. `1 dropout, 0 rejected of 8 sampled clients; partial rounds: 2` ('' when every reply was used)."""
        if self.complete:
            return ""
        rounds = ", ".join(str(r) for r in self.partial_rounds)
        plural = "" if self.dropped == 1 else "s"
        return (
            f"{self.dropped} dropout{plural}, {self.rejected} rejected of {self.sampled} sampled clients; "
            f"partial round{'s' if len(self.partial_rounds) != 1 else ''}: {rounds}"
        )


# Config sections that do not change what is being compared: seeds are aggregated, devices are
# compared side by side, methods are compared against each other, output paths are irrelevant.
SETTINGS_EXCLUDED = ("seed", "device", "methods", "output")


class ReportInputError(ValueError):
    """A path given to the report is not a run directory at all."""


@dataclass
class RunData(RunFiles):
    """One run directory (run.json plus its three row tables, possibly empty), with the report's views."""

    @property
    def name(self) -> str:
        return self.path.name

    @cached_property
    def status(self) -> str:
        """run.json `status` (`running`, `complete`, `interrupted`, `failed: ...`); a `running` run whose
        directory lock no process holds was killed before it could record why, and is shown so."""
        status = str(self.meta.get("status") or "unknown (no run.json)")
        if status == "running" and run_dir_in_use(self.path) is False:
            return "stopped: killed while running (no process holds its lock)"
        return status

    @property
    def failed(self) -> bool:
        return self.status.startswith("failed")

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    @property
    def engine(self) -> str:
        """What ran the clients: run.json `runtime.engine` (`flower-deployment`, `flower-simulation`), else
        `in-process`."""
        runtime = self.meta.get("runtime") or {}
        return str(runtime.get("engine") or IN_PROCESS) if isinstance(runtime, dict) else IN_PROCESS

    def delivery(self, label: str) -> Delivery:
        """Dropouts, rejected replies and partial rounds of one method (from clients.csv `status`)."""
        clients, rounds, _ = self.rows(label)
        done = set(rounds["round"])
        clients = clients[clients["round"].isin(done)]
        status = clients["status"].fillna("").astype(str) if "status" in clients else pd.Series("", index=clients.index)
        dropped = status.str.startswith(DROPOUT)
        rejected = status.str.startswith(REJECTED)
        partial = sorted({int(r) for r in clients.loc[dropped | rejected, "round"]})
        return Delivery(len(clients), int(dropped.sum()), int(rejected.sum()), tuple(partial))

    @property
    def usable(self) -> bool:
        """False when the run has no rows at all (listed in the report, otherwise skipped)."""
        return not self.rounds.empty or not self.clients.empty

    @property
    def config(self) -> dict[str, Any]:
        return self.meta.get("config") or {}

    @property
    def seed(self) -> int | None:
        seed = self.config.get("seed")
        return int(seed) if seed is not None else None

    @property
    def host(self) -> dict[str, Any]:
        return self.meta.get("host") or {}

    @property
    def device(self) -> str:
        """The device this run is filed under: run.json `device.name`, or the hostname for `auto`."""
        name = (self.meta.get("device") or {}).get("name")
        if name and name != "auto":
            return str(name)
        return str(self.host.get("hostname") or "unknown device")

    @cached_property
    def settings_key(self) -> str:
        """Short hash of the config without seed, device, methods and output (runs to aggregate/compare)."""
        if not self.config:
            return "unknown"
        shared = {k: v for k, v in self.config.items() if k not in SETTINGS_EXCLUDED}
        text = json.dumps(shared, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    @property
    def labels(self) -> list[str]:
        """Method labels in config order, then any label only seen in the rows."""
        labels = [str(m) for m in (self.meta.get("methods") or {})]
        for m in self.config.get("methods") or []:
            label = str(m.get("name") or m.get("method"))
            if label not in labels:
                labels.append(label)
        for table in (self.rounds, self.clients):
            for label in table["method"].dropna().unique():
                if str(label) not in labels:
                    labels.append(str(label))
        return labels

    def method_info(self, label: str) -> dict[str, Any]:
        """run.json `methods.<label>`, falling back to the config entry (registry name, params)."""
        info = (self.meta.get("methods") or {}).get(label)
        if info:
            return info
        for m in self.config.get("methods") or []:
            if str(m.get("name") or m.get("method")) == label:
                params = {k: v for k, v in m.items() if k not in ("method", "name")}
                return {"method": m.get("method"), "params": params, "status": "unknown"}
        return {"method": label, "params": {}, "status": "unknown"}

    def registry_name(self, label: str) -> str:
        return str(self.method_info(label).get("method") or label)

    def method_status(self, label: str) -> str:
        return str(self.method_info(label).get("status") or "unknown")

    def method_complete(self, label: str) -> bool:
        """Whether `label` finished all its rounds (its rows can be used without a mark)."""
        return self.method_status(label) == "complete"

    def params_key(self, label: str) -> str:
        info = self.method_info(label)
        text = json.dumps({"m": info.get("method"), "p": info.get("params")}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:6]

    def params(self, label: str) -> dict[str, Any]:
        """The method's validated parameters (run.json), else those of its config entry."""
        return dict(self.method_info(label).get("params") or {})

    @cached_property
    def partition(self) -> pd.DataFrame | None:
        """partition.csv (client_id, num_examples, one column per label), None when absent or unreadable."""
        path = self.path / PARTITION_CSV
        try:
            return pd.read_csv(path) if path.is_file() else None
        except (OSError, ValueError):
            return None

    def majority_class(self) -> tuple[float | None, str]:
        """(majority-class rate, where it came from): the evaluated split's label counts in run.json `data`
        (`eval_split`: test or validation), else its train
        label counts, else those of partition.csv, else 1 / number of labels; (None, why) when none is recorded."""
        data = self.meta.get("data") or {}
        evaluated = "validation" if data.get("eval_split") == "validation" else "test"
        for key, where in ((f"{evaluated}_label_counts", f"{evaluated} split"), ("train_label_counts", "train split")):
            counts = data.get(key)
            if isinstance(counts, dict) and sum(counts.values()) > 0:
                top = max(counts, key=lambda k: counts[k])
                rate = counts[top] / sum(counts.values())
                return rate, f"{where} label counts in run.json, majority class '{top}'"
        part = self.partition
        if part is not None:
            labels = [c for c in part.columns if c not in ("client_id", "num_examples")]
            totals = part[labels].sum(numeric_only=True) if labels else pd.Series(dtype=float)
            if len(totals) and totals.sum() > 0:
                top = str(totals.idxmax())
                return float(totals.max() / totals.sum()), (
                    f"train label counts in {PARTITION_CSV}, majority class '{top}' (test counts not recorded)"
                )
        names = data.get("label_names")
        if names:
            return 1.0 / len(names), f"1 / {len(names)} labels, no label counts recorded"
        return None, "no label counts recorded"

    def planned_rounds(self) -> int | None:
        rounds = (self.config.get("federation") or {}).get("rounds")
        return int(rounds) if rounds is not None else None

    def rows(self, label: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(clients, rounds, ranks) rows of one method, sorted by round."""
        pick = [
            t[t["method"] == label].sort_values("round", kind="stable") for t in (self.clients, self.rounds, self.ranks)
        ]
        return pick[0], pick[1], pick[2]


def load_run(path: Path) -> RunData:
    """Load one run directory; raises ReportInputError when `path` is not a directory."""
    path = Path(path)
    if not path.is_dir():
        raise ReportInputError(f"{path}: not a directory")
    run = read_run(path, RunData)
    if not run.usable:
        run.problems.append(f"no rows in {ROUNDS_CSV} or {CLIENTS_CSV}")
    return run
