"""Keeps the column tables of docs/results-contract.md in step with the row types.

``python -m edgebench.results.contract_doc docs/results-contract.md`` rewrites the text between each
``<!-- columns: NAME -->`` and ``<!-- end columns -->`` marker pair with the table generated from the row
type; ``--check`` only reports whether the file is current (exit 1 when it is not).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from edgebench.results.rows import CLIENT_TABLE, RANK_TABLE, ROUND_TABLE
from edgebench.results.schema import markdown_table

TABLES = {"clients": CLIENT_TABLE, "rounds": ROUND_TABLE, "ranks": RANK_TABLE}
_BLOCK = re.compile(r"(<!-- columns: (\w+) -->\n)(.*?)(<!-- end columns -->)", re.DOTALL)


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
            print(
                f"{args.path}: column tables are out of date; run python -m edgebench.results.contract_doc {args.path}"
            )
            return 1
        return 0
    args.path.write_text(current)
    return 0


if __name__ == "__main__":
    sys.exit(main())
