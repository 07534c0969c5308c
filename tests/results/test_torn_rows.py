"""Resume after a crash mid-append: an incomplete tail of any table is dropped and reported, never kept.

A killed writer can leave the last row of clients.csv, rounds.csv or ranks.csv cut anywhere (inside the
method name, after a comma, inside the last cell, before the line end). `drop_rows_after` (called on
resume) must drop such rows, say which, and leave every complete row byte for byte; a broken row with
complete rows after it is damage, and is refused with the file and line.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgebench.results import CLIENTS_CSV, RANKS_CSV, ROUNDS_CSV, ResultsWriter
from edgebench.results.scan import CorruptTableError, scan_table
from tests.results import rowkit


def _append(writer: ResultsWriter, method: str, rnd: int) -> None:
    """Two accepted clients whose provenance has a comma: clients.csv gets a quoted cell to cut inside."""
    rowkit.append_round(writer, method, rnd, energy_provenance="estimated: a, b")


@pytest.fixture
def run(tmp_path: Path) -> tuple[ResultsWriter, dict[str, bytes]]:
    """Rounds 1-2 of lora and fedadalora written; the file contents as they were (the reference)."""
    writer = ResultsWriter(tmp_path)
    for rnd in (1, 2):
        _append(writer, "lora", rnd)
        _append(writer, "fedadalora", rnd)
    return writer, {name: (tmp_path / name).read_bytes() for name in (CLIENTS_CSV, ROUNDS_CSV, RANKS_CSV)}


def _last_row_start(blob: bytes) -> int:
    return blob.rstrip(b"\r\n").rfind(b"\n") + 1


# How a crash can leave the end of a file: appended fragments and real rows cut short.
TEARS = {
    "fragment after the method (printf 'fedadalora,')": lambda b: b + b"fedadalora,",
    "fragment cut inside the method name": lambda b: b + b"fedad",
    "last row cut inside the method name": lambda b: b[: _last_row_start(b) + 4],
    "last row cut after a comma": lambda b: b[: _last_row_start(b) + len(b"fedadalora,")],
    "last row cut inside its last cell": lambda b: b[: len(b.rstrip(b"\r\n")) - 1],
    "last row cut before its line end": lambda b: b[:-1],
    "last row cut inside a quoted cell": lambda b: b[: b.rfind(b'"estimated: a,') + 13],
    "binary garbage appended": lambda b: b + bytes(range(256)) * 3,
}


@pytest.mark.parametrize("tear", list(TEARS))
@pytest.mark.parametrize("name", [CLIENTS_CSV, ROUNDS_CSV, RANKS_CSV])
def test_a_torn_tail_is_dropped_reported_and_the_rest_kept_byte_for_byte(run, name: str, tear: str) -> None:
    writer, before = run
    path = writer.run_dir / name
    if "quoted" in tear and name != CLIENTS_CSV:
        pytest.skip("only clients.csv has a quoted cell here")
    path.write_bytes(TEARS[tear](before[name]))
    torn = writer.drop_rows_after("fedadalora", 2)  # keeps everything complete: only the tear goes
    assert len(torn) >= 1 and all(t.startswith(f"{name} line ") for t in torn), torn
    if tear.startswith("last row"):
        expected = before[name][: _last_row_start(before[name])]  # the cut row goes, the others stay
    else:
        expected = before[name]
    assert path.read_bytes() == expected
    assert all((writer.run_dir / other).read_bytes() == before[other] for other in before if other != name)


def test_a_fragment_names_its_line_and_what_is_wrong(run) -> None:
    writer, before = run
    (writer.run_dir / CLIENTS_CSV).write_bytes(before[CLIENTS_CSV] + b"fedadalora,")
    lines = before[CLIENTS_CSV].count(b"\n")
    assert writer.drop_rows_after("fedadalora", 1) == [
        f"{CLIENTS_CSV} line {lines + 1} (no line end: cut short while being written)"
    ]
    rows = writer.clients.read()
    assert [(r["method"], r["round"]) for r in rows] == [("lora", "1")] * 2 + [("fedadalora", "1")] * 2 + [
        ("lora", "2")
    ] * 2


@pytest.mark.parametrize(
    "row",
    [
        "lora,2,0\r\n",  # too few fields, line end present
        "lora,x,0,10,,,,,,,,,,,,,,,4,2,accepted,,,,,,,,,,,,,,,,,,,,\r\n",  # round not a number
        "lora,2,0,ten,,,,,,,,,,,,,,,4,2,accepted,,,,,,,,,,,,,,,,,,,,\r\n",  # num_examples not a number
        ",2,0,10,,,,,,,,,,,,,,,4,2,accepted,,,,,,,,,,,,,,,,,,,,\r\n",  # no method
    ],
)
def test_a_complete_but_unparsable_last_row_is_dropped(run, row: str) -> None:
    writer, before = run
    (writer.run_dir / CLIENTS_CSV).write_bytes(before[CLIENTS_CSV] + row.encode())
    assert len(writer.drop_rows_after("fedadalora", 2)) == 1
    assert (writer.run_dir / CLIENTS_CSV).read_bytes() == before[CLIENTS_CSV]


def test_a_torn_header_leaves_an_empty_table(tmp_path: Path) -> None:
    (tmp_path / RANKS_CSV).write_text("method,rou")
    writer = ResultsWriter(tmp_path)
    assert writer.drop_rows_after("lora", 0) == [
        f"{RANKS_CSV} line 1 (incomplete header: no line end: cut short while being written)"
    ]
    assert (tmp_path / RANKS_CSV).read_bytes() == b"method,round,module,rank\r\n"
    _append(writer, "lora", 1)
    assert [r["round"] for r in writer.ranks.read()] == ["1", "1"]


def test_a_broken_row_with_complete_rows_after_it_is_refused_with_file_and_line(run) -> None:
    writer, before = run
    lines = before[ROUNDS_CSV].split(b"\r\n")
    lines[2] = lines[2][:9]  # the second data row, cut short, with complete rows after it
    (writer.run_dir / ROUNDS_CSV).write_bytes(b"\r\n".join(lines))
    with pytest.raises(CorruptTableError, match=rf"{ROUNDS_CSV}: line 3: 1 fields, expected \d+.*repair or delete"):
        writer.drop_rows_after("fedadalora", 1)
    assert (writer.run_dir / ROUNDS_CSV).read_bytes() == b"\r\n".join(lines)  # left as it was


def test_a_complete_file_is_not_touched_by_the_scan(run) -> None:
    writer, before = run
    scan = scan_table(writer.run_dir / CLIENTS_CSV)
    assert scan.tail == [] and len(scan.rows) == 8
    assert os.path.getsize(writer.run_dir / CLIENTS_CSV) == len(before[CLIENTS_CSV])
    assert writer.drop_rows_after("fedadalora", 2) == []
    assert all((writer.run_dir / name).read_bytes() == blob for name, blob in before.items())
