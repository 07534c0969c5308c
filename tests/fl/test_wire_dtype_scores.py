"""A half-precision wire must not erase FedARA's importance scores (about 1e-11, below float16's range)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from edgebench.config import load_config
from edgebench.fl.codec import PayloadError, decode, encode
from edgebench.fl.engine import run_experiment
from edgebench.fl.progress import Progress
from edgebench.methods.base import Payload

FEDARA = {"method": "fedara", "r0": 6, "r_target": 2, "t_init": 0, "t_final": 0}


@pytest.mark.parametrize("wire", ["float16", "bfloat16"])
def test_exact_tensors_keep_their_dtype_on_a_half_wire(wire: str) -> None:
    scores = torch.tensor([3e-11, 1e-10, 7e-12])
    blob = encode(Payload({"w": torch.ones(3), "m.scores": scores}, {}, exact=frozenset({"m.scores"})), wire)
    back = decode(blob, wire)
    assert back.tensors["w"].dtype == getattr(torch, wire)
    assert back.tensors["m.scores"].dtype == torch.float32 and torch.equal(back.tensors["m.scores"], scores)
    assert back.exact == {"m.scores"}
    assert encode(Payload({"m.scores": scores}), "float16") != encode(
        Payload({"m.scores": scores}, exact=frozenset({"m.scores"})), "float16"
    )
    assert torch.count_nonzero(decode(encode(Payload({"m.scores": scores}), "float16")).tensors["m.scores"]) == 0


def test_a_float32_wire_spends_no_header_bytes_on_exact_tensors() -> None:
    scores = torch.tensor([3e-11, 1e-10])
    exact = Payload({"m.scores": scores}, {}, exact=frozenset({"m.scores"}))
    assert encode(exact, "float32") == encode(Payload({"m.scores": scores}), "float32")


def test_a_payload_cannot_exempt_tensors_it_does_not_carry() -> None:
    from safetensors.torch import save

    blob = save({"w": torch.ones(2, dtype=torch.float16)}, metadata={"edgebench": "{}", "edgebench.exact": '["x"]'})
    with pytest.raises(PayloadError, match=r"edgebench\.exact must list tensors of the payload"):
        decode(blob, "float16")


def _first_round_ranks(run_dir: Path) -> dict[str, str]:
    with (run_dir / "ranks.csv").open() as fh:
        return {r["module"]: r["rank"] for r in csv.DictReader(fh) if r["round"] == "1"}


def test_fedara_allocates_the_same_ranks_over_any_wire_dtype(write_config, tmp_path: Path) -> None:
    ranks = {}
    for wire in ("float32", "float16", "bfloat16"):
        updates = {"methods": [FEDARA], "federation": {"rounds": 1, "wire_dtype": wire}}
        config = load_config(write_config(updates, name=f"{wire}.yaml"))
        run_dir, _ = run_experiment(config, out=tmp_path / wire, progress=Progress(quiet=True))
        ranks[wire] = _first_round_ranks(run_dir)
    assert len(set(ranks["float32"].values())) > 1  # the scores decided something: not one rank everywhere
    assert ranks["float16"] == ranks["float32"] and ranks["bfloat16"] == ranks["float32"]
