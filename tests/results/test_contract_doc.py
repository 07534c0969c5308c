"""docs/results-contract.md: its column tables are generated from the row types and kept current."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgebench.results import CLIENT_TABLE, RANK_TABLE, ROUND_TABLE
from edgebench.results.contract_doc import main, render
from edgebench.results.schema import Column, markdown_table

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "results-contract.md"


def _doc(name: str, body: str) -> str:
    return f"# Title\n\nintro\n\n<!-- columns: {name} -->\n{body}<!-- end columns -->\n\nafter\n"


def test_render_replaces_a_marked_block_with_the_generated_table() -> None:
    out = render(_doc("ranks", "| stale | table |\n"))
    assert out == _doc("ranks", markdown_table(RANK_TABLE) + "\n")


def test_render_replaces_every_block_and_keeps_the_text_around_them() -> None:
    text = _doc("clients", "old\n") + "\nmiddle\n\n" + _doc("rounds", "")
    out = render(text)
    assert out == _doc("clients", markdown_table(CLIENT_TABLE) + "\n") + "\nmiddle\n\n" + _doc(
        "rounds", markdown_table(ROUND_TABLE) + "\n"
    )


def test_render_is_idempotent() -> None:
    once = render(_doc("rounds", "old\n"))
    assert render(once) == once


def test_render_leaves_text_without_markers_alone() -> None:
    text = "# nothing generated here\n| a | b |\n"
    assert render(text) == text


def test_render_refuses_an_unknown_table() -> None:
    with pytest.raises(KeyError):
        render(_doc("nonsense", ""))


def test_render_serves_any_column_set_under_its_own_marker() -> None:
    mine = [Column("speed_m_s", "m/s", "number", "how fast")]
    other = _doc("ranks", "untouched\n")
    text = other + "<!-- fleet tables: speeds -->\nold\n<!-- end fleet tables -->\n"
    out = render(text, {"speeds": mine}, "fleet tables")
    assert out == other + f"<!-- fleet tables: speeds -->\n{markdown_table(mine)}\n<!-- end fleet tables -->\n"
    assert render(out, {"speeds": mine}, "fleet tables") == out
    with pytest.raises(KeyError):
        render(text, {"other": mine}, "fleet tables")


def test_check_names_the_command_that_regenerates_the_tables(tmp_path: Path, capsys) -> None:
    path = tmp_path / "contract.md"
    path.write_text("<!-- fleet tables: speeds -->\nold\n<!-- end fleet tables -->\n")
    tables = {"speeds": [Column("speed_m_s", "m/s", "number", "how fast")]}
    assert main([str(path), "--check"], tables, "fleet tables", "python -m fleet.docs") == 1
    assert f"run python -m fleet.docs {path}" in capsys.readouterr().out
    assert main([str(path)], tables, "fleet tables", "python -m fleet.docs") == 0
    assert main([str(path), "--check"], tables, "fleet tables", "python -m fleet.docs") == 0


def test_check_reports_a_stale_file_and_rewrite_fixes_it(tmp_path: Path) -> None:
    path = tmp_path / "contract.md"
    path.write_text(_doc("ranks", "old\n"))
    assert main([str(path), "--check"]) == 1
    assert path.read_text() == _doc("ranks", "old\n")
    assert main([str(path)]) == 0
    assert main([str(path), "--check"]) == 0


def test_the_results_contract_is_current() -> None:
    text = CONTRACT.read_text()
    assert text.count("<!-- columns: ") == 3
    assert render(text) == text, "run: python -m edgebench.results.contract_doc docs/results-contract.md"
