"""Column declarations: every results column's name, unit, kind and meaning, in one place.

A row type is a dataclass whose fields are its CSV columns, in file order; each field is declared with
:func:`column`, which stores the unit and the meaning used by the reader (text or number) and by the
generated tables of docs/results-contract.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["text", "number"]

#: Units as written in the contract's tables.
SECONDS, JOULES, WATTS, BYTES, HERTZ, COUNT, FRACTION, TEXT = "s", "J", "W", "bytes", "Hz", "count", "fraction", "text"
CORES = "cores"


@dataclass(frozen=True)
class Column:
    """One column: its name, unit, whether it holds text, and what it means."""

    name: str
    unit: str
    kind: Kind
    doc: str


def column(unit: str, doc: str, *, required: bool = False) -> Any:
    """A dataclass field declaring a results column (None = empty cell = not measured, unless `required`)."""
    metadata = {"unit": unit, "kind": "text" if unit == TEXT else "number", "doc": doc}
    if required:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=None, metadata=metadata)


def columns_of(row_type: type) -> list[Column]:
    """The columns of a row dataclass, in file order."""
    return [
        Column(f.name, f.metadata["unit"], f.metadata["kind"], f.metadata["doc"])
        for f in dataclasses.fields(row_type)
        if "unit" in f.metadata
    ]


def column_names(columns: Sequence[Column]) -> list[str]:
    return [c.name for c in columns]


def markdown_table(columns: Sequence[Column]) -> str:
    """The contract's table for one file: column, unit, meaning."""
    lines = ["| column | unit | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{c.name}` | {c.unit} | {c.doc} |" for c in columns]
    return "\n".join(lines)
