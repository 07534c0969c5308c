"""Text cleaning shared by the loaders: whitespace, AG News escaping, 20 Newsgroups headers and quotes."""

from __future__ import annotations

import html
import re

_WS_RE = re.compile(r"\s+")
# AG News stores feed line breaks as a backslash (README: "\n", but the data show that the "n" is
# usually the first letter of the next word: "pipeline\network"). So a backslash run is a break;
# "\n" counts as a two-character escape only when no lower-case letter follows it.
_AG_NEWLINE_ESCAPE_RE = re.compile(r"\\n(?![a-z])")
_AG_BACKSLASH_RE = re.compile(r"\\+")
# Bare entities whose "&" became a space ("doesn #39;t", "be  quot;the", "the  #36;10").
_AG_ENTITY_RE = re.compile(r"(?:&| |(?<![\w&#]))(#\d{1,5}|quot|amp|lt|gt|nbsp|hellip);")
# Real HTML tags (<b>, </A>, <FONT face=...>, <br/>); leaves tickers such as <TXN.N> alone.
_HTML_TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
# Same cues as scikit-learn's `_QUOTE_RE` (a line is a quote or introduces one).
_NG_QUOTE_RE = re.compile(r"(writes in|writes:|wrote:|says:|said:|^In article|^Quoted from|^\||^>)")


def normalize_whitespace(text: str) -> str:
    """Collapse every whitespace run to one space and strip the ends."""
    return _WS_RE.sub(" ", text).strip()


def clean_ag_news_text(text: str) -> str:
    """Undo AG News escaping: backslash line breaks, HTML entity remnants and tags, whitespace."""
    text = _AG_NEWLINE_ESCAPE_RE.sub(" ", text)
    text = _AG_BACKSLASH_RE.sub(" ", text)
    text = _AG_ENTITY_RE.sub(lambda m: f"&{m.group(1)};", text)
    text = html.unescape(text)
    text = _HTML_TAG_RE.sub(" ", text)
    return normalize_whitespace(text)


def strip_newsgroup_header(text: str) -> str:
    """Drop the header block: everything up to and including the first blank line."""
    return text.partition("\n\n")[2]


def strip_newsgroup_footer(text: str) -> str:
    """Drop a signature: everything from the last blank or all-dashes line (e.g. `--`) on.

    Like scikit-learn, the text is returned unchanged when the only such line is the first.
    """
    lines = text.strip().split("\n")
    cut = next((i for i in reversed(range(len(lines))) if not lines[i].strip().strip("-")), 0)
    return "\n".join(lines[:cut]) if cut > 0 else text


def strip_newsgroup_quoting(text: str) -> str:
    """Drop quoted lines (`>` / `|` prefixes) and lines that introduce quotes ("... writes:")."""
    return "\n".join(line for line in text.split("\n") if not _NG_QUOTE_RE.search(line))


def clean_newsgroup_message(raw: str) -> str:
    """Headers, footers and quotes removed (as scikit-learn's `remove=` all three), whitespace collapsed."""
    text = strip_newsgroup_header(raw)
    text = strip_newsgroup_footer(text)
    text = strip_newsgroup_quoting(text)
    return normalize_whitespace(text)
