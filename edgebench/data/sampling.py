"""Stratified, seeded sampling: subsampling a split and holding out a test split."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from edgebench.data.dataset import TextDataset


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


def stratified_holdout(
    dataset: TextDataset, fraction: float, seed: int, stream: str = ""
) -> tuple[TextDataset, TextDataset]:
    """Split into (kept, held out) with `fraction` of each class held out; classes of one row are kept.

    The same seed and stream give the same rows (the test holdout uses the default stream, the validation
    split `validation`, so the two never coincide by construction of their generators).
    """
    rng = random.Random(f"edgebench-holdout-{stream}-{seed}" if stream else f"edgebench-holdout-{seed}")
    test_ix: list[int] = []
    for _, ix in sorted(_by_class(dataset.labels).items()):
        k = min(max(round(len(ix) * fraction), 1), len(ix) - 1) if len(ix) > 1 else 0
        test_ix.extend(rng.sample(ix, k))
    test_set = set(test_ix)
    train_ix = [i for i in range(len(dataset)) if i not in test_set]
    return dataset.subset(train_ix), dataset.subset(sorted(test_ix))
