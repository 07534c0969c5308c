"""Split a training set across clients: `iid`, `dirichlet` (label skew) or `shards` (k label shards each).

Every partitioner is deterministic for its seed and puts every sample on exactly one client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class PartitionError(ValueError):
    """The requested partition cannot be produced (e.g. too few samples for the clients).

    `field` is the config field to change (e.g. `partition.alpha`) and `source` the experiment file, when
    known: the message reads `<source>: <field>: <problem>`, like a config error.
    """

    def __init__(self, field: str, problem: str, source: str | Path | None = None) -> None:
        self.field = field
        self.problem = problem
        self.source = source
        prefix = f"{source}: " if source is not None else ""
        super().__init__(f"{prefix}{field}: {problem}")


class PartitionConfig(BaseModel):
    """The `partition:` section.

    scheme: `iid`, `dirichlet` or `shards`.
    alpha: Dirichlet concentration (smaller = more skewed); dirichlet only.
    min_samples: every client gets at least this many samples (dirichlet redraws until it holds).
    shards_per_client: label-sorted shards per client (the classic "pathological" non-IID); shards only.
    max_attempts: dirichlet redraws before giving up.
    """

    model_config = ConfigDict(extra="forbid")

    scheme: Literal["iid", "dirichlet", "shards"] = "dirichlet"
    alpha: float = Field(0.5, gt=0)
    min_samples: int = Field(2, ge=1)
    shards_per_client: int = Field(2, ge=1)
    max_attempts: int = Field(1000, ge=1)


@dataclass(frozen=True)
class Partition:
    """Sorted training-set indices held by each client (client ids are list positions)."""

    client_indices: list[list[int]]

    @property
    def num_clients(self) -> int:
        return len(self.client_indices)

    def label_counts(self, labels: Sequence[int], num_labels: int) -> np.ndarray:
        """clients x labels matrix of sample counts."""
        table = np.zeros((self.num_clients, num_labels), dtype=np.int64)
        y = np.asarray(labels)
        for cid, idx in enumerate(self.client_indices):
            if idx:
                table[cid] = np.bincount(y[idx], minlength=num_labels)
        return table


def partition(
    labels: Sequence[int], num_clients: int, cfg: PartitionConfig, seed: int, source: str | Path | None = None
) -> Partition:
    """Assign every index of `labels` to exactly one of `num_clients` clients; a PartitionError names
    `source` (the experiment file) and the field to change."""
    try:
        return _partition(labels, num_clients, cfg, seed)
    except PartitionError as exc:
        if source is None:
            raise
        raise PartitionError(exc.field, exc.problem, source) from None


def _partition(labels: Sequence[int], num_clients: int, cfg: PartitionConfig, seed: int) -> Partition:
    y = np.asarray(labels, dtype=np.int64)
    if num_clients < 1:
        raise PartitionError("federation.num_clients", "must be >= 1")
    if len(y) < num_clients * cfg.min_samples:
        raise PartitionError(
            "partition.min_samples",
            f"{len(y)} training samples cannot give {num_clients} clients {cfg.min_samples} samples each",
        )
    rng = np.random.default_rng(seed)
    if cfg.scheme == "iid":
        parts = _iid(len(y), num_clients, rng)
    elif cfg.scheme == "dirichlet":
        parts = _dirichlet(y, num_clients, cfg, rng)
    else:
        parts = _shards(y, num_clients, cfg.shards_per_client, rng)
    return Partition(client_indices=[sorted(int(i) for i in p) for p in parts])


def _iid(n: int, num_clients: int, rng: np.random.Generator) -> list[np.ndarray]:
    return list(np.array_split(rng.permutation(n), num_clients))


def _dirichlet(y: np.ndarray, num_clients: int, cfg: PartitionConfig, rng: np.random.Generator) -> list[np.ndarray]:
    classes = np.unique(y)
    for _ in range(cfg.max_attempts):
        parts: list[list[int]] = [[] for _ in range(num_clients)]
        for c in classes:
            members = rng.permutation(np.flatnonzero(y == c))
            shares = rng.dirichlet(np.full(num_clients, cfg.alpha))
            cuts = (np.cumsum(shares)[:-1] * len(members)).astype(int)
            for cid, chunk in enumerate(np.split(members, cuts)):
                parts[cid].extend(chunk.tolist())
        if min(len(p) for p in parts) >= cfg.min_samples:
            return [np.asarray(p, dtype=np.int64) for p in parts]
    raise PartitionError(
        "partition.alpha",
        f"dirichlet(alpha={cfg.alpha}) gave some client fewer than {cfg.min_samples} samples in "
        f"{cfg.max_attempts} draws; raise alpha, lower min_samples or use fewer clients",
    )


def _shards(y: np.ndarray, num_clients: int, per_client: int, rng: np.random.Generator) -> list[np.ndarray]:
    num_shards = num_clients * per_client
    if len(y) < num_shards:
        raise PartitionError(
            "partition.shards_per_client", f"{len(y)} samples cannot be cut into {num_shards} non-empty shards"
        )
    shuffled = rng.permutation(len(y))
    by_label = shuffled[np.argsort(y[shuffled], kind="stable")]
    shards = np.array_split(by_label, num_shards)
    order = rng.permutation(num_shards)
    return [
        np.concatenate([shards[s] for s in order[c * per_client : (c + 1) * per_client]]) for c in range(num_clients)
    ]
