"""The in-process federated engine: one round loop, identical for every method.

The engine owns client sampling, seeding, encoding/decoding of every payload, byte accounting,
profiler windows, evaluation, checkpoints and the results files. Methods only supply their
server and client halves (see :mod:`edgebench.methods.base`). All simulated clients share one
frozen backbone; per-client memory is only what a method keeps as client state.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgebench.config import ConfigError, ExperimentConfig, MethodEntry
from edgebench.data.dataset import DatasetSplits
from edgebench.data.partition import Partition, partition
from edgebench.fl.accounting import client_batches, client_measurements, client_row, evaluate_global, round_row
from edgebench.fl.accounting import client_seed as client_seed
from edgebench.fl.batches import TokenizedSplit, tokenize
from edgebench.fl.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from edgebench.fl.client_round import run_client_round
from edgebench.fl.codec import PayloadError, decode, encode
from edgebench.fl.progress import Progress
from edgebench.fl.results import RUN_JSON, ResultsWriter
from edgebench.fl.run_meta import initial_run_json, now_iso
from edgebench.methods import get_method
from edgebench.methods.base import ClientReply, MethodClient, MethodServer, Payload
from edgebench.models import resolve_model
from edgebench.profiler.setup import build_measurement


class ResumeError(RuntimeError):
    """A run directory cannot be resumed with the given config."""


@dataclass
class PreparedData:
    """Data shared by every method of a run: splits, partition, and the token ids once tokenized."""

    splits: DatasetSplits
    partition: Partition
    train_tokens: TokenizedSplit | None = None
    test_tokens: TokenizedSplit | None = None


def prepare_data(config: ExperimentConfig) -> PreparedData:
    """Load the dataset and partition its train split across `federation.num_clients` clients."""
    from edgebench.data.loaders import load_splits

    base_dir = config.source.parent if config.source else None
    splits = load_splits(config.data, base_dir=base_dir, seed=config.seed)
    parts = partition(splits.train.labels, config.federation.num_clients, config.partition, config.seed)
    return PreparedData(splits=splits, partition=parts)


def sample_clients(seed: int, rnd: int, num_clients: int, per_round: int) -> list[int]:
    """The clients of round `rnd`: the same for every method of a run (fair comparison)."""
    rng = np.random.default_rng([seed, rnd])
    return sorted(int(c) for c in rng.choice(num_clients, size=per_round, replace=False))


@dataclass
class MethodRunSummary:
    """What the CLI prints after a method finishes."""

    label: str
    rounds_run: int
    final_accuracy: float | None
    wall_s: float
    bytes_total: int
    extra: dict[str, Any] = field(default_factory=dict)


class Engine:
    """Runs every method of an experiment into one run directory."""

    def __init__(
        self,
        config: ExperimentConfig,
        run_dir: Path,
        progress: Progress | None = None,
        resume: bool = False,
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.progress = progress or Progress()
        self.resume = resume
        self.measurement = build_measurement(config.profiler, config.device.name)
        self.profiler = self.measurement.profiler

    # -- whole run -------------------------------------------------------------------------
    def run(self) -> list[MethodRunSummary]:
        threads = self.config.device.torch_threads or self.measurement.torch_threads
        if threads:
            torch.set_num_threads(threads)
        run_json = self._start_run_json()
        writer = ResultsWriter(self.run_dir)
        data = prepare_data(self.config)
        counts = data.partition.label_counts(data.splits.train.labels, data.splits.train.num_labels)
        writer.write_partition(counts.tolist(), data.splits.train.label_names)
        run_json["data"] = {
            "name": data.splits.name,
            "source": data.splits.source,
            "notes": data.splits.notes,
            "label_names": data.splits.train.label_names,
            "train_examples": len(data.splits.train),
            "test_examples": len(data.splits.test),
        }
        writer.write_run_json(run_json)
        summaries: list[MethodRunSummary] = []
        try:
            run_json["measurement"] = self.measurement.start(self.progress.message)
            run_json["device"]["profile"] = self.measurement.profile.name
            writer.write_run_json(run_json)
            for entry in self.config.methods:
                summaries.append(self._run_method(entry, data, writer, run_json))
        except BaseException as exc:
            run_json["status"] = f"failed: {type(exc).__name__}: {exc}"
            for method in run_json["methods"].values():
                if method.get("status") == "running":
                    method["status"] = run_json["status"]
            run_json["ended_at"] = now_iso()
            writer.write_run_json(run_json)
            raise
        finally:
            self.measurement.close()
        run_json["measurement"]["overhead_s"] = self.profiler.overhead_ns / 1e9
        run_json["status"] = "complete"
        run_json["ended_at"] = now_iso()
        writer.write_run_json(run_json)
        return summaries

    def _start_run_json(self) -> dict[str, Any]:
        path = self.run_dir / RUN_JSON
        if self.resume:
            if not path.exists():
                raise ResumeError(f"{self.run_dir}: no {RUN_JSON}; not a run directory")
            previous = json.loads(path.read_text())
            if previous.get("config_hash") != self.config.hash():
                raise ResumeError(
                    f"{self.run_dir}: the config differs from the one this run started with "
                    f"(hash {previous.get('config_hash', '?')[:12]} vs {self.config.hash()[:12]}); "
                    "resume with the original config"
                )
            previous["status"] = "running"
            previous.setdefault("resumed_at", []).append(now_iso())
            previous["ended_at"] = None
            return previous
        self.run_dir.mkdir(parents=True, exist_ok=True)
        return initial_run_json(self.config, {"run_dir": str(self.run_dir), "methods": {}})

    # -- one method ------------------------------------------------------------------------
    def _run_method(
        self, entry: MethodEntry, data: PreparedData, writer: ResultsWriter, run_json: dict[str, Any]
    ) -> MethodRunSummary:
        fed = self.config.federation
        spec = get_method(entry.method)
        ckpt = load_checkpoint(self.run_dir, entry.label) if self.resume else None
        if ckpt is not None and ckpt.complete:
            self.progress.message(f"[{entry.label}] already complete, skipped")
            return MethodRunSummary(entry.label, 0, None, 0.0, 0, {"skipped": True})
        writer.drop_rows_after(entry.label, ckpt.round if ckpt else 0)

        started = time.monotonic()
        resolved = resolve_model(self.config.model, data.splits.train.num_labels, self.config.seed)
        if data.train_tokens is None or data.test_tokens is None:
            data.train_tokens = tokenize(resolved.tokenizer, data.splits.train, fed.max_seq_len)
            data.test_tokens = tokenize(resolved.tokenizer, data.splits.test, fed.max_seq_len)
        client: MethodClient = spec.client_cls(
            entry.params, self.config.seed, rounds=fed.rounds, local_steps=fed.local_steps
        )
        model = client.build(resolved.model)
        server: MethodServer = spec.server_cls(entry.params, fed.rounds)
        server.initialize(client.initial_parameters(model))
        client_states: dict[int, Payload] = {}
        first_round = 1
        if ckpt is not None:
            server.load_state_dict(ckpt.server)
            client_states = dict(ckpt.clients)
            first_round = ckpt.round + 1

        run_json["model"] = resolved.info
        run_json["methods"][entry.label] = {
            "method": entry.method,
            "summary": spec.summary,
            "params": entry.params.model_dump(mode="json"),
            "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "status": "running",
        }
        writer.write_run_json(run_json)

        self.progress.start_method(entry.label, fed.rounds, fed.clients_per_round, first_round)
        final_acc: float | None = None
        total_bytes = 0
        for rnd in range(first_round, fed.rounds + 1):
            acc, round_bytes = self._run_round(entry.label, rnd, client, server, model, data, writer, client_states)
            final_acc = acc if acc is not None else final_acc
            total_bytes += round_bytes
            if self.config.output.checkpoint:
                save_checkpoint(
                    self.run_dir,
                    entry.label,
                    Checkpoint(
                        round=rnd, complete=rnd == fed.rounds, server=server.state_dict(), clients=client_states
                    ),
                )
        self.progress.end_method()
        run_json["methods"][entry.label]["status"] = "complete"
        writer.write_run_json(run_json)
        del model, resolved, server, client
        gc.collect()
        return MethodRunSummary(
            entry.label, fed.rounds - first_round + 1, final_acc, time.monotonic() - started, total_bytes
        )

    def _run_round(
        self,
        label: str,
        rnd: int,
        client: MethodClient,
        server: MethodServer,
        model: torch.nn.Module,
        data: PreparedData,
        writer: ResultsWriter,
        client_states: dict[int, Payload],
    ) -> tuple[float | None, int]:
        fed = self.config.federation
        assert data.train_tokens is not None and data.test_tokens is not None
        round_started = time.monotonic()
        cids = sample_clients(self.config.seed, rnd, fed.num_clients, fed.clients_per_round)
        broadcast_ranks = server.module_ranks()
        downlinks = server.configure_round(rnd, cids)
        replies: list[ClientReply] = []
        rows: list[dict[str, Any]] = []
        rejected: dict[int, str] = {}
        for i, cid in enumerate(cids, start=1):
            blob_down = encode(downlinks[cid], fed.wire_dtype)
            indices = data.partition.client_indices[cid]
            batches = client_batches(fed, self.config.seed, rnd, cid, indices, data.train_tokens)
            result = run_client_round(
                client, model, blob_down, batches, fed, client_states.get(cid), self.profiler, fed.wire_dtype
            )
            if result.fit.client_state is not None:
                client_states[cid] = result.fit.client_state
            try:
                replies.append(ClientReply(cid, len(indices), decode(result.uplink)))
            except PayloadError as exc:
                rejected[cid] = f"undecodable uplink: {exc}"
            rows.append(self._client_row(label, rnd, cid, len(indices), blob_down, result, broadcast_ranks))
            self.progress.client_done(rnd, i, len(cids), result.fit.train_loss)
        outcome = server.aggregate(rnd, replies)
        rejected.update(outcome.rejected)
        aggregated_s = time.monotonic() - round_started

        evaluation, eval_window = evaluate_global(rnd, fed, client, model, server, data.test_tokens, self.profiler)

        for row in rows:
            reason = rejected.get(row["client_id"])
            row["status"] = "accepted" if reason is None else f"rejected: {reason}"
        writer.clients.append(rows)
        for cid, reason in rejected.items():
            self.progress.message(f"[{label}] round {rnd}: client {cid} rejected: {reason}")
        totals = round_row(label, rnd, rows, len(rejected), outcome, aggregated_s, evaluation, eval_window)
        writer.rounds.append([totals])
        writer.ranks.append(
            {"method": label, "round": rnd, "module": module, "rank": rank}
            for module, rank in outcome.module_ranks.items()
        )
        self.progress.round_done(rnd, aggregated_s, evaluation.accuracy if evaluation else None, len(rejected))
        return (evaluation.accuracy if evaluation else None), totals["bytes_down"] + totals["bytes_up"]

    def _client_row(
        self, label: str, rnd: int, cid: int, num_examples: int, blob_down: bytes, result: Any, ranks: dict[str, int]
    ) -> dict[str, Any]:
        """The clients.csv row (cells built in edgebench.fl.accounting, shared with the Flower runners)."""
        measured = client_measurements(result, len(blob_down), self.measurement)
        return client_row(label, rnd, cid, num_examples, ranks, measured)


def default_run_dir(config: ExperimentConfig) -> Path:
    """`<output.dir>/<output.name or config stem>-<UTC timestamp>`."""
    stem = config.output.name or (config.source.stem if config.source else "run")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path(config.output.dir) / f"{stem}-{stamp}"


def resolve_run_dir(config: ExperimentConfig, out: Path | None, resume: Path | None) -> Path:
    """The run directory named by --out / --resume (not both), else a fresh default one; a new run
    never writes into a directory that already holds one."""
    if out is not None and resume is not None:
        raise ConfigError(str(config.source), [("", "give either --out or --resume, not both")])
    if resume is not None:
        return resume
    run_dir = out or default_run_dir(config)
    if (run_dir / RUN_JSON).exists():
        raise ResumeError(f"{run_dir} already holds a run; use --resume {run_dir} or another --out")
    return run_dir


def run_experiment(
    config: ExperimentConfig,
    out: Path | None = None,
    resume: Path | None = None,
    progress: Progress | None = None,
) -> tuple[Path, list[MethodRunSummary]]:
    """Run (or resume) an experiment; returns the run directory and per-method summaries."""
    run_dir = resolve_run_dir(config, out, resume)
    engine = Engine(config, run_dir, progress=progress, resume=resume is not None)
    return run_dir, engine.run()
