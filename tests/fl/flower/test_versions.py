"""Supported flwr versions (compat.py) and one flwr/edgebench version per federation (versions.py).

The first tests need no flwr; the last runs the ServerApp against an in-process grid in which one node
reports another flwr version, and checks the refusal reaches the log, run.json and the client's rows.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import pytest
from packaging.requirements import Requirement

import edgebench
from edgebench.fl.flower import compat
from edgebench.fl.flower.versions import local_versions, version_refusal

ROOT = Path(__file__).resolve().parents[3]
SERVER = {"flwr": "1.42.0", "edgebench": "0.3.0"}


def _extra(name: str) -> Requirement:
    lines = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"][name]
    assert len(lines) == 1
    return Requirement(lines[0])


@pytest.mark.parametrize("extra", ["flower", "flower-sim"])
def test_the_flower_extras_allow_exactly_the_supported_release_lines(extra: str) -> None:
    requirement = _extra(extra)
    assert requirement.name == "flwr"
    assert str(requirement.specifier) == str(Requirement(compat.FLWR_REQUIREMENT).specifier)
    allowed = [
        v for v in (f"1.{minor}.{patch}" for minor in range(20, 50) for patch in (0, 1)) if v in requirement.specifier
    ]
    assert {compat.release_line(v) for v in allowed} == set(compat.SUPPORTED_LINES) == {(1, 30), (1, 42)}
    assert all(compat.is_supported(v) for v in allowed)
    assert not compat.is_supported("1.36.0") and not compat.is_supported(None)


def test_cli_flags_follow_the_release_line() -> None:
    assert compat.superlink_args("0.0.0.0", 8000, version="1.42.0") == [
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
        "--disable-runtime-dependency-installation",
    ]
    assert compat.superlink_args("0.0.0.0", 9092, version="1.30.0") == [
        "--fleet-api-address",
        "0.0.0.0:9092",
        "--control-api-address",
        "0.0.0.0:9093",
    ]
    assert compat.superlink_args("127.0.0.1", 1, 2, 3, version="1.30.0")[-2:] == [
        "--serverappio-api-address",
        "127.0.0.1:3",
    ]
    with pytest.raises(ValueError, match="give only `port`"):
        compat.superlink_args("127.0.0.1", 1, control_port=2, version="1.42.0")
    assert compat.supernode_local_api_args(9095, version="1.42.0") == ["--port", "9095"]
    assert compat.supernode_local_api_args(9095, version="1.30.0") == ["--clientappio-api-address", "127.0.0.1:9095"]
    assert compat.default_control_address("1.30.0") == "127.0.0.1:9093"
    assert compat.default_control_address("1.42.1") == "127.0.0.1:8000"
    assert compat.release_line("1.42.0rc1") == (1, 42) and compat.release_line("dev") is None


def test_shell_scripts_get_the_superlink_flags_of_the_installed_flwr(capsys) -> None:
    assert compat.main(["superlink-args", "0.0.0.0", "8000"]) == 0
    assert capsys.readouterr().out.split() == compat.superlink_args("0.0.0.0", 8000)
    assert compat.main(["control-port", "8000"]) == 0
    assert int(capsys.readouterr().out) == compat.control_api_port(8000)
    assert compat.control_api_port(8000, "1.42.0") == 8000 and compat.control_api_port(9092, "1.30.0") == 9093


def test_matching_versions_join() -> None:
    assert version_refusal({"flwr_version": "1.42.0", "edgebench_version": "0.3.0"}, SERVER) is None
    here = local_versions()
    assert here["edgebench"] == edgebench.__version__
    assert version_refusal({"flwr_version": here["flwr"], "edgebench_version": here["edgebench"]}) is None


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (
            {"flwr_version": "1.42.1", "edgebench_version": "0.3.0"},
            ["flwr 1.42.1 on the node, flwr 1.42.0 on the server"],
        ),
        (
            {"flwr_version": "1.30.0", "edgebench_version": "0.2.0"},
            ["flwr 1.30.0 on the node, flwr 1.42.0 on the server", "edgebench 0.2.0 on the node, edgebench 0.3.0"],
        ),
        ({"flwr_version": "1.42.0"}, ["edgebench not reported on the node, edgebench 0.3.0 on the server"]),
    ],
)
def test_a_version_mismatch_is_refused_naming_both_versions(node: dict, expected: list[str]) -> None:
    refusal = version_refusal(node, SERVER)
    assert refusal is not None and refusal.startswith("version mismatch: ")
    for part in expected:
        assert part in refusal
    assert "run flwr 1.42.0 and edgebench 0.3.0 on every node" in refusal


def test_the_server_refuses_a_node_of_another_flwr_version_and_records_why(flower_config, tmp_path: Path) -> None:
    pytest.importorskip("flwr")
    from flwr.app import Message

    from edgebench.config import load_config
    from edgebench.fl.flower import client_app
    from edgebench.fl.flower.executor import SIMULATION
    from edgebench.fl.flower.server_app import run_server
    from edgebench.fl.flower.wire import NODE
    from edgebench.fl.progress import Progress
    from tests.fl.flower.localgrid import LocalGrid

    ours = local_versions()["flwr"]
    theirs = "1.42.0" if ours.startswith("1.30.") else "1.30.0"  # the other supported line

    def other_flower_on_node_101(msg: Message, reply: Message) -> Message:
        if msg.metadata.dst_node_id == 101 and msg.metadata.message_type == "query":
            reply.content.config_records[NODE]["flwr_version"] = theirs
        return reply

    path = flower_config(
        {
            "federation": {"rounds": 1},
            "methods": [{"method": "lora", "r": 4}],
            "runtime": {"wait_for_nodes_s": 0},
        }
    )
    grid = LocalGrid(client_app.app, [{"partition-id": 0}, {"partition-id": 1}])
    grid.tamper = other_flower_on_node_101
    said: list[str] = []
    progress = Progress(quiet=True)
    progress.message = said.append  # type: ignore[method-assign]
    run_server(grid, load_config(path), tmp_path / "run", runtime=SIMULATION, progress=progress)

    both = f"flwr {theirs} on the node, flwr {ours} on the server"
    assert any(
        line.startswith("SuperNode 101 (client 1) refused: version mismatch: ") and both in line for line in said
    )
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert sorted(meta["runtime"]["nodes"]) == ["0"]
    assert both in meta["runtime"]["refused"]["101"]
    with (tmp_path / "run" / "clients.csv").open(newline="") as fh:
        rows = {r["client_id"]: r for r in csv.DictReader(fh)}
    assert rows["0"]["status"] == "accepted"
    assert rows["1"]["status"].startswith("dropout: no SuperNode serves client 1 (SuperNode 101 refused: version")
    assert both in rows["1"]["status"]
