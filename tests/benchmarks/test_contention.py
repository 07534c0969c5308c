"""The contention benchmark: its figures against the runs it made, and that each run got its policy.

The smoke run starts eight processes (four `edgebench run`s and two competitors, each importing torch),
so it is marked slow: `pytest -m slow tests/benchmarks/test_contention.py`. The summary arithmetic is
checked without processes.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import yaml

from benchmarks import contention


def _run(round_s: list[float], flagged: int = 0, rival: float | None = None) -> dict:
    return {
        "wall_s": 10.0,
        "round_s": round_s,
        "train_s": [r / 2 for r in round_s],
        "contended_windows": flagged,
        "client_windows": len(round_s),
        "other_cpu_cores": [0.1] * len(round_s),
        "competitor_cores": rival,
        "host_load_at_start": None,
        "omp_wait_policy": None,
        "torch_threads": 2,
    }


def test_summary_and_ratios_are_medians_over_every_round_of_every_repeat() -> None:
    summary = {
        "ACTIVE alone": contention.summarise([_run([1.0, 3.0]), _run([2.0, 2.0])]),
        "ACTIVE + competitor": contention.summarise([_run([10.0, 30.0], 1, 0.9), _run([20.0], 1, 1.1)]),
        "PASSIVE alone": contention.summarise([_run([1.0, 1.0])]),
        "PASSIVE + competitor": contention.summarise([_run([2.0, 2.0], 2, 0.8)]),
    }
    assert summary["ACTIVE alone"]["round_s"] == 2.0 and summary["ACTIVE + competitor"]["round_s"] == 20.0
    assert summary["ACTIVE + competitor"]["contended_share"] == pytest.approx(2 / 3)
    assert summary["ACTIVE + competitor"]["competitor_cores"] == pytest.approx(1.0)
    assert summary["ACTIVE alone"]["competitor_cores"] is None
    assert contention.ratios(summary, ["ACTIVE", "PASSIVE"]) == {
        "ACTIVE: competing / alone": pytest.approx(10.0),
        "PASSIVE: competing / alone": pytest.approx(2.0),
        "PASSIVE / ACTIVE, alone": pytest.approx(0.5),
        "PASSIVE / ACTIVE, competitor": pytest.approx(0.1),
    }


def test_each_policy_gets_its_own_config(tmp_path: Path) -> None:
    active = contention.write_config(contention.SMOKE, "ACTIVE", tmp_path, smoke=True)
    unset = contention.write_config(contention.SMOKE, None, tmp_path, smoke=True)
    assert yaml.safe_load(active.read_text())["profiler"]["omp_wait_policy"] == "ACTIVE"
    raw = yaml.safe_load(unset.read_text())
    assert raw["profiler"]["omp_wait_policy"] is None and len(raw["methods"]) == 1
    assert raw["output"]["dir"] == str(tmp_path / "runs")


@pytest.mark.slow
def test_smoke_runs_alone_and_beside_a_competitor_under_both_policies(capsys: pytest.CaptureFixture[str]) -> None:
    assert contention.main(["--smoke", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["conditions"]) == {"ACTIVE alone", "PASSIVE alone", "ACTIVE + competitor", "PASSIVE + competitor"}
    for name, runs in result["runs"].items():
        policy = name.split()[0]
        (run,) = runs
        # the CLI put the policy in place before torch loaded in the run's process
        assert run["omp_wait_policy"]["value"] == policy and run["omp_wait_policy"]["effective"] is True
        assert len(run["round_s"]) == 2 and run["client_windows"] == 2 and len(run["other_cpu_cores"]) == 2
        assert (run["competitor_cores"] is None) == name.endswith("alone")
        if not name.endswith("alone"):
            assert run["competitor_cores"] > 0  # the competitor really ran during the run
        summary = result["conditions"][name]
        assert summary["round_s"] == pytest.approx(statistics.median(run["round_s"]))
    expected = contention.ratios(result["conditions"], ["ACTIVE", "PASSIVE"])
    assert result["ratios"] == pytest.approx(expected)
