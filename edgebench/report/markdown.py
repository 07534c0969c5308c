"""Render the report document as Markdown; figures are linked as relative PNG files."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from edgebench.report.content import Bullets, Document, Image, Paragraph, Table


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub pipe table; every cell is text already."""
    head = "| " + " | ".join(_cell(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def render_markdown(doc: Document, out_path: Path) -> str:
    """The Markdown text of `doc`, with image links relative to `out_path`'s folder."""
    lines = [f"# {doc.title}", "", doc.subtitle, ""]
    lines += ["Contents: " + " · ".join(f"[{s.title}](#{s.anchor})" for s in doc.sections if s.anchor), ""]
    for section in doc.sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Paragraph):
                lines += [f"**{block.text}**" if block.strong else block.text, ""]
            elif isinstance(block, Bullets):
                lines += [f"- {item}" for item in block.items] + [""]
            elif isinstance(block, Table):
                if block.caption:
                    lines += [f"*{block.caption}*", ""]
                lines += [markdown_table(block.frame), ""]
            elif isinstance(block, Image):
                rel = Path(os.path.relpath(block.figure.png, out_path.parent)).as_posix()
                svg = Path(os.path.relpath(block.figure.svg, out_path.parent)).as_posix()
                lines += [f"![{block.figure.title}]({rel})", "", f"[SVG]({svg})", ""]
    return "\n".join(lines).rstrip() + "\n"
