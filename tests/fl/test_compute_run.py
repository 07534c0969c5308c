"""Runs where the device computes: precision recorded and applied, bytes independent of it, clear refusals."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from edgebench.cli import main
from edgebench.config import load_config
from edgebench.fl.engine import run_experiment
from edgebench.fl.progress import Progress
from edgebench.methods import get_method
from edgebench.methods.base import Payload, Placement
from edgebench.models import resolve_model

METHODS = [{"method": "lora", "r": 4}, {"method": "ffa_lora", "r": 4}, {"method": "fedadalora", "r0": 4, "r_target": 2}]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def _run(write_config, tmp_path: Path, name: str, compute: dict[str, str]) -> Path:
    config = load_config(write_config({"methods": METHODS, "compute": compute}, name=f"{name}.yaml"))
    run_dir, _ = run_experiment(config, out=tmp_path / name, progress=Progress(quiet=True))
    return run_dir


def test_bfloat16_autocast_on_the_cpu_is_applied_recorded_and_sends_the_same_bytes(write_config, tmp_path) -> None:
    fp32 = _run(write_config, tmp_path, "fp32", {"device": "cpu", "precision": "float32"})
    bf16 = _run(write_config, tmp_path, "bf16", {"device": "cpu", "precision": "bfloat16"})
    meta = json.loads((bf16 / "run.json").read_text())
    assert meta["compute"]["device"] == "cpu" and meta["compute"]["autocast"] == "bfloat16"
    assert meta["compute"]["adapter_dtype"] == "float32" and meta["compute"]["precision_reason"] == "requested"
    a, b = _rows(fp32 / "clients.csv"), _rows(bf16 / "clients.csv")
    assert [(r["method"], r["bytes_down"], r["bytes_up"]) for r in a] == [
        (r["method"], r["bytes_down"], r["bytes_up"]) for r in b
    ]
    # The arithmetic really changed: bfloat16 forward passes give other losses than float32 ones.
    assert [r["train_loss"] for r in a] != [r["train_loss"] for r in b]


def test_the_default_precision_on_a_cpu_profile_changes_nothing(write_config, tmp_path) -> None:
    run_dir = _run(write_config, tmp_path, "default", {"device": "cpu"})
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["compute"]["autocast"] == "float32" and meta["compute"]["requested"] == "cpu"


def test_a_half_backbone_keeps_adapters_and_head_in_float32(write_config) -> None:
    config = load_config(write_config())
    resolved = resolve_model(config.model, 4, config.seed)
    client = get_method("lora").client_cls(config.methods[0].params, config.seed)
    model = Placement("cpu", "bfloat16", "bfloat16").place(client.build(resolved.model))
    dtypes = {p.requires_grad: set() for p in model.parameters()}
    for p in model.parameters():
        dtypes[p.requires_grad].add(p.dtype)
    assert dtypes == {True: {torch.float32}, False: {torch.bfloat16}}


def test_a_half_backbone_needs_the_same_autocast(write_config) -> None:
    from edgebench.config import ConfigError

    with pytest.raises(ConfigError, match=r"compute.backbone_dtype: a float16 backbone needs compute.precision"):
        load_config(write_config({"compute": {"backbone_dtype": "float16", "precision": "bfloat16"}}))


def test_asking_for_an_absent_device_exits_2_with_one_line(write_config, monkeypatch, capsys) -> None:
    import edgebench.devices.compute as compute

    monkeypatch.setattr(compute, "present_devices", lambda torch_module=None: ["cpu"])
    out = write_config().parent / "never"
    assert main(["run", str(write_config()), "--compute", "cuda", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "edgebench: error: compute device cuda is not available here (asked for cuda); present: cpu; "
        "torch has no CUDA build or sees no GPU"
    ]
    assert not out.exists()


def test_a_bad_compute_value_names_the_flag(write_config, capsys) -> None:
    assert main(["run", str(write_config()), "--compute", "gpu"]) == 2
    assert "--compute: expected auto, cpu, cuda, cuda:N or mps (got 'gpu')" in capsys.readouterr().err


def test_client_state_is_kept_in_host_memory() -> None:
    state = Payload({"ema": torch.ones(2)}, {"rank_ids": {"q": [0, 1]}})
    kept = state.cpu()
    assert kept.tensors["ema"].device.type == "cpu" and kept.meta == state.meta
