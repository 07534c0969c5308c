"""Flower records, the Flower App file and the `edgebench server` / `edgebench client` wrappers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("flwr")

import tomli
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, RecordDict

from edgebench.cli import main
from edgebench.fl.codec import encode
from edgebench.fl.flower import cli as flower_cli
from edgebench.fl.flower import compat
from edgebench.fl.flower.project import RUN_CONFIG_DEFAULTS, pyproject_text, toml_string
from edgebench.fl.flower.wire import (
    ReplyError,
    blob_of,
    blob_record,
    config_record,
    flower_bytes,
    measurement_to_records,
    pack_state,
    records_to_measurement,
    unpack_state,
)
from edgebench.methods.base import Payload
from edgebench.results import ClientMeasurement
from tests.fl.flower.localgrid import LocalGrid


def test_payload_blob_travels_verbatim_and_flower_counts_it() -> None:
    blob = encode(Payload({"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}, {"round": 1}))
    record = blob_record(blob)
    assert blob_of(RecordDict({"uplink": record}), "uplink") == blob
    assert record.count_bytes() == len(blob) + len("payload")  # data plus the key, nothing else

    LocalGrid(None, [])  # sets Flower's task identity so messages can be built outside a run
    msg = Message(RecordDict({"uplink": record, "m": ConfigRecord({"a": "xy"})}), dst_node_id=1, message_type="train")
    assert flower_bytes(msg) == len(blob) + len("payload") + len("a") + 2


def test_malformed_blobs_are_reply_errors() -> None:
    with pytest.raises(ReplyError, match="no 'uplink'"):
        blob_of(RecordDict({}), "uplink")
    wrong = ArrayRecord({"payload": Array(dtype="float32", shape=(1,), stype="numpy.ndarray", data=b"1234")})
    with pytest.raises(ReplyError, match="expected safetensors/uint8"):
        blob_of(RecordDict({"uplink": wrong}), "uplink")
    lying = ArrayRecord({"payload": Array(dtype="uint8", shape=(9,), stype="safetensors", data=b"1234")})
    with pytest.raises(ReplyError, match="claims shape"):
        blob_of(RecordDict({"uplink": lying}), "uplink")


def test_measurements_round_trip_and_unmeasured_stays_empty() -> None:
    sent = ClientMeasurement(
        train_s=1.5, num_steps=3, energy_j=None, energy_provenance="unavailable: x", window_flags=""
    )
    metrics, text = measurement_to_records(sent)
    assert dict(metrics) == {"train_s": 1.5, "num_steps": 3}
    assert dict(text) == {"energy_provenance": "unavailable: x"}
    back = records_to_measurement(metrics, text)
    assert back == ClientMeasurement(train_s=1.5, num_steps=3, energy_provenance="unavailable: x")
    assert ConfigRecord(dict(text)).count_bytes() > 0  # no empty string reaches Flower's counter
    assert dict(config_record({"a": "", "b": None, "c": "x"})) == {"c": "x"}


def test_client_state_is_stored_losslessly() -> None:
    state = Payload({"ema": torch.tensor([1e-40, 2.0], dtype=torch.float64)}, {"rank_pattern": {"q": [1, 0]}})
    back = unpack_state(pack_state(state))
    assert back.meta == state.meta and back.tensors["ema"].dtype == torch.float64
    assert torch.equal(back.tensors["ema"], state.tensors["ema"])


def test_flower_app_file_names_the_components() -> None:
    text = 'model:\n  name: "tiny-bert"  # comment \\ with \t tab\n'
    doc = tomli.loads(pyproject_text({"config-yaml": text, "resume": True}))
    app = doc["tool"]["flwr"]["app"]
    assert app["components"] == {
        "serverapp": "edgebench.fl.flower.server_app:app",
        "clientapp": "edgebench.fl.flower.client_app:app",
    }
    assert {k: app["config"][k] for k in RUN_CONFIG_DEFAULTS} == {
        **RUN_CONFIG_DEFAULTS,
        "config-yaml": text,
        "resume": True,
    }
    assert doc["project"]["dependencies"] == []
    odd = "é\x7f"
    assert tomli.loads("k = " + toml_string(odd))["k"] == odd
    with pytest.raises(KeyError):
        pyproject_text({"nope": "x"})


def _client_args(**kw) -> argparse.Namespace:
    base = dict(
        superlink="10.0.0.2:8000",
        partition_id=1,
        num_partitions=3,
        device_profile=None,
        data=None,
        torch_threads=None,
        compute=None,
        root_certificates=None,
        insecure=True,
        auth_key=None,
        port=None,
        max_wait_time=None,
        cold=False,
        state_dir=Path("/var/lib/eb-state"),
        reconnect=False,
        backoff_max_s=60.0,
    )
    base.update(kw)
    return argparse.Namespace(**base)


def test_client_builds_the_supernode_command(tmp_path: Path) -> None:
    ca, key = tmp_path / "ca.pem", tmp_path / "node"
    ca.write_text("x")
    key.write_text("x")
    argv = flower_cli.supernode_command(
        _client_args(
            insecure=False,
            root_certificates=ca,
            auth_key=key,
            device_profile="raspberry-pi-5",
            data=tmp_path,
            torch_threads=4,
            port=9095,
        )
    )
    assert argv[0].endswith("flower-supernode")
    config = argv[argv.index("--node-config") + 1]
    assert config == (
        f'partition-id=1 num-partitions=3 device-profile="raspberry-pi-5" data-path="{tmp_path}" '
        'state-dir="/var/lib/eb-state" torch-threads=4'
    )
    if compat.warm_worker_supported():
        assert argv[argv.index("--isolation") + 1] == "process"  # the warm worker claims the messages
    else:  # flwr 1.30: Flower's own ClientApp process per message
        assert "--isolation" not in argv
    assert "--isolation" not in flower_cli.supernode_command(_client_args(cold=True))
    assert argv[argv.index("--root-certificates") + 1] == str(ca)
    assert argv[argv.index("--auth-supernode-private-key") + 1] == str(key)
    flag, address = compat.supernode_local_api_args(9095)  # --port 9095 (flwr 1.30: its own flag)
    assert "--insecure" not in argv and argv[argv.index(flag) + 1] == address
    from flwr.common.config import parse_config_args

    assert parse_config_args([config]) == {
        "partition-id": 1,
        "num-partitions": 3,
        "device-profile": "raspberry-pi-5",
        "data-path": str(tmp_path),
        "torch-threads": 4,
        "state-dir": "/var/lib/eb-state",
    }


def test_client_passes_its_compute_device_and_refuses_one_it_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    import edgebench.devices.compute as compute

    monkeypatch.setattr(compute, "present_devices", lambda torch_module=None: ["cpu"])
    argv = flower_cli.supernode_command(_client_args(compute="cpu"))
    assert argv[argv.index("--node-config") + 1] == (
        'partition-id=1 num-partitions=3 compute="cpu" state-dir="/var/lib/eb-state"'
    )
    with pytest.raises(flower_cli.FlowerCliError, match=r"--compute: compute device cuda is not available"):
        flower_cli.supernode_command(_client_args(compute="cuda"))


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"partition_id": 3}, "outside 0..2"),
        ({"insecure": False}, "exactly one of --root-certificates"),
        ({"device_profile": "no-such-board"}, "--device-profile"),
        ({"data": Path("/no/such/data")}, "no such file or directory on this device"),
    ],
)
def test_client_refuses_bad_arguments(kw, message: str) -> None:
    with pytest.raises(flower_cli.FlowerCliError, match=message):
        flower_cli.supernode_command(_client_args(**kw))


def test_server_dry_run_and_errors(write_config, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLWR_HOME", str(tmp_path / "flwr-home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    (tmp_path / "flwr-home").mkdir()
    (tmp_path / "flwr-home" / "config.toml").write_text(
        '[superlink]\ndefault = "mine"\n\n[superlink.mine]\naddress = "x:1"\n'
    )
    path = write_config()
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    argv = ["server", str(path), "--out", str(tmp_path / "run"), "--superlink", "10.0.0.2:8000"]
    assert main([*argv, "--root-certificates", str(ca), "--print-command"]) == 0
    out = capsys.readouterr().out
    app = tmp_path / "data" / "edgebench" / "flower-apps" / "run"
    assert f" run {app} edgebench --stream" in out  # a kept app, a stored connection: nothing temporary
    app_config = tomli.loads((app / "pyproject.toml").read_text())["tool"]["flwr"]["app"]["config"]
    assert app_config["run-dir"] == str(tmp_path / "run") and app_config["config-yaml"] == path.read_text()
    # The connection is Flower's own, in $FLWR_HOME/config.toml, and the default (flwr ls, flwr log); others kept.
    flower = tomli.loads((tmp_path / "flwr-home" / "config.toml").read_text())["superlink"]
    assert flower["default"] == "edgebench" and flower["mine"]["address"] == "x:1"
    assert flower["edgebench"]["address"] == "10.0.0.2:8000" and flower["edgebench"]["root-certificates"] == str(ca)
    assert main(argv) == 2
    assert "exactly one of --root-certificates" in capsys.readouterr().err
    assert main(["server", str(path), "--resume", str(tmp_path / "nothing"), "--insecure"]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_run_rejects_unknown_engine(write_config) -> None:
    with pytest.raises(SystemExit):
        main(["run", str(write_config()), "--engine", "ray"])


def test_package_imports_without_flower(tmp_path: Path) -> None:
    """edgebench (and its command line) must import when flwr is absent: flwr is the `flower` extra."""
    import subprocess

    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'flwr' or name.startswith('flwr.') or name == 'ray':\n"
        "            raise ImportError('blocked for this test: ' + name)\n"
        "sys.meta_path.insert(0, _Block())\n"
    )
    code = (
        "import sys, edgebench.cli, edgebench.fl.engine, edgebench.fl.flower.cli as c\n"
        "edgebench.cli._parser()  # the server/client sub-commands are declared without flwr\n"
        "assert 'flwr' not in sys.modules\n"
        "try:\n"
        "    c.run_flower_simulation(None)\n"
        "except c.FlowerCliError as e:\n"
        "    print('OK', e)\n"
    )
    env = {"PYTHONPATH": f"{tmp_path}:{Path(__file__).resolve().parents[3]}", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "OK --engine flower-sim needs Flower's simulation runtime" in result.stdout
