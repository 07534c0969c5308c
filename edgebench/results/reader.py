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


def read_table(path: Path, table: list[Column]) -> pd.DataFrame:
    """A contract CSV with empty cells as NaN, numbers parsed, missing columns added (all NaN).

    Columns this version does not declare are kept, and parsed as numbers when every non-empty cell is one.
    """
    text = {c.name for c in table if c.kind == "text"}
    names = [c.name for c in table]
    if not path.exists() or path.stat().st_size == 0:
        frame = pd.DataFrame({c: pd.Series(dtype=object if c in text else float) for c in names})
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
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
    return into(
        path=path,
        meta=meta,
        clients=read_table(path / CLIENTS_CSV, CLIENT_TABLE),
        rounds=read_table(path / ROUNDS_CSV, ROUND_TABLE),
        ranks=read_table(path / RANKS_CSV, RANK_TABLE),
        problems=problems,
    )
