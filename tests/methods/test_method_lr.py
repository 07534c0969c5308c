"""A method's own learning rate (`lr` in its entry) overrides `federation.lr` for that method only."""

from __future__ import annotations

import pytest

from edgebench.config import ConfigError, load_config
from edgebench.fl import inprocess
from edgebench.fl.engine import run_experiment
from edgebench.fl.progress import Progress


def test_each_method_trains_at_its_own_rate_and_others_at_the_federation_rate(
    write_config, tmp_path, monkeypatch
) -> None:
    seen: dict[str, set[float]] = {}
    real = inprocess.run_client_round

    def recording(client, model, downlink, batches, settings, *args, **kwargs):
        seen.setdefault(type(client).__name__, set()).add(settings.lr)
        return real(client, model, downlink, batches, settings, *args, **kwargs)

    monkeypatch.setattr(inprocess, "run_client_round", recording)
    methods = [{"method": "lora", "r": 2, "lr": 0.002}, {"method": "ffa_lora", "r": 2}]
    config = load_config(write_config({"federation": {"rounds": 1, "lr": 0.005}, "methods": methods}))
    assert config.train_settings("lora").lr == 0.002 and config.train_settings("ffa_lora").lr == 0.005
    assert config.train_settings("lora").batch_size == config.federation.batch_size  # only the rate changes
    run_experiment(config, out=tmp_path / "run", progress=Progress(quiet=True))
    assert seen == {"LoraClient": {0.002}, "FfaLoraClient": {0.005}}


def test_a_method_rate_is_in_the_config_hash_and_an_unset_one_changes_nothing(write_config) -> None:
    plain = load_config(write_config({"methods": [{"method": "lora", "r": 2}]}))
    assert "lr" not in plain.as_dict()["methods"][0]  # configs written before per-method rates hash as they did
    tuned = load_config(write_config({"methods": [{"method": "lora", "r": 2, "lr": 0.002}]}))
    assert tuned.as_dict()["methods"][0]["lr"] == 0.002 and tuned.hash() != plain.hash()


def test_a_non_positive_method_rate_is_refused_naming_the_field(write_config) -> None:
    with pytest.raises(ConfigError, match=r"methods\[0\]\.lr"):
        load_config(write_config({"methods": [{"method": "lora", "r": 2, "lr": 0}]}))
