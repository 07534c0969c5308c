"""`--report` figures of a projection (PNG + SVG, the report's print- and greyscale-safe styling):
time-to-accuracy and energy-to-accuracy per method, energy per class, per-client energy per round."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from edgebench.projection.simulate import OK, Projection

HOUR_S = 3600.0
KWH_J = 3.6e6
PARTS = (("compute_energy_j", "compute"), ("radio_energy_j", "radio"), ("idle_energy_j", "idle wait"))


def write_figures(projection: Projection, folder: Path) -> list[Path]:
    """Write the four figures into `folder`; returns the files written."""
    from edgebench.report.style import new_figure, save_figure, style_for

    written: list[Path] = []
    rounds, classes = projection.rounds, projection.classes
    methods = list(dict.fromkeys(rounds["method"]))
    target = projection.summary["target_accuracy"].dropna()

    for stem, x_col, scale, label in (
        ("time_to_accuracy", "elapsed_s", HOUR_S, "projected wall time (h)"),
        ("energy_to_accuracy", "energy_j", KWH_J, "fleet energy, compute + radio + idle wait (kWh)"),
    ):
        fig = new_figure()
        ax = fig.add_subplot()
        for i, method in enumerate(methods):
            mine = rounds[rounds["method"] == method]
            x = mine[x_col].to_numpy() if x_col == "elapsed_s" else np.cumsum(mine[x_col].to_numpy())
            ok = (mine["status"] == OK).to_numpy() & mine["accuracy"].notna().to_numpy()
            if ok.any():
                ax.plot(x[ok] / scale, mine["accuracy"].to_numpy()[ok], label=method, **style_for(i).kwargs())
        if not target.empty:
            ax.axhline(float(target.iloc[0]), color="#000000", linewidth=0.8, linestyle=":", label="target")
        ax.set_xlabel(label)
        ax.set_ylabel("measured accuracy (not modelled for the fleet)")
        ax.set_title(f"Fleet {stem.replace('_', ' ')}")
        _note_if_empty(ax, ax.lines)
        ax.legend(loc="lower right", fontsize="small")
        written += save_figure(fig, folder / stem)

    fig = new_figure()
    ax = fig.add_subplot()
    names = list(dict.fromkeys(classes["class"]))
    totals = classes.groupby(["method", "class"], sort=False)[[p for p, _ in PARTS]].sum(min_count=1)
    width = 0.8 / max(len(methods), 1)
    for i, method in enumerate(methods):
        bottom = np.zeros(len(names))
        for j, (col, part) in enumerate(PARTS):
            values = np.array([_cell(totals, method, name, col) / KWH_J for name in names])
            style = style_for(j)
            ax.bar(
                np.arange(len(names)) + i * width,
                np.nan_to_num(values),
                width,
                bottom=bottom,
                color=style.color,
                hatch=style_for(i).hatch or None,
                edgecolor="#000000",
                label=f"{method}: {part}",
            )
            bottom += np.nan_to_num(values)
    ax.set_xticks(np.arange(len(names)) + width * (len(methods) - 1) / 2, names)
    ax.set_ylabel("energy over all rounds (kWh)")
    ax.set_title("Fleet energy per device class (bars per method; hatch = method)")
    ax.legend(fontsize="x-small", ncols=max(1, len(methods)))
    written += save_figure(fig, folder / "class_energy")

    fig = new_figure()
    ax = fig.add_subplot()
    for i, method in enumerate(methods):
        mine = rounds[rounds["method"] == method]
        style = style_for(i)
        ax.fill_between(
            mine["round"], mine["client_energy_p10_j"], mine["client_energy_p90_j"], color=style.color, alpha=0.2
        )
        ax.plot(mine["round"], mine["client_energy_p50_j"], label=f"{method} (median, band p10-p90)", **style.kwargs())
    ax.set_xlabel("projected round")
    ax.set_ylabel("energy per selected client (J)")
    ax.set_title("Per-client energy per round (compute + radio + idle wait)")
    _note_if_empty(ax, ax.lines if rounds["client_energy_p50_j"].notna().any() else [])
    ax.legend(fontsize="small")
    written += save_figure(fig, folder / "client_energy")
    return written


def _cell(totals: pd.DataFrame, method: str, name: str, col: str) -> float:
    try:
        return float(totals.at[(method, name), col])
    except KeyError:
        return float("nan")


def _note_if_empty(ax, lines: list) -> None:
    if not lines:
        ax.text(0.5, 0.5, "no data (accuracy or energy unavailable)", ha="center", va="center", transform=ax.transAxes)
