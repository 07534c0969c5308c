"""Experiment files: valid ones load with defaults filled, bad ones give one precise error."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgebench.config import ConfigError, load_config
from edgebench.methods.lora.config import LoraParams

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("name", "methods"),
    [
        ("smoke.yaml", ["lora", "ffa_lora", "fedara", "fedadalora"]),
        ("quickstart.yaml", ["fedara", "lora", "lora"]),
    ],
)
def test_shipped_configs_load(name: str, methods: list[str]) -> None:
    config = load_config(REPO / "runners" / "configs" / name)
    assert [m.method for m in config.methods] == methods
    assert all(isinstance(m.params, LoraParams) for m in config.methods if m.method == "lora")


def test_defaults_are_filled_and_hash_is_stable(write_config) -> None:
    path = write_config({"federation": {"local_steps": None}})
    config = load_config(path)
    assert config.federation.local_steps == 10  # neither steps nor epochs given
    assert config.methods[0].params.alpha is None and config.methods[0].params.scaling_alpha == 4.0
    assert config.hash() == load_config(path).hash()
    assert config.as_dict()["methods"][0] == {
        "method": "lora",
        "name": "lora",
        "r": 4,
        "alpha": None,
        "dropout": 0.0,
        "target_modules": None,  # the architecture's default targets (docs/models.md)
    }


BAD_CONFIGS = [
    (
        {"federation": {"clients_per_round": 12, "num_clients": 10}},
        "federation.clients_per_round: must be <= num_clients (got 12 > 10)",
    ),
    ({"federation": {"rounds": 0}}, "federation.rounds: expected greater than or equal to 1 (got 0)"),
    ({"federation": {"lr": "fast"}}, "federation.lr: expected a valid number"),
    (
        {"federation": {"local_steps": 3, "local_epochs": 1}},
        "federation.local_epochs: set either local_steps or local_epochs, not both",
    ),
    ({"federation": {"roundz": 3}}, "federation.roundz: unknown key; expected one of: "),
    ({"partition": {"scheme": "random"}}, "partition.scheme: expected 'iid', 'dirichlet' or 'shards' (got 'random')"),
    ({"partition": {"alpha": -1}}, "partition.alpha: expected greater than 0 (got -1)"),
    ({"methods": [{"method": "lora", "rank": 8}]}, "methods[0].rank: unknown key; expected one of: alpha, dropout,"),
    (
        {"methods": [{"method": "fedprox"}]},
        "methods[0].method: unknown method 'fedprox'; expected one of: fedadalora, fedara, ffa_lora, lora",
    ),
    ({"methods": [{"r": 8}]}, "methods[0].method: required field is missing"),
    (
        {"methods": [{"method": "lora"}, {"method": "lora"}]},
        "methods[1].name: labels must be unique; 'lora' is used twice",
    ),
    ({"methods": [{"method": "lora", "r": 0}]}, "methods[0].r: expected greater than or equal to 1 (got 0)"),
    ({"methods": []}, "methods: List should have at least 1 item"),
    ({"data": {"dataset": "sst2"}}, "data.path: required for data.dataset 'sst2' (a directory or file)"),
    ({"data": {"dataset": "hf"}}, "data.hf_name: required when data.dataset is 'hf'"),
    ({"data": {"dataset": "imdb"}}, "data.dataset: expected 'ag_news_sample', 'ag_news'"),
    ({"model": {"tiny": {"hidden": 30, "heads": 4}}}, "model.tiny.heads: must divide model.tiny.hidden (got 4 for 30)"),
    ({"seed": "x"}, "seed: expected a valid integer"),
    ({"extra_section": {}}, "extra_section: unknown key; expected one of: compute, data, device, federation,"),
]


@pytest.mark.parametrize(("updates", "message"), BAD_CONFIGS, ids=[m.split(":")[0] for _, m in BAD_CONFIGS])
def test_bad_config_message(write_config, updates, message: str) -> None:
    path = write_config(updates)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert f"{path}: {message}" in text, text


def test_every_problem_is_reported_at_once(write_config) -> None:
    path = write_config({"federation": {"rounds": 0, "batch_size": 0}})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert {p for p, _ in info.value.problems} == {"federation.rounds", "federation.batch_size"}


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match=r"nope.yaml: file not found"):
        load_config(tmp_path / "nope.yaml")
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match=r"expected a mapping of sections at top level \(got list\)"):
        load_config(bad)


def test_select_methods_by_label(write_config) -> None:
    config = load_config(
        write_config({"methods": [{"method": "lora", "name": "lora-r4", "r": 4}, {"method": "ffa_lora"}]})
    )
    assert [m.label for m in config.select_methods(["ffa_lora"]).methods] == ["ffa_lora"]
    with pytest.raises(ConfigError, match="no method labelled 'lora'"):
        config.select_methods(["lora"])


# -- command-line overrides (`edgebench run CONFIG --set KEY.PATH=VALUE`) --------------------------------


def test_overrides_set_fields_as_yaml_values(write_config) -> None:
    path = write_config()
    config = load_config(
        path,
        [
            "federation.rounds=2",
            "methods.0.r=8",
            "federation.lr=0.01",
            "output.checkpoint=false",
            "federation.local_steps=null",
            "federation.local_epochs=1",
            "compute.device=cpu",  # a section the file does not have
            "methods.1.target_modules=[query, value]",
        ],
    )
    assert (config.federation.rounds, config.methods[0].params.r, config.federation.lr) == (2, 8, 0.01)
    assert config.output.checkpoint is False and config.compute.device == "cpu"
    assert (config.federation.local_steps, config.federation.local_epochs) == (None, 1)
    assert config.methods[1].params.target_modules == ["query", "value"]
    assert config.source == path
    assert load_config(path).federation.rounds == 3, "the file itself is untouched"
    assert config.hash() != load_config(path).hash()


def test_later_overrides_win(write_config) -> None:
    config = load_config(write_config(), ["federation.rounds=2", "federation.rounds=5"])
    assert config.federation.rounds == 5


BAD_OVERRIDES = [
    (
        "federation.rounds=many",
        "federation.rounds: expected a valid integer, unable to parse string as an integer (got 'many') "
        "(--set federation.rounds=many)",
    ),
    (
        "federation.rounds=0",
        "federation.rounds: expected greater than or equal to 1 (got 0) (--set federation.rounds=0)",
    ),
    ("federation.roundz=3", "federation.roundz: unknown key; expected one of: batch_size, clients_per_round,"),
    ("federationn.rounds=3", "federationn: unknown key; expected one of: compute, data, device, federation,"),
    ("methods.0.rank=8", "methods[0].rank: unknown key; expected one of: alpha, dropout,"),
    ("methods.2.r=8", "methods[2]: no entry 2: methods has 2 (0..1) (--set methods.2.r=8)"),
    (
        "methods.lora.r=8",
        "methods.lora: methods is a list: name an entry by its index, e.g. 0 (--set methods.lora.r=8)",
    ),
    ("federation.rounds.max=3", "federation.rounds.max: federation.rounds is a value (3), not a section"),
    ("federation.rounds", "--set 'federation.rounds': expected KEY.PATH=VALUE, e.g. --set federation.rounds=3"),
    ("federation.lr=[0.1", "federation.lr: --set value '[0.1' is not valid YAML"),
    ("federation.num_clients=1", "federation.clients_per_round: must be <= num_clients (got 2 > 1)"),
]


@pytest.mark.parametrize(("item", "message"), BAD_OVERRIDES, ids=[i for i, _ in BAD_OVERRIDES])
def test_bad_override_names_the_key_path_and_what_was_expected(write_config, item: str, message: str) -> None:
    path = write_config()
    with pytest.raises(ConfigError) as info:
        load_config(path, [item])
    text = str(info.value)
    assert f"{path}: {message}" in text, text
    assert len(text.splitlines()) == 1, text
