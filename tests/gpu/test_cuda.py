"""Training on a CUDA GPU (marker `gpu`; skipped without CUDA): `pytest -m gpu tests/gpu`.

What the CPU suite cannot check: the model and batches really on the GPU, CUDA peak memory per window,
bytes identical to a CPU run, accuracy close to it, NVML energy windows, float16 with its loss scaler,
and no GPU memory left behind from client to client.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from edgebench.config import load_config
from edgebench.fl.engine import run_experiment
from edgebench.fl.progress import Progress
from edgebench.methods import get_method
from edgebench.models import resolve_model

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

METHODS = [
    {"method": "lora", "r": 4},
    {"method": "fedara", "r0": 4, "r_target": 2, "t_init": 1, "t_final": 1},
]
ACCURACY_TOLERANCE = 0.1  # GPU kernels sum in another order: the same run may end a few examples apart


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def _run(write_config, tmp_path: Path, name: str, updates: dict) -> Path:
    config = load_config(write_config({"methods": METHODS, **updates}, name=f"{name}.yaml"))
    run_dir, _ = run_experiment(config, out=tmp_path / name, progress=Progress(quiet=True))
    return run_dir


def test_the_model_trains_on_the_gpu(write_config) -> None:
    from edgebench.methods.base import Placement

    config = load_config(write_config())
    client = get_method("lora").client_cls(config.methods[0].params, config.seed)
    model = Placement("cuda:0").place(client.build(resolve_model(config.model, 4, config.seed).model))
    assert {p.device.type for p in model.parameters()} == {"cuda"}


def test_a_cuda_run_matches_the_cpu_run_in_bytes_and_nearly_in_accuracy(write_config, tmp_path: Path) -> None:
    cpu = _run(write_config, tmp_path, "cpu", {"compute": {"device": "cpu"}})
    gpu = _run(write_config, tmp_path, "gpu", {"compute": {"device": "cuda", "precision": "float32"}})
    meta = json.loads((gpu / "run.json").read_text())
    assert meta["compute"]["device"] == "cuda:0" and meta["compute"]["accelerator"]
    cpu_rows, gpu_rows = _rows(cpu / "clients.csv"), _rows(gpu / "clients.csv")
    lora = [(r["bytes_down"], r["bytes_up"]) for r in cpu_rows if r["method"] == "lora"]
    assert lora == [(r["bytes_down"], r["bytes_up"]) for r in gpu_rows if r["method"] == "lora"]
    assert all(int(r["peak_accel_bytes"]) > 0 for r in gpu_rows)
    assert all(r["peak_accel_bytes"] == "" for r in cpu_rows)
    final = {
        name: {r["method"]: float(r["eval_accuracy"]) for r in _rows(d / "rounds.csv") if r["eval_accuracy"]}
        for name, d in (("cpu", cpu), ("gpu", gpu))
    }
    for method, accuracy in final["cpu"].items():
        assert abs(final["gpu"][method] - accuracy) <= ACCURACY_TOLERANCE


def test_nvml_measures_each_window_where_the_gpu_has_an_energy_counter(write_config, tmp_path: Path) -> None:
    pytest.importorskip("pynvml")
    from edgebench.meters.base import MeterUnavailable
    from edgebench.meters.nvml import open_nvml

    try:
        open_nvml(mode="energy").close()
    except MeterUnavailable as exc:
        pytest.skip(f"no NVML energy counter: {exc}")
    run_dir = _run(write_config, tmp_path, "nvml", {"compute": {"device": "cuda"}, "profiler": {"meters": ["nvml"]}})
    for row in _rows(run_dir / "clients.csv"):
        assert row["energy_provenance"].startswith("measured-counter") and float(row["energy_j"]) >= 0


def test_float16_trains_with_its_loss_scaler(write_config, tmp_path: Path) -> None:
    run_dir = _run(write_config, tmp_path, "fp16", {"compute": {"device": "cuda", "precision": "float16"}})
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["compute"]["autocast"] == "float16" and meta["compute"]["grad_scaler"] is True
    assert all(float(r["train_loss"]) == float(r["train_loss"]) for r in _rows(run_dir / "clients.csv"))  # not NaN


def test_gpu_memory_does_not_grow_across_100_simulated_clients(write_config, tmp_path: Path) -> None:
    updates = {
        "compute": {"device": "cuda"},
        "federation": {"num_clients": 100, "clients_per_round": 100, "rounds": 1, "local_steps": 1},
        "data": {"max_train_examples": 800},
        "methods": [{"method": "fedara", "r0": 4, "r_target": 2, "client_ema_persist": True}],
    }
    config = load_config(write_config(updates, name="many.yaml"))
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    run_dir, _ = run_experiment(config, out=tmp_path / "many", progress=Progress(quiet=True))
    peaks = [int(r["peak_accel_bytes"]) for r in _rows(run_dir / "clients.csv")]
    assert len(peaks) == 100
    # Client state lives in host memory between rounds: the 100th client peaks where the 10th did.
    assert max(peaks[10:]) <= peaks[9] * 1.05 + 1024 * 1024
    torch.cuda.synchronize()
    assert torch.cuda.memory_allocated() - before < 8 * 1024 * 1024
