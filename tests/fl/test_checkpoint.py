"""Per-method checkpoints: exact round trip of server and client state, atomic replacement, none before round 1."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgebench.fl.checkpoint import Checkpoint, checkpoint_path, load_checkpoint, save_checkpoint
from edgebench.methods.base import Payload


def _tensors(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "layer.0.lora_A": torch.randn(4, 8, generator=g),
        "layer.0.lora_B.half": torch.randn(8, 4, generator=g).half(),
        "layer.0.bf16": torch.randn(3, generator=g).to(torch.bfloat16),
        "ranks": torch.tensor([4, 0, 2], dtype=torch.int64),
        "mask": torch.tensor([True, False, True]),
        "step": torch.tensor(7, dtype=torch.int32),
    }


def _checkpoint(round_: int = 2, complete: bool = False) -> Checkpoint:
    return Checkpoint(
        round=round_,
        complete=complete,
        server=Payload(tensors=_tensors(0), meta={"budget": 12, "history": [1.5, 2.0], "name": "é"}),
        clients={
            0: Payload(tensors=_tensors(1), meta={"steps": 3}),
            3: Payload(tensors={"residual": torch.ones(2, 2)}, meta={}),
            7: Payload(tensors={}, meta={"only": "meta"}),
        },
    )


def _assert_same(a: Payload, b: Payload) -> None:
    assert a.meta == b.meta
    assert set(a.tensors) == set(b.tensors)
    for name, tensor in a.tensors.items():
        assert b.tensors[name].dtype == tensor.dtype, name
        assert b.tensors[name].shape == tensor.shape, name
        assert torch.equal(b.tensors[name], tensor), name


def test_loading_a_checkpoint_that_was_never_saved_gives_none(tmp_path: Path) -> None:
    assert load_checkpoint(tmp_path, "lora") is None


def test_round_trip_restores_server_and_client_state_exactly(tmp_path: Path) -> None:
    saved = _checkpoint()
    save_checkpoint(tmp_path, "lora", saved)
    loaded = load_checkpoint(tmp_path, "lora")
    assert loaded is not None
    assert loaded.round == 2 and loaded.complete is False
    _assert_same(saved.server, loaded.server)
    assert set(loaded.clients) == {0, 3, 7}
    for cid, state in saved.clients.items():
        _assert_same(state, loaded.clients[cid])


def test_a_client_with_only_meta_is_restored(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, "lora", _checkpoint())
    loaded = load_checkpoint(tmp_path, "lora")
    assert loaded is not None
    assert loaded.clients[7].tensors == {} and loaded.clients[7].meta == {"only": "meta"}


def test_complete_flag_is_kept(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, "lora", _checkpoint(round_=3, complete=True))
    loaded = load_checkpoint(tmp_path, "lora")
    assert loaded is not None and loaded.complete is True and loaded.round == 3


def test_a_checkpoint_without_clients_or_tensors_round_trips(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, "fedavg", Checkpoint(round=1, complete=False, server=Payload(meta={"k": 1})))
    loaded = load_checkpoint(tmp_path, "fedavg")
    assert loaded is not None
    assert loaded.server.tensors == {} and loaded.server.meta == {"k": 1} and loaded.clients == {}


def test_non_contiguous_tensors_are_saved(tmp_path: Path) -> None:
    t = torch.arange(12.0).reshape(3, 4).t()
    assert not t.is_contiguous()
    save_checkpoint(tmp_path, "lora", Checkpoint(round=1, complete=False, server=Payload(tensors={"w": t})))
    loaded = load_checkpoint(tmp_path, "lora")
    assert loaded is not None and torch.equal(loaded.server.tensors["w"], t)


def test_checkpoints_of_different_methods_are_separate_files(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, "lora", _checkpoint(round_=1))
    save_checkpoint(tmp_path, "ffa", _checkpoint(round_=2))
    assert checkpoint_path(tmp_path, "lora") != checkpoint_path(tmp_path, "ffa")
    assert load_checkpoint(tmp_path, "lora").round == 1  # type: ignore[union-attr]
    assert load_checkpoint(tmp_path, "ffa").round == 2  # type: ignore[union-attr]


def test_a_second_save_replaces_the_first_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, "lora", _checkpoint(round_=1))
    second = Checkpoint(
        round=2,
        complete=True,
        server=Payload(tensors={"w": torch.zeros(2)}, meta={"v": 2}),
        clients={5: Payload(tensors={"r": torch.ones(1)})},
    )
    save_checkpoint(tmp_path, "lora", second)
    loaded = load_checkpoint(tmp_path, "lora")
    assert loaded is not None and loaded.round == 2 and loaded.complete
    _assert_same(second.server, loaded.server)
    assert set(loaded.clients) == {5}  # clients of the first save are gone
    folder = checkpoint_path(tmp_path, "lora").parent
    assert [p.name for p in folder.iterdir()] == ["lora.safetensors"]


def test_a_failed_save_keeps_the_previous_checkpoint_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, "lora", _checkpoint(round_=1))
    before = checkpoint_path(tmp_path, "lora").read_bytes()
    broken = Checkpoint(round=2, complete=False, server=Payload(meta={"not_json": {1, 2}}))
    with pytest.raises(TypeError):
        save_checkpoint(tmp_path, "lora", broken)
    assert checkpoint_path(tmp_path, "lora").read_bytes() == before
    assert [p.name for p in checkpoint_path(tmp_path, "lora").parent.iterdir()] == ["lora.safetensors"]


def test_the_checkpoint_lives_under_the_run_directory(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "run", "lora", _checkpoint())
    assert checkpoint_path(tmp_path / "run", "lora") == tmp_path / "run" / "checkpoints" / "lora.safetensors"
    assert checkpoint_path(tmp_path / "run", "lora").is_file()
