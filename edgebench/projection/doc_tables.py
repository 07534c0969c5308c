"""Keeps the projection's column tables in docs/results-contract.md in step with edgebench.projection.columns.

``python -m edgebench.projection.doc_tables docs/results-contract.md`` rewrites the text between each
``<!-- projection columns: NAME -->`` and ``<!-- end projection columns -->`` pair; ``--check`` only says
whether the file is current (exit 1 when it is not).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from edgebench.projection.columns import TABLES
from edgebench.results.schema import markdown_table

_BLOCK = re.compile(r"(<!-- projection columns: (\w+) -->\n)(.*?)(<!-- end projection columns -->)", re.DOTALL)


def render(text: str) -> str:
    """`text` with every marked block replaced by its generated table; KeyError for an unknown name."""
    return _BLOCK.sub(lambda m: f"{m.group(1)}{markdown_table(TABLES[m.group(2)])}\n{m.group(4)}", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--check", action="store_true", help="exit 1 if the tables are out of date")
    args = parser.parse_args(argv)
    text = args.path.read_text()
    current = render(text)
    if args.check:
        if current != text:
            fix = f"python -m edgebench.projection.doc_tables {args.path}"
            print(f"{args.path}: projection tables are out of date; run {fix}")
            return 1
        return 0
    args.path.write_text(current)
    return 0


if __name__ == "__main__":
    sys.exit(main())
