"""Regenerate the bundled AG News sample (`edgebench/data/samples/ag_news/`).

    python -m edgebench.data.samples.make_ag_news_sample /path/to/shared/datasets

Train: 800 rows per class drawn (seeded) from `ag_news/sat_mixtext_split/dev.csv`, a 8,000-row
subset of the AG News training side holding only the description. Test: 250 rows per class drawn
(seeded) from the official `ag_news/test.csv`, description column only, after dropping rows whose
cleaned description also appears anywhere in dev.csv (or earlier in test.csv) or is empty.
Texts are written raw (uncleaned), as in the source files; the loader cleans them.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import random
import shutil
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from edgebench.data.text import clean_ag_news_text

SEED = 20151207  # fixed; changing it changes the sample
TRAIN_PER_CLASS = 800
TEST_PER_CLASS = 250
LABELS = ("1", "2", "3", "4")
DEFAULT_OUT = Path(__file__).resolve().parent / "ag_news"

Row = tuple[str, str]  # (label 1-4, raw text)


def read_dev(path: Path) -> list[Row]:
    """`label,content` rows of the derived training-side subset."""
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        if header != ["label", "content"]:
            raise SystemExit(f"{path}: expected header label,content, got {header}")
        return [(label, content) for label, content in reader]


def read_test_descriptions(path: Path) -> list[Row]:
    """(class, description) of the official headerless class,title,description test file."""
    with path.open(encoding="utf-8", newline="") as f:
        return [(label, description) for label, _title, description in csv.reader(f)]


def draw(rows: Sequence[Row], per_class: int, rng: random.Random) -> list[Row]:
    """`per_class` rows of each label, drawn with `rng`, kept in source order."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, (label, _) in enumerate(rows):
        by_label[label].append(i)
    chosen: list[int] = []
    for label in LABELS:
        if len(by_label[label]) < per_class:
            raise SystemExit(f"label {label}: only {len(by_label[label])} rows, need {per_class}")
        chosen.extend(rng.sample(by_label[label], per_class))
    return [rows[i] for i in sorted(chosen)]


def test_candidates(test_rows: Sequence[Row], train_pool: Sequence[Row]) -> list[Row]:
    """Test rows whose cleaned description is non-empty, not in the train pool and not repeated."""
    seen = {clean_ag_news_text(text) for _, text in train_pool}
    keep = []
    for label, text in test_rows:
        key = clean_ag_news_text(text)
        if key and key not in seen:
            keep.append((label, text))
        seen.add(key)
    return keep


def write_csv(path: Path, rows: Sequence[Row]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["label", "content"])
        writer.writerows(rows)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shared_datasets", type=Path, help="folder holding ag_news/ (test.csv, sat_mixtext_split/)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=SEED, help=f"sampling seed (default: {SEED})")
    args = parser.parse_args(argv)

    src = args.shared_datasets / "ag_news"
    rng = random.Random(args.seed)
    pool = read_dev(src / "sat_mixtext_split" / "dev.csv")
    train = draw(pool, TRAIN_PER_CLASS, rng)
    candidates = test_candidates(read_test_descriptions(src / "test.csv"), pool)
    test = draw(candidates, TEST_PER_CLASS, rng)

    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "train.csv", train)
    write_csv(args.out / "test.csv", test)
    shutil.copyfile(src / "classes.txt", args.out / "classes.txt")
    print(f"train.csv: {len(train)} rows from {len(pool)} (dev.csv)")
    print(f"test.csv: {len(test)} rows from {len(candidates)} eligible test.csv rows")
    for name in ("train.csv", "test.csv", "classes.txt"):
        print(f"sha256 {name} {sha256(args.out / name)}")


if __name__ == "__main__":
    main()
