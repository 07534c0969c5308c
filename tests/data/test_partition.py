"""Partitioners: every sample on exactly one client, deterministic by seed, skew as configured."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgebench.data.partition import PartitionConfig, PartitionError, partition

labels_strategy = st.lists(st.integers(min_value=0, max_value=5), min_size=40, max_size=400)


def _assert_exact_cover(parts, n: int) -> None:
    flat = [i for idx in parts.client_indices for i in idx]
    assert sorted(flat) == list(range(n)), "every sample must land on exactly one client"


@settings(max_examples=40, deadline=None)
@given(
    labels=labels_strategy,
    num_clients=st.integers(min_value=1, max_value=10),
    scheme=st.sampled_from(["iid", "dirichlet", "shards"]),
    alpha=st.floats(min_value=0.05, max_value=10.0),
    seed=st.integers(min_value=0, max_value=2**31),
)
def test_exact_cover_and_determinism(labels, num_clients, scheme, alpha, seed) -> None:
    cfg = PartitionConfig(scheme=scheme, alpha=alpha, min_samples=1, shards_per_client=2)
    try:
        first = partition(labels, num_clients, cfg, seed)
    except PartitionError:
        # Only a genuinely impossible request may fail: dirichlet with tiny alpha and many clients.
        assert scheme == "dirichlet"
        return
    _assert_exact_cover(first, len(labels))
    assert first.num_clients == num_clients
    assert first == partition(labels, num_clients, cfg, seed)
    counts = first.label_counts(labels, 6)
    assert counts.sum() == len(labels)
    assert (counts.sum(axis=0) == np.bincount(labels, minlength=6)).all()


@settings(max_examples=25, deadline=None)
@given(n=st.integers(min_value=10, max_value=500), num_clients=st.integers(min_value=1, max_value=10))
def test_iid_sizes_differ_by_at_most_one(n, num_clients) -> None:
    parts = partition([0] * n, num_clients, PartitionConfig(scheme="iid", min_samples=1), seed=3)
    sizes = [len(p) for p in parts.client_indices]
    assert max(sizes) - min(sizes) <= 1


def test_dirichlet_min_samples_holds_and_seed_matters() -> None:
    labels = [i % 4 for i in range(400)]
    cfg = PartitionConfig(scheme="dirichlet", alpha=0.3, min_samples=15)
    parts = partition(labels, 8, cfg, seed=1)
    assert min(len(p) for p in parts.client_indices) >= 15
    assert parts != partition(labels, 8, cfg, seed=2)


def test_smaller_alpha_gives_more_label_skew() -> None:
    labels = [i % 4 for i in range(4000)]

    def mean_max_share(alpha: float) -> float:
        counts = partition(labels, 20, PartitionConfig(scheme="dirichlet", alpha=alpha, min_samples=1), seed=0)
        table = counts.label_counts(labels, 4)
        return float((table.max(axis=1) / table.sum(axis=1)).mean())

    assert mean_max_share(0.1) > mean_max_share(1.0) > mean_max_share(100.0)
    assert mean_max_share(100.0) < 0.35  # near-uniform: about a quarter per label


def test_shards_give_at_most_k_labels_when_shards_are_pure() -> None:
    labels = [label for label in range(10) for _ in range(100)]  # 10 labels x 100
    parts = partition(labels, 10, PartitionConfig(scheme="shards", shards_per_client=2), seed=0)
    table = parts.label_counts(labels, 10)
    assert ((table > 0).sum(axis=1) <= 2).all()
    assert (table.sum(axis=1) == 100).all()


def test_impossible_requests_fail_clearly() -> None:
    with pytest.raises(PartitionError, match="cannot give 10 clients 5 samples each"):
        partition([0] * 20, 10, PartitionConfig(scheme="iid", min_samples=5), seed=0)
    with pytest.raises(PartitionError, match="raise alpha"):
        partition([0, 1] * 10, 10, PartitionConfig(scheme="dirichlet", alpha=0.01, min_samples=2, max_attempts=5), 0)
