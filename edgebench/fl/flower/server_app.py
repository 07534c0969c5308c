"""The ServerApp: the engine's round loop, with every client reached through Flower.

Component reference: ``edgebench.fl.flower.server_app:app`` (what ``edgebench server`` submits with
``flwr run``). It runs the same :class:`~edgebench.fl.engine.Engine` as ``edgebench run``, with the
:class:`~edgebench.fl.flower.executor.FlowerExecutor` in place of the in-process one: sampling, the
method's server half, evaluation of the global model on the server, the results files, checkpoints and
``--resume`` are the engine's own code, so a Flower run writes the same results contract (plus the
Flower columns) and ``edgebench report`` reads it unchanged.

Run config keys (``[tool.flwr.app.config]``, set by ``edgebench server``): ``config`` (path of the
experiment file on the SuperLink host; relative data paths resolve against it), ``config-yaml`` (its
text, so the file need not exist there), ``run-dir`` (absolute results folder on the SuperLink host),
``resume`` (continue ``run-dir`` from its last checkpoint), ``methods`` (comma-separated labels) and
``compute`` (overrides the experiment's ``compute.device``; a node's own ``compute`` node config wins).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from edgebench.config import ConfigError, ExperimentConfig, load_config, parse_config
from edgebench.fl.engine import Engine, MethodRunSummary
from edgebench.fl.flower.executor import DEPLOYMENT, FlowerExecutor
from edgebench.fl.progress import Progress
from edgebench.fl.run_dir import ResumeError, default_run_dir
from edgebench.results import RUN_JSON
from edgebench.yamlfile import YamlFileError, parse_yaml


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
    executor = FlowerExecutor(grid, runtime, client_device)
    return Engine(config, run_dir, executor, progress=progress, resume=resume).run()


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
            source = Path(path or "experiment.yaml")
            try:
                raw = parse_yaml(text)
            except YamlFileError as exc:
                raise ConfigError(str(source), [("", exc.problem)]) from None
            config = parse_config(raw, source)
        elif path:
            config = load_config(path)
        else:
            raise ValueError("the run config names no experiment: set config (a path) or config-yaml (its text)")
        methods = [m.strip() for m in str(cfg.get("methods") or "").split(",") if m.strip()]
        if methods:
            config = config.select_methods(methods)
        compute = str(cfg.get("compute") or "")
        if compute:
            config = config.override("compute", {"device": compute}, "run config compute")
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
