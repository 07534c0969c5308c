"""The one YAML reader refuses a key given twice (YAML would silently keep the last value), naming the key
and its line, for every file type that goes through it: experiment files, device profiles, Flower's
config text."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgebench.cli import main
from edgebench.config import ConfigError, load_config
from edgebench.devices.profiles import ProfileError, load_profile_file
from edgebench.yamlfile import YamlFileError, parse_yaml, read_yaml
from tests.conftest import TINY_EXPERIMENT

REPO = Path(__file__).resolve().parents[1]


def test_a_top_level_key_given_twice_is_refused_with_both_lines() -> None:
    with pytest.raises(YamlFileError) as exc:
        parse_yaml("seed: 1\nmodel: {name: tiny-bert}\nseed: 2\n")
    assert exc.value.problem == "duplicate key 'seed' at line 3 (first given at line 1)"


def test_a_nested_key_given_twice_is_refused() -> None:
    text = "federation:\n  rounds: 3\n  lr: 0.01\n  rounds: 5\n"
    with pytest.raises(YamlFileError, match=r"^duplicate key 'rounds' at line 4 \(first given at line 2\)$"):
        parse_yaml(text)


def test_a_key_given_twice_in_a_flow_mapping_or_a_list_item_is_refused() -> None:
    with pytest.raises(YamlFileError, match="duplicate key 'r' at line 1"):
        parse_yaml("methods: [{method: lora, r: 4, r: 8}]\n")
    with pytest.raises(YamlFileError, match="duplicate key 'method' at line 3"):
        parse_yaml("methods:\n  - method: lora\n    method: fedara\n")


def test_the_same_key_in_different_mappings_and_merge_keys_are_fine() -> None:
    assert parse_yaml("a: {x: 1}\nb: {x: 2}\n") == {"a": {"x": 1}, "b": {"x": 2}}
    merged = "base: &b {lr: 0.1, rounds: 3}\nrun:\n  <<: *b\n  lr: 0.2\n"
    assert parse_yaml(merged)["run"] == {"lr": 0.2, "rounds": 3}
    assert parse_yaml("") is None
    assert parse_yaml(yaml.safe_dump(TINY_EXPERIMENT)) == TINY_EXPERIMENT


def test_invalid_yaml_and_a_missing_file_are_still_reported(tmp_path: Path) -> None:
    with pytest.raises(YamlFileError, match="not valid YAML"):
        parse_yaml("a: [1, 2\n")
    with pytest.raises(YamlFileError, match="file not found"):
        read_yaml(tmp_path / "missing.yaml")


def test_an_experiment_file_with_a_key_given_twice_names_the_file_key_and_line(tmp_path: Path, capsys) -> None:
    text = yaml.safe_dump(TINY_EXPERIMENT, sort_keys=False).replace("seed: 7\n", "seed: 7\nseed: 8\n")
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    line = text.splitlines().index("seed: 8") + 1
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(exc.value) == f"{path}: duplicate key 'seed' at line {line} (first given at line {line - 1})"
    assert main(["run", str(path)]) == 2
    assert capsys.readouterr().err.strip() == f"edgebench: error: {exc.value}"


def test_a_device_profile_with_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    text = (REPO / "device_profiles" / "x86-cpu.yaml").read_text()
    first = next(line for line in text.splitlines() if line and not line.startswith(("#", " ")))
    path = tmp_path / "x86-cpu.yaml"
    path.write_text(text + first + "\n")
    with pytest.raises(ProfileError) as exc:
        load_profile_file(path)
    key = first.split(":")[0]
    assert str(exc.value).startswith(f"{path}: duplicate key '{key}' at line {len(text.splitlines()) + 1}")


def test_flower_config_text_goes_through_the_same_reader() -> None:
    pytest.importorskip("flwr")
    from edgebench.fl.flower.server_app import ServerJob

    text = yaml.safe_dump(TINY_EXPERIMENT, sort_keys=False) + "seed: 9\n"
    with pytest.raises(ConfigError, match=r"exp\.yaml: duplicate key 'seed' at line \d+"):
        ServerJob.from_run_config({"config": "exp.yaml", "config-yaml": text})
