"""Keeps the projection's column tables in docs/results-contract.md in step with edgebench.projection.columns.

``python -m edgebench.projection.doc_tables docs/results-contract.md`` rewrites the text between each
``<!-- projection columns: NAME -->`` and ``<!-- end projection columns -->`` pair; ``--check`` only says
whether the file is current (exit 1 when it is not). The generator is the results contract's
(:mod:`edgebench.results.contract_doc`); this module passes it the projection's columns.
"""

from __future__ import annotations

import sys

from edgebench.projection.columns import TABLES
from edgebench.results import contract_doc

MARKER = "projection columns"
COMMAND = "python -m edgebench.projection.doc_tables"


def render(text: str) -> str:
    """`text` with every projection block replaced by its generated table; KeyError for an unknown name."""
    return contract_doc.render(text, TABLES, MARKER)


def main(argv: list[str] | None = None) -> int:
    return contract_doc.main(argv, TABLES, MARKER, COMMAND)


if __name__ == "__main__":
    sys.exit(main())
