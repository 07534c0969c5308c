"""The `edgebench` command line: version, partition table, run, clean errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import edgebench
from edgebench.cli import main


def test_version_prints_the_version_and_exits_0(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"edgebench {edgebench.__version__}\n"


def test_partition_prints_per_client_label_counts(write_config, capsys) -> None:
    assert main(["partition", str(write_config())]) == 0
    out = capsys.readouterr().out
    assert "dirichlet partition of ag_news_sample (240 train rows) over 4 clients, seed 7" in out
    lines = out.strip().splitlines()
    assert "World" in lines[1] and "num_examples" in lines[1]
    counts = [int(line.split()[1]) for line in lines[3:]]
    assert len(counts) == 4 and sum(counts) == 240


def test_bad_config_exits_2_with_one_clear_message(write_config, capsys) -> None:
    path = write_config({"federation": {"clients_per_round": 9}})
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"edgebench: error: {path}: federation.clients_per_round: must be <= num_clients (got 9 > 4)"


def test_run_one_method_and_print_the_run_directory(write_config, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert (
        main(
            [
                "run",
                str(write_config({"federation": {"rounds": 1}})),
                "--out",
                str(out),
                "--methods",
                "ffa_lora",
                "--quiet",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert printed.strip().endswith(f"results: {out}")
    assert "ffa_lora: 1 rounds" in printed and "lora:" not in printed.replace("ffa_lora:", "")
    assert (out / "clients.csv").exists() and (out / "run.json").exists()


@pytest.mark.parametrize(
    "command",
    [
        [str(Path(sys.executable).with_name("edgebench"))],  # the console script `pip install` put beside python
        [sys.executable, "-m", "edgebench.cli"],  # as runners/devices/*.sh call it
    ],
    ids=["console-script", "python-m"],
)
def test_installed_command_prints_the_version(command: list[str]) -> None:
    result = subprocess.run([*command, "--version"], capture_output=True, text=True, check=False, timeout=120)
    assert (result.returncode, result.stdout) == (0, f"edgebench {edgebench.__version__}\n"), result.stderr
