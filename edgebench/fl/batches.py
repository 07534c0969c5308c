"""Tokenize once, then cut per-client index batches into padded tensors on demand."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from edgebench.data.dataset import TextDataset


@dataclass(frozen=True)
class TokenizedSplit:
    """Token ids (truncated, unpadded) and labels of one split, shared by all simulated clients."""

    input_ids: list[list[int]]
    labels: list[int]
    pad_id: int

    def __len__(self) -> int:
        return len(self.labels)


def tokenize(tokenizer: PreTrainedTokenizerBase, dataset: TextDataset, max_seq_len: int) -> TokenizedSplit:
    """Tokenize every text once, truncated to `max_seq_len` tokens."""
    encoded = tokenizer(list(dataset.texts), truncation=True, max_length=max_seq_len)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return TokenizedSplit(input_ids=list(encoded["input_ids"]), labels=list(dataset.labels), pad_id=pad_id)


def collate(split: TokenizedSplit, indices: Sequence[int]) -> dict[str, torch.Tensor]:
    """Right-padded `input_ids`, `attention_mask` and `labels` for the rows at `indices`."""
    rows = [split.input_ids[i] for i in indices]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), split.pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for k, row in enumerate(rows):
        ids[k, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[k, : len(row)] = 1
    labels = torch.tensor([split.labels[i] for i in indices], dtype=torch.long)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def local_index_batches(
    indices: Sequence[int],
    batch_size: int,
    rng: np.random.Generator,
    local_steps: int | None = None,
    local_epochs: int | None = None,
) -> list[list[int]]:
    """The client's batches for one round: `local_steps` batches, or `local_epochs` passes.

    Data are reshuffled at every pass; with `local_steps`, passes repeat until enough batches exist
    (a client smaller than one batch trains on all its rows each step).
    """
    if (local_steps is None) == (local_epochs is None):
        raise ValueError("exactly one of local_steps and local_epochs must be set")
    pool = np.asarray(indices, dtype=np.int64)
    if pool.size == 0:
        return []
    batches: list[list[int]] = []
    passes = 0
    while True:
        order = rng.permutation(pool)
        for start in range(0, len(order), batch_size):
            batches.append(order[start : start + batch_size].tolist())
            if local_steps is not None and len(batches) == local_steps:
                return batches
        passes += 1
        if local_epochs is not None and passes == local_epochs:
            return batches


def eval_batches(split: TokenizedSplit, batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
    """The whole split in order, `batch_size` rows at a time (sorted by length to pad less)."""
    order = sorted(range(len(split)), key=lambda i: len(split.input_ids[i]))
    for start in range(0, len(order), batch_size):
        yield collate(split, order[start : start + batch_size])
