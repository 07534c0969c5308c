"""The ServerApp: the engine's round loop, with every client reached through Flower.

Component reference: ``edgebench.fl.flower.server_app:app`` (what ``edgebench server`` submits with
``flwr run``). It runs the same :class:`~edgebench.fl.engine.Engine` as ``edgebench run``, with the
:class:`~edgebench.fl.flower.executor.FlowerExecutor` in place of the in-process one: sampling, the
method's server half, evaluation of the global model on the server, the results files, checkpoints and
``--resume`` are the engine's own code, so a Flower run writes the same results contract (plus the
Flower columns) and ``edgebench report`` reads it unchanged.

Run config keys (``[tool.flwr.app.config]``, see :mod:`~edgebench.fl.flower.project`): ``config`` (the
experiment file on the SuperLink host; relative data paths resolve against it; a relative ``config`` is
looked up in the installed app, the edgebench checkout, then the working directory), ``config-yaml`` (its
text, so the file need not exist there), ``run-dir`` (results folder on the SuperLink host; default
``runs/<name>-<time>`` under the ServerApp's working directory), ``resume`` (continue ``run-dir`` from its
last checkpoint), ``methods`` (comma-separated labels), ``compute`` (overrides ``compute.device``; a
node's own ``compute`` node config wins) and the experiment fields of
:data:`~edgebench.fl.flower.project.EXPERIMENT_KEYS` (``flwr run . --run-config "federation.rounds=5"``;
empty = as in the file), applied before the experiment is validated.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

import edgebench
from edgebench.config import ConfigError, ExperimentConfig, parse_config
from edgebench.fl.engine import Engine, MethodRunSummary
from edgebench.fl.flower.executor import DEPLOYMENT, FlowerExecutor
from edgebench.fl.flower.project import experiment_overrides
from edgebench.fl.progress import Progress
from edgebench.fl.run_dir import ResumeError, RunInterrupted, default_run_dir, signals_interrupt
from edgebench.results import RUN_JSON
from edgebench.yamlfile import YamlFileError, parse_yaml, read_yaml


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
    """What ``edgebench server`` (or ``flwr run``) asks the ServerApp to do (from the run config)."""

    config: ExperimentConfig
    run_dir: Path
    resume: bool

    @classmethod
    def from_run_config(cls, run_config: Any, app_dir: Path | None = None) -> ServerJob:
        """The experiment of the run config: `config` (a path) or `config-yaml` (its text), with the run
        config's experiment fields (``federation.rounds`` ...) applied before validation."""
        cfg = dict(run_config)
        path = str(cfg.get("config") or "")
        text = str(cfg.get("config-yaml") or "")
        if text:
            source = Path(path or "experiment.yaml")
            try:
                raw = parse_yaml(text)
            except YamlFileError as exc:
                raise ConfigError(str(source), [("", exc.problem)]) from None
        elif path:
            source = find_experiment(path, app_dir)
            try:
                raw = read_yaml(source)
            except YamlFileError as exc:
                raise ConfigError(str(source), [("", exc.problem)]) from None
        else:
            raise ValueError("the run config names no experiment: set config (a path) or config-yaml (its text)")
        config = parse_config(_with_overrides(raw, experiment_overrides(cfg), source), source)
        methods = [m.strip() for m in str(cfg.get("methods") or "").split(",") if m.strip()]
        if methods:
            config = config.select_methods(methods)
        compute = str(cfg.get("compute") or "")
        if compute:
            config = config.override("compute", {"device": compute}, "run config compute")
        run_dir = Path(str(cfg.get("run-dir") or "")) if cfg.get("run-dir") else default_run_dir(config)
        return cls(config=config, run_dir=run_dir.expanduser().resolve(), resume=bool(cfg.get("resume", False)))


def _with_overrides(raw: Any, overrides: dict[str, object], source: Path) -> Any:
    """The experiment document with run-config fields (``section.field`` or a top-level key) set."""
    if not overrides or not isinstance(raw, dict):
        return raw
    out = dict(raw)
    for key, value in overrides.items():
        if "." not in key:
            out[key] = value
            continue
        section, field = key.split(".", 1)
        current = out.get(section) or {}
        if not isinstance(current, dict):
            raise ConfigError(str(source), [(section, f"is not a mapping, so run config {key} cannot set a field")])
        out[section] = {**current, field: value}
    return out


def find_experiment(path: str, app_dir: Path | None = None) -> Path:
    """A relative experiment path: in the installed app, else the edgebench checkout, else the working directory."""
    given = Path(path).expanduser()
    if given.is_absolute():
        return given
    checkout = Path(edgebench.__file__).resolve().parent.parent
    places = [p for p in (app_dir, checkout, Path.cwd()) if p is not None]
    for place in places:
        if (place / given).is_file():
            return place / given
    where = ", ".join(str(p) for p in places)
    raise ConfigError(path, [("config", f"no such experiment file in {where}")])


def _app_dir(grid: Grid) -> Path | None:
    """Where Flower installed this run's app (its bundle may carry experiment files), if it can say."""
    try:
        from flwr.common.config import get_project_dir

        run = grid.run
        return get_project_dir(run.fab_id, run.fab_version, run.fab_hash)
    except Exception:  # an older flwr, or a grid without a run: look elsewhere
        return None


app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Deployment entry point (``flwr run`` against a SuperLink).

    ``flwr stop`` (or a SuperLink shutting down) ends this process with SIGTERM: while the engine runs,
    SIGINT and SIGTERM become :class:`~edgebench.fl.run_dir.RunInterrupted`, so run.json says
    ``interrupted`` (with the rounds done) and ``--resume`` continues; then Flower's own handler runs.
    """
    job = ServerJob.from_run_config(context.run_config, _app_dir(grid))
    progress = Progress(interactive=False)
    progress.message(f"edgebench ServerApp: results in {job.run_dir}")
    try:
        with signals_interrupt():
            summaries = run_server(
                grid,
                job.config,
                job.run_dir,
                resume=job.resume,
                runtime=DEPLOYMENT,
                client_device="auto",
                progress=progress,
            )
    except RunInterrupted as exc:
        progress.message(f"edgebench ServerApp: interrupted by {exc}; continue with --resume {job.run_dir}")
        signal.raise_signal(exc.signum)  # Flower's handler (restored on leaving the block) ends the process
        raise
    for s in summaries:
        if not s.extra.get("skipped"):
            acc = f"{s.final_accuracy:.4f}" if s.final_accuracy is not None else "n/a"
            progress.message(f"{s.label}: {s.rounds_run} rounds in {s.wall_s:.1f} s, final accuracy {acc}")
    progress.message(f"results: {job.run_dir}")
