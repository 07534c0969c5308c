"""Fixtures for the public API: an isolated calibration folder, a flat power trace, the examples as modules."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SYSFS = Path(__file__).resolve().parents[1] / "fixtures" / "sysfs"
FLAT_W = 3.5


@pytest.fixture(autouse=True)
def _isolated_calibration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEBENCH_CALIBRATION_DIR", str(tmp_path / "calibration"))


@pytest.fixture
def flat_trace(tmp_path: Path) -> Path:
    """A replay trace of a constant FLAT_W watts: every window's energy is FLAT_W x its duration."""
    trace = tmp_path / "flat.csv"
    trace.write_text(f"0,{FLAT_W}\n1,{FLAT_W}\n")
    return trace


@pytest.fixture
def replay(flat_trace: Path) -> dict:
    """Monitor arguments for the replayed flat trace on the x86-cpu profile."""
    return {
        "device": "x86-cpu",
        "meters": ["replay"],
        "settings": {"replay_trace": str(flat_trace), "sample_rate_hz": 50},
    }


def load_example(name: str) -> ModuleType:
    """examples/<name>.py as a module (the examples folder is not a package)."""
    module_name = f"edgebench_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
