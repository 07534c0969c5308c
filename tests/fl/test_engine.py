"""The in-process engine end to end on tiny-bert: contract files, exact bytes, resume equivalence."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from edgebench.config import load_config
from edgebench.fl.codec import encode
from edgebench.fl.engine import run_experiment
from edgebench.fl.progress import Progress
from edgebench.fl.run_dir import ResumeError
from edgebench.fl.sampling import sample_clients
from edgebench.methods.base import Payload
from edgebench.results import CLIENT_COLUMNS, RANK_COLUMNS, ROUND_COLUMNS
from tests.fl.stop_after import StopAfter

ROUNDS, PER_ROUND, MODULES, RANK = 3, 2, 4, 4


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> Path:
    """One uninterrupted run of the tiny experiment (lora + ffa_lora, 3 rounds x 2 clients)."""
    import yaml

    from tests.conftest import TINY_EXPERIMENT

    folder = tmp_path_factory.mktemp("full")
    path = folder / "exp.yaml"
    path.write_text(yaml.safe_dump(TINY_EXPERIMENT))
    run_dir, summaries = run_experiment(load_config(path), out=folder / "run", progress=Progress(quiet=True))
    assert [s.label for s in summaries] == ["lora", "ffa_lora"]
    return run_dir


def test_contract_files_and_columns(full_run: Path) -> None:
    clients, rounds, ranks = (_rows(full_run / f) for f in ("clients.csv", "rounds.csv", "ranks.csv"))
    assert list(clients[0]) == CLIENT_COLUMNS
    assert list(rounds[0]) == ROUND_COLUMNS
    assert list(ranks[0]) == RANK_COLUMNS
    assert len(clients) == 2 * ROUNDS * PER_ROUND
    assert len(rounds) == 2 * ROUNDS
    assert len(ranks) == 2 * ROUNDS * MODULES
    assert {r["rank"] for r in ranks} == {str(RANK)}
    meta = json.loads((full_run / "run.json").read_text())
    assert meta["status"] == "complete" and meta["ended_at"]
    assert meta["config"]["federation"]["rounds"] == ROUNDS and len(meta["config_hash"]) == 64
    assert meta["packages"]["torch"] and meta["host"]["logical_cpus"] >= 1
    assert set(meta["methods"]) == {"lora", "ffa_lora"}


def test_rows_are_consistent(full_run: Path) -> None:
    clients, rounds = _rows(full_run / "clients.csv"), _rows(full_run / "rounds.csv")
    for r in rounds:
        mine = [c for c in clients if c["method"] == r["method"] and c["round"] == r["round"]]
        assert sum(int(c["bytes_up"]) for c in mine) == int(r["bytes_up"])
        assert sum(int(c["bytes_down"]) for c in mine) == int(r["bytes_down"])
        assert sorted(int(c["client_id"]) for c in mine) == sample_clients(7, int(r["round"]), 4, PER_ROUND)
        assert 0.0 <= float(r["eval_accuracy"]) <= 1.0 and int(r["eval_examples"]) == 80
        assert r["active_rank"] == str(RANK * MODULES) and r["active_modules"] == str(MODULES)
    for c in clients:
        phases = float(c["download_s"]) + float(c["train_s"]) + float(c["upload_s"])
        assert 0 < phases <= float(c["total_s"])
        assert c["status"] == "accepted" and int(c["num_steps"]) == 2
        # No power sensor here: the profile's estimate fills energy, always labelled as such.
        kind = c["energy_provenance"].split(":", 1)[0]
        assert kind in ("estimated", "measured-counter", "measured-sampled"), c["energy_provenance"]
        assert float(c["energy_j"]) > 0
        assert int(c["peak_rss_bytes"]) > 50 * 2**20


def test_bytes_match_model_dimensions(full_run: Path) -> None:
    # tiny model of the fixture: hidden 32, 4 labels, r=4 on query+value of 2 layers.
    adapter_lora = MODULES * (RANK * 32 + 32 * RANK) * 4
    adapter_ffa = MODULES * (32 * RANK) * 4
    head = (4 * 32 + 4) * 4
    clients = _rows(full_run / "clients.csv")
    up = {m: {int(c["bytes_up"]) for c in clients if c["method"] == m} for m in ("lora", "ffa_lora")}
    assert len(up["lora"]) == 1 and len(up["ffa_lora"]) == 1  # same every client, every round
    header_lora = up["lora"].pop() - adapter_lora - head
    header_ffa = up["ffa_lora"].pop() - adapter_ffa - head
    assert 0 < header_lora < 2048 and 0 < header_ffa < 2048
    assert (adapter_ffa + head + header_ffa) < 0.6 * (adapter_lora + head + header_lora)


def test_partition_file(full_run: Path) -> None:
    rows = _rows(full_run / "partition.csv")
    assert len(rows) == 4
    assert list(rows[0]) == ["client_id", "num_examples", "World", "Sports", "Business", "Sci/Tech"]
    assert sum(int(r["num_examples"]) for r in rows) == 240
    for r in rows:
        assert int(r["num_examples"]) == sum(int(r[k]) for k in ("World", "Sports", "Business", "Sci/Tech"))


def test_killed_run_keeps_finished_rounds_and_resume_matches(full_run: Path, write_config, tmp_path: Path) -> None:
    config = load_config(write_config())
    run_dir = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, out=run_dir, progress=StopAfter("ffa_lora", 2))
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "interrupted"
    assert meta["interruption"]["rounds_done"] == {"lora": 3, "ffa_lora": 2}
    assert meta["methods"]["lora"]["status"] == "complete" and meta["methods"]["ffa_lora"]["status"] == "interrupted"
    kept = [(r["method"], r["round"]) for r in _rows(run_dir / "rounds.csv")]
    assert kept == [("lora", "1"), ("lora", "2"), ("lora", "3"), ("ffa_lora", "1"), ("ffa_lora", "2")]

    # The crash came after ffa_lora's round-2 rows but before its checkpoint: resume redoes round 2.
    run_experiment(config, resume=run_dir, progress=Progress(quiet=True))
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"
    expected, got = _rows(full_run / "rounds.csv"), _rows(run_dir / "rounds.csv")
    assert [(r["method"], r["round"]) for r in got] == [(r["method"], r["round"]) for r in expected]
    for want, have in zip(expected, got, strict=True):
        for key in ("eval_accuracy", "eval_loss", "bytes_up", "bytes_down", "active_rank"):
            assert have[key] == want[key], (want["method"], want["round"], key)
    want_loss = [c["train_loss"] for c in _rows(full_run / "clients.csv")]
    assert [c["train_loss"] for c in _rows(run_dir / "clients.csv")] == want_loss


def test_resume_rejects_a_different_config(full_run: Path, write_config) -> None:
    other = load_config(write_config({"federation": {"lr": 0.01}}))
    with pytest.raises(ResumeError, match="config differs"):
        run_experiment(other, resume=full_run, progress=Progress(quiet=True))


def test_refuses_to_overwrite_a_run(full_run: Path, write_config) -> None:
    with pytest.raises(ResumeError, match="already holds a run"):
        run_experiment(load_config(write_config()), out=full_run, progress=Progress(quiet=True))


def test_corrupt_uplink_is_rejected_and_round_continues(write_config, tmp_path: Path, monkeypatch) -> None:
    import edgebench.fl.inprocess as engine_mod

    real = engine_mod.run_client_round

    def corrupt_client_one(client, model, downlink, *args, **kwargs):
        result = real(client, model, downlink, *args, **kwargs)
        if corrupt_client_one.calls == 0:
            result.uplink = result.uplink[: len(result.uplink) // 2]
        elif corrupt_client_one.calls == 1:
            result.uplink = encode(
                Payload({"not.a.tensor": result.fit.payload.tensors[next(iter(result.fit.payload.tensors))]})
            )
        corrupt_client_one.calls += 1
        return result

    corrupt_client_one.calls = 0
    monkeypatch.setattr(engine_mod, "run_client_round", corrupt_client_one)
    config = load_config(write_config({"methods": [{"method": "lora", "r": 4}], "federation": {"rounds": 1}}))
    run_dir, _ = run_experiment(config, out=tmp_path / "run", progress=Progress(quiet=True))
    clients = _rows(run_dir / "clients.csv")
    assert clients[0]["status"].startswith("rejected: undecodable uplink")
    assert clients[1]["status"].startswith("rejected: missing tensors")
    assert _rows(run_dir / "rounds.csv")[0]["clients_rejected"] == "2"


def test_fedara_smoke_run_shrinks_ranks_and_sends_fewer_bytes_than_lora(write_config, tmp_path: Path) -> None:
    config = load_config(
        write_config(
            {
                "federation": {"rounds": 4},
                "methods": [
                    {"method": "lora", "r": 6},
                    {"method": "fedara", "r0": 6, "r_target": 2, "t_init": 1, "t_final": 1},
                ],
            }
        )
    )
    run_dir, _ = run_experiment(config, out=tmp_path / "run", progress=Progress(quiet=True))
    rounds = _rows(run_dir / "rounds.csv")
    fedara = [r for r in rounds if r["method"] == "fedara"]
    lora = [r for r in rounds if r["method"] == "lora"]
    assert [int(r["budget"]) for r in fedara] == [24, 10, 8, 8]  # b0 = 6 x 4, bT = 2 x 4, b(2) = 8 + 16 x (1/2)^3
    assert [int(r["active_rank"]) for r in fedara] == [24, 10, 8, 8]
    assert all(r["budget"] == "" for r in lora)
    total = {
        name: sum(int(r["bytes_up"]) + int(r["bytes_down"]) for r in rows)
        for name, rows in (("fedara", fedara), ("lora", lora))
    }
    assert total["fedara"] < total["lora"]
    ranks = [r for r in _rows(run_dir / "ranks.csv") if r["method"] == "fedara"]
    assert {r["round"] for r in ranks} == {"1", "2", "3", "4"} and len(ranks) == 4 * MODULES
    last = [int(r["rank"]) for r in ranks if r["round"] == "4"]
    assert sum(last) == 8
    clients = [c for c in _rows(run_dir / "clients.csv") if c["method"] == "fedara"]
    # what a client receives follows the previous round's allocation
    assert [int(c["active_rank"]) for c in clients] == [24, 24, 24, 24, 10, 10, 8, 8]
