"""``edgebench run CONFIG --engine flower-sim``: the same experiment on Flower's simulation runtime (Ray).

One virtual SuperNode per client (``federation.num_clients``, node config ``partition-id``), each
ClientApp message handled by a Ray actor holding ``runtime.simulation.client_num_cpus`` CPUs and
``client_num_gpus`` GPUs; ``runtime.simulation.ray_init`` goes to ``ray.init`` (``address: auto`` joins a
running Ray cluster). The ServerApp is the deployment's (the engine with the Flower executor), run in this process, so
the results contract, checkpoints and ``--resume`` are the same as for every other runner. Ray is
started for the run and shut down at its end (by Flower's Ray backend).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from edgebench.config import ExperimentConfig
from edgebench.fl.engine import MethodRunSummary
from edgebench.fl.flower import client_app
from edgebench.fl.flower.executor import SIMULATION
from edgebench.fl.flower.server_app import run_server
from edgebench.fl.progress import Progress


class SimulationError(RuntimeError):
    """Flower's simulation runtime stopped without finishing the run."""


def backend_config(config: ExperimentConfig) -> dict[str, Any]:
    """Flower's Ray backend settings from ``runtime.simulation``."""
    sim = config.runtime.simulation
    init_args: dict[str, Any] = {"include_dashboard": False, **sim.ray_init}
    return {
        "client_resources": {"num_cpus": sim.client_num_cpus, "num_gpus": sim.client_num_gpus},
        "init_args": init_args,
    }


def run_flower_simulation(
    config: ExperimentConfig, run_dir: Path, resume: bool = False, progress: Progress | None = None
) -> list[MethodRunSummary]:
    """Run (or resume) an experiment into `run_dir` on Flower's simulation runtime."""
    progress = progress or Progress()
    summaries: list[MethodRunSummary] = []
    failure: list[BaseException] = []
    server_app = ServerApp()

    @server_app.main()
    def _main(grid: Grid, context: Context) -> None:
        try:
            summaries.extend(
                run_server(
                    grid,
                    config,
                    run_dir,
                    resume=resume,
                    runtime=SIMULATION,
                    client_device=config.device.name,
                    progress=progress,
                )
            )
        except BaseException as exc:
            failure.append(exc)
            raise

    from flwr.simulation import run_simulation

    saved_pythonpath = os.environ.get("PYTHONPATH")
    flwr_logger = logging.getLogger("flwr")
    saved_level = flwr_logger.level
    try:
        run_simulation(
            server_app=server_app,
            client_app=client_app.app,
            num_supernodes=config.federation.num_clients,
            backend_config=backend_config(config),  # type: ignore[arg-type]
        )
    except SystemExit as exc:  # flwr exits the process on some set-up errors (e.g. Ray missing)
        raise SimulationError(f"Flower's simulation runtime exited with code {exc.code}") from None
    except Exception as exc:
        if failure:
            raise failure[0] from None
        raise SimulationError(f"Flower's simulation runtime failed: {exc}") from exc
    finally:
        # Flower's Ray backend rewrites PYTHONPATH for its workers; leave this process as it was.
        if saved_pythonpath is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved_pythonpath
        flwr_logger.setLevel(saved_level)
    if failure:
        raise failure[0]
    if not summaries:
        raise SimulationError("Flower's simulation runtime ended before the ServerApp finished")
    return summaries
