"""Print- and greyscale-safe styling: every series gets a colour, a line style and a marker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

# Okabe-Ito colour-blind-safe palette; line styles and markers carry the distinction in greyscale.
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999")
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)), (0, (1, 1)), (0, (3, 1, 3, 3)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
HATCHES = ("", "//", "..", "xx", "\\\\", "oo", "--", "++")
# Client phases: grey levels plus hatches, readable without colour.
PHASE_STYLE = {
    "download_s": ("download", "#bdbdbd", "///"),
    "train_s": ("train", "#525252", ""),
    "upload_s": ("upload", "#f0f0f0", "..."),
}
DPI = 150
MIB = 2**20
MB = 1e6


@dataclass(frozen=True)
class LineStyle:
    color: str
    linestyle: object
    marker: str
    hatch: str

    def kwargs(self) -> dict[str, object]:
        return {"color": self.color, "linestyle": self.linestyle, "marker": self.marker, "markersize": 5}


def style_for(index: int) -> LineStyle:
    """The style of the index-th series (cycles after eight)."""
    return LineStyle(
        COLORS[index % len(COLORS)],
        LINESTYLES[index % len(LINESTYLES)],
        MARKERS[index % len(MARKERS)],
        HATCHES[index % len(HATCHES)],
    )


def new_figure(width_in: float = 7.5, height_in: float = 4.5) -> Figure:
    """A pyplot-free figure (Agg canvas), so report generation never touches global GUI state."""
    fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    return fig


def save_figure(fig: Figure, stem: Path) -> tuple[Path, Path]:
    """Write `<stem>.png` and `<stem>.svg`; returns both paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
    fig.savefig(png, dpi=DPI, facecolor="white")
    fig.set_layout_engine("none")  # keep the layout computed for the PNG; the SVG then needs no second pass
    fig.savefig(svg, facecolor="white", metadata={"Date": None})
    return png, svg
