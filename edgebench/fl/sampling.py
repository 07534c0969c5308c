"""Who trains in a round, and with which seed: the same for every method and every runner."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

import numpy as np
import torch

from edgebench.fl.batches import TokenizedSplit, collate, local_index_batches
from edgebench.methods.base import Batch


class LocalSchedule(Protocol):
    batch_size: int
    local_steps: int | None
    local_epochs: int | None


def sample_clients(seed: int, rnd: int, num_clients: int, per_round: int) -> list[int]:
    """The clients of round `rnd`: the same for every method of a run (fair comparison)."""
    rng = np.random.default_rng([seed, rnd])
    return sorted(int(c) for c in rng.choice(num_clients, size=per_round, replace=False))


def client_seed(seed: int, rnd: int, cid: int) -> np.random.SeedSequence:
    """Seed of client `cid`'s local work in round `rnd` (batch order, dropout)."""
    return np.random.SeedSequence([seed, rnd, cid])


def client_batches(
    schedule: LocalSchedule,
    seed: int,
    rnd: int,
    cid: int,
    indices: Sequence[int],
    tokens: TokenizedSplit,
    rows: Mapping[int, int] | None = None,
) -> Iterator[Batch]:
    """Seed torch for client `cid`'s round and return its local batches (lazily collated).

    `indices` are the client's rows of the train split; `rows` maps such a row to its position in
    `tokens` when `tokens` holds only the client's rows (a device tokenizes just its own partition).
    Call it right before training: it reseeds torch's global generator.
    """
    seq = client_seed(seed, rnd, cid)
    torch.manual_seed(int(seq.generate_state(1)[0]))
    index_batches = local_index_batches(
        indices, schedule.batch_size, np.random.default_rng(seq), schedule.local_steps, schedule.local_epochs
    )
    if rows is None:
        return (collate(tokens, b) for b in index_batches)
    return (collate(tokens, [rows[i] for i in b]) for b in index_batches)
