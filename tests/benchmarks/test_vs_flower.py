"""The in-process vs Flower-simulation benchmark: its tree memory sampler, its summary, and its smoke mode
(both engines where Ray is installed, the in-process engine alone otherwise)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmarks import vs_flower

# A child that starts a grandchild; each touches `MiB` mebibytes; the child says ready once both hold their
# blocks, then both wait for stdin to close.
HOLDER = """
import subprocess, sys
MiB = int(sys.argv[1])
block = bytearray(MiB * 2**20)
block[::4096] = b"x" * len(block[::4096])
if sys.argv[2] == "parent":
    argv = [sys.executable, "-c", sys.argv[3], sys.argv[1], "leaf", ""]
    child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    child.stdout.readline()  # the grandchild holds its block
    print("ready", flush=True)
    sys.stdin.read()
    child.stdin.close()
    child.wait()
else:
    print("ready", flush=True)
    sys.stdin.read()
"""


def test_tree_sampler_sums_memory_over_descendants() -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, "150", "parent", HOLDER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        sampler = vs_flower.TreeMemorySampler(holder.pid, interval_s=1.0)
        sampler.sample()
        assert sampler.peak_processes == 2
        assert sampler.peak_pss_bytes >= 300 * 2**20  # both processes' blocks, not only the root's
        assert sampler.peak_rss_bytes >= sampler.peak_pss_bytes
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


def test_summary_ratios_are_flower_over_inprocess_medians() -> None:
    def run(engine: str, wall: float, pss: int) -> dict:
        return {
            "engine": engine,
            "wall_s": wall,
            "rounds_s": wall / 2,
            "peak_pss_bytes": pss,
            "peak_rss_bytes": 2 * pss,
            "peak_processes": 1 if engine == "inprocess" else 9,
            "final_accuracy": {"lora": 0.5},
            "bytes_total": 100,
        }

    runs = [
        run("inprocess", 10, 100),
        run("inprocess", 30, 300),
        run("flower-sim", 40, 800),
        run("flower-sim", 40, 800),
    ]
    summary = vs_flower.summarize(runs)
    assert summary["engines"]["inprocess"]["wall_s"] == {"median": 20, "min": 10, "max": 30}
    assert summary["flower_sim_vs_inprocess"]["wall_s"] == 2.0
    assert summary["flower_sim_vs_inprocess"]["peak_pss_bytes"] == 4.0
    assert summary["same_results"] is True
    runs[-1]["final_accuracy"] = {"lora": 0.25}
    assert vs_flower.summarize(runs)["same_results"] is False


def test_smoke_mode_measures_each_available_engine(tmp_path, capsys) -> None:
    assert vs_flower.main(["--smoke", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "vs_flower.json").read_text())
    engines = [r["engine"] for r in report["runs"]]
    unavailable = vs_flower.flower_sim_available()
    assert engines == (["inprocess"] if unavailable else ["inprocess", "flower-sim"])
    for r in report["runs"]:
        assert r["peak_pss_bytes"] > 100 * 2**20 and r["memory_samples"] >= 1
        assert 0 < r["rounds_s"] < r["wall_s"]
        assert set(r["final_accuracy"]) == {"lora", "fedara"}
    if unavailable:
        assert report["flower_sim"] == unavailable
        assert "flower-sim: unavailable" in capsys.readouterr().out
    else:
        summary = report["summary"]
        assert summary["same_results"] is True  # the same experiment on two runtimes
        flower = next(r for r in report["runs"] if r["engine"] == "flower-sim")
        assert flower["peak_processes"] > 1  # Ray's daemons and actors were counted


@pytest.mark.parametrize("missing", ["flwr", "ray"])
def test_flower_side_is_reported_unavailable_without_its_packages(monkeypatch, missing) -> None:
    real = vs_flower.importlib.util.find_spec
    monkeypatch.setattr(vs_flower.importlib.util, "find_spec", lambda name: None if name == missing else real(name))
    assert missing in (vs_flower.flower_sim_available() or "")
