"""Who trains in a round and on which batches: a pure function of (seed, round, client)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from edgebench.fl.batches import TokenizedSplit
from edgebench.fl.sampling import client_batches, sample_clients


def test_sample_clients_is_deterministic_for_seed_and_round() -> None:
    assert sample_clients(7, 3, 50, 5) == sample_clients(7, 3, 50, 5)


def test_sample_clients_are_sorted_unique_and_the_requested_count() -> None:
    for rnd in range(1, 20):
        picked = sample_clients(7, rnd, 30, 6)
        assert len(picked) == 6
        assert picked == sorted(set(picked))
        assert all(0 <= c < 30 for c in picked)
        assert all(type(c) is int for c in picked)


def test_sample_clients_differ_across_rounds_and_seeds() -> None:
    rounds = {tuple(sample_clients(7, rnd, 100, 10)) for rnd in range(1, 11)}
    assert len(rounds) == 10
    assert sample_clients(7, 1, 100, 10) != sample_clients(8, 1, 100, 10)


def test_sampling_every_client_gives_all_of_them() -> None:
    assert sample_clients(1, 1, 5, 5) == [0, 1, 2, 3, 4]


def test_sampling_more_clients_than_exist_is_refused() -> None:
    with pytest.raises(ValueError):
        sample_clients(1, 1, 3, 4)


def test_sample_clients_does_not_touch_global_random_state() -> None:
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    sample_clients(7, 2, 10, 3)
    assert torch.equal(torch.rand(3), expected)


# -- client_batches -------------------------------------------------------------------------------


def _tokens(n: int = 20) -> TokenizedSplit:
    return TokenizedSplit(
        input_ids=[[100 + i] * (1 + i % 5) for i in range(n)], labels=[i % 3 for i in range(n)], pad_id=0
    )


def _schedule(batch_size: int = 3, local_steps: int | None = 4, local_epochs: int | None = None) -> SimpleNamespace:
    return SimpleNamespace(batch_size=batch_size, local_steps=local_steps, local_epochs=local_epochs)


INDICES = [1, 4, 5, 8, 9, 12, 13, 17]


def _batches_then_rand(seed: int = 7, rnd: int = 2, cid: int = 3, before: int = 0):
    torch.manual_seed(before)  # whatever state torch was in must not matter
    batches = list(client_batches(_schedule(), seed, rnd, cid, INDICES, _tokens()))
    return batches, torch.rand(4)


def _equal(a: list[dict[str, torch.Tensor]], b: list[dict[str, torch.Tensor]]) -> bool:
    return len(a) == len(b) and all(
        x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x) for x, y in zip(a, b, strict=True)
    )


def test_client_batches_are_identical_across_calls_and_reseed_torch() -> None:
    first, rand_first = _batches_then_rand(before=0)
    second, rand_second = _batches_then_rand(before=12345)
    assert _equal(first, second)
    assert torch.equal(rand_first, rand_second)


def test_torch_is_seeded_when_client_batches_is_called_not_when_it_is_consumed() -> None:
    torch.manual_seed(0)
    client_batches(_schedule(), 7, 2, 3, INDICES, _tokens())
    right_after_call = torch.rand(4)
    _, after_consuming = _batches_then_rand()
    assert torch.equal(right_after_call, after_consuming)  # collating the batches draws nothing from torch


def test_client_batches_follow_the_schedule_and_use_only_the_clients_rows() -> None:
    batches, _ = _batches_then_rand()
    assert len(batches) == 4
    assert [b["input_ids"].shape[0] for b in batches] == [3, 3, 2, 3]  # a pass over 8 rows ends short
    token_of = {100 + i: i for i in range(20)}
    rows = {token_of[int(b[0])] for batch in batches for b in batch["input_ids"]}
    assert rows <= set(INDICES)
    for batch in batches:
        assert set(batch) == {"input_ids", "attention_mask", "labels"}
        for ids, label in zip(batch["input_ids"], batch["labels"], strict=True):
            assert int(label) == token_of[int(ids[0])] % 3


def test_client_batches_depend_on_round_and_client() -> None:
    base, rand_base = _batches_then_rand(rnd=2, cid=3)
    other_round, rand_round = _batches_then_rand(rnd=3, cid=3)
    other_client, rand_client = _batches_then_rand(rnd=2, cid=4)
    assert not _equal(base, other_round) and not _equal(base, other_client)
    assert not torch.equal(rand_base, rand_round) and not torch.equal(rand_base, rand_client)


def test_a_device_with_only_its_own_rows_gets_the_same_batches() -> None:
    full = _tokens()
    own = TokenizedSplit(
        input_ids=[full.input_ids[i] for i in INDICES], labels=[full.labels[i] for i in INDICES], pad_id=0
    )
    rows = {row: pos for pos, row in enumerate(INDICES)}
    from_full = list(client_batches(_schedule(), 7, 2, 3, INDICES, full))
    from_own = list(client_batches(_schedule(), 7, 2, 3, INDICES, own, rows=rows))
    assert _equal(from_full, from_own)


def test_local_epochs_cover_every_row_once_per_epoch() -> None:
    schedule = _schedule(batch_size=3, local_steps=None, local_epochs=2)
    batches = list(client_batches(schedule, 7, 2, 3, INDICES, _tokens()))
    assert len(batches) == 6  # ceil(8 / 3) per epoch
    seen = sorted(int(ids[0]) - 100 for b in batches for ids in b["input_ids"])
    assert seen == sorted(INDICES * 2)
