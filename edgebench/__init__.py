"""edgebench: what federated fine-tuning of language models really costs on edge devices."""

# Profile your own training (docs/api.md):
#     monitor = edgebench.Monitor()  # device profile and energy meter chosen as `edgebench run` does
#     with monitor.window("train") as w:
#         train()
#     print(w.total_s, w.energy_j, w.energy_provenance)
# The public names are imported on first use, so `import edgebench` loads nothing else.

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Strings, not imports: the root package must not import its layers (see .importlinter).
_PUBLIC = {
    "Monitor": "edgebench.api",
    "WindowMeasurement": "edgebench.api",
    "MeterNotAvailable": "edgebench.api",
}

__all__ = ["MeterNotAvailable", "Monitor", "WindowMeasurement", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'edgebench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
