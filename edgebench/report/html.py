"""Render the report document as one self-contained HTML file (PNG figures embedded as base64)."""

from __future__ import annotations

import base64
from html import escape

import pandas as pd

from edgebench.report.content import Bullets, Document, Image, Paragraph, Table

CSS = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #111; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #333; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.88em; }
th, td { border: 1px solid #888; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #e8e8e8; } caption { text-align: left; font-style: italic; padding-bottom: 0.3em; }
#headline { border: 3px solid #000; padding: 0.5em 1em 1em; margin-top: 1em; }
#headline h2 { margin-top: 0.3em; }
img { max-width: 100%; height: auto; border: 1px solid #ccc; }
nav a { margin-right: 1em; } .sub { color: #444; }
@media print { body { max-width: none; } h2 { page-break-after: avoid; } img { page-break-inside: avoid; } }
"""


def html_table(frame: pd.DataFrame, caption: str = "") -> str:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>" for row in frame.itertuples(index=False)
    )
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(doc: Document) -> str:
    """The HTML text of `doc`: no scripts, no external resources."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(doc.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(doc.title)}</h1><p class='sub'>{escape(doc.subtitle)}</p>",
        "<nav>" + "".join(f'<a href="#{s.anchor}">{escape(s.title)}</a>' for s in doc.sections if s.anchor) + "</nav>",
    ]
    for section in doc.sections:
        parts.append(f'<section id="{escape(section.anchor)}"><h2>{escape(section.title)}</h2>')
        for block in section.blocks:
            if isinstance(block, Paragraph):
                text = escape(block.text)
                parts.append(f"<p><strong>{text}</strong></p>" if block.strong else f"<p>{text}</p>")
            elif isinstance(block, Bullets):
                parts.append("<ul>" + "".join(f"<li>{escape(i)}</li>" for i in block.items) + "</ul>")
            elif isinstance(block, Table):
                parts.append(html_table(block.frame, block.caption))
            elif isinstance(block, Image):
                data = base64.b64encode(block.figure.png.read_bytes()).decode("ascii")
                alt = escape(block.figure.title)
                parts.append(f'<figure><img alt="{alt}" src="data:image/png;base64,{data}"></figure>')
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
