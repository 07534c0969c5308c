"""The report reads as carefully as it measures: no None or raw dicts, one number format per column,
memory axes from zero saying whose memory, integer count axes, a chance line on accuracy plots, legends
beside the data, flagged windows visible in the time and energy figures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from edgebench.report import build_report
from edgebench.report.load import load_run
from edgebench.report.plots import FLAG_STYLE, Plotter
from edgebench.report.summary import analyse
from edgebench.report.tables import format_column
from tests.report.synth import write_run

FLAGS = {("fedara", 2, 0): "contended", ("fedara", 3, 1): "implausible", ("lora", 1, 1): "train:contended"}
NUMBER = re.compile(r"^(?:< )?-?[\d,]+(?:\.(\d+))?(?: ± [\d,]+(?:\.\d+)?)?\*?$")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    base = tmp_path_factory.mktemp("present")
    return [write_run(base / "s0", seed=0, flags=FLAGS), write_run(base / "s1", seed=1, acc_shift=0.02)]


@pytest.fixture(scope="module")
def plotter(runs: list[Path], tmp_path_factory) -> Plotter:
    analysis = analyse([load_run(p) for p in runs], None, 0.73)
    return Plotter(analysis, tmp_path_factory.mktemp("figs"))


def _tables(md: str) -> list[list[list[str]]]:
    """Every Markdown table as rows of cells (header first)."""
    tables, current = [], []
    for line in md.splitlines():
        if line.startswith("| "):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not all(set(c) <= {"-"} for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables + ([current] if current else [])


def test_no_none_no_raw_dicts_one_number_format_per_column(runs: list[Path], tmp_path: Path) -> None:
    result = build_report(runs, tmp_path / "report", target_accuracy=0.73)
    md = result.markdown.read_text()
    assert "None" not in md and not re.search(r"\bnan\b", md, re.IGNORECASE)
    assert not re.search(r"\{'|\[['\d]", md), "raw dict or list in the report"
    checked = 0
    for table in _tables(md.split("## Summary")[1].split("## Figures")[0]):
        header, *rows = table
        for i, name in enumerate(header):
            decimals = {len(m.group(1) or "") for r in rows if (m := NUMBER.match(r[i]))}
            assert len(decimals) <= 1, f"column {name!r} mixes number formats: {[r[i] for r in rows]}"
            checked += bool(decimals)
    assert checked > 20


def test_format_column_uses_one_format() -> None:
    assert format_column([0.0988, 0.000171, float("nan")]) == ["0.0988", "0.0002", "n/a"]
    assert format_column([1.0, 1.5], [0.0, 0.25]) == ["1.00 ± 0.00", "1.50 ± 0.25"]
    assert format_column([3, 4], kind="count") == ["3", "4"]
    assert format_column([3, 3.5], kind="count") == ["3.0", "3.5"]
    assert format_column([12345.0, 2.0]) == ["12,345", "2"]


def _draw(fig: Figure) -> None:
    FigureCanvasAgg(fig).draw()


def _legend_outside(fig: Figure) -> None:
    _draw(fig)
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        box, area = legend.get_window_extent(), ax.get_window_extent()
        assert box.x0 >= area.x1 - 1 or box.y1 <= area.y0 + 1, "legend covers the plotting area"


def test_accuracy_figures_have_a_chance_line_and_legends_beside_the_data(plotter: Plotter) -> None:
    for fig in (plotter.accuracy_vs_round(), plotter.accuracy_vs_mb()):
        ax = fig.axes[0]
        chance = [line for line in ax.get_lines() if line.get_label().startswith("majority class")]
        assert len(chance) == 1 and list(chance[0].get_ydata()) == [30.0, 30.0]  # synthetic labels: 30 % majority
        _legend_outside(fig)


def test_memory_axes_start_at_zero_and_say_whose_memory(plotter: Plotter) -> None:
    fig = plotter.peak_memory()
    for ax in fig.axes:
        assert ax.get_ylim()[0] == 0
        assert "client's process" in ax.get_ylabel()
    _legend_outside(fig)


def test_count_axes_have_integer_ticks(plotter: Plotter) -> None:
    for fig, axis in ((plotter.pruned_timeline(), "y"), (plotter.budget_vs_rank(), "y"), (plotter.client_time(), "x")):
        _draw(fig)
        ticks = fig.axes[-1].get_yticks() if axis == "y" else fig.axes[-1].get_xticks()
        assert all(float(t).is_integer() for t in ticks), ticks


def test_flagged_windows_are_visible_in_time_and_energy_figures(plotter: Plotter) -> None:
    time = plotter.client_time()
    labels = {t.get_text() for legend in time.legends for t in legend.get_texts()}
    assert {FLAG_STYLE["contended"]["label"], FLAG_STYLE["implausible"]["label"]} <= labels
    fedara = next(ax for ax in time.axes if ax.get_title(loc="left") == "fedara")
    marks = [c for c in fedara.collections if c.get_offsets().shape[0] and c.get_label().startswith("_")]
    colors = {tuple(round(x, 3) for x in c.get_facecolor()[0][:3]) for c in marks if len(c.get_facecolor())}
    assert (round(0xD0 / 255, 3), 0.0, 0.0) in colors  # the red x of the contended window
    energy = plotter.energy_per_round()
    texts = {t.get_text() for ax in energy.axes if ax.get_legend() for t in ax.get_legend().get_texts()}
    assert "fedara: round with contended window(s)" in texts
    assert "fedara: round with implausible window(s)" in texts
    assert "lora: round with contended window(s)" in texts  # a train-phase flag marks the window too


def test_the_runs_table_states_where_and_at_which_precision_each_run_trained() -> None:
    from edgebench.report.content import _compute_text

    gpu = {"device": "cuda:0", "accelerator": "NVIDIA Orin", "autocast": "float16", "grad_scaler": True}
    assert _compute_text(gpu) == "cuda:0 (NVIDIA Orin), float16 autocast + loss scaler"
    assert _compute_text({"device": "cpu", "autocast": "float32"}) == "cpu, float32"
    half = {"device": "cuda:0", "autocast": "bfloat16", "backbone_dtype": "bfloat16"}
    assert _compute_text(half) == "cuda:0, bfloat16 autocast, bfloat16 backbone"
    assert _compute_text(None).startswith("cpu, float32 (recorded since compute placement")
