"""build_report: run directories in, HTML + Markdown + CSV + figures out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from edgebench.report.content import build_document
from edgebench.report.html import render_html
from edgebench.report.load import ReportInputError, RunData, load_run
from edgebench.report.markdown import render_markdown
from edgebench.report.plots import draw_figures
from edgebench.report.summary import Analysis, analyse

SUMMARY_CSV = "summary.csv"
PER_RUN_CSV = "per_run.csv"
FIGURES_DIR = "figures"


@dataclass
class ReportResult:
    """Paths of everything a report wrote, plus the figures it skipped and why."""

    out_dir: Path
    html: Path
    markdown: Path
    csv: list[Path]
    images: list[Path]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    #: What was wrong with the inputs, one line each, naming the run directory (also in the report's notes).
    warnings: list[str] = field(default_factory=list)

    @property
    def png(self) -> list[Path]:
        return [p for p in self.images if p.suffix == ".png"]


def build_report(
    run_dirs: Sequence[Path],
    out_dir: Path,
    baseline: str | None = None,
    target_accuracy: float | None = None,
) -> ReportResult:
    """Read `run_dirs`, write report.html, report.md, summary.csv, per_run.csv and figures/ into `out_dir`.

    `baseline` is the method label (else registry name) the others are compared with; None: the first
    method with the baseline role in the runs. `target_accuracy` is a fraction in [0, 1] (as in rounds.csv
    eval_accuracy).
    """
    if not run_dirs:
        raise ReportInputError("no run directory given")
    if target_accuracy is not None and not 0.0 <= target_accuracy <= 1.0:
        raise ReportInputError(f"target accuracy must be a fraction in [0, 1] (got {target_accuracy})")
    unique = list(dict.fromkeys(Path(p).resolve() for p in run_dirs))  # a directory given twice counts once
    runs = [load_run(p) for p in unique]
    if baseline is not None:
        _check_baseline(runs, baseline)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    analysis = analyse(runs, baseline, target_accuracy)

    summary_csv, per_run_csv = out_dir / SUMMARY_CSV, out_dir / PER_RUN_CSV
    analysis.summary.to_csv(summary_csv, index=False)
    per_run_table(analysis).to_csv(per_run_csv, index=False)

    plots = draw_figures(analysis, out_dir / FIGURES_DIR)
    doc = build_document(analysis, plots, [SUMMARY_CSV, PER_RUN_CSV])
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    md_path.write_text(render_markdown(doc, md_path))
    html_path.write_text(render_html(doc))
    images = [p for f in plots.figures for p in (f.png, f.svg)]
    warnings = [f"{run.path}: {problem}" for run in runs for problem in run.problems]
    return ReportResult(
        out_dir, html_path, md_path, [summary_csv, per_run_csv], images, plots.skipped, analysis.notes, warnings
    )


def _check_baseline(runs: Sequence[RunData], baseline: str) -> None:
    """ReportInputError when no usable run has a method labelled (or registered as) `baseline`."""
    present: dict[str, str] = {}
    for run in runs:
        if run.usable:
            for label in run.labels:
                present.setdefault(label, run.registry_name(label))
    if not present or baseline in present or baseline in present.values():
        return
    listed = ", ".join(label if name == label else f"{label} ({name})" for label, name in present.items())
    raise ReportInputError(f"--baseline {baseline!r}: no method of that label or name in these runs; present: {listed}")


def per_run_table(analysis: Analysis) -> pd.DataFrame:
    """One row per run x method (before seed aggregation), including runs not used in the summary."""
    rows = []
    for s in analysis.series:
        for used, mrs in ((True, s.runs), (False, s.excluded)):
            for mr in mrs:
                metrics = {k: (" | ".join(v) if isinstance(v, list) else v) for k, v in mr.metrics.items()}
                rows.append(
                    {
                        "series": s.display,
                        "run": mr.run.name,
                        "run_status": mr.run.status,
                        "method": mr.label,
                        "method_status": mr.run.method_status(mr.label),
                        "device": s.device,
                        "seed": mr.run.seed,
                        "used_in_summary": used,
                        "partial": mr.partial,
                        **metrics,
                    }
                )
    return pd.DataFrame(rows)
