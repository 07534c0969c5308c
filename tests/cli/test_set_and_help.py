"""`--set KEY.PATH=VALUE` overrides on the command line, and examples in every command's --help."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from edgebench.cli import EXAMPLES, _parser, _resume_command, main


def test_run_with_overrides_runs_the_overridden_experiment(write_config, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    argv = ["run", str(write_config()), "--set", "federation.rounds=1", "--set", "methods.0.r=2", "--methods", "lora"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    config = json.loads((out / "run.json").read_text())["config"]
    assert config["federation"]["rounds"] == 1 and config["methods"] == [
        {"method": "lora", "name": "lora", "r": 2, "alpha": None, "dropout": 0.0, "target_modules": None}
    ]
    assert "lora: 1 rounds" in capsys.readouterr().out


def test_a_bad_override_exits_2_with_one_line_naming_the_key(write_config, tmp_path: Path, capsys) -> None:
    path = write_config()
    out = tmp_path / "never"
    assert main(["run", str(path), "--set", "federation.rounds=0", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"edgebench: error: {path}: federation.rounds: expected greater than or equal to 1 (got 0) "
        "(--set federation.rounds=0)"
    )
    assert main(["run", str(path), "--set", "federation.rounds.x=3", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"edgebench: error: {path}: federation.rounds.x: federation.rounds is a value (3)"), err
    assert not out.exists()


def test_partition_takes_overrides_too(write_config, capsys) -> None:
    assert main(["partition", str(write_config()), "--set", "federation.num_clients=3"]) == 0
    assert "over 3 clients" in capsys.readouterr().out


def test_the_command_that_continues_a_run_repeats_its_overrides(tmp_path: Path) -> None:
    args = _parser().parse_args(["run", "exp.yaml", "--set", "federation.rounds=3", "--set", "methods.0.r0=8"])
    command = _resume_command(args, tmp_path / "run")
    assert shlex.split(command) == [
        "edgebench", "run", "exp.yaml", "--resume", str(tmp_path / "run"),
        "--set", "federation.rounds=3", "--set", "methods.0.r0=8",
    ]  # fmt: skip


def _help(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_ends_with_examples(capsys) -> None:
    text = _help([], capsys)
    assert text.rstrip().endswith("\n".join(f"  {line}" for line in EXAMPLES[None]))
    assert "\nexamples:\n  edgebench run runners/configs/quickstart.yaml --report" in text


def _commands() -> list[str]:
    parser = _parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(sub.choices)


@pytest.mark.parametrize("command", _commands())
def test_every_command_help_shows_examples_of_that_command(command: str, capsys) -> None:
    text = _help([command], capsys)
    examples = text.split("\nexamples:\n", 1)[1].splitlines()
    assert 1 <= len(examples) <= 2, text
    assert all(line.startswith(f"  edgebench {command} ") or line == f"  edgebench {command}" for line in examples)


def test_help_examples_name_files_that_exist() -> None:
    repo = Path(__file__).resolve().parents[2]
    named = {word for lines in EXAMPLES.values() for line in lines for word in line.split() if "/" in word}
    shipped = {w for w in named if w.startswith(("runners/", "docs/"))}
    assert shipped, named
    assert all((repo / w).exists() for w in shipped), sorted(w for w in shipped if not (repo / w).exists())
