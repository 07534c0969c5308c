"""The Flower App edgebench runs: ``[tool.flwr.app]`` tables naming edgebench's components.

Two forms of one app:

- **the repository** (its ``pyproject.toml`` holds the tables of :func:`repository_tables`): ``flwr run .``
  from a checkout runs ``runners/configs/smoke.yaml`` unless ``config`` says otherwise, and
  ``flwr run . --run-config "federation.rounds=5"`` changes one field of the experiment;
- **a generated app folder** (:func:`write_app`, what ``edgebench server`` submits and keeps): the same
  tables with the experiment of the command line as defaults, so ``flwr run <folder>`` repeats it.

The app bundle carries no code: the ServerApp and ClientApp are imported from the installed edgebench
on the SuperLink host and on every device, so every SuperLink runs with
``--disable-runtime-dependency-installation`` (also what offline and air-gapped sites need).

Run config keys (read by :class:`edgebench.fl.flower.server_app.ServerJob`): ``config`` (the experiment
file; a relative path is looked up in the installed app, then in the edgebench checkout, then in the
ServerApp's working directory), ``config-yaml`` (its text, so the file need not exist on the SuperLink
host), ``run-dir``, ``resume``, ``methods``, ``compute``, and one key per main experiment field
(:data:`EXPERIMENT_KEYS`, e.g. ``federation.rounds``): empty = as in the experiment file. Importable
without flwr.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import edgebench

APP_NAME = "edgebench-flower"
SERVER_COMPONENT = "edgebench.fl.flower.server_app:app"
CLIENT_COMPONENT = "edgebench.fl.flower.client_app:app"

RunValue = str | bool | int | float

# Keys of the run config the ServerApp reads (see edgebench.fl.flower.server_app.ServerJob).
RUN_CONFIG_DEFAULTS: dict[str, RunValue] = {
    "config": "",
    "config-yaml": "",
    "run-dir": "",
    "resume": False,
    "methods": "",
    "compute": "",
}
# Experiment fields a run config may set (`section.field`, or a top-level key); "" = as in the file.
EXPERIMENT_KEYS: tuple[str, ...] = (
    "seed",
    "model.name",
    "data.dataset",
    "data.path",
    "partition.scheme",
    "partition.alpha",
    "federation.num_clients",
    "federation.clients_per_round",
    "federation.rounds",
    "federation.local_steps",
    "federation.batch_size",
    "federation.lr",
    "federation.max_seq_len",
    "federation.eval_every",
    "runtime.min_replies",
    "runtime.round_timeout_s",
    "runtime.wait_for_nodes_s",
)
# The repository as an app: the shipped smoke experiment, and only README and configs in the bundle.
REPOSITORY_CONFIG = "runners/configs/smoke.yaml"
REPOSITORY_FAB_INCLUDE = ("/README.md", "runners/configs/*.yaml")


def toml_string(value: str) -> str:
    """A TOML basic string (JSON escapes are valid TOML; non-BMP characters are kept as they are)."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: RunValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return toml_string(value)


def app_tables(values: Mapping[str, RunValue], fab_include: tuple[str, ...] = ()) -> str:
    """The ``[tool.flwr.app]`` tables: publisher, components and the run config (`values` over the defaults)."""
    unknown = set(values) - set(RUN_CONFIG_DEFAULTS) - set(EXPERIMENT_KEYS)
    if unknown:
        raise KeyError(f"unknown run-config keys: {sorted(unknown)}")
    merged: dict[str, RunValue] = {**RUN_CONFIG_DEFAULTS, **{k: "" for k in EXPERIMENT_KEYS}, **values}
    top = [k for k in merged if "." not in k]
    sections: dict[str, list[str]] = {}
    for key in merged:
        if "." in key:
            section, field = key.split(".", 1)
            sections.setdefault(section, []).append(field)
    lines = ["[tool.flwr.app]", 'publisher = "edgebench"']
    if fab_include:
        lines.append(f"fab-include = [{', '.join(toml_string(p) for p in fab_include)}]")
    lines += ["", "[tool.flwr.app.components]", f'serverapp = "{SERVER_COMPONENT}"']
    lines += [f'clientapp = "{CLIENT_COMPONENT}"', "", "# Run config; an empty experiment field = as in `config`."]
    lines += ["[tool.flwr.app.config]", *(f"{k} = {_toml_value(merged[k])}" for k in top)]
    for section, fields in sections.items():
        lines += ["", f"[tool.flwr.app.config.{section}]"]
        lines += [f"{field} = {_toml_value(merged[f'{section}.{field}'])}" for field in fields]
    return "\n".join(lines) + "\n"


def repository_tables() -> str:
    """What the repository's ``pyproject.toml`` holds after its other tables (a test keeps them equal)."""
    return app_tables({"config": REPOSITORY_CONFIG}, REPOSITORY_FAB_INCLUDE)


def pyproject_text(values: Mapping[str, RunValue] | None = None) -> str:
    """A generated app's ``pyproject.toml`` (`values`: run-config defaults, e.g. this experiment)."""
    return f"""# Written by edgebench {edgebench.__version__}: the Flower App that runs an edgebench experiment.
# `flwr run <this folder>` repeats it (`--run-config "federation.rounds=5"` changes a field; docs/flower.md).
# The components come from the installed edgebench package: run the SuperLink with
# --disable-runtime-dependency-installation.
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{APP_NAME}"
version = "{_pep440(edgebench.__version__)}"
description = "edgebench: federated fine-tuning of language models on edge devices, measured"
license = "Apache-2.0"
dependencies = []

{app_tables(values or {})}"""


def default_app_dir(run_name: str) -> Path:
    """Where ``edgebench server`` keeps a run's app: ``$XDG_DATA_HOME/edgebench/flower-apps/<run name>``
    (``~/.local/share/...``), outside any checkout."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "edgebench" / "flower-apps" / run_name


def write_app(folder: Path, values: Mapping[str, RunValue] | None = None) -> Path:
    """Write the Flower App into `folder` (created); returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(pyproject_text(values))
    return folder


def experiment_overrides(run_config: Mapping[str, object]) -> dict[str, object]:
    """The experiment fields a run config sets (``EXPERIMENT_KEYS`` whose value is not empty)."""
    return {k: run_config[k] for k in EXPERIMENT_KEYS if k in run_config and run_config[k] not in ("", None)}


def _pep440(version: str) -> str:
    """Flower wants MAJOR.MINOR.PATCH; keep the numeric release part."""
    parts = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(str(int(digits)))
        if len(parts) == 3:
            break
    while len(parts) < 3:
        parts.append("0")
    return ".".join(parts)
