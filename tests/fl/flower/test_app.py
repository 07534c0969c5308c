"""edgebench as a Flower App: the repository's and the generated app's ``[tool.flwr.app]``, built and read by
Flower's own code, and the run config the ServerApp turns into an experiment. The slow test runs
``flwr run .`` from the checkout against a loopback SuperLink with two SuperNodes."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("flwr")

import tomli as tomllib
from flwr.cli.build import build_fab_from_files, get_fab_filename
from flwr.cli.config_utils import load_and_validate
from flwr.common.config import flatten_dict, fuse_dicts, get_fab_config, parse_config_args, validate_config

import edgebench
from edgebench.config import ConfigError
from edgebench.fl.flower.project import (
    EXPERIMENT_KEYS,
    REPOSITORY_CONFIG,
    default_app_dir,
    pyproject_text,
    repository_tables,
)
from edgebench.fl.flower.server_app import ServerJob
from tests.fl.flower.deploy import BIN, Loopback, Processes

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # flwr's FAB builder (pathspec)
ROOT = Path(__file__).resolve().parents[3]


def _app_table(text: str) -> dict:
    return tomllib.loads(text)["tool"]["flwr"]["app"]


def test_the_repository_pyproject_holds_the_app_tables() -> None:
    assert _app_table((ROOT / "pyproject.toml").read_text()) == _app_table(repository_tables())


def test_flwr_accepts_the_repository_pyproject_as_it_is() -> None:
    # What `flwr build` and `flwr run .` check first: [project] name and version, [tool.flwr.app], components.
    config, warnings = load_and_validate(ROOT / "pyproject.toml", check_module=True)
    assert warnings == []  # description and license present
    project = config["project"]
    assert project["name"] == "edgebench" and "dynamic" not in project  # Flower reads no dynamic version
    assert project["version"] == edgebench.__version__  # the static version follows the package's
    fab_name = get_fab_filename(config, hashlib.sha256(b"").hexdigest())
    assert fab_name.startswith(f"edgebench.edgebench.{edgebench.__version__.replace('.', '-')}.")


def _repository_fab() -> dict[str, bytes]:
    """The checkout's app bundle, built by Flower from the repository's own pyproject.toml."""
    files: dict[str, bytes | Path] = {"pyproject.toml": ROOT / "pyproject.toml"}
    for path in [ROOT / "README.md", *sorted((ROOT / "runners" / "configs").glob("*.yaml"))]:
        files[str(path.relative_to(ROOT))] = path
    files["edgebench/fl/flower/server_app.py"] = ROOT / "edgebench" / "fl" / "flower" / "server_app.py"
    fab, _ = build_fab_from_files(files)
    with zipfile.ZipFile(io.BytesIO(fab)) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_the_repository_app_bundles_configs_but_no_code() -> None:
    bundle = _repository_fab()
    assert f"{REPOSITORY_CONFIG}" in bundle and "README.md" in bundle
    assert not [n for n in bundle if n.endswith(".py")]  # the components come from the installed edgebench
    ok, errors, _ = validate_config(tomllib.loads(bundle["pyproject.toml"].decode()), check_module=True)
    assert ok, errors


def test_a_generated_app_is_valid_and_keeps_the_experiment(tmp_path: Path) -> None:
    text = pyproject_text({"config": "/exp/a.yaml", "config-yaml": "seed: 1\n", "run-dir": "/runs/a"})
    ok, errors, _ = validate_config(tomllib.loads(text), check_module=True)
    assert ok, errors
    fab, _ = build_fab_from_files({"pyproject.toml": text.encode()})
    config = flatten_dict(get_fab_config(fab)["tool"]["flwr"]["app"]["config"])
    assert config["config-yaml"] == "seed: 1\n" and config["run-dir"] == "/runs/a"
    assert {k for k in config if "." in k or k == "seed"} == set(EXPERIMENT_KEYS)
    assert default_app_dir("run-1").parts[-3:] == ("edgebench", "flower-apps", "run-1")


def _run_config(*overrides: str) -> dict:
    """What Flower hands the ServerApp for `flwr run . --run-config "<overrides>"` (its own fusing)."""
    defaults = flatten_dict(_app_table(repository_tables())["config"])
    return fuse_dicts(defaults, parse_config_args(list(overrides)) if overrides else {})


def test_run_config_keys_change_the_experiment(tmp_path: Path) -> None:
    job = ServerJob.from_run_config(_run_config("federation.rounds=5 seed=7 model.name='tiny-bert'"))
    assert job.config.federation.rounds == 5 and job.config.seed == 7
    assert job.config.source == ROOT / REPOSITORY_CONFIG  # found in the checkout, relative to nothing else
    plain = ServerJob.from_run_config(_run_config())
    assert plain.config.federation.rounds != 5 and plain.config.seed == 0


def test_a_relative_experiment_is_found_in_the_installed_app_first(tmp_path: Path) -> None:
    (tmp_path / "runners" / "configs").mkdir(parents=True)
    (tmp_path / REPOSITORY_CONFIG).write_text((ROOT / REPOSITORY_CONFIG).read_text().replace("seed: 0", "seed: 3"))
    job = ServerJob.from_run_config(_run_config(), app_dir=tmp_path)
    assert job.config.source == tmp_path / REPOSITORY_CONFIG and job.config.seed == 3


def test_a_bad_run_config_value_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"federation\.rounds"):
        ServerJob.from_run_config(_run_config("federation.rounds=-1"))
    with pytest.raises(ConfigError, match="no such experiment file"):
        ServerJob.from_run_config(_run_config("config='runners/configs/nope.yaml'"))


@pytest.mark.slow
def test_flwr_run_dot_runs_the_repository_app_on_loopback(procs: Processes) -> None:
    """`flwr run . loopback --run-config ...` from the checkout: the smoke experiment, one round, two nodes."""
    link = Loopback(procs)
    link.start_superlink()  # its working directory (procs.folder) is where the ServerApp writes runs/
    for cid in range(2):
        link.start_client(cid, 2)
    overrides = "federation.rounds=1 federation.num_clients=2 methods='lora'"
    result = subprocess.run(
        [str(BIN / "flwr"), "run", ".", "loopback", "--stream", "--run-config", overrides],
        cwd=ROOT,
        env=procs.env(FLWR_HOME=str(link.flwr_home())),
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert result.returncode == 0, result.stdout + result.stderr + procs.logs()
    (run_dir,) = (procs.folder / "runs").glob("smoke-*")
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "complete" and meta["runtime"]["engine"] == "flower-deployment"
    assert meta["config"]["federation"]["rounds"] == 1 and meta["config"]["federation"]["num_clients"] == 2
    with (run_dir / "rounds.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["method"], r["round"], r["clients"]) for r in rows] == [("lora", "1", "2")]
