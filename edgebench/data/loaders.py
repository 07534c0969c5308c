"""Dataset loaders: one small function per `data.dataset` format, registered in `LOADERS`.

`load_splits` resolves `data.path`, calls the format's loader, then applies the optional
stratified, seeded subsampling (`max_train_examples` / `max_test_examples`).
Every problem with a file is raised as a `DataError` whose message starts with the path.
"""

from __future__ import annotations

import csv
import html
import io
import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgebench.data.config import DataConfig
from edgebench.data.dataset import DataError, DatasetSplits, TextDataset

SAMPLE_DIR = Path(__file__).resolve().parent / "samples" / "ag_news"
"""The bundled AG News sample (`ag_news_sample`), shipped as package data."""

AG_NEWS_NAMES = ["World", "Sports", "Business", "Sci/Tech"]
SST2_NAMES = ["negative", "positive"]
SST5_NAMES = ["very negative", "negative", "neutral", "positive", "very positive"]
TREC_COARSE_NAMES = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]

# (train, test) default file or folder names inside `data.path`, per format.
DEFAULT_FILES: dict[str, tuple[str, str]] = {
    "ag_news": ("train.csv", "test.csv"),
    "ag_news_sample": ("train.csv", "test.csv"),
    "sst2": ("train.tsv", "dev.tsv"),
    "sst5": ("sentiment-train", "sentiment-test"),
    "trec": ("train_5500.label", "TREC_10.label"),
    "banking77": ("train.csv", "test.csv"),
    "20newsgroups": ("20news-bydate-train", "20news-bydate-test"),
    "csv": ("train.csv", "test.csv"),
    "tsv": ("train.tsv", "test.tsv"),
    "jsonl": ("train.jsonl", "test.jsonl"),
}


@dataclass(frozen=True)
class _Row:
    """One raw example: text, the label as written in the file, and where it came from."""

    text: str
    label: str
    where: str  # "line 12", or a file name for one-file-per-example formats


@dataclass
class _Loaded:
    """What a format loader returns before subsampling."""

    train: TextDataset
    test: TextDataset
    source: str
    notes: list[str]


Loader = Callable[[DataConfig, "Path | None", int], _Loaded]


# --------------------------------------------------------------------------------------------
# Text cleaning
# --------------------------------------------------------------------------------------------

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


# Same cues as scikit-learn's `_QUOTE_RE` (a line is a quote or introduces one).
_NG_QUOTE_RE = re.compile(r"(writes in|writes:|wrote:|says:|said:|^In article|^Quoted from|^\||^>)")


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


# --------------------------------------------------------------------------------------------
# Small file helpers
# --------------------------------------------------------------------------------------------


def _read_text(path: Path, encoding: str = "utf-8-sig", errors: str = "strict") -> str:
    """The whole file as text; unreadable or undecodable files become a DataError."""
    try:
        return path.read_text(encoding=encoding, errors=errors)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid {encoding} text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read file ({exc.strerror or exc})") from exc


def _lines(path: Path, encoding: str = "utf-8-sig") -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its newline) for each non-blank line."""
    for number, line in enumerate(_read_text(path, encoding).split("\n"), start=1):
        if line.strip():
            yield number, line.removesuffix("\r")


def _csv_records(path: Path, delimiter: str = ",", quoting: int = csv.QUOTE_MINIMAL) -> Iterator[tuple[int, list[str]]]:
    """(start line, fields) for each non-empty CSV/TSV record."""
    if csv.field_size_limit() < 1 << 24:
        csv.field_size_limit(1 << 24)
    reader = csv.reader(io.StringIO(_read_text(path), newline=""), delimiter=delimiter, quoting=quoting)
    start = 1
    try:
        for fields in reader:
            if fields and any(f.strip() for f in fields):
                yield start, fields
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: malformed CSV ({exc})") from exc


def _file(root: Path, name: str, what: str) -> Path:
    """`root / name`, which must be an existing file."""
    path = root / name
    if not path.is_file():
        raise DataError(f"{path}: {what} not found (expected a file here)")
    return path


def _dir(root: Path, name: str, what: str) -> Path:
    """`root / name`, which must be an existing directory."""
    path = root / name
    if not path.is_dir():
        raise DataError(f"{path}: {what} not found (expected a directory here)")
    return path


def _split_names(cfg: DataConfig) -> tuple[str, str]:
    """Train and test file names: the config's overrides, else the format's defaults."""
    train, test = DEFAULT_FILES[cfg.dataset]
    return cfg.train_file or train, cfg.test_file or test


def _require_root(cfg: DataConfig, root: Path | None) -> Path:
    if root is None:
        raise DataError(f"data.path is not set: dataset {cfg.dataset!r} needs a directory")
    if not root.exists():
        raise DataError(f"{root}: data.path does not exist")
    return root


def _require_dir(cfg: DataConfig, root: Path | None) -> Path:
    root = _require_root(cfg, root)
    if not root.is_dir():
        raise DataError(f"{root}: expected a directory for dataset {cfg.dataset!r}, got a file")
    return root


# --------------------------------------------------------------------------------------------
# Rows -> TextDataset
# --------------------------------------------------------------------------------------------


def _to_dataset(
    rows: Sequence[_Row], names: Sequence[str], path: Path | str, label_of: dict[str, int] | None = None
) -> tuple[TextDataset, int]:
    """Map raw labels to ids (`label_of`, default: position in `names`); drop empty texts.

    Returns the dataset and how many rows were dropped for empty text.
    """
    index = label_of if label_of is not None else {name: i for i, name in enumerate(names)}
    texts: list[str] = []
    labels: list[int] = []
    dropped = 0
    for row in rows:
        if row.label not in index:
            shown = ", ".join(list(index)[:12]) + (", ..." if len(index) > 12 else "")
            raise DataError(f"{path}: {row.where}: unknown label {row.label!r} (expected one of: {shown})")
        if not row.text:
            dropped += 1
            continue
        texts.append(row.text)
        labels.append(index[row.label])
    if not texts:
        raise DataError(f"{path}: no examples with non-empty text")
    return TextDataset(texts=texts, labels=labels, label_names=list(names)), dropped


def _build(
    train_rows: Sequence[_Row],
    test_rows: Sequence[_Row],
    names: Sequence[str],
    paths: tuple[Path | str, Path | str],
    source: str,
    label_of: dict[str, int] | None = None,
    notes: list[str] | None = None,
) -> _Loaded:
    """Both splits with the same label names, noting dropped empty rows."""
    notes = list(notes or [])
    train, dropped_train = _to_dataset(train_rows, names, paths[0], label_of)
    test, dropped_test = _to_dataset(test_rows, names, paths[1], label_of)
    for split, dropped, path in (("train", dropped_train, paths[0]), ("test", dropped_test, paths[1])):
        if dropped:
            notes.append(f"{split}: dropped {dropped} rows with empty text ({path})")
    return _Loaded(train=train, test=test, source=source, notes=notes)


# --------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------


def _allocate(counts: dict[int, int], n: int) -> dict[int, int]:
    """Split `n` across classes in proportion to `counts` (largest remainder, ties by class id).

    When `n` allows it, every class keeps at least one example.
    """
    total = sum(counts.values())
    quotas = {c: n * k / total for c, k in counts.items()}
    alloc = {c: int(q) for c, q in quotas.items()}
    by_remainder = sorted(counts, key=lambda c: (-(quotas[c] - alloc[c]), c))
    for c in by_remainder[: n - sum(alloc.values())]:
        alloc[c] += 1
    if n >= len(counts):
        for c in sorted(c for c in counts if alloc[c] == 0):
            donor = max(sorted(alloc), key=lambda d: alloc[d])
            alloc[donor] -= 1
            alloc[c] += 1
    return alloc


def _by_class(labels: Sequence[int]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = defaultdict(list)
    for i, y in enumerate(labels):
        groups[y].append(i)
    return dict(groups)


def stratified_indices(labels: Sequence[int], n: int, rng: random.Random) -> list[int]:
    """`n` row indices drawn per class in proportion to class frequency, in ascending order."""
    if n >= len(labels):
        return list(range(len(labels)))
    groups = _by_class(labels)
    alloc = _allocate({c: len(ix) for c, ix in groups.items()}, n)
    chosen: list[int] = []
    for c in sorted(groups):
        chosen.extend(rng.sample(groups[c], alloc[c]))
    return sorted(chosen)


def stratified_subsample(dataset: TextDataset, n: int, seed: int, stream: str = "") -> TextDataset:
    """At most `n` rows keeping the class proportions; the same seed and stream give the same rows."""
    rng = random.Random(f"edgebench-subsample-{stream}-{seed}")
    return dataset.subset(stratified_indices(dataset.labels, n, rng))


def stratified_holdout(dataset: TextDataset, fraction: float, seed: int) -> tuple[TextDataset, TextDataset]:
    """Split into (train, test) with `fraction` of each class in test; classes of one row stay in train."""
    rng = random.Random(f"edgebench-holdout-{seed}")
    test_ix: list[int] = []
    for _, ix in sorted(_by_class(dataset.labels).items()):
        k = min(max(round(len(ix) * fraction), 1), len(ix) - 1) if len(ix) > 1 else 0
        test_ix.extend(rng.sample(ix, k))
    test_set = set(test_ix)
    train_ix = [i for i in range(len(dataset)) if i not in test_set]
    return dataset.subset(train_ix), dataset.subset(sorted(test_ix))


# --------------------------------------------------------------------------------------------
# AG News (and the bundled sample)
# --------------------------------------------------------------------------------------------


def _ag_news_names(root: Path) -> list[str]:
    path = root / "classes.txt"
    if not path.is_file():
        return list(AG_NEWS_NAMES)
    names = [line.strip() for _, line in _lines(path)]
    if not names:
        raise DataError(f"{path}: expected one class name per line, found none")
    return names


def _ag_news_label(path: Path, line: int, value: str, num_classes: int) -> str:
    value = value.strip()
    if not value.isdigit() or not 1 <= int(value) <= num_classes:
        raise DataError(f"{path}: line {line}: class must be an integer 1-{num_classes}, got {value!r}")
    return str(int(value) - 1)


def _read_ag_news(path: Path, num_classes: int) -> list[_Row]:
    """Rows of an AG News file: headerless `class,title,description` or `label,content` with header."""
    records = list(_csv_records(path))
    if not records:
        raise DataError(f"{path}: empty file (expected AG News rows class,title,description)")
    header = [f.strip().lower() for f in records[0][1]]
    two_column = len(header) == 2 and header[0] == "label"
    if two_column:
        records, width, expected = records[1:], 2, "2 columns (label,content)"
    else:
        width, expected = 3, "3 columns (class,title,description)"
    rows = []
    for line, fields in records:
        if len(fields) != width:
            raise DataError(f"{path}: line {line}: expected {expected}, got {len(fields)}")
        label = _ag_news_label(path, line, fields[0], num_classes)
        raw = fields[1] if two_column else f"{fields[1]} {fields[2]}"
        rows.append(_Row(clean_ag_news_text(raw), label, f"line {line}"))
    return rows


def _load_ag_news(cfg: DataConfig, root: Path | None, seed: int) -> _Loaded:
    """AG News: train/test CSV (official 3-column form or `label,content`), classes.txt names."""
    root = _require_dir(cfg, root)
    train_name, test_name = _split_names(cfg)
    train_path = _file(root, train_name, "AG News training file")
    test_path = _file(root, test_name, "AG News test file")
    names = _ag_news_names(root)
    label_of = {str(i): i for i in range(len(names))}
    train_rows = _read_ag_news(train_path, len(names))
    test_rows = _read_ag_news(test_path, len(names))
    return _build(train_rows, test_rows, names, (train_path, test_path), str(root), label_of)


def _load_ag_news_sample(cfg: DataConfig, root: Path | None, seed: int) -> _Loaded:
    """The bundled AG News sample (3,200 train / 1,000 test), or an AG News folder if `path` is set."""
    loaded = _load_ag_news(cfg, root if root is not None else SAMPLE_DIR, seed)
    if root is None:
        loaded.notes.append(f"bundled AG News sample, non-commercial research use; see {SAMPLE_DIR / 'NOTICE.md'}")
    return loaded


# --------------------------------------------------------------------------------------------
# SST-2, SST-5, TREC, Banking77
# --------------------------------------------------------------------------------------------


def _read_sst2(path: Path) -> list[_Row]:
    """GLUE `sentence<TAB>label` (with header) or SentEval's headerless form."""
    records = list(_csv_records(path, delimiter="\t", quoting=csv.QUOTE_NONE))
    text_ix, label_ix = 0, 1
    if records and records[0][1][-1].strip() not in ("0", "1"):
        header = [f.strip().lower() for f in records[0][1]]
        if "sentence" not in header or "label" not in header:
            raise DataError(
                f"{path}: line 1: expected a header with columns sentence and label, got {header}"
                " (GLUE's test.tsv has no labels: evaluate on dev.tsv or sentiment-test via data.test_file)"
            )
        text_ix, label_ix = header.index("sentence"), header.index("label")
        records = records[1:]
    rows = []
    for line, fields in records:
        if len(fields) != 2:
            raise DataError(
                f"{path}: line {line}: expected 2 tab-separated columns (sentence, label), got {len(fields)}"
            )
        label = fields[label_ix].strip()
        if label not in ("0", "1"):
            raise DataError(f"{path}: line {line}: label must be 0 or 1, got {label!r}")
        rows.append(_Row(normalize_whitespace(fields[text_ix]), label, f"line {line}"))
    return rows


def _load_sst2(cfg: DataConfig, root: Path | None, seed: int) -> _Loaded:
    """SST-2 (GLUE): train.tsv, evaluated on dev.tsv unless data.test_file says otherwise."""
    root = _require_dir(cfg, root)
    train_name, test_name = _split_names(cfg)
    train_path = _file(root, train_name, "SST-2 training file")
    test_path = _file(root, test_name, "SST-2 evaluation file")
    label_of = {"0": 0, "1": 1}
    return _build(
        _read_sst2(train_path),
        _read_sst2(test_path),
        SST2_NAMES,
        (train_path, test_path),
        str(root),
        label_of,
    )


def _read_label_first(path: Path, encoding: str = "utf-8-sig") -> Iterator[tuple[int, str, str]]:
    """(line, label, text) for lines of the form `<label><space><text>`."""
    for line, content in _lines(path, encoding):
        label, _, text = content.strip().partition(" ")
        yield line, label, text


def _read_sst5(path: Path) -> list[_Row]:
    rows = []
    for line, label, text in _read_label_first(path):
        if label not in ("0", "1", "2", "3", "4"):
            raise DataError(f"{path}: line {line}: expected '<label 0-4> <sentence>', got label {label!r}")
        rows.append(_Row(normalize_whitespace(text), label, f"line {line}"))
    return rows


def _load_sst5(cfg: DataConfig, root: Path | None, seed: int) -> _Loaded:
    """SST-5 in SentEval's layout: `<label> <sentence>` per line."""
    root = _require_dir(cfg, root)
    train_name, test_name = _split_names(cfg)
    train_path = _file(root, train_name, "SST-5 training file")
    test_path = _file(root, test_name, "SST-5 test file")
    label_of = {str(i): i for i in range(5)}
    return _build(
        _read_sst5(train_path),
        _read_sst5(test_path),
        SST5_NAMES,
        (train_path, test_path),
        str(root),
        label_of,
    )


def _read_trec(path: Path, fine: bool) -> list[_Row]:
    """`COARSE:fine question` lines (latin-1); the label is the coarse part or the whole tag."""
    rows = []
    for line, tag, text in _read_label_first(path, encoding="latin-1"):
        coarse, colon, detail = tag.partition(":")
        if not colon or not detail or coarse not in TREC_COARSE_NAMES:
            raise DataError(f"{path}: line {line}: expected '<COARSE>:<fine> <question>', got {tag!r}")
        rows.append(_Row(normalize_whitespace(text), tag if fine else coarse, f"line {line}"))
    return rows


def _load_trec(cfg: DataConfig, root: Path | None, seed: int) -> _Loaded:
    """TREC question classification: 6 coarse classes, or the fine `COARSE:fine` tags seen in train."""
    root = _require_dir(cfg, root)
    train_name, test_name = _split_names(cfg)
    train_path = _file(root, train_name, "TREC training file")
    test_path = _file(root, test_name, "TREC test file")
    fine = cfg.trec_fine_labels
    train_rows, test_rows = _read_trec(train_path, fine), _read_trec(test_path, fine)
    names = sorted({r.label for r in train_rows}) if fine else list(TREC_COARSE_NAMES)
    return _build(train_rows, test_rows, names, (train_path, test_path), str(root))


def _read_columns(path: Path, columns: Sequence[str], delimiter: str = ",") -> list[tuple[int, list[str]]]:
    """(line, values of `columns`) per record of a CSV/TSV file whose first record is a header."""
    records = list(_csv_records(path, delimiter=delimiter))
    if not records:
        raise DataError(f"{path}: empty file (expected a header with columns {', '.join(columns)})")
    header = [f.strip() for f in records[0][1]]
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(f"{path}: no column {missing[0]!r} (columns: {', '.join(header)})")
    where = [header.index(c) for c in columns]
    out = []
    for line, fields in records[1:]:
        if len(fields) != len(header):
            raise DataError(
                f"{path}: line {line}: expected {len(header)} columns ({','.join(header)}), got {len(fields)}"
            )
        out.append((line, [fields[i] for i in where]))
    return out


def _load_banking77(cfg: DataConfig, root: Path | None, seed: int) -> _Loaded:
    """Banking77: `text,category` CSVs; label order from categories.json, else sorted train categories."""
    root = _require_dir(cfg, root)
    train_name, test_name = _split_names(cfg)
    train_path = _file(root, train_name, "Banking77 training file")
    test_path = _file(root, test_name, "Banking77 test file")

    def rows(path: Path) -> list[_Row]:
        return [
            _Row(normalize_whitespace(t), c.strip(), f"line {n}")
            for n, (t, c) in _read_columns(path, ("text", "category"))
        ]

    train_rows, test_rows = rows(train_path), rows(test_path)
    names_path = root / "categories.json"
    if names_path.is_file():
        try:
            names = json.loads(_read_text(names_path))
        except json.JSONDecodeError as exc:
            raise DataError(f"{names_path}: invalid JSON ({exc})") from exc
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise DataError(f"{names_path}: expected a JSON list of category names")
        if len(set(names)) != len(names):
            raise DataError(f"{names_path}: category names are not unique")
    else:
        names = sorted({r.label for r in train_rows})
    return _build(train_rows, test_rows, names, (train_path, test_path), str(root))


# --------------------------------------------------------------------------------------------
# 20 Newsgroups
# --------------------------------------------------------------------------------------------


def _newsgroup_dirs(split_dir: Path) -> dict[str, Path]:
    groups = {p.name: p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")}
    if not groups:
        raise DataError(f"{split_dir}: expected one sub-directory per newsgroup, found none")
    return groups


def _read_newsgroups(split_dir: Path, groups: dict[str, Path]) -> list[_Row]:
    rows = []
    for name in sorted(groups):
        for path in sorted(p for p in groups[name].iterdir() if p.is_file() and not p.name.startswith(".")):
            text = clean_newsgroup_message(_read_text(path, "utf-8", errors="replace"))
            rows.append(_Row(text, name, str(path.relative_to(split_dir))))
    return rows


def _load_20newsgroups(cfg: DataConfig, root: Path | None, seed: int) -> _Loaded:
    """20 Newsgroups bydate: one message per file, label = folder; headers/footers/quotes stripped."""
    root = _require_dir(cfg, root)
    train_name, test_name = _split_names(cfg)
    train_dir = _dir(root, train_name, "20 Newsgroups training folder")
    test_dir = _dir(root, test_name, "20 Newsgroups test folder")
    train_groups, test_groups = _newsgroup_dirs(train_dir), _newsgroup_dirs(test_dir)
    if set(train_groups) != set(test_groups):
        diff = sorted(set(train_groups) ^ set(test_groups))
        raise DataError(f"{test_dir}: newsgroup folders differ from {train_dir}: {', '.join(diff)}")
    names = sorted(train_groups)
    notes = ["20 Newsgroups: headers, signatures and quoted replies removed (as scikit-learn's remove=)"]
    return _build(
        _read_newsgroups(train_dir, train_groups),
        _read_newsgroups(test_dir, test_groups),
        names,
        (train_dir, test_dir),
        str(root),
        notes=notes,
    )


# --------------------------------------------------------------------------------------------
# Generic csv / tsv / jsonl
# --------------------------------------------------------------------------------------------


def _raw_label(value: Any, path: Path | str, where: str, column: str) -> str:
    """A label value as text: integers (also 3.0) as digits, strings stripped."""
    if value is None or isinstance(value, (list, dict)):
        raise DataError(f"{path}: {where}: column {column!r} must be a string or integer label, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if not text:
        raise DataError(f"{path}: {where}: empty label in column {column!r}")
    return text


def _is_int_label(value: str) -> bool:
    return value.isascii() and value.isdigit()


def _generic_label_index(
    train_rows: Sequence[_Row], test_rows: Sequence[_Row] = ()
) -> tuple[list[str], dict[str, int]]:
    """Integer labels keep their ids 0..max of train (names "0".."max"); string labels are sorted names.

    Test spellings such as "01" map to their integer id; labels absent from train stay unmapped.
    """
    values = {r.label for r in train_rows}
    if values and all(_is_int_label(v) for v in values):
        top = max(int(v) for v in values)
        names = [str(i) for i in range(top + 1)]
        spelled = {r.label for r in [*train_rows, *test_rows] if _is_int_label(r.label) and int(r.label) <= top}
        return names, {n: i for i, n in enumerate(names)} | {v: int(v) for v in spelled}
    names = sorted(values)
    return names, {n: i for i, n in enumerate(names)}


def _read_delimited(path: Path, cfg: DataConfig, delimiter: str) -> list[_Row]:
    cols = (cfg.text_column, cfg.label_column)
    return [
        _Row(normalize_whitespace(text), _raw_label(label, path, f"line {n}", cfg.label_column), f"line {n}")
        for n, (text, label) in _read_columns(path, cols, delimiter)
    ]


def _read_jsonl(path: Path, cfg: DataConfig) -> list[_Row]:
    rows = []
    for n, line in _lines(path):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {n}: invalid JSON ({exc.msg})") from exc
        if not isinstance(obj, dict):
            raise DataError(f"{path}: line {n}: expected a JSON object, got {type(obj).__name__}")
        for column in (cfg.text_column, cfg.label_column):
            if column not in obj:
                raise DataError(f"{path}: line {n}: no column {column!r} (columns: {', '.join(map(str, obj))})")
        text = obj[cfg.text_column]
        text = "" if text is None else normalize_whitespace(str(text))
        rows.append(_Row(text, _raw_label(obj[cfg.label_column], path, f"line {n}", cfg.label_column), f"line {n}"))
    return rows


def _read_generic(path: Path, cfg: DataConfig) -> list[_Row]:
    if cfg.dataset == "jsonl":
        return _read_jsonl(path, cfg)
    return _read_delimited(path, cfg, "\t" if cfg.dataset == "tsv" else ",")


def _load_generic(cfg: DataConfig, root: Path | None, seed: int) -> _Loaded:
    """csv/tsv/jsonl: a folder with train/test files, or one file with a stratified hold-out."""
    root = _require_root(cfg, root)
    notes: list[str] = []
    if root.is_file():
        if cfg.train_file or cfg.test_file:
            raise DataError(f"{root}: data.path is a file; train_file/test_file apply only to a directory")
        train_path, test_path = root, None
    else:
        train_name, test_name = _split_names(cfg)
        train_path = _file(root, train_name, f"{cfg.dataset} training file")
        test_path = root / test_name
        if not test_path.is_file():
            if cfg.test_file:
                raise DataError(f"{test_path}: {cfg.dataset} test file not found (expected a file here)")
            test_path = None
    train_rows = _read_generic(train_path, cfg)
    test_rows = _read_generic(test_path, cfg) if test_path is not None else []
    names, label_of = _generic_label_index(train_rows, test_rows)
    if test_path is not None:
        return _build(train_rows, test_rows, names, (train_path, test_path), str(root), label_of, notes)
    full, dropped = _to_dataset(train_rows, names, train_path, label_of)
    if dropped:
        notes.append(f"dropped {dropped} rows with empty text ({train_path})")
    train, test = stratified_holdout(full, cfg.test_fraction, seed)
    notes.append(f"test: held out {len(test)} of {len(full)} rows of {train_path} (stratified, seed {seed})")
    return _Loaded(train=train, test=test, source=str(root), notes=notes)


# --------------------------------------------------------------------------------------------
# Hugging Face datasets
# --------------------------------------------------------------------------------------------


def _hf_split(dataset: Any, split: str, cfg: DataConfig, where: str) -> tuple[list[Any], list[Any]]:
    part = dataset[split]
    columns = list(part.column_names)
    for column in (cfg.text_column, cfg.label_column):
        if column not in columns:
            raise DataError(f"{where}[{split}]: no column {column!r} (columns: {', '.join(columns)})")
    return list(part[cfg.text_column]), list(part[cfg.label_column])


def _load_hf(cfg: DataConfig, root: Path | None, seed: int) -> _Loaded:
    """A Hugging Face hub dataset via `datasets.load_dataset(hf_name, hf_subset)`."""
    if not cfg.hf_name:
        raise DataError("data.hf_name is not set: dataset 'hf' needs a hub name such as 'ag_news'")
    where = f"hf:{cfg.hf_name}" + (f"/{cfg.hf_subset}" if cfg.hf_subset else "")
    try:
        import datasets  # type: ignore[import-not-found]
    except ImportError as exc:
        raise DataError(
            f"{where}: the 'datasets' package is not installed; run `pip install datasets` "
            "(downloading from the Hugging Face hub also needs network access)"
        ) from exc
    try:
        dd = datasets.load_dataset(cfg.hf_name, cfg.hf_subset)
    except Exception as exc:  # network, missing dataset, bad subset: all reported the same way
        raise DataError(f"{where}: load_dataset failed (needs network access): {exc}") from exc
    splits = list(dd.keys())
    if "train" not in splits:
        raise DataError(f"{where}: no 'train' split (splits: {', '.join(splits)})")
    train_texts, train_labels = _hf_split(dd, "train", cfg, where)
    feature = dd["train"].features.get(cfg.label_column)
    class_names = list(getattr(feature, "names", None) or [])
    notes: list[str] = []
    test_split = None
    for candidate in ("test", "validation"):
        if candidate in splits:
            labels = _hf_split(dd, candidate, cfg, where)[1]
            if all(isinstance(y, int) and y < 0 for y in labels):
                notes.append(f"{where}: split {candidate!r} has hidden labels (-1); not used")
                continue
            test_split = candidate
            break

    def rows(texts: list[Any], labels: list[Any], split: str) -> list[_Row]:
        return [
            _Row(
                normalize_whitespace(str(t or "")),
                _raw_label(y, f"{where}[{split}]", f"row {i}", cfg.label_column),
                f"row {i}",
            )
            for i, (t, y) in enumerate(zip(texts, labels, strict=True))
        ]

    train_rows = rows(train_texts, train_labels, "train")
    test_rows = rows(*_hf_split(dd, test_split, cfg, where), test_split) if test_split else []
    if class_names:
        names, label_of = class_names, {str(i): i for i in range(len(class_names))}
    else:
        names, label_of = _generic_label_index(train_rows, test_rows)
    if test_split is None:
        full, _ = _to_dataset(train_rows, names, f"{where}[train]", label_of)
        train, test = stratified_holdout(full, cfg.test_fraction, seed)
        notes.append(f"{where}: no labelled test split; held out {len(test)} of train (stratified, seed {seed})")
        return _Loaded(train=train, test=test, source=where, notes=notes)
    notes.append(f"{where}: evaluating on split {test_split!r}")
    return _build(train_rows, test_rows, names, (f"{where}[train]", f"{where}[{test_split}]"), where, label_of, notes)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------

LOADERS: dict[str, Loader] = {
    "ag_news_sample": _load_ag_news_sample,
    "ag_news": _load_ag_news,
    "sst2": _load_sst2,
    "sst5": _load_sst5,
    "trec": _load_trec,
    "banking77": _load_banking77,
    "20newsgroups": _load_20newsgroups,
    "csv": _load_generic,
    "tsv": _load_generic,
    "jsonl": _load_generic,
    "hf": _load_hf,
}


def resolve_data_path(cfg: DataConfig, base_dir: Path | None = None) -> Path | None:
    """`cfg.path` with `~` expanded, relative paths taken from `base_dir` (default: the working directory)."""
    if cfg.path is None:
        return None
    path = Path(cfg.path).expanduser()
    if not path.is_absolute():
        path = (base_dir if base_dir is not None else Path.cwd()) / path
    return path


def load_splits(cfg: DataConfig, *, base_dir: Path | None = None, seed: int = 0) -> DatasetSplits:
    """Load the train and test splits that `cfg` describes, subsampled (stratified, seeded) if asked."""
    loader = LOADERS.get(cfg.dataset)
    if loader is None:
        raise DataError(f"data.dataset: unknown format {cfg.dataset!r} (known: {', '.join(LOADERS)})")
    loaded = loader(cfg, resolve_data_path(cfg, base_dir), seed)
    train, test, notes = loaded.train, loaded.test, list(loaded.notes)
    if cfg.max_train_examples is not None and cfg.max_train_examples < len(train):
        notes.append(f"train: stratified subsample {len(train)} -> {cfg.max_train_examples} (seed {seed})")
        train = stratified_subsample(train, cfg.max_train_examples, seed, "train")
    if cfg.max_test_examples is not None and cfg.max_test_examples < len(test):
        notes.append(f"test: stratified subsample {len(test)} -> {cfg.max_test_examples} (seed {seed})")
        test = stratified_subsample(test, cfg.max_test_examples, seed, "test")
    name = f"hf:{cfg.hf_name}" if cfg.dataset == "hf" else cfg.dataset
    return DatasetSplits(train=train, test=test, name=name, source=loaded.source, notes=notes)


def label_counts(dataset: TextDataset) -> dict[str, int]:
    """Rows per label name, in label order (handy for reports and tests)."""
    counts = Counter(dataset.labels)
    return {name: counts.get(i, 0) for i, name in enumerate(dataset.label_names)}
