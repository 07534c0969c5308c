"""Keeps the column tables of docs/results-contract.md in step with the declarations they document.

``python -m edgebench.results.contract_doc docs/results-contract.md`` rewrites the text between each
``<!-- columns: NAME -->`` and ``<!-- end columns -->`` marker pair with the table generated from the row
type; ``--check`` only reports whether the file is current (exit 1 when it is not). Other column sets use
the same generator with their own tables and marker (``<!-- MARKER: NAME -->`` ... ``<!-- end MARKER -->``):
the fleet projection's through ``python -m edgebench.projection.doc_tables``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from edgebench.results.rows import CLIENT_TABLE, RANK_TABLE, ROUND_TABLE
from edgebench.results.schema import Column, markdown_table

Tables = Mapping[str, Sequence[Column]]

TABLES: Tables = {"clients": CLIENT_TABLE, "rounds": ROUND_TABLE, "ranks": RANK_TABLE}
MARKER = "columns"
COMMAND = "python -m edgebench.results.contract_doc"


def render(text: str, tables: Tables = TABLES, marker: str = MARKER) -> str:
    """`text` with every block between ``<!-- {marker}: NAME -->`` and ``<!-- end {marker} -->`` replaced by
    the table generated from ``tables[NAME]``; KeyError for an unknown name."""
    block = re.compile(rf"(<!-- {re.escape(marker)}: (\w+) -->\n)(.*?)(<!-- end {re.escape(marker)} -->)", re.DOTALL)
    return block.sub(lambda m: f"{m.group(1)}{markdown_table(tables[m.group(2)])}\n{m.group(4)}", text)


def main(argv: list[str] | None = None, tables: Tables = TABLES, marker: str = MARKER, command: str = COMMAND) -> int:
    """Rewrite (or with ``--check`` only check) the `marker` blocks of the file named in `argv`; `command` is
    how a user runs this, named when the file is out of date."""
    parser = argparse.ArgumentParser(
        prog=command, description=f"Regenerate the tables between <!-- {marker}: NAME --> markers of a Markdown file."
    )
    parser.add_argument("path", type=Path)
    parser.add_argument("--check", action="store_true", help="exit 1 if the tables are out of date")
    args = parser.parse_args(argv)
    text = args.path.read_text()
    current = render(text, tables, marker)
    if args.check:
        if current != text:
            print(f"{args.path}: the tables marked `{marker}` are out of date; run {command} {args.path}")
            return 1
        return 0
    args.path.write_text(current)
    return 0


if __name__ == "__main__":
    sys.exit(main())
