"""The federated engine: one round loop, identical for every method and every executor.

The engine owns client sampling, seeding, encoding of every downlink, the method's server half,
aggregation, evaluation of the global model, checkpoints and the results files. Methods supply their
server and client halves (:mod:`edgebench.methods.base`); a :class:`~edgebench.fl.executor.ClientExecutor`
runs the clients' side of each round (in this process, or on Flower).
"""

from __future__ import annotations

import gc
import json
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from torch import nn

from edgebench.config import ExperimentConfig, MethodEntry
from edgebench.fl.batches import collate, eval_batches, tokenize
from edgebench.fl.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from edgebench.fl.codec import encode
from edgebench.fl.executor import ClientExecutor, ClientTask, MethodSession, RoundTask, RunContext, TooFewReplies
from edgebench.fl.inprocess import InProcessExecutor
from edgebench.fl.model_summary import start_summary
from edgebench.fl.placement import choose_placement
from edgebench.fl.prepared import PreparedData, prepare_data
from edgebench.fl.progress import Progress
from edgebench.fl.run_dir import ResumeError, claim_run_dir, resolve_run_dir, signal_name
from edgebench.fl.sampling import sample_clients
from edgebench.methods import get_method
from edgebench.methods.base import Batch, ClientReply, MethodClient, MethodServer, Payload, TrainSettings
from edgebench.methods.common.training import evaluate
from edgebench.models import resolve_model
from edgebench.profiler.setup import build_measurement
from edgebench.results import (
    ACCEPTED,
    REJECTED,
    RUN_JSON,
    ClientRow,
    Evaluation,
    MethodMeta,
    RankRow,
    ResultsWriter,
    RoundRow,
    RunMeta,
)
from edgebench.results.run_meta import describe_error
from edgebench.results.scan import CorruptTableError


@dataclass
class MethodRunSummary:
    """What the CLI prints after a method finishes."""

    label: str
    rounds_run: int
    final_accuracy: float | None
    wall_s: float
    bytes_total: int
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class CalibratingClient(Protocol):
    """A client half that measures something once per run for its server half (FedARA's cost-aware
    allocation: the backward cost of each layer). It returns run.json `methods.<label>.calibration`, whose
    `params` update the parameters the server is built with, or None when it needs nothing."""

    def calibrate(self, model: nn.Module, batch: Batch, settings: TrainSettings) -> dict[str, Any] | None: ...


class Engine:
    """Runs every method of an experiment into one run directory."""

    def __init__(
        self,
        config: ExperimentConfig,
        run_dir: Path,
        executor: ClientExecutor | None = None,
        progress: Progress | None = None,
        resume: bool = False,
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.executor = executor or InProcessExecutor()
        self.progress = progress or Progress()
        self.resume = resume
        self.measurement = build_measurement(config.profiler, config.device.name)
        self.profiler = self.measurement.profiler
        self.placement = choose_placement(config.compute, self.measurement.profile)

    # -- whole run -------------------------------------------------------------------------
    def run(self) -> list[MethodRunSummary]:
        """Claim the run directory (its lock is held until the run ends: one run per directory), load the
        data, then run every method. A new run that cannot start (a data error, an interrupt, no space)
        removes what it wrote; once started, run.json ends `complete`, `interrupted` (KeyboardInterrupt,
        RunInterrupted) or `failed: ...`, with every finished round's rows kept."""
        self.measurement.apply_torch_threads(self.config.device.torch_threads)  # recorded in run.json
        with claim_run_dir(self.run_dir, resume=self.resume) as claim:
            writer: ResultsWriter | None = None
            try:
                meta = self._start_meta()
                data = prepare_data(self.config)
                writer = ResultsWriter(self.run_dir, reserve=True)
                counts = data.partition.label_counts(data.splits.train.labels, data.splits.train.num_labels)
                writer.write_partition(counts.tolist(), data.splits.train.label_names)
                meta.data = data.describe()
                writer.write_meta(meta)
            except BaseException:
                if writer is not None:
                    writer.close()
                if not self.resume:
                    claim.discard()
                raise
            summaries: list[MethodRunSummary] = []
            try:
                try:
                    meta.measurement = self.measurement.start(self.progress.message)
                    meta.device["profile"] = self.measurement.profile.name
                    meta.compute = self.placement.describe()
                    writer.write_meta(meta)
                    self.executor.open(RunContext(self.config, self.measurement, self.progress.message), meta)
                    writer.write_meta(meta)
                    for entry in self.config.methods:
                        summaries.append(self._run_method(entry, data, writer, meta))
                except BaseException as exc:
                    self._record_end(meta, writer, exc)
                    raise
                finally:
                    self.measurement.close()
                meta.measurement["overhead_s"] = self.profiler.overhead_ns / 1e9
                meta.measurement["host_load"] = dict(self.measurement.host_load)  # with the end sample
                meta.finish()
                writer.write_meta(meta)
            finally:
                writer.close()
        return summaries

    def _record_end(self, meta: RunMeta, writer: ResultsWriter, exc: BaseException) -> None:
        """run.json of a run stopped by `exc`: `interrupted` for a signal (with the rounds each method
        finished), else `failed: ...`. When even that cannot be written, say so rather than raise over `exc`."""
        if isinstance(exc, KeyboardInterrupt):
            meta.interrupt(signal_name(getattr(exc, "signum", signal.SIGINT)), self._rounds_done(writer))
        else:
            meta.fail(exc)
        try:
            writer.write_meta(meta)
        except OSError as write_error:
            self.progress.message(
                f"could not record the run's end in {self.run_dir / RUN_JSON}: {describe_error(write_error)}"
            )

    def _rounds_done(self, writer: ResultsWriter) -> dict[str, int]:
        """Per method label, the last round whose rows are in rounds.csv (0 for none)."""
        done = {entry.label: 0 for entry in self.config.methods}
        try:
            rows = writer.rounds.read()
        except Exception:  # a torn or unreadable table: the counts are only informative
            return done
        for row in rows:
            label, rnd = row.get("method"), str(row.get("round") or "")
            if label in done and rnd.isdigit():
                done[label] = max(done[label], int(rnd))
        return done

    def _start_meta(self) -> RunMeta:
        path = self.run_dir / RUN_JSON
        if self.resume:  # claim_run_dir has checked, under the lock, that run.json is there
            try:
                previous = RunMeta.from_json(json.loads(path.read_text()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ResumeError(f"{path}: unreadable ({describe_error(exc)}); this run cannot be resumed") from None
            if previous.config_hash != self.config.hash():
                raise ResumeError(
                    f"{self.run_dir}: the config differs from the one this run started with "
                    f"(hash {previous.config_hash[:12]} vs {self.config.hash()[:12]}); resume with the original config"
                )
            previous.resumed()
            return previous
        config = self.config
        return RunMeta(
            config_file=str(config.source) if config.source else None,
            config_hash=config.hash(),
            config=config.as_dict(),
            run_dir=str(self.run_dir),
            device={"name": config.device.name},
        )

    # -- one method ------------------------------------------------------------------------
    def _run_method(
        self, entry: MethodEntry, data: PreparedData, writer: ResultsWriter, meta: RunMeta
    ) -> MethodRunSummary:
        fed = self.config.federation
        spec = get_method(entry.method)
        ckpt = load_checkpoint(self.run_dir, entry.label) if self.resume else None
        if ckpt is not None and ckpt.complete:
            self.progress.message(f"[{entry.label}] already complete, skipped")
            return MethodRunSummary(entry.label, 0, None, 0.0, 0, {"skipped": True})
        if self.resume:  # a new run has no rows of this method yet, and no torn ones
            try:
                torn = writer.drop_rows_after(entry.label, ckpt.round if ckpt else 0)
            except CorruptTableError as exc:
                raise ResumeError(str(exc)) from None
            if torn:
                self.progress.message(f"dropped {len(torn)} incomplete row(s) an interruption left: {'; '.join(torn)}")

        started = time.monotonic()
        resolved = resolve_model(self.config.model, data.splits.train.num_labels, self.config.seed)
        if data.train_tokens is None or data.eval_tokens is None:
            data.train_tokens = tokenize(resolved.tokenizer, data.splits.train, fed.max_seq_len)
            data.eval_tokens = tokenize(resolved.tokenizer, data.splits.evaluation, fed.max_seq_len)
        placement = self.placement.placement
        client: MethodClient = spec.client_cls(
            entry.params, self.config.seed, rounds=fed.rounds, local_steps=fed.local_steps, placement=placement
        )
        model = placement.place(client.build(resolved.model))
        self.progress.message(start_summary(entry, resolved.info, model, fed, placement, self.measurement.profile))
        previous = meta.methods.get(entry.label) if self.resume else None
        calibration = self._calibrate(entry, client, model, data, previous.calibration if previous else None)
        server_params = entry.params.model_copy(update=calibration["params"]) if calibration else entry.params
        server: MethodServer = spec.server_cls(server_params, fed.rounds)
        server.initialize(client.initial_parameters(model))
        client_states: dict[int, Payload] = {}
        first_round = 1
        if ckpt is not None:
            server.load_state_dict(ckpt.server)
            client_states = dict(ckpt.clients)
            first_round = ckpt.round + 1

        meta.model = resolved.info
        meta.methods[entry.label] = MethodMeta(
            method=entry.method,
            summary=spec.summary,
            params=entry.params.model_dump(mode="json"),
            trainable_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
            calibration=calibration,
        )
        writer.write_meta(meta)

        session = MethodSession(entry.label, client, model, data, client_states)
        self.executor.start_method(session)
        self.progress.start_method(entry.label, fed.rounds, fed.clients_per_round, first_round)
        final_acc: float | None = None
        total_bytes = 0
        for rnd in range(first_round, fed.rounds + 1):
            acc, round_bytes = self._run_round(session, rnd, server, writer, meta)
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
        meta.methods[entry.label].status = "complete"
        writer.write_meta(meta)
        del model, resolved, server, client, session
        gc.collect()
        return MethodRunSummary(
            entry.label, fed.rounds - first_round + 1, final_acc, time.monotonic() - started, total_bytes
        )

    def _calibrate(
        self,
        entry: MethodEntry,
        client: MethodClient,
        model: nn.Module,
        data: PreparedData,
        recorded: dict[str, Any] | None,
    ) -> dict[str, Any] | None:
        """What the client half measures once for its server (None when nothing), on one seeded batch of
        training rows; a resumed run reuses what it recorded, so the server's parameters never change mid-run."""
        if not isinstance(client, CalibratingClient):
            return None
        if recorded is not None:
            return recorded
        fed = self.config.federation
        assert data.train_tokens is not None
        rows = len(data.train_tokens)
        picked = np.random.default_rng([self.config.seed, 0]).choice(
            rows, size=min(fed.batch_size, rows), replace=False
        )
        batch = collate(data.train_tokens, sorted(picked.tolist()))
        with self.profiler.window("layer_costs") as window:
            calibration = client.calibrate(model, batch, self.config.train_settings(entry.label))
        if calibration is None:
            return None
        flags = window.all_flags()
        calibration = {
            **calibration,
            "wall_s": window.duration_s,
            "window_flags": flags,
            "other_cpu_cores": window.other_cpu_cores,
        }
        self.progress.message(
            f"[{entry.label}] measured step costs in {window.duration_s:.1f} s: {calibration['params']}"
        )
        if "contended" in flags:
            self.progress.message(
                f"[{entry.label}] warning: other processes used {window.other_cpu_cores or 0:.2f} cores while "
                "measuring step costs; they may be off (declare them in the method's params instead)"
            )
        return calibration

    # -- one round -------------------------------------------------------------------------
    def _run_round(
        self, session: MethodSession, rnd: int, server: MethodServer, writer: ResultsWriter, meta: RunMeta
    ) -> tuple[float | None, int]:
        fed = self.config.federation
        label = session.label
        round_started = time.monotonic()
        if self.executor.before_round(meta):
            writer.write_meta(meta)
        cids = sample_clients(self.config.seed, rnd, fed.num_clients, fed.clients_per_round)
        broadcast_ranks = server.module_ranks()
        downlinks = server.configure_round(rnd, cids)
        task = RoundTask(
            label,
            rnd,
            [ClientTask(cid, session.data.num_examples(cid), encode(downlinks[cid], fed.wire_dtype)) for cid in cids],
        )

        def client_done(done: int, loss: float) -> None:
            self.progress.client_done(rnd, done, len(cids), loss)

        outcomes = self.executor.run_round(task, client_done)
        replies = [
            ClientReply(o.client_id, o.num_examples, o.payload)
            for o in outcomes
            if o.problem is None and o.payload is not None
        ]
        aggregated = server.aggregate(rnd, replies)
        aggregated_s = time.monotonic() - round_started
        needed = self.executor.min_replies(self.config)
        if len(aggregated.accepted) < needed:
            raise TooFewReplies(
                f"[{label}] round {rnd}: {len(aggregated.accepted)} usable replies, fewer than runtime.min_replies "
                f"({needed}); resume from the last checkpoint with --resume {self.run_dir}"
            )

        evaluation = self._evaluate(rnd, session, server)
        active_rank = sum(broadcast_ranks.values())
        active_modules = sum(1 for r in broadcast_ranks.values() if r > 0)
        rows: list[ClientRow] = []
        for o in outcomes:
            status = o.problem or (
                f"{REJECTED}: {aggregated.rejected[o.client_id]}" if o.client_id in aggregated.rejected else ACCEPTED
            )
            if status != ACCEPTED:
                self.progress.message(f"[{label}] round {rnd}: client {o.client_id} {status}")
            rows.append(
                ClientRow(
                    method=label,
                    round=rnd,
                    client_id=o.client_id,
                    num_examples=o.num_examples,
                    active_rank=active_rank,
                    active_modules=active_modules,
                    status=status,
                    measurement=o.measurement,
                    transport=o.transport,
                )
            )
        totals = RoundRow.from_clients(
            label,
            rnd,
            rows,
            round_s=aggregated_s,
            active_rank=aggregated.active_rank,
            active_modules=aggregated.active_modules,
            budget=aggregated.budget,
            evaluation=evaluation,
            with_flower=self.executor.transport_columns,
        )
        ranks = [RankRow(method=label, round=rnd, module=m, rank=r) for m, r in aggregated.module_ranks.items()]
        writer.append_round(rows, totals, ranks)
        accuracy = evaluation.accuracy if evaluation else None
        self.progress.round_done(rnd, aggregated_s, accuracy, totals.clients_rejected)
        return accuracy, totals.bytes_down + totals.bytes_up

    def _evaluate(self, rnd: int, session: MethodSession, server: MethodServer) -> Evaluation | None:
        """The global model on the evaluation split (test, or validation with `data.validation_fraction`), in an
        ``eval`` window, every `eval_every` rounds and at the last."""
        fed = self.config.federation
        if rnd % fed.eval_every != 0 and rnd != fed.rounds:
            return None
        assert session.data.eval_tokens is not None
        with self.profiler.window("eval") as window:
            session.client.apply(session.model, server.global_payload())
            batches = eval_batches(session.data.eval_tokens, fed.eval_batch_size)
            result = evaluate(session.model, batches, self.placement.placement)
        return Evaluation(
            accuracy=result.accuracy,
            loss=result.loss,
            num_examples=result.num_examples,
            duration_s=window.duration_s,
            energy_j=window.energy_j,
            energy_provenance=window.energy_provenance,
        )


def run_experiment(
    config: ExperimentConfig,
    out: Path | None = None,
    resume: Path | None = None,
    progress: Progress | None = None,
) -> tuple[Path, list[MethodRunSummary]]:
    """Run (or resume) an experiment in this process; returns the run directory and per-method summaries."""
    run_dir = resolve_run_dir(config, out, resume)
    engine = Engine(config, run_dir, progress=progress, resume=resume is not None)
    return run_dir, engine.run()
