"""Resume after a crash that tore the last row of clients.csv: the tear is dropped, said, and the run
completes with exactly the rows of an uninterrupted run (tiny-bert, lora + fedadalora, checkpoints on)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
import yaml

from edgebench.config import load_config
from edgebench.fl.engine import run_experiment
from edgebench.fl.progress import Progress
from edgebench.results import CLIENTS_CSV, RANKS_CSV, ROUNDS_CSV
from edgebench.results.scan import CONTRACT_KINDS, scan_table
from tests.conftest import TINY_EXPERIMENT, deep_update
from tests.fl.stop_after import StopAfter

EXPERIMENT = deep_update(
    TINY_EXPERIMENT,
    {"methods": [{"method": "lora", "r": 4}, {"method": "fedadalora", "r0": 4, "r_target": 2}]},
)
# Cells that do not depend on timing, energy or memory: equal in a resumed and an uninterrupted run.
SAME = {
    CLIENTS_CSV: (
        *("method", "round", "client_id", "num_examples", "num_steps", "bytes_down", "bytes_up"),
        *("train_loss", "active_rank", "active_modules", "status"),
    ),
    ROUNDS_CSV: (
        *("method", "round", "clients", "clients_rejected", "bytes_down", "bytes_up", "eval_accuracy"),
        *("eval_loss", "eval_examples", "active_rank", "active_modules", "budget"),
    ),
    RANKS_CSV: ("method", "round", "module", "rank"),
}


def _config(folder: Path):
    path = folder / "exp.yaml"
    path.write_text(yaml.safe_dump(EXPERIMENT, sort_keys=False))
    return load_config(path)


def _table(path: Path, name: str) -> list[tuple[str, ...]]:
    scan = scan_table(path / name, CONTRACT_KINDS)
    assert scan.tail == [], f"{name}: junk rows {scan.tail}"
    return [tuple(row[c] for c in SAME[name]) for row in scan.dicts()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """(an uninterrupted run, a run that crashed after writing fedadalora's round 2 rows)."""
    folder = tmp_path_factory.mktemp("torn")
    config = _config(folder)
    full, _ = run_experiment(config, out=folder / "full", progress=Progress(quiet=True))
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_experiment(
            config, out=folder / "crashed", progress=StopAfter("fedadalora", 2, RuntimeError("simulated crash"))
        )
    return full, folder / "crashed"


def _last_row_start(blob: bytes) -> int:
    return blob.rstrip(b"\r\n").rfind(b"\n") + 1


TEARS = {
    "printf 'fedadalora,' >> clients.csv": lambda b: b + b"fedadalora,",
    "last row cut inside the method name": lambda b: b[: _last_row_start(b) + 5],
    "last row cut inside its last cell": lambda b: b[: len(b.rstrip(b"\r\n")) - 1],
}


@pytest.mark.parametrize("tear", list(TEARS))
def test_resume_drops_a_torn_last_row_says_so_and_matches_an_uninterrupted_run(
    runs: tuple[Path, Path], tear: str, tmp_path: Path
) -> None:
    full, crashed = runs
    run_dir = tmp_path / "run"
    shutil.copytree(crashed, run_dir)
    clients = run_dir / CLIENTS_CSV
    assert clients.read_bytes()[_last_row_start(clients.read_bytes()) :].startswith(b"fedadalora,2,")
    clients.write_bytes(TEARS[tear](clients.read_bytes()))

    log = io.StringIO()
    run_experiment(_config(tmp_path), resume=run_dir, progress=Progress(stream=log, interactive=False))

    said = [line for line in log.getvalue().splitlines() if "incomplete row" in line]
    assert len(said) == 1 and f"{CLIENTS_CSV} line " in said[0], log.getvalue()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"
    for name in (CLIENTS_CSV, ROUNDS_CSV, RANKS_CSV):
        assert _table(run_dir, name) == _table(full, name), name
