"""A corrupt checkpoint (empty, truncated, random bytes, foreign): one clear error naming the file, what
is wrong and what to do; `edgebench run --resume` exits 2 without a traceback, and the advice works."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

from edgebench.cli import main
from edgebench.fl.checkpoint import Checkpoint, CheckpointError, checkpoint_path, load_checkpoint, save_checkpoint
from edgebench.fl.run_dir import ResumeError
from edgebench.methods.base import Payload
from tests.conftest import TINY_EXPERIMENT, deep_update


def _random_bytes(n: int) -> bytes:
    return random.Random(12).randbytes(n)


def _no_metadata(path: Path) -> None:
    save_file({"x": torch.ones(3)}, str(path))


CORRUPTIONS = {
    "empty": (lambda b: b"", "the file is empty"),
    "shorter than a header": (lambda b: b[:5], "truncated or not a safetensors file"),
    "truncated in the header": (lambda b: b[:40], "truncated or not a safetensors file"),
    "truncated in the tensor data": (lambda b: b[: len(b) - 17], "truncated or damaged tensor data"),
    "random bytes": (lambda b: _random_bytes(len(b)), "truncated or not a safetensors file"),
    "header not JSON": (lambda b: b[:8] + b"\xff" * (len(b) - 8), "truncated or not a safetensors file"),
}


def _saved(run_dir: Path) -> bytes:
    server = Payload(tensors={"w": torch.arange(64, dtype=torch.float32)}, meta={"budget": 3})
    save_checkpoint(run_dir, "lora", Checkpoint(round=2, complete=False, server=server))
    return checkpoint_path(run_dir, "lora").read_bytes()


def _assert_clear(message: str, path: Path, reason: str) -> None:
    assert "\n" not in message
    assert message.startswith(f"{path}: checkpoint of method 'lora' is unreadable: {reason}")
    assert "delete this file to restart 'lora' from round 1" in message and "one checkpoint per method" in message


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_corrupt_checkpoint_is_one_clear_error(tmp_path: Path, corruption: str) -> None:
    blob = _saved(tmp_path)
    path = checkpoint_path(tmp_path, "lora")
    corrupt, reason = CORRUPTIONS[corruption]
    path.write_bytes(corrupt(blob))
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(tmp_path, "lora")
    assert isinstance(exc.value, ResumeError)  # the CLI reports ResumeErrors in one line, exit 2
    _assert_clear(str(exc.value), path, reason)


def test_a_safetensors_file_without_edgebench_metadata_is_refused(tmp_path: Path) -> None:
    path = checkpoint_path(tmp_path, "lora")
    path.parent.mkdir(parents=True)
    _no_metadata(path)
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(tmp_path, "lora")
    _assert_clear(str(exc.value), path, "no valid edgebench metadata")


def test_malformed_edgebench_metadata_is_refused(tmp_path: Path) -> None:
    path = checkpoint_path(tmp_path, "lora")
    path.parent.mkdir(parents=True)
    for meta in ("{not json", json.dumps([1]), json.dumps({"round": "x", "complete": 1, "server": {}, "clients": {}})):
        save_file({"server/w": torch.ones(2)}, str(path), metadata={"edgebench": meta})
        with pytest.raises(CheckpointError) as exc:
            load_checkpoint(tmp_path, "lora")
        _assert_clear(str(exc.value), path, "no valid edgebench metadata")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, Path]:
    """(config, run dir) of a one-method tiny run whose checkpoint is then corrupted."""
    folder = tmp_path_factory.mktemp("ckpt")
    config = folder / "exp.yaml"
    experiment = deep_update(TINY_EXPERIMENT, {"federation": {"rounds": 2}})
    experiment["methods"] = [{"method": "lora", "r": 4}]
    config.write_text(yaml.safe_dump(experiment, sort_keys=False))
    assert main(["run", str(config), "--out", str(folder / "run"), "--quiet"]) == 0
    return config, folder / "run"


@pytest.mark.parametrize("corruption", ["empty", "truncated in the tensor data", "random bytes"])
def test_resume_with_a_corrupt_checkpoint_exits_2_in_one_line_and_deleting_it_restarts(
    finished_run: tuple[Path, Path], tmp_path: Path, capsys, corruption: str
) -> None:
    config, done = finished_run
    run_dir = tmp_path / "run"
    shutil.copytree(done, run_dir)
    path = checkpoint_path(run_dir, "lora")
    corrupt, reason = CORRUPTIONS[corruption]
    path.write_bytes(corrupt(path.read_bytes()))
    capsys.readouterr()

    assert main(["run", str(config), "--resume", str(run_dir), "--quiet"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "Traceback" not in captured.err + captured.out
    assert err.startswith("edgebench: error: ") and len(err.splitlines()) == 1, err
    _assert_clear(err.removeprefix("edgebench: error: "), path, reason)

    os.remove(path)  # what the message says to do
    assert main(["run", str(config), "--resume", str(run_dir), "--quiet"]) == 0
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"
    rounds = [line.split(",")[:2] for line in (run_dir / "rounds.csv").read_text().splitlines()[1:]]
    assert rounds == [["lora", "1"], ["lora", "2"]]
