"""The Flower App that ``flwr run`` submits: a ``pyproject.toml`` naming edgebench's components.

The app holds no code: the ServerApp and ClientApp are imported from the installed edgebench package
on the SuperLink host and on every device, so every SuperLink must run with
``--disable-runtime-dependency-installation`` (also what offline and air-gapped set-ups need). Kept
importable without flwr.
"""

from __future__ import annotations

import json
from pathlib import Path

import edgebench

APP_NAME = "edgebench-flower"
SERVER_COMPONENT = "edgebench.fl.flower.server_app:app"
CLIENT_COMPONENT = "edgebench.fl.flower.client_app:app"

# Keys of the run config the ServerApp reads (see edgebench.fl.flower.server_app.ServerJob).
RUN_CONFIG_DEFAULTS: dict[str, str | bool] = {
    "config": "",
    "config-yaml": "",
    "run-dir": "",
    "resume": False,
    "methods": "",
    "compute": "",
}


def _toml_value(value: str | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return toml_string(value)


def toml_string(value: str) -> str:
    """A TOML basic string (JSON escapes are valid TOML; non-BMP characters are kept as they are)."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def pyproject_text() -> str:
    config = "\n".join(f"{key} = {_toml_value(value)}" for key, value in RUN_CONFIG_DEFAULTS.items())
    return f"""# Written by edgebench {edgebench.__version__}: the Flower App that runs an edgebench experiment.
# Submit it with `edgebench server CONFIG ...` (or `flwr run <this folder> <connection> --run-config ...`).
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

[tool.flwr.app]
publisher = "edgebench"

[tool.flwr.app.components]
serverapp = "{SERVER_COMPONENT}"
clientapp = "{CLIENT_COMPONENT}"

[tool.flwr.app.config]
{config}
"""


def write_app(folder: Path) -> Path:
    """Write the Flower App into `folder` (created); returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(pyproject_text())
    return folder


def run_config_toml(values: dict[str, str | bool]) -> str:
    """A TOML file of run-config overrides (``flwr run --run-config FILE.toml``)."""
    unknown = set(values) - set(RUN_CONFIG_DEFAULTS)
    if unknown:
        raise KeyError(f"unknown run-config keys: {sorted(unknown)}")
    return "".join(f"{key} = {_toml_value(value)}\n" for key, value in values.items())


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
