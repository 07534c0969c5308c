"""Local batches: the right number of steps or passes, every row seen, padding and masks correct."""

from __future__ import annotations

import numpy as np
import pytest

from edgebench.fl.batches import TokenizedSplit, collate, eval_batches, local_index_batches


def test_local_steps_cycle_through_reshuffled_passes() -> None:
    batches = local_index_batches(range(10), 4, np.random.default_rng(0), local_steps=5)
    assert [len(b) for b in batches] == [4, 4, 2, 4, 4]
    assert sorted(i for b in batches[:3] for i in b) == list(range(10))  # the first pass covers every row


def test_local_epochs_and_tiny_clients() -> None:
    batches = local_index_batches(range(7), 3, np.random.default_rng(1), local_epochs=2)
    assert [len(b) for b in batches] == [3, 3, 1, 3, 3, 1]
    assert local_index_batches([5], 8, np.random.default_rng(0), local_steps=3) == [[5], [5], [5]]
    assert local_index_batches([], 8, np.random.default_rng(0), local_steps=3) == []
    with pytest.raises(ValueError, match="exactly one"):
        local_index_batches(range(3), 2, np.random.default_rng(0), local_steps=1, local_epochs=1)


def test_same_seed_same_batches() -> None:
    a = local_index_batches(range(50), 8, np.random.default_rng(np.random.SeedSequence([1, 2, 3])), local_steps=4)
    b = local_index_batches(range(50), 8, np.random.default_rng(np.random.SeedSequence([1, 2, 3])), local_steps=4)
    assert a == b


def test_collate_pads_right_and_masks() -> None:
    split = TokenizedSplit(input_ids=[[2, 7, 3], [2, 9, 9, 9, 3]], labels=[1, 0], pad_id=0)
    batch = collate(split, [0, 1])
    assert batch["input_ids"].tolist() == [[2, 7, 3, 0, 0], [2, 9, 9, 9, 3]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch["labels"].tolist() == [1, 0]
    total = sum(int(b["labels"].numel()) for b in eval_batches(split, 1))
    assert total == 2
