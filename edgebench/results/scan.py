"""Checking a contract CSV record by record: what a crash mid-append or a damaged disk leaves behind.

Rows are appended and flushed one at a time, so a killed writer can leave at most an incomplete tail:
a last row without its line end, with too few fields, or with a cell cut short. :func:`scan_table`
splits a file into its sound rows and its broken tail, each broken record with its line number. A
broken record followed by sound rows is damage, not a torn tail: :class:`CorruptTableError`.

Two levels of checking: the shape of each record (line end, field count, bytes that are not UTF-8 text,
NUL), which every reader applies, and with `kinds` also its cells (a `number` column holds a number,
`method` and an integer `round` are present), which resume applies before it appends to the file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edgebench.results.rows import CLIENT_TABLE, RANK_TABLE, ROUND_TABLE

#: Column name -> kind (`text` or `number`) of every contract column.
CONTRACT_KINDS: dict[str, str] = {c.name: c.kind for c in (*CLIENT_TABLE, *ROUND_TABLE, *RANK_TABLE)}

# Bytes that are not UTF-8 (decoded as lone surrogates) and NUL never occur in a row edgebench wrote.
_UNREADABLE = re.compile("[\x00\udc80-\udcff]")


class CorruptTableError(ValueError):
    """A contract CSV is damaged before its last rows (not a torn tail); names the file and the line."""

    def __init__(self, path: Path, line: int, reason: str, *, header: bool = False) -> None:
        self.path, self.line, self.reason, self.header = path, line, reason, header
        if header:
            message = f"{path}: line {line}: {reason}; not a readable results table"
        else:
            message = (
                f"{path}: line {line}: {reason}, and complete rows follow it, so this is damage rather than a row "
                "cut short by a crash; repair or delete that line"
            )
        super().__init__(message)


@dataclass(frozen=True)
class BrokenRow:
    """A record that is not a complete row: its first line in the file and what is wrong with it."""

    line: int
    reason: str

    def describe(self, name: str) -> str:
        return f"{name} line {self.line} ({self.reason})"


@dataclass
class TableScan:
    """A CSV split into its header, its sound rows (in file order) and its broken tail."""

    path: Path
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    tail: list[BrokenRow] = field(default_factory=list)

    def dicts(self) -> list[dict[str, str]]:
        return [dict(zip(self.header, row, strict=True)) for row in self.rows]


def scan_table(path: Path, kinds: Mapping[str, str] | None = None) -> TableScan:
    """Read `path` (which must exist) into sound rows and a broken tail; CorruptTableError for damage.

    With `kinds` (column name -> `text` / `number`, e.g. :data:`CONTRACT_KINDS`) every row's cells are
    checked too. A missing or empty file has no header and no rows.
    """
    scan = TableScan(path)
    if not path.is_file():
        return scan
    text = path.read_bytes().decode("utf-8", errors="surrogateescape")
    if not text:
        return scan
    records = _records(text)
    if not records:
        return scan
    if not text.endswith("\n"):
        line, fields, _ = records[-1]
        records[-1] = (line, fields, "no line end: cut short while being written")
    first_line, header, problem = records[0]
    if problem is None and _UNREADABLE.search("".join(header)):
        problem = "the header holds bytes that are not UTF-8 text"
    if problem is not None:
        if len(records) == 1 and not text.endswith("\n"):
            scan.tail.append(BrokenRow(first_line, f"incomplete header: {problem}"))
            return scan  # only a torn header: an empty table
        raise CorruptTableError(path, first_line, problem, header=True)
    scan.header = header
    unreadable = _UNREADABLE.search(text) is not None  # rare: check cell by cell only then
    damage: BrokenRow | None = None
    width, plain = len(header), kinds is None and not unreadable
    for line, fields, problem in records[1:]:
        if problem is None and not (plain and len(fields) == width):  # the common case needs no more checks
            problem = _row_problem(fields, header, kinds, unreadable)
        if problem is None:
            if damage is not None:
                raise CorruptTableError(path, damage.line, damage.reason)
            scan.rows.append(fields)
            continue
        broken = BrokenRow(line, problem)
        damage = damage or broken
        scan.tail.append(broken)
    return scan


def _records(text: str) -> list[tuple[int, list[str], str | None]]:
    """(first line, fields, problem or None) for every non-blank record of `text`."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    out: list[tuple[int, list[str], str | None]] = []
    start = 1
    while True:
        try:
            for fields in reader:
                if fields:
                    out.append((start, fields, None))
                start = reader.line_num + 1
            return out
        except csv.Error as exc:
            out.append((start, [], f"not a CSV record ({exc})"))
            start = reader.line_num + 1


def _row_problem(fields: list[str], header: list[str], kinds: Mapping[str, str] | None, unreadable: bool) -> str | None:
    if len(fields) != len(header):
        return f"{len(fields)} fields, expected {len(header)}"
    if unreadable and any(_UNREADABLE.search(f) for f in fields):
        return "bytes that are not UTF-8 text"
    if kinds is None:
        return None
    for name, value in zip(header, fields, strict=True):
        if name == "method" and not value:
            return "no method"
        if name == "round" and not (value.isascii() and value.isdigit()):
            return f"round {value[:24]!r} is not a whole number"
        if value and kinds.get(name) == "number" and not _is_number(value):
            return f"{name} {value[:24]!r} is not a number"
    return None


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
