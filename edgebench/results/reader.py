"""The one reader of a run directory: run.json and the three row tables as pandas frames.

Empty cells stay NaN (*not measured*); they are never turned into zeros. Text columns (as declared in
:mod:`edgebench.results.rows`) stay strings; every other contract column is parsed as a number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from edgebench.results.rows import CLIENT_TABLE, RANK_TABLE, ROUND_TABLE
from edgebench.results.scan import CorruptTableError, scan_table
from edgebench.results.schema import Column
from edgebench.results.store import CLIENTS_CSV, RANKS_CSV, ROUNDS_CSV, RUN_JSON


@dataclass
class RunFiles:
    """What a run directory holds: run.json as written (possibly empty) and the three tables."""

    path: Path
    meta: dict[str, Any]
    clients: pd.DataFrame
    rounds: pd.DataFrame
    ranks: pd.DataFrame
    problems: list[str] = field(default_factory=list)


R = TypeVar("R", bound=RunFiles)


def read_table(path: Path, table: list[Column], problems: list[str] | None = None) -> pd.DataFrame:
    """A contract CSV with empty cells as NaN, numbers parsed, missing columns added (all NaN).

    Columns this version does not declare are kept, and parsed as numbers when every non-empty cell is one.
    An incomplete tail (rows cut short by a crash, or unreadable bytes after the last complete row) is left
    out and described, with its file and line, into `problems`; a broken row with complete rows after it
    raises CorruptTableError (edgebench.results.scan).
    """
    scan = scan_table(path)
    if problems is not None:
        problems += [f"{b.describe(path.name)}: incomplete row left out" for b in scan.tail]
    frame = pd.DataFrame(scan.rows, columns=_unique(scan.header), dtype=object) if scan.header else None
    return _typed(frame, table)


def _typed(frame: pd.DataFrame | None, table: list[Column]) -> pd.DataFrame:
    """`frame` (text cells; None: no rows, no header) with the contract's columns and number parsing."""
    text = {c.name for c in table if c.kind == "text"}
    names = [c.name for c in table]
    if frame is None:
        frame = pd.DataFrame({c: pd.Series(dtype=object if c in text else float) for c in names})
    for col in names:
        if col not in frame.columns:
            frame[col] = "" if col in text else np.nan
    for col in frame.columns:
        if col in text or col.endswith("_provenance"):
            frame[col] = frame[col].fillna("").astype(str)
            continue
        raw = frame[col].replace("", np.nan)
        parsed = pd.to_numeric(raw, errors="coerce")
        if col in names or parsed.notna().sum() == raw.notna().sum():
            frame[col] = parsed.astype(float)
    frame = frame[frame["round"].notna()].copy()
    frame["round"] = frame["round"].astype(int)
    return frame.reset_index(drop=True)


def _unique(header: list[str]) -> list[str]:
    """Column names as pandas' read_csv makes them: a repeated name gets ``.1``, ``.2``, ..."""
    seen: dict[str, int] = {}
    out = []
    for name in header:
        count = seen.get(name, 0)
        seen[name] = count + 1
        out.append(f"{name}.{count}" if count else name)
    return out


def read_run(path: Path, into: type[R] = RunFiles) -> R:  # type: ignore[assignment]
    """Read one run directory (which must exist) into `into` (RunFiles or a subclass); `problems` says
    what is missing or unreadable."""
    problems: list[str] = []
    meta: dict[str, Any] = {}
    meta_path = path / RUN_JSON
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            problems.append(f"unreadable {RUN_JSON}: {exc}")
    else:
        problems.append(f"no {RUN_JSON}")
    tables = ((CLIENTS_CSV, CLIENT_TABLE), (ROUNDS_CSV, ROUND_TABLE), (RANKS_CSV, RANK_TABLE))
    try:
        clients, rounds, ranks = (read_table(path / name, table, problems) for name, table in tables)
    except CorruptTableError as exc:
        where = "" if exc.header else " with complete rows after it"
        problems.append(f"{exc.path.name} line {exc.line}: damaged ({exc.reason}){where}; this run's rows are not used")
        clients, rounds, ranks = (_typed(None, table) for _, table in tables)
    return into(path=path, meta=meta, clients=clients, rounds=rounds, ranks=ranks, problems=problems)
