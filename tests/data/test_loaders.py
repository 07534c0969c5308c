"""Loading datasets: bundled sample, real datasets (when present), generic formats, cleaning, sampling."""

from __future__ import annotations

import json
import os
import re
import sys
import types
from pathlib import Path

import pytest
from pydantic import ValidationError

from edgebench.data.config import DataConfig
from edgebench.data.dataset import DataError, TextDataset
from edgebench.data.formats.agnews import SAMPLE_DIR
from edgebench.data.loaders import label_counts, load_splits
from edgebench.data.sampling import stratified_holdout
from edgebench.data.text import (
    clean_ag_news_text,
    clean_newsgroup_message,
    strip_newsgroup_footer,
    strip_newsgroup_header,
    strip_newsgroup_quoting,
)


def _shared_datasets() -> Path:
    env = os.environ.get("EDGEBENCH_SHARED_DATASETS")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "datasets"


SHARED = _shared_datasets()


def shared(name: str) -> Path:
    """The shared copy of dataset `name`, or skip the test when it is not on this machine."""
    path = SHARED / name
    if not path.is_dir():
        pytest.skip(f"shared dataset {path} not found (set EDGEBENCH_SHARED_DATASETS to the datasets folder)")
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------
# Bundled AG News sample
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample():
    return load_splits(DataConfig())


def test_sample_files_are_present():
    for name in ("train.csv", "test.csv", "classes.txt", "NOTICE.md"):
        assert (SAMPLE_DIR / name).is_file(), name
    assert (SAMPLE_DIR.parent / "__init__.py").is_file()


def test_sample_loads_balanced(sample):
    assert sample.name == "ag_news_sample"
    assert sample.train.label_names == ["World", "Sports", "Business", "Sci/Tech"]
    assert sample.test.label_names == sample.train.label_names
    assert label_counts(sample.train) == dict.fromkeys(sample.train.label_names, 800)
    assert label_counts(sample.test) == dict.fromkeys(sample.test.label_names, 250)
    assert any("NOTICE.md" in note for note in sample.notes)


def test_sample_train_test_disjoint(sample):
    assert not set(sample.train.texts) & set(sample.test.texts)


def test_sample_is_cleaned(sample):
    for text in sample.train.texts + sample.test.texts:
        assert text and text == text.strip()
        for remnant in ("#39;", "quot;", "&lt;", "&gt;", "#36;", "\\", "<b>", "  "):
            assert remnant not in text, (remnant, text)
    assert any("'" in t for t in sample.train.texts)


def test_sample_path_resolved_against_base_dir(tmp_path):
    write(tmp_path / "exp" / "ag" / "train.csv", 'label,content\n1,"a"\n2,"b"\n')
    write(tmp_path / "exp" / "ag" / "test.csv", 'label,content\n3,"c"\n')
    splits = load_splits(DataConfig(dataset="ag_news_sample", path="ag"), base_dir=tmp_path / "exp")
    assert splits.train.texts == ["a", "b"] and splits.test.labels == [2]


# ------------------------------------------------------------------------------------------
# AG News cleaning and parsing
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Bush #39;s plan", "Bush's plan"),
        ("it was  quot;the best quot; year", 'it was "the best" year'),
        ("a  #36;10 million prize", "a $10 million prize"),
        ("Johnson  amp; Johnson", "Johnson & Johnson"),
        ("oil\\pipeline and\\network", "oil pipeline and network"),
        ("end.\\\\Next part", "end. Next part"),
        ("line one\\n", "line one"),
        ('Post &lt;b&gt;bold&lt;/b&gt; &lt;FONT face="x" size="-2"&gt;-WP&lt;/FONT&gt;', "Post bold -WP"),
        ("Texas Instruments &lt;TXN.N&gt; said", "Texas Instruments <TXN.N> said"),
        ("  many   spaces\there ", "many spaces here"),
        ("salt; lat; 3 &lt; 4", "salt; lat; 3 < 4"),
    ],
)
def test_clean_ag_news_text(raw, clean):
    assert clean_ag_news_text(raw) == clean


def test_ag_news_three_column_form(tmp_path):
    write(tmp_path / "train.csv", '"3","Stocks up","Wall St. #39;s day"\n"1","Title","Desc"\n')
    write(tmp_path / "test.csv", 'label,content\n4,"Space  quot;race quot;"\n')
    splits = load_splits(DataConfig(dataset="ag_news", path=str(tmp_path)))
    assert splits.train.texts == ["Stocks up Wall St.'s day", "Title Desc"]
    assert splits.train.labels == [2, 0]
    assert splits.test.texts == ['Space "race"'] and splits.test.labels == [3]
    assert splits.train.label_names == ["World", "Sports", "Business", "Sci/Tech"]


def test_ag_news_bad_row_names_file_and_line(tmp_path):
    bad = write(tmp_path / "train.csv", '"1","t","d"\n"2","t","d"\n"3","only two"\n"4","t","d"\n')
    write(tmp_path / "test.csv", '"1","t","d"\n')
    with pytest.raises(DataError) as err:
        load_splits(DataConfig(dataset="ag_news", path=str(tmp_path)))
    msg = str(err.value)
    assert str(bad) in msg and "line 3" in msg
    assert "expected 3 columns (class,title,description), got 2" in msg


def test_ag_news_bad_label(tmp_path):
    bad = write(tmp_path / "train.csv", 'label,content\n1,"a"\n7,"b"\n')
    write(tmp_path / "test.csv", 'label,content\n1,"a"\n')
    with pytest.raises(DataError, match=r"line 3: class must be an integer 1-4, got '7'") as err:
        load_splits(DataConfig(dataset="ag_news", path=str(tmp_path)))
    assert str(bad) in str(err.value)


def test_ag_news_missing_train_file(tmp_path):
    write(tmp_path / "test.csv", '"1","t","d"\n')
    with pytest.raises(DataError) as err:
        load_splits(DataConfig(dataset="ag_news", path=str(tmp_path)))
    assert str(tmp_path / "train.csv") in str(err.value)


def test_ag_news_empty_rows_dropped(tmp_path):
    write(tmp_path / "train.csv", 'label,content\n1,"a"\n2,"  "\n2,"&lt;b&gt;&lt;/b&gt;"\n')
    write(tmp_path / "test.csv", 'label,content\n1,"a"\n')
    splits = load_splits(DataConfig(dataset="ag_news", path=str(tmp_path)))
    assert splits.train.texts == ["a"]
    assert any("dropped 2 rows with empty text" in n for n in splits.notes)


# ------------------------------------------------------------------------------------------
# Real datasets (skipped when /work/shared/datasets is absent)
# ------------------------------------------------------------------------------------------


def test_real_ag_news():
    root = shared("ag_news")
    with pytest.raises(DataError, match=re.escape("train.csv")):
        load_splits(DataConfig(dataset="ag_news", path=str(root)))
    splits = load_splits(DataConfig(dataset="ag_news", path=str(root), train_file="sat_mixtext_split/dev.csv"))
    assert (len(splits.train), len(splits.test)) == (8000, 7600)
    assert set(label_counts(splits.train).values()) == {2000}
    assert set(label_counts(splits.test).values()) == {1900}
    assert not any("#39;" in t or "quot;" in t or "\\" in t for t in splits.test.texts)


def test_real_sst2():
    root = shared("sst2")
    splits = load_splits(DataConfig(dataset="sst2", path=str(root)))
    assert label_counts(splits.train) == {"negative": 29780, "positive": 37569}
    assert label_counts(splits.test) == {"negative": 428, "positive": 444}
    assert splits.train.texts[0] == "hide new secretions from the parental units"
    senteval = load_splits(DataConfig(dataset="sst2", path=str(root), test_file="sentiment-test"))
    assert label_counts(senteval.test) == {"negative": 912, "positive": 909}
    with pytest.raises(DataError, match=re.escape("test.tsv: line 1")):
        load_splits(DataConfig(dataset="sst2", path=str(root), test_file="test.tsv"))


def test_real_sst5():
    splits = load_splits(DataConfig(dataset="sst5", path=str(shared("sst5"))))
    assert list(label_counts(splits.train).values()) == [1092, 2218, 1624, 2322, 1288]
    assert list(label_counts(splits.test).values()) == [279, 633, 389, 510, 399]
    assert splits.train.label_names[0] == "very negative"


def test_real_trec():
    root = shared("trec")
    coarse = load_splits(DataConfig(dataset="trec", path=str(root)))
    assert label_counts(coarse.train) == {
        "ABBR": 86, "DESC": 1162, "ENTY": 1250, "HUM": 1223, "LOC": 835, "NUM": 896,
    }  # fmt: skip
    assert label_counts(coarse.test) == {"ABBR": 9, "DESC": 138, "ENTY": 94, "HUM": 65, "LOC": 81, "NUM": 113}
    assert any("sister\xf0city" in t for t in coarse.train.texts)  # the latin-1 byte of line 66
    fine = load_splits(DataConfig(dataset="trec", path=str(root), trec_fine_labels=True))
    assert fine.train.num_labels == 50 and fine.train.label_names == sorted(fine.train.label_names)
    counts = label_counts(fine.train)
    assert (min(counts.values()), max(counts.values()), counts["HUM:ind"]) == (4, 962, 962)
    assert len(fine.test) == 500


def test_real_banking77():
    root = shared("banking77")
    splits = load_splits(DataConfig(dataset="banking77", path=str(root)))
    assert (len(splits.train), len(splits.test)) == (10003, 3080)
    assert splits.train.label_names == json.loads((root / "categories.json").read_text(encoding="utf-8"))
    assert set(label_counts(splits.test).values()) == {40}
    counts = label_counts(splits.train).values()
    assert (min(counts), max(counts)) == (35, 187)


@pytest.fixture(scope="module")
def newsgroups():
    return load_splits(DataConfig(dataset="20newsgroups", path=str(shared("20newsgroups"))))


def test_real_20newsgroups(newsgroups):
    root = shared("20newsgroups")
    # 11,314 / 7,532 files; 300 / 215 messages are empty once headers, footers and quotes go.
    assert (len(newsgroups.train), len(newsgroups.test)) == (11314 - 300, 7532 - 215)
    assert any("dropped 300 rows" in n for n in newsgroups.notes)
    assert any("dropped 215 rows" in n for n in newsgroups.notes)
    names = sorted(p.name for p in (root / "20news-bydate-train").iterdir())
    assert newsgroups.train.label_names == names and newsgroups.test.label_names == names
    counts = label_counts(newsgroups.train)
    assert len(counts) == 20 and all(350 <= c <= 600 for c in counts.values())
    assert not any(t.startswith("From:") for t in newsgroups.train.texts[:500])


def test_20newsgroups_cleaning_matches_sklearn():
    twenty = pytest.importorskip("sklearn.datasets._twenty_newsgroups")
    root = shared("20newsgroups")
    files = sorted((root / "20news-bydate-test").glob("*/*"))[::25]
    for path in files:
        raw = path.read_text(encoding="utf-8", errors="replace")
        expected = twenty.strip_newsgroup_quoting(twenty.strip_newsgroup_footer(twenty.strip_newsgroup_header(raw)))
        assert clean_newsgroup_message(raw) == " ".join(expected.split()), path


# ------------------------------------------------------------------------------------------
# 20 Newsgroups cleaning on hand-written messages
# ------------------------------------------------------------------------------------------

MESSAGE = """From: alice@example.edu (Alice)
Subject: Re: orbit question
Organization: Example University
Lines: 12

In article <1993Apr1.123@example.com> bob@example.com (Bob) writes:
> Is the orbit stable?
>> I think not.
| also quoted

The orbit is stable for about ten years.
Drag lowers it after that.

--
Alice, Dept. of Physics, alice@example.edu
"""


def test_newsgroup_header_removed():
    body = strip_newsgroup_header(MESSAGE)
    assert "From:" not in body and "Subject:" not in body
    assert body.startswith("In article")


def test_newsgroup_quotes_removed():
    body = strip_newsgroup_quoting(strip_newsgroup_header(MESSAGE))
    assert "writes:" not in body and "Is the orbit" not in body and "also quoted" not in body
    assert "The orbit is stable" in body


def test_newsgroup_signature_removed():
    body = strip_newsgroup_footer(strip_newsgroup_header(MESSAGE))
    assert "alice@example.edu" not in body and "Dept. of Physics" not in body
    assert "Drag lowers it" in body


def test_newsgroup_full_clean():
    assert clean_newsgroup_message(MESSAGE) == ("The orbit is stable for about ten years. Drag lowers it after that.")
    assert clean_newsgroup_message("Subject: x\n\n> only a quote\n") == ""
    # No blank or dashes line after the header: nothing is taken as a signature.
    assert clean_newsgroup_message("Subject: x\n\nline one\nline two\n") == "line one line two"


def test_20newsgroups_tmp_tree(tmp_path):
    for split, group, name, body in [
        ("20news-bydate-train", "sci.space", "1", "Orbits.\n"),
        ("20news-bydate-train", "rec.autos", "2", "Cars.\n"),
        ("20news-bydate-train", "rec.autos", "3", "> quote only\n"),
        ("20news-bydate-test", "sci.space", "4", "Rockets.\n"),
        ("20news-bydate-test", "rec.autos", "5", "Wheels.\n"),
    ]:
        write(tmp_path / split / group / name, f"From: x@y\nSubject: s\n\n{body}")
    splits = load_splits(DataConfig(dataset="20newsgroups", path=str(tmp_path)))
    assert splits.train.label_names == ["rec.autos", "sci.space"]
    assert splits.train.texts == ["Cars.", "Orbits."] and splits.train.labels == [0, 1]
    assert splits.test.texts == ["Wheels.", "Rockets."]
    write(tmp_path / "20news-bydate-test" / "misc.forsale" / "6", "From: x\n\nSale.\n")
    with pytest.raises(DataError, match=re.escape("misc.forsale")):
        load_splits(DataConfig(dataset="20newsgroups", path=str(tmp_path)))


# ------------------------------------------------------------------------------------------
# Generic csv / tsv / jsonl
# ------------------------------------------------------------------------------------------


def test_csv_directory_with_string_labels(tmp_path):
    write(tmp_path / "train.csv", 'text,label\n"good, really",pos\nbad,neg\nfine,pos\n')
    write(tmp_path / "test.csv", "text,label\nawful,neg\n")
    splits = load_splits(DataConfig(dataset="csv", path=str(tmp_path)))
    assert splits.train.label_names == ["neg", "pos"] and splits.test.label_names == ["neg", "pos"]
    assert splits.train.texts == ["good, really", "bad", "fine"] and splits.train.labels == [1, 0, 1]
    assert splits.test.labels == [0]


def test_csv_integer_labels_kept_as_ids(tmp_path):
    write(tmp_path / "train.csv", "review,stars\na,0\nb,2\nc,2\n")
    write(tmp_path / "test.csv", "review,stars\nd,1\n")
    cfg = DataConfig(dataset="csv", path=str(tmp_path), text_column="review", label_column="stars")
    splits = load_splits(cfg)
    assert splits.train.label_names == ["0", "1", "2"] and splits.train.labels == [0, 2, 2]
    assert splits.test.labels == [1]


def test_csv_unknown_test_label(tmp_path):
    write(tmp_path / "train.csv", "text,label\na,x\nb,y\n")
    bad = write(tmp_path / "test.csv", "text,label\nc,z\n")
    with pytest.raises(DataError, match=r"line 2: unknown label 'z'") as err:
        load_splits(DataConfig(dataset="csv", path=str(tmp_path)))
    assert str(bad) in str(err.value)


def test_tsv_and_custom_file_names(tmp_path):
    write(tmp_path / "a.tsv", "label\ttext\nspam\tbuy now\nham\thello there\n")
    write(tmp_path / "b.tsv", "label\ttext\nham\thi\n")
    cfg = DataConfig(dataset="tsv", path=str(tmp_path), train_file="a.tsv", test_file="b.tsv")
    splits = load_splits(cfg)
    assert splits.train.texts == ["buy now", "hello there"] and splits.train.labels == [1, 0]
    assert splits.test.texts == ["hi"]


def test_jsonl_directory(tmp_path):
    rows = [{"text": "a", "label": 1}, {"text": "b", "label": 0}, {"text": "", "label": 1}]
    write(tmp_path / "train.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    write(tmp_path / "test.jsonl", json.dumps({"text": "c", "label": 1, "extra": True}) + "\n")
    splits = load_splits(DataConfig(dataset="jsonl", path=str(tmp_path)))
    assert splits.train.texts == ["a", "b"] and splits.train.labels == [1, 0]
    assert splits.train.label_names == ["0", "1"] and splits.test.labels == [1]


def test_jsonl_bad_line(tmp_path):
    bad = write(tmp_path / "train.jsonl", '{"text": "a", "label": "x"}\n{"text": oops}\n')
    with pytest.raises(DataError, match="line 2: invalid JSON") as err:
        load_splits(DataConfig(dataset="jsonl", path=str(bad)))
    assert str(bad) in str(err.value)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_missing_column_names_file_column_and_columns(tmp_path, fmt):
    if fmt == "csv":
        path = write(tmp_path / "data.csv", "sentence,label\nhello,a\n")
    else:
        path = write(tmp_path / "data.jsonl", json.dumps({"sentence": "hello", "label": "a"}) + "\n")
    with pytest.raises(DataError) as err:
        load_splits(DataConfig(dataset=fmt, path=str(path)))
    msg = str(err.value)
    assert str(path) in msg and "'text'" in msg and "sentence" in msg and "label" in msg


def _single_file(tmp_path: Path) -> Path:
    lines = ["text,label"]
    lines += [f"pos {i},pos" for i in range(60)]
    lines += [f"neg {i},neg" for i in range(40)]
    lines += ["lonely,rare"]
    return write(tmp_path / "all.csv", "\n".join(lines) + "\n")


def test_single_file_holdout_is_stratified_and_deterministic(tmp_path):
    path = _single_file(tmp_path)
    cfg = DataConfig(dataset="csv", path=str(path), test_fraction=0.25)
    first, again = load_splits(cfg, seed=3), load_splits(cfg, seed=3)
    assert first.test.texts == again.test.texts and first.train.texts == again.train.texts
    assert label_counts(first.test) == {"neg": 10, "pos": 15, "rare": 0}
    assert label_counts(first.train) == {"neg": 30, "pos": 45, "rare": 1}
    assert not set(first.train.texts) & set(first.test.texts)
    assert len(first.train) + len(first.test) == 101
    assert load_splits(cfg, seed=4).test.texts != first.test.texts
    assert any("held out 25" in n for n in first.notes)


def test_directory_without_test_file_holds_out(tmp_path):
    write(tmp_path / "train.csv", "text,label\n" + "".join(f"t{i},{i % 2}\n" for i in range(50)))
    splits = load_splits(DataConfig(dataset="csv", path=str(tmp_path), test_fraction=0.2))
    assert (len(splits.train), len(splits.test)) == (40, 10)
    with pytest.raises(DataError, match=re.escape("nope.csv")):
        load_splits(DataConfig(dataset="csv", path=str(tmp_path), test_file="nope.csv"))


def test_holdout_helper_keeps_every_class_in_train():
    ds = TextDataset(texts=list("abcde"), labels=[0, 0, 1, 1, 2], label_names=["x", "y", "z"])
    train, test = stratified_holdout(ds, 0.5, seed=0)
    assert sorted(train.labels) == [0, 1, 2] and sorted(test.labels) == [0, 1]


# ------------------------------------------------------------------------------------------
# max_train_examples / max_test_examples
# ------------------------------------------------------------------------------------------


def test_subsample_is_stratified_and_deterministic(sample):
    cfg = DataConfig(max_train_examples=100, max_test_examples=40)
    a, b = load_splits(cfg, seed=7), load_splits(cfg, seed=7)
    assert a.train.texts == b.train.texts and a.test.texts == b.test.texts
    assert set(label_counts(a.train).values()) == {25}
    assert set(label_counts(a.test).values()) == {10}
    assert set(a.train.texts) <= set(sample.train.texts)
    assert load_splits(cfg, seed=8).train.texts != a.train.texts
    assert any("stratified subsample 3200 -> 100" in n for n in a.notes)


def test_subsample_keeps_proportions_of_imbalanced_classes(tmp_path):
    write(
        tmp_path / "train.csv",
        "text,label\n" + "".join(f"t{i},{'a' if i < 90 else 'b'}\n" for i in range(100)),
    )
    write(tmp_path / "test.csv", "text,label\nx,a\ny,b\n")
    splits = load_splits(DataConfig(dataset="csv", path=str(tmp_path), max_train_examples=20, max_test_examples=5))
    assert label_counts(splits.train) == {"a": 18, "b": 2}
    assert len(splits.test) == 2  # already under the cap


# ------------------------------------------------------------------------------------------
# Hugging Face and config errors
# ------------------------------------------------------------------------------------------


def test_hf_without_datasets_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(DataError, match="pip install datasets") as err:
        load_splits(DataConfig(dataset="hf", hf_name="ag_news"))
    assert "network" in str(err.value) and "hf:ag_news" in str(err.value)


class _FakeSplit:
    def __init__(self, columns: dict[str, list], features: dict) -> None:
        self._columns, self.features, self.column_names = columns, features, list(columns)

    def __getitem__(self, column: str) -> list:
        return self._columns[column]


def test_hf_with_fake_datasets_module(monkeypatch):
    class_label = types.SimpleNamespace(names=["World", "Sports"])
    splits = {
        "train": _FakeSplit({"text": ["a", "b", "c"], "label": [0, 1, 1]}, {"label": class_label}),
        "test": _FakeSplit({"text": ["d"], "label": [-1]}, {"label": class_label}),
        "validation": _FakeSplit({"text": ["e"], "label": [0]}, {"label": class_label}),
    }
    fake = types.ModuleType("datasets")
    fake.load_dataset = lambda name, subset=None: splits  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "datasets", fake)
    loaded = load_splits(DataConfig(dataset="hf", hf_name="fake"))
    assert loaded.name == "hf:fake" and loaded.train.label_names == ["World", "Sports"]
    assert loaded.test.texts == ["e"]  # test labels are hidden (-1), so validation is used
    with pytest.raises(DataError, match=r"hf:fake\[train\]: no column 'body' \(columns: text, label\)"):
        load_splits(DataConfig(dataset="hf", hf_name="fake", text_column="body"))


def test_missing_path(tmp_path):
    with pytest.raises(ValidationError, match=re.escape("required for data.dataset 'sst2'")):
        DataConfig(dataset="sst2")
    with pytest.raises(DataError, match=re.escape("data.path is not set")):
        load_splits(DataConfig.model_construct(dataset="sst2"))  # skips the validator, not the loader's check
    with pytest.raises(DataError, match="does not exist") as err:
        load_splits(DataConfig(dataset="trec", path="nowhere"), base_dir=tmp_path)
    assert str(tmp_path / "nowhere") in str(err.value)
