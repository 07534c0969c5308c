"""The results contract: typed rows, run metadata, one writer and one reader (docs/results-contract.md).

Every runner writes a run directory through :class:`ResultsWriter`; the report reads it through
:func:`read_run`. Column order, units and meanings are declared once, on the row types.
"""

from edgebench.results.reader import RunFiles, read_run, read_table
from edgebench.results.rows import (
    ACCEPTED,
    CLIENT_COLUMNS,
    CLIENT_TABLE,
    DROPOUT,
    MEASUREMENT_COLUMNS,
    RANK_COLUMNS,
    RANK_TABLE,
    REJECTED,
    ROUND_COLUMNS,
    ROUND_TABLE,
    ClientMeasurement,
    ClientRow,
    Evaluation,
    RankRow,
    RoundRow,
    Transport,
)
from edgebench.results.run_meta import MethodMeta, RunMeta, now_iso
from edgebench.results.store import CLIENTS_CSV, PARTITION_CSV, RANKS_CSV, ROUNDS_CSV, RUN_JSON, ResultsWriter

__all__ = [
    "ACCEPTED",
    "CLIENTS_CSV",
    "CLIENT_COLUMNS",
    "CLIENT_TABLE",
    "DROPOUT",
    "MEASUREMENT_COLUMNS",
    "PARTITION_CSV",
    "RANKS_CSV",
    "RANK_COLUMNS",
    "RANK_TABLE",
    "REJECTED",
    "ROUNDS_CSV",
    "ROUND_COLUMNS",
    "ROUND_TABLE",
    "RUN_JSON",
    "ClientMeasurement",
    "ClientRow",
    "Evaluation",
    "MethodMeta",
    "RankRow",
    "ResultsWriter",
    "RoundRow",
    "RunFiles",
    "RunMeta",
    "Transport",
    "now_iso",
    "read_run",
    "read_table",
]
