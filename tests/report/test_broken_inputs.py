"""`edgebench report` on damaged inputs: a torn or garbled CSV is named with its file and line, the broken
tail or the broken run is left out with a visible warning (report notes and stderr), and the other runs
are reported; `--baseline NOSUCH` is refused with the methods present."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from edgebench.cli import main
from edgebench.report import build_report
from edgebench.report.load import ReportInputError, load_run
from tests.report.synth import MEASURED, write_run

ROWS = 16  # clients.csv rows of a synthetic run: 2 methods x 4 rounds x 2 clients (lines 2..17)


def _garbage(n: int, seed: int = 3) -> bytes:
    return random.Random(seed).randbytes(n)


def _torn(path: Path) -> Path:
    """clients.csv cut inside the quoted provenance cell of its last row (pandas: EOF inside string)."""
    clients = path / "clients.csv"
    blob = clients.read_bytes()
    cut = blob.rfind(MEASURED.split(",")[0].encode()) + 10
    clients.write_bytes(blob[:cut])
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("broken")
    good = write_run(base / "good", seed=0)
    torn = _torn(write_run(base / "torn", seed=1))
    garbled = write_run(base / "garbled", seed=2)
    (garbled / "clients.csv").write_bytes(_garbage(3000))
    return {"good": good, "torn": torn, "garbled": garbled}


def test_cli_reports_the_good_runs_and_warns_with_file_and_line(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    assert main(["report", str(runs["good"]), str(runs["torn"]), str(runs["garbled"]), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    warnings = [line for line in captured.err.splitlines() if line.startswith("edgebench: warning: ")]
    torn = [w for w in warnings if str(runs["torn"]) in w]
    garbled = [w for w in warnings if str(runs["garbled"]) in w]
    assert len(torn) == 1 and f"clients.csv line {ROWS + 1} (no line end" in torn[0], warnings
    assert len(garbled) >= 1 and "clients.csv line 1:" in garbled[0], warnings
    assert not [w for w in warnings if str(runs["good"]) + ":" in w]
    assert Path(captured.out.strip()) == (out / "report.html").resolve()

    per_run = pd.read_csv(out / "per_run.csv")
    assert set(per_run["run"]) == {"good", "torn"}  # the garbled run is skipped, the torn one used
    md = (out / "report.md").read_text()
    assert f"torn: used with warnings (clients.csv line {ROWS + 1}" in md
    assert "garbled: skipped (clients.csv line 1:" in md


def test_a_torn_tail_is_left_out_and_the_rest_used(runs: dict[str, Path]) -> None:
    run = load_run(runs["torn"])
    assert run.usable and len(run.clients) == ROWS - 1 and len(run.rounds) == 8
    assert run.problems == [
        f"clients.csv line {ROWS + 1} (no line end: cut short while being written): incomplete row left out"
    ]


@pytest.mark.parametrize(
    "damage",
    [
        "garbage appended",
        "row with too many fields appended",
        "row with too few fields appended",
        "garbage in the middle",
    ],
)
def test_damage_is_named_with_file_and_line(tmp_path: Path, damage: str) -> None:
    run_dir = write_run(tmp_path / "run")
    rounds = run_dir / "rounds.csv"
    blob = rounds.read_bytes()
    lines = blob.split(b"\r\n")
    if damage == "garbage appended":
        rounds.write_bytes(blob + _garbage(500))
    elif damage == "row with too many fields appended":
        rounds.write_bytes(blob + b"lora,5," + b"1," * 60 + b"\r\n")
    elif damage == "row with too few fields appended":
        rounds.write_bytes(blob + b"lora,5,2\r\n")
    else:
        rounds.write_bytes(b"\r\n".join([*lines[:4], _garbage(200).replace(b"\n", b"").replace(b'"', b""), *lines[4:]]))
    run = load_run(run_dir)
    if damage == "garbage in the middle":  # not a torn tail: the whole run is left out
        assert not run.usable
        assert run.problems[0].startswith("rounds.csv line 5: damaged (")
        assert run.problems[0].endswith("with complete rows after it; this run's rows are not used")
    else:
        assert run.usable and len(run.rounds) == 8 and len(run.clients) == ROWS
        assert run.problems and all(p.startswith("rounds.csv line ") for p in run.problems)
        assert run.problems[0].startswith("rounds.csv line 10 (")


def test_an_unknown_baseline_is_refused_with_the_methods_present(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    assert main(["report", str(runs["good"]), "--baseline", "NOSUCH", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == "edgebench: error: --baseline 'NOSUCH': no method of that label or name in these runs; present: lora, fedara"
    )
    assert not (tmp_path / "r").exists()
    with pytest.raises(ReportInputError, match="present: lora, fedara"):
        build_report([runs["good"]], tmp_path / "r", baseline="nosuch")
    # a label or a registry name that is present is accepted
    assert build_report([runs["good"]], tmp_path / "r", baseline="fedara").html.is_file()
