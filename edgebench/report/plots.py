"""The report's figures. Each plot either returns a figure or raises Skip with the reason it cannot be drawn.

Unmeasured values (NaN) are never drawn: lines break and bars are left out with an "n/a" mark.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from edgebench.report.metrics import accepted, window_exclusions
from edgebench.report.style import MB, MIB, PHASE_STYLE, LineStyle, new_figure, save_figure, style_for
from edgebench.report.summary import Analysis, Series

ROUND_AXIS = "round (1-based)"
# How flagged client windows are drawn in the time and energy figures.
FLAG_STYLE = {
    "contended": {"marker": "x", "color": "#D00000", "label": "contended window (other processes busy)"},
    "implausible": {"marker": "^", "color": "#E69F00", "label": "implausible meter reading"},
}
CHANCE_STYLE = {"color": "#555555", "linestyle": (0, (1, 2)), "linewidth": 1.2}


class Skip(Exception):
    """A figure cannot be drawn; the message says what is missing and why."""


@dataclass
class FigureFile:
    """One written figure: PNG and SVG paths plus the text shown with it."""

    name: str
    title: str
    caption: str
    png: Path
    svg: Path


@dataclass
class PlotResult:
    figures: list[FigureFile]
    skipped: list[tuple[str, str]]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "series"


class Plotter:
    """Draws every figure of an analysis into `out_dir` (PNG + SVG)."""

    def __init__(self, analysis: Analysis, out_dir: Path) -> None:
        self.a = analysis
        self.out_dir = out_dir
        self.series = analysis.series
        self.styles = {s.display: style_for(i) for i, s in enumerate(self.series)}
        self.frames = {s.display: s.per_round() for s in self.series}
        self.figures: list[FigureFile] = []
        self.skipped: list[tuple[str, str]] = []

    # -- driver ------------------------------------------------------------------------------
    def draw_all(self) -> PlotResult:
        plots: list[tuple[str, str, Callable[[], Figure], str]] = [
            (
                "accuracy_vs_round",
                "Accuracy vs round",
                self.accuracy_vs_round,
                "Global test accuracy after each evaluated round; band = ±1 std over seeds; dotted grey line = "
                "majority-class rate (chance level).",
            ),
            (
                "accuracy_vs_mb",
                "Accuracy vs cumulative MB transmitted",
                self.accuracy_vs_mb,
                "Accuracy against cumulative downlink + uplink payload (1 MB = 10^6 bytes); dotted grey line = "
                "majority-class rate; dashed vertical line = the smallest method's total bytes (the budget of "
                "'accuracy within budget').",
            ),
            (
                "client_time_phases",
                "Per-round mean client time by phase",
                self.client_time,
                "Mean client wall time per round, stacked download / train / upload; dots = single client windows, "
                "red x = window flagged contended, orange triangle = implausible (left out of verdicts).",
            ),
            (
                "energy_per_round",
                "Energy per round",
                self.energy_per_round,
                "Sum of the clients' energy per round (only rounds where every client was measured). "
                "Dotted lines with hollow markers are estimated, not measured. Red x / orange triangle: the round "
                "has a window flagged contended / implausible (drawn on the axis when the round has no energy).",
            ),
            (
                "peak_memory",
                "Peak memory per round",
                self.peak_memory,
                "Highest peak over the round's client windows of the process that ran the client: host RSS "
                "and, when CUDA was used, the accelerator allocator peak. Axes start at zero.",
            ),
        ]
        for name, title, draw, caption in plots:
            self._draw(name, title, draw, caption)
        self._rank_heatmaps()
        self._draw(
            "pruned_modules",
            "Pruned modules per round",
            self.pruned_timeline,
            "Adapted modules whose rank is 0 after aggregation (ranks.csv).",
        )
        self._draw(
            "budget_vs_rank",
            "Rank budget vs active rank",
            self.budget_vs_rank,
            "FedARA's budget b(t) (rounds.csv budget) against the total active rank after aggregation.",
        )
        if len(self.a.devices) > 1:
            self._draw(
                "device_comparison",
                "Device comparison",
                self.device_comparison,
                "Key figures per method, one bar per device; error bars = ±1 std over seeds; 'n/a' = not measured.",
            )
        return PlotResult(self.figures, self.skipped)

    def _draw(self, name: str, title: str, draw: Callable[[], Figure], caption: str) -> None:
        try:
            fig = draw()
        except Skip as why:
            self.skipped.append((title, str(why)))
            return
        png, svg = save_figure(fig, self.out_dir / name)
        self.figures.append(FigureFile(name, title, caption, png, svg))

    def _line(self, ax: Axes, s: Series, x: pd.Series, y: pd.Series, **extra: object) -> None:
        st: LineStyle = self.styles[s.display]
        ax.plot(x, y, label=s.display, **{**st.kwargs(), **extra})

    # -- accuracy ----------------------------------------------------------------------------
    def _accuracy_frames(self) -> dict[str, pd.DataFrame]:
        out = {k: f.dropna(subset=["eval_accuracy"]) for k, f in self.frames.items()}
        out = {k: f for k, f in out.items() if len(f)}
        if not out:
            raise Skip("no evaluated round: rounds.csv eval_accuracy is empty for every method")
        return out

    def accuracy_vs_round(self) -> Figure:
        frames = self._accuracy_frames()
        fig = new_figure()
        ax = fig.add_subplot()
        for s in self.series:
            f = frames.get(s.display)
            if f is None:
                continue
            self._line(ax, s, f["round"], f["eval_accuracy"] * 100)
            if (f["n"] > 1).any():
                lo = (f["eval_accuracy"] - f["eval_accuracy_std"].fillna(0)) * 100
                hi = (f["eval_accuracy"] + f["eval_accuracy_std"].fillna(0)) * 100
                ax.fill_between(f["round"], lo, hi, color=self.styles[s.display].color, alpha=0.15, linewidth=0)
        if self.a.target_accuracy is not None:
            ax.axhline(self.a.target_accuracy * 100, color="black", linewidth=0.8, linestyle=(0, (2, 2)))
            ax.annotate(
                f"target {self.a.target_accuracy * 100:g} %",
                (0.01, self.a.target_accuracy * 100),
                xycoords=("axes fraction", "data"),
                va="bottom",
                fontsize=8,
            )
        self._chance_lines(ax)
        ax.set(xlabel=ROUND_AXIS, ylabel="test accuracy (%)", title="Accuracy vs round")
        _integer_x(ax)
        _finish(ax)
        return fig

    def accuracy_vs_mb(self) -> Figure:
        frames = {k: f.dropna(subset=["cum_bytes"]) for k, f in self._accuracy_frames().items()}
        frames = {k: f for k, f in frames.items() if len(f)}
        if not frames:
            raise Skip("no byte counts in rounds.csv (bytes_down / bytes_up empty)")
        fig = new_figure()
        ax = fig.add_subplot()
        for s in self.series:
            f = frames.get(s.display)
            if f is not None:
                self._line(ax, s, f["cum_bytes"] / MB, f["eval_accuracy"] * 100)
        if self.a.target_accuracy is not None:
            ax.axhline(self.a.target_accuracy * 100, color="black", linewidth=0.8, linestyle=(0, (2, 2)))
        self._chance_lines(ax)
        budgets = {g.budget_bytes for g in self.a.groups if not math.isnan(g.budget_bytes)}
        if len(budgets) == 1:
            ax.axvline(
                budgets.pop() / MB, color="black", linewidth=0.8, linestyle="--", label="smallest total (byte budget)"
            )
        ax.set(
            xlabel="cumulative MB transmitted (down + up, 1 MB = 10^6 bytes)",
            ylabel="test accuracy (%)",
            title="Accuracy vs communication",
        )
        _finish(ax)
        return fig

    def _chance_lines(self, ax: Axes) -> None:
        """A dotted line at each majority-class rate (one per distinct level; label says where it came from)."""
        for rate, _source in self.a.chance_levels:
            ax.axhline(rate * 100, label=f"majority class {rate * 100:.1f} % (chance)", **CHANCE_STYLE)

    def _flagged(self, s: Series) -> pd.DataFrame:
        """Accepted client windows of the series with `round`, `total_s` and their excluding flags."""
        rows = accepted(s.clients())
        return rows.assign(_flags=window_exclusions(rows))

    def _flag_markers(self, ax: Axes, xs: object, ys: object, flag: str, size: float = 30) -> None:
        st = FLAG_STYLE[flag]
        ax.scatter(xs, ys, marker=st["marker"], color=st["color"], s=size, linewidths=1.5, zorder=5, clip_on=False)

    # -- time --------------------------------------------------------------------------------
    def client_time(self) -> Figure:
        phases = list(PHASE_STYLE)
        shown = [s for s in self.series if self.frames[s.display][phases].notna().any().any()]
        if not shown:
            raise Skip("no client phase times in clients.csv (download_s / train_s / upload_s empty)")
        fig = new_figure(7.5, 1.2 + 1.9 * len(shown))
        axes = fig.subplots(len(shown), 1, sharex=True, sharey=True, squeeze=False)[:, 0]
        seen_flags: set[str] = set()
        for ax, s in zip(axes, shown, strict=True):
            f = self.frames[s.display]
            bottom = np.zeros(len(f))
            for phase in phases:
                label, color, hatch = PHASE_STYLE[phase]
                values = f[phase].to_numpy(dtype=float)
                ok = ~np.isnan(values)
                ax.bar(
                    f["round"][ok],
                    values[ok],
                    bottom=bottom[ok],
                    color=color,
                    hatch=hatch,
                    edgecolor="black",
                    linewidth=0.5,
                    label=label,
                )
                bottom = bottom + np.nan_to_num(values)
            windows = self._flagged(s)
            clean = windows[windows["_flags"].map(len) == 0]
            ax.scatter(clean["round"], clean["total_s"], marker=".", color="black", s=12, zorder=4)
            for flag in FLAG_STYLE:
                hit = windows[windows["_flags"].map(lambda fs, f=flag: f in fs)]
                if len(hit):
                    seen_flags.add(flag)
                    self._flag_markers(ax, hit["round"], hit["total_s"], flag)
            ax.set_title(s.display, fontsize=9, loc="left")
            ax.set_ylabel("time (s)")
            ax.set_ylim(bottom=0)
        handles, labels = axes[0].get_legend_handles_labels()
        handles, labels = list(handles), list(labels)
        handles.append(Line2D([], [], marker=".", color="black", linestyle="none"))
        labels.append("one client window")
        for flag in sorted(seen_flags):
            st = FLAG_STYLE[flag]
            handles.append(Line2D([], [], marker=st["marker"], color=st["color"], linestyle="none", markersize=7))
            labels.append(st["label"])
        fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=8, title="client phase / window")
        axes[-1].set_xlabel(ROUND_AXIS)
        _integer_x(axes[-1])
        fig.suptitle("Mean client time per round, by phase")
        return fig

    # -- energy ------------------------------------------------------------------------------
    def energy_per_round(self) -> Figure:
        gross = [s for s in self.series if self.frames[s.display]["energy_j"].notna().any()]
        if not gross:
            raise Skip(f"no client window has an energy value; provenance: {self._missing_energy()}")
        net = [s for s in self.series if self.frames[s.display]["energy_net_j"].notna().any()]
        panels = [("energy_j", "gross energy per round (J)", gross)]
        if net:
            panels.append(("energy_net_j", "energy net of idle per round (J)", net))
        fig = new_figure(7.5, 4.2 * len(panels))
        axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        for ax, (col, ylabel, shown) in zip(axes, panels, strict=True):
            any_est = False
            for s in shown:
                f = self.frames[s.display].dropna(subset=[col])
                st = self.styles[s.display]
                est = f["energy_estimated"].to_numpy(dtype=bool)
                any_est |= bool(est.any())
                if (~est).any():
                    ax.plot(f["round"][~est], f[col][~est], label=f"{s.display} (measured)", **st.kwargs())
                if est.any():
                    ax.plot(
                        f["round"][est],
                        f[col][est],
                        label=f"{s.display} (estimated)",
                        **{**st.kwargs(), "linestyle": ":", "markerfacecolor": "white", "linewidth": 1.2},
                    )
            for s in shown:
                f = self.frames[s.display].set_index("round")[col]
                windows = self._flagged(s)
                for flag in FLAG_STYLE:
                    rounds = sorted(set(windows[windows["_flags"].map(lambda fs, fl=flag: fl in fs)]["round"]))
                    if not rounds:
                        continue
                    ys = [0.0 if math.isnan(f.get(r, float("nan"))) else float(f[r]) for r in rounds]
                    self._flag_markers(ax, rounds, ys, flag, size=60)
                    ax.scatter(
                        [],
                        [],
                        marker=FLAG_STYLE[flag]["marker"],
                        color=FLAG_STYLE[flag]["color"],
                        label=f"{s.display}: round with {flag} window(s)",
                    )
            if any_est:
                ax.set_title("dotted lines, hollow markers = ESTIMATED energy", fontsize=8, style="italic", loc="left")
            ax.set_ylabel(ylabel)
            ax.set_ylim(bottom=0)
            _finish(ax)
        axes[-1].set_xlabel(ROUND_AXIS)
        _integer_x(axes[-1])
        fig.suptitle("Energy per round (sum over the round's clients)")
        return fig

    def _missing_energy(self) -> str:
        texts = []
        for s in self.series:
            reasons = s.provenance("energy_missing_provenance")
            texts.append(
                f"{s.display}: " + ("; ".join(f'"{p}"' for p in reasons) if reasons else "no provenance given")
            )
        return "; ".join(texts)

    # -- memory ------------------------------------------------------------------------------
    def peak_memory(self) -> Figure:
        rss = [s for s in self.series if self.frames[s.display]["peak_rss_bytes"].notna().any()]
        accel = [s for s in self.series if self.frames[s.display]["peak_accel_bytes"].notna().any()]
        if not rss and not accel:
            raise Skip("no memory peaks in clients.csv (peak_rss_bytes / peak_accel_bytes empty)")
        panels = [
            (c, t, sh)
            for c, t, sh in (
                ("peak_rss_bytes", "peak RSS of the client's process (MiB)", rss),
                ("peak_accel_bytes", "peak CUDA allocated, client's process (MiB)", accel),
            )
            if sh
        ]
        fig = new_figure(7.5, 3.8 * len(panels))
        axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        for ax, (col, ylabel, shown) in zip(axes, panels, strict=True):
            for s in shown:
                f = self.frames[s.display].dropna(subset=[col])
                self._line(ax, s, f["round"], f[col] / MIB)
            ax.set_ylabel(ylabel)
            ax.set_ylim(bottom=0)
            _finish(ax)
        axes[-1].set_xlabel(ROUND_AXIS)
        _integer_x(axes[-1])
        fig.suptitle("Peak memory of the process running the client, per round (max over the round's clients)")
        if not accel:
            self.skipped.append(("Peak accelerator memory", "not measured: " + self._memory_provenance()))
        return fig

    def _memory_provenance(self) -> str:
        texts = dict.fromkeys(p for s in self.series for p in s.provenance("memory_provenance"))
        return "; ".join(f'"{t}"' for t in texts) or "no memory provenance given"

    # -- ranks -------------------------------------------------------------------------------
    def _rank_heatmaps(self) -> None:
        varying = [s for s in self.series if s.runs and s.runs[0].metrics["ranks_vary"]]
        if not varying:
            fixed = ", ".join(s.display for s in self.series if s.runs and len(s.runs[0].ranks)) or "none"
            missing = ", ".join(s.display for s in self.series if not (s.runs and len(s.runs[0].ranks)))
            why = f"no method's ranks vary across modules or rounds (constant ranks: {fixed})"
            if missing:
                why += f"; no ranks.csv rows for {missing}"
            self.skipped.append(("Rank allocation heatmap", why))
            return
        constant = [s.display for s in self.series if s not in varying and s.runs and len(s.runs[0].ranks)]
        if constant:
            self.skipped.append(
                (
                    "Rank allocation heatmap",
                    f"not drawn for {', '.join(constant)}: ranks constant over modules and rounds",
                )
            )
        for s in varying:
            self._draw(
                f"rank_heatmap_{_slug(s.display)}",
                f"Rank allocation: {s.display}",
                lambda s=s: self.rank_heatmap(s),
                f"Rank per adapted module after each round's aggregation (run {s.runs[0].run.name}, "
                f"seed {s.runs[0].run.seed}); white cells with x = pruned (rank 0).",
            )

    def rank_heatmap(self, s: Series) -> Figure:
        ranks = s.runs[0].ranks
        grid = ranks.pivot_table(index="module", columns="round", values="rank", aggfunc="last", sort=False)
        modules = [str(m) for m in grid.index]
        short = _short_names(modules)
        values = grid.to_numpy(dtype=float)
        fig = new_figure(7.5, max(3.5, 1.5 + 0.22 * len(modules)))
        ax = fig.add_subplot()
        cmap = _viridis_with_white_zero()
        vmax = max(1.0, float(np.nanmax(values)))
        mesh = ax.imshow(
            values,
            aspect="auto",
            interpolation="nearest",
            cmap=cmap,
            vmin=0.5,
            vmax=vmax,
            extent=(grid.columns.min() - 0.5, grid.columns.max() + 0.5, len(modules) - 0.5, -0.5),
        )
        if values.size <= 4000:
            yy, xx = np.nonzero(values == 0)
            ax.scatter(
                np.asarray(grid.columns)[xx],
                yy,
                marker="x",
                color="black",
                s=12,
                linewidths=0.8,
                label="pruned (rank 0)",
            )
            if len(yy):
                ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.12), fontsize=8, frameon=False)
        step = max(1, math.ceil(len(modules) / 40))
        ax.set_yticks(range(0, len(modules), step), short[::step], fontsize=7)
        cbar = fig.colorbar(mesh, ax=ax, extend="min")
        cbar.locator = MaxNLocator(integer=True)
        cbar.update_ticks()
        cbar.set_label("module rank (white = 0, pruned)")
        ax.set(xlabel=ROUND_AXIS, ylabel="adapted module", title=f"Rank allocation: {s.display}")
        _integer_x(ax)
        return fig

    def pruned_timeline(self) -> Figure:
        shown = [s for s in self.series if self.frames[s.display]["pruned_modules"].notna().any()]
        if not shown:
            raise Skip("no ranks.csv rows for any method")
        if not any((self.frames[s.display]["pruned_modules"] > 0).any() for s in shown):
            raise Skip("no module was pruned (rank 0 in ranks.csv) by any method")
        fig = new_figure()
        ax = fig.add_subplot()
        for s in shown:
            f = self.frames[s.display].dropna(subset=["pruned_modules"])
            self._line(ax, s, f["round"], f["pruned_modules"], drawstyle="steps-post")
        ax.set(xlabel=ROUND_AXIS, ylabel="pruned modules (count)", title="Pruned modules per round")
        ax.set_ylim(bottom=0)
        _integer_x(ax)
        _integer_y(ax)
        _finish(ax)
        return fig

    def budget_vs_rank(self) -> Figure:
        shown = [s for s in self.series if self.frames[s.display]["budget"].notna().any()]
        if not shown:
            names = ", ".join(s.display for s in self.series)
            raise Skip(f"rounds.csv budget is empty for every method ({names}): fixed-rank methods have no budget")
        fig = new_figure()
        ax = fig.add_subplot()
        for s in shown:
            f = self.frames[s.display]
            st = self.styles[s.display]
            b = f.dropna(subset=["budget"])
            ax.plot(
                b["round"],
                b["budget"],
                label=f"{s.display}: budget b(t)",
                color=st.color,
                linestyle="--",
                marker=st.marker,
                markerfacecolor="none",
                markersize=10,
                linewidth=1.5,
                zorder=3,  # on top: where budget == active rank the hollow ring still shows
            )
            r = f.dropna(subset=["active_rank"])
            ax.plot(
                r["round"],
                r["active_rank"],
                label=f"{s.display}: active rank",
                color=st.color,
                linestyle="-",
                marker=st.marker,
                markersize=5,
            )
        ax.set(xlabel=ROUND_AXIS, ylabel="total rank (sum over modules)", title="Rank budget vs active rank")
        ax.set_ylim(bottom=0)
        _integer_x(ax)
        _integer_y(ax)
        _finish(ax)
        return fig

    # -- devices -----------------------------------------------------------------------------
    def device_comparison(self) -> Figure:
        table = self.a.summary
        metrics = [
            ("final accuracy (%)", "final_accuracy", 100.0),
            ("client train time per round (s)", "client_train_s_per_round", 1.0),
            ("energy per round (J)", "energy_per_round_j", 1.0),
            ("transmitted, down + up (MB)", "bytes_total", 1 / MB),
            ("peak RSS, client process (MiB)", "peak_rss_bytes", 1 / MIB),
            ("peak CUDA allocated, client process (MiB)", "peak_accel_bytes", 1 / MIB),
        ]
        metrics = [m for m in metrics if table[m[1]].notna().any()]
        devices = self.a.devices
        groups = list(dict.fromkeys(zip(table["method"], table["settings"], strict=True)))
        multi_cfg = len({g[1] for g in groups}) > 1
        names = [f"{m} [cfg {c}]" if multi_cfg else m for m, c in groups]
        cols = 2
        rows_n = math.ceil(len(metrics) / cols)
        fig = new_figure(7.5 + 0.4 * len(groups), 2.8 * rows_n + 0.8)
        axes = fig.subplots(rows_n, cols, squeeze=False).ravel()
        width = 0.8 / len(devices)
        for ax, (label, col, scale) in zip(axes, metrics, strict=False):
            labelled: set[str] = set()
            for j, device in enumerate(devices):
                st = style_for(j)
                for i, (method, cfg) in enumerate(groups):
                    sel = table[(table["method"] == method) & (table["settings"] == cfg) & (table["device"] == device)]
                    x = i - 0.4 + width * (j + 0.5)
                    value = float(sel[col].iloc[0]) * scale if len(sel) else float("nan")
                    if math.isnan(value):
                        ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
                        continue
                    std = float(sel[f"{col}_std"].iloc[0]) * scale
                    ax.bar(
                        x,
                        value,
                        width,
                        color=st.color,
                        hatch=st.hatch or None,
                        edgecolor="black",
                        linewidth=0.5,
                        yerr=None if math.isnan(std) else std,
                        capsize=3,
                        label=device if device not in labelled else None,
                    )
                    labelled.add(device)
                    if col.startswith("energy") and bool(sel["energy_estimated"].iloc[0]):
                        ax.bar(x, value, width, fill=False, edgecolor="black", linestyle="--", linewidth=1.5)
                        ax.text(x, value, "est.", ha="center", va="bottom", fontsize=7, style="italic")
            ax.set_xticks(range(len(groups)), names, fontsize=8, rotation=20 if len(groups) > 3 else 0)
            ax.set_ylabel(label, fontsize=8)
            ax.set_ylim(bottom=0)
            ax.grid(axis="y", alpha=0.3)
        for ax in axes[len(metrics) :]:
            ax.set_visible(False)
        uniq: dict[str, object] = {}
        for ax in axes[: len(metrics)]:
            for handle, name in zip(*ax.get_legend_handles_labels(), strict=True):
                uniq.setdefault(name, handle)
        fig.legend(
            uniq.values(), uniq.keys(), loc="outside lower center", ncols=min(4, len(uniq)), fontsize=8, title="device"
        )
        fig.suptitle("Device comparison (mean over seeds; 'est.' = estimated energy)")
        return fig


def _finish(ax: Axes) -> None:
    """Grid, and the legend outside the plotting area (right of it), so that it never covers data."""
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def _integer_x(ax: Axes) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _integer_y(ax: Axes) -> None:
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _short_names(modules: list[str]) -> list[str]:
    """Drop the dotted prefix every module name shares (e.g. `bert.encoder.layer.`)."""
    parts = [m.split(".") for m in modules]
    common = 0
    while all(len(p) > common + 1 for p in parts) and len({p[common] for p in parts}) == 1:
        common += 1
    return [".".join(p[common:]) for p in parts]


def _viridis_with_white_zero():
    from matplotlib import colormaps

    return colormaps["viridis"].with_extremes(under="white")


def draw_figures(analysis: Analysis, out_dir: Path) -> PlotResult:
    """Draw every applicable figure of `analysis` into `out_dir`."""
    return Plotter(analysis, out_dir).draw_all()
