"""The ServerApp: the in-process engine's round loop, with every client reached through Flower.

Component reference: ``edgebench.fl.flower.server_app:app`` (what ``edgebench server`` submits with
``flwr run``). :class:`FlowerEngine` is the in-process :class:`~edgebench.fl.engine.Engine` with only
its per-round client loop replaced: sampling, the method's server half, evaluation of the global model
on the server, the results files, checkpoints and ``--resume`` are the engine's own code, so a Flower
run writes the same results contract (plus the Flower columns) and ``edgebench report`` reads it
unchanged. The per-client work goes through :class:`~edgebench.fl.flower.strategy.EdgebenchStrategy`.

Run config keys (``[tool.flwr.app.config]``, set by ``edgebench server``): ``config`` (path of the
experiment file on the SuperLink host; relative data paths resolve against it), ``config-yaml`` (its
text, so the file need not exist there), ``run-dir`` (absolute results folder on the SuperLink host),
``resume`` (continue ``run-dir`` from its last checkpoint) and ``methods`` (comma-separated labels).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from flwr.app import ArrayRecord, ConfigRecord, Context, Message
from flwr.serverapp import Grid, ServerApp

from edgebench.config import ExperimentConfig, load_config, parse_config
from edgebench.devices.host import package_versions
from edgebench.fl.accounting import evaluate_global, round_row
from edgebench.fl.engine import Engine, MethodRunSummary, PreparedData, ResumeError, default_run_dir
from edgebench.fl.flower.strategy import EdgebenchStrategy, NodeDirectory, TooFewReplies, exchange
from edgebench.fl.flower.wire import METRICS
from edgebench.fl.progress import Progress
from edgebench.fl.results import RUN_JSON, ResultsWriter
from edgebench.methods.base import MethodClient, MethodServer, Payload

DEPLOYMENT = "flower-deployment"
SIMULATION = "flower-simulation"


class FlowerEngine(Engine):
    """The engine with clients on Flower SuperNodes (real devices, or Flower's simulation runtime)."""

    def __init__(
        self,
        config: ExperimentConfig,
        run_dir: Path,
        grid: Grid,
        runtime: str = DEPLOYMENT,
        client_device: str = "auto",
        progress: Progress | None = None,
        resume: bool = False,
    ) -> None:
        super().__init__(config, run_dir, progress=progress, resume=resume)
        self.grid = grid
        self.runtime = runtime
        self.nodes = NodeDirectory(grid, config, client_device, self.progress.message, config.runtime.round_timeout_s)
        self._strategy: EdgebenchStrategy | None = None
        self._run_json: dict[str, Any] | None = None
        self._waited = False

    def _start_run_json(self) -> dict[str, Any]:
        run_json = super()._start_run_json()
        run_json["runtime"] = {
            "engine": self.runtime,
            "flwr": _version("flwr"),
            "ray": _version("ray") if self.runtime == SIMULATION else None,
            "settings": self.config.runtime.model_dump(mode="json"),
            "nodes": {},
        }
        return run_json

    def _run_method(
        self, entry: Any, data: PreparedData, writer: ResultsWriter, run_json: dict[str, Any]
    ) -> MethodRunSummary:
        self._run_json = run_json
        if not self._waited:
            self._waited = True
            self.nodes.wait_for_all(self.config.runtime.wait_for_nodes_s)
            self._sync_nodes(writer)
        return super()._run_method(entry, data, writer, run_json)

    def _sync_nodes(self, writer: ResultsWriter) -> None:
        """Record the SuperNodes in run.json (and, on real devices, file the run under their profiles)."""
        if not self.nodes.changed or self._run_json is None:
            return
        self.nodes.changed = False
        run_json = self._run_json
        run_json["runtime"]["nodes"] = self.nodes.describe()
        device = run_json.setdefault("device", {})
        devices = self.nodes.devices()
        device["clients"] = devices
        if self.runtime == DEPLOYMENT and devices:
            # The report files a run under device.name: on a deployment that is the clients' hardware.
            device.setdefault("server", {"name": self.config.device.name, "profile": device.get("profile")})
            device["name"] = device["profile"] = "+".join(devices)
        writer.write_run_json(run_json)

    def _strategy_for(self, label: str, server: MethodServer, data: PreparedData) -> EdgebenchStrategy:
        if self._strategy is None or self._strategy.label != label or self._strategy.server is not server:
            num_examples = {cid: len(rows) for cid, rows in enumerate(data.partition.client_indices)}
            log = self.progress.message
            self._strategy = EdgebenchStrategy(label, server, self.config, self.nodes, num_examples, log)
            self._strategy.summary()
        return self._strategy

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
        runtime = self.config.runtime
        assert data.test_tokens is not None
        round_started = time.monotonic()
        self.nodes.refresh()
        self._sync_nodes(writer)
        strategy = self._strategy_for(label, server, data)
        messages = list(strategy.configure_train(rnd, ArrayRecord(), ConfigRecord(), self.grid))
        done = 0

        def on_reply(reply: Message) -> None:
            nonlocal done
            done += 1
            loss = math.nan
            if reply.has_content() and METRICS in reply.content.metric_records:
                loss = float(reply.content.metric_records[METRICS].get("train_loss", math.nan))
            self.progress.client_done(rnd, done, fed.clients_per_round, loss)

        ids, result = exchange(self.grid, messages, runtime.round_timeout_s, on_reply)
        strategy.aggregate_train(rnd, strategy.record_exchange(ids, messages, result))
        outcome = strategy.last_round
        assert outcome is not None
        aggregated_s = time.monotonic() - round_started
        if outcome.usable < runtime.min_replies:
            raise TooFewReplies(
                f"[{label}] round {rnd}: {outcome.usable} usable replies, fewer than runtime.min_replies "
                f"({runtime.min_replies}); resume from the last checkpoint with --resume {self.run_dir}"
            )

        evaluation, eval_window = evaluate_global(rnd, fed, client, model, server, data.test_tokens, self.profiler)
        writer.clients.append(outcome.rows)
        totals = round_row(
            label, rnd, outcome.rows, len(outcome.rejected), outcome.outcome, aggregated_s, evaluation, eval_window
        )
        totals["clients_dropped"] = len(outcome.dropped)
        totals["flower_bytes_down"] = sum(r.get("flower_bytes_down") or 0 for r in outcome.rows)
        totals["flower_bytes_up"] = sum(r.get("flower_bytes_up") or 0 for r in outcome.rows)
        writer.rounds.append([totals])
        writer.ranks.append(
            {"method": label, "round": rnd, "module": module, "rank": rank}
            for module, rank in outcome.outcome.module_ranks.items()
        )
        accuracy = evaluation.accuracy if evaluation else None
        self.progress.round_done(rnd, aggregated_s, accuracy, len(outcome.rejected))
        return accuracy, totals["bytes_down"] + totals["bytes_up"]


def run_server(
    grid: Grid,
    config: ExperimentConfig,
    run_dir: Path,
    resume: bool = False,
    runtime: str = DEPLOYMENT,
    client_device: str = "auto",
    progress: Progress | None = None,
) -> list[MethodRunSummary]:
    """Run (or resume) every method of `config` over the clients reachable through `grid`."""
    if not resume and (run_dir / RUN_JSON).exists():
        raise ResumeError(f"{run_dir} already holds a run; use --resume {run_dir} or another --out")
    engine = FlowerEngine(config, run_dir, grid, runtime, client_device, progress=progress, resume=resume)
    return engine.run()


@dataclass
class ServerJob:
    """What ``edgebench server`` asks the ServerApp to do (from the run config)."""

    config: ExperimentConfig
    run_dir: Path
    resume: bool

    @classmethod
    def from_run_config(cls, run_config: Any) -> ServerJob:
        cfg = dict(run_config)
        path = str(cfg.get("config") or "")
        text = str(cfg.get("config-yaml") or "")
        if text:
            config = parse_config(yaml.safe_load(text), Path(path or "experiment.yaml"))
        elif path:
            config = load_config(path)
        else:
            raise ValueError("the run config names no experiment: set config (a path) or config-yaml (its text)")
        methods = [m.strip() for m in str(cfg.get("methods") or "").split(",") if m.strip()]
        if methods:
            config = config.select_methods(methods)
        run_dir = Path(str(cfg.get("run-dir") or "")) if cfg.get("run-dir") else default_run_dir(config)
        return cls(config=config, run_dir=run_dir.expanduser().resolve(), resume=bool(cfg.get("resume", False)))


app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Deployment entry point (``flwr run`` against a SuperLink)."""
    job = ServerJob.from_run_config(context.run_config)
    progress = Progress(interactive=False)
    progress.message(f"edgebench ServerApp: results in {job.run_dir}")
    summaries = run_server(
        grid, job.config, job.run_dir, resume=job.resume, runtime=DEPLOYMENT, client_device="auto", progress=progress
    )
    for s in summaries:
        if not s.extra.get("skipped"):
            acc = f"{s.final_accuracy:.4f}" if s.final_accuracy is not None else "n/a"
            progress.message(f"{s.label}: {s.rounds_run} rounds in {s.wall_s:.1f} s, final accuracy {acc}")
    progress.message(f"results: {job.run_dir}")


def _version(name: str) -> str | None:
    return package_versions([name])[name]
