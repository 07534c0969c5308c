"""Verdicts that follow from the data: when "better" or "worse" may be said, and when it may not.

Every rule and threshold is here (and in docs/report.md, "Verdict rules"):

* **Accuracy** is the mean `eval_accuracy` over the last 30 % of rounds (metrics.last_share_accuracy).
  A method whose accuracy (mean over its seeds) is at most 2 points above the majority-class rate *did
  not learn* and takes part in no accuracy verdict. Otherwise the two methods are paired by seed: with
  one shared seed the report says "one seed: no accuracy verdict" and shows the difference; with n >= 2
  it takes the paired differences d_i (candidate - baseline, points), their mean, sample std and standard
  error SE = std / sqrt(n), and says better / worse only when |mean| > t(0.975, n - 1) x SE (a paired
  t-test at the 5 % level, two-sided) **and** |mean| > 1 point; otherwise "no clear difference".
* **Time and energy** compare medians over client windows (one window per client per round, all seeds
  together), phase by phase (download, train, upload, the whole client window, and the end-to-end round
  time = client window + estimated link time). A window flagged `contended` or `implausible` (on the
  window or on that phase) is left out and counted. When fewer than 3 clean windows, or fewer than half
  of the windows, remain on either side, the verdict is "contaminated: no verdict". Otherwise the ratio of
  medians (candidate / baseline) is a tie between 1 / 1.1 and 1.1; outside that band it is better (below)
  or worse (above) only when a two-sided Mann-Whitney U test on the clean windows gives p < 0.05 (normal
  approximation with tie and continuity correction), else "no clear difference".
* **Across engines** (in-process against a Flower deployment or simulation, run.json `runtime.engine`), a
  time or energy comparison gets no verdict when either side has a window flagged `contended`: on Flower
  the other clients' processes share the machine (or the device runs other work), in-process they never
  run at once, so the two sides were not measured under the same conditions ("engines differ: no verdict").
* **Bytes** are exact counts: the ratio of totals is better or worse when it differs from 1 by more than
  0.5 %.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from edgebench.report.metrics import EXCLUDING_FLAGS, accepted, window_exclusions

CHANCE_MARGIN = 0.02  # fraction: within 2 points of the majority-class rate = did not learn
MIN_EFFECT = 0.01  # fraction: an accuracy difference of at most 1 point is never a verdict
TIE_BAND = 0.10  # medians within a factor 1.1 of each other are a tie
ALPHA = 0.05  # significance level of the Mann-Whitney test on window times and energies
BYTES_TIE = 0.005
MIN_CLEAN_WINDOWS = 3
MIN_CLEAN_SHARE = 0.5
TARGET_SHARE = 0.95  # default target: 95 % of the best method's last-30 % accuracy
# Two-sided 5 % critical values of Student's t, by degrees of freedom (beyond the table: 1.96).
T_975 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    12: 2.179,
    15: 2.131,
    20: 2.086,
    30: 2.042,
    60: 2.000,
}

BETTER, WORSE, TIE = "better", "worse", "tie"
NO_CLEAR = "no clear difference"
NO_VERDICT = "no verdict"
CONTAMINATED = "contaminated"
CROSS_ENGINE = "engines differ"
NOT_MEASURED = "n/a"


def t_critical(df: int) -> float:
    """t(0.975, df), rounded up to the next tabulated smaller df (conservative); beyond df 60 the normal
    quantile 1.96 (slightly below t there; an accuracy verdict would need over 61 seeds)."""
    if df < 1:
        return math.inf
    known = [d for d in T_975 if d <= df]
    return T_975[max(known)] if df <= max(T_975) else 1.96


def did_not_learn(accuracy: float, chance: float | None) -> bool:
    """Accuracy (fraction) at most 2 points above the majority-class rate (unknown chance: False)."""
    return chance is not None and not math.isnan(accuracy) and accuracy <= chance + CHANCE_MARGIN + 1e-12


# -- accuracy ---------------------------------------------------------------------------------------


@dataclass
class AccuracyVerdict:
    """Candidate vs baseline on last-30 % accuracy; points are percentage points."""

    verdict: str
    reason: str
    candidate: float = float("nan")  # mean over seeds, fraction
    baseline: float = float("nan")
    delta_pts: float = float("nan")  # mean paired difference (or the single seed's difference)
    std_pts: float = float("nan")
    se_pts: float = float("nan")
    needed_pts: float = float("nan")  # |delta| must exceed this for a verdict
    n: int = 0

    @property
    def decided(self) -> bool:
        return self.verdict in (BETTER, WORSE)

    def value_text(self) -> str:
        """e.g. `+3.1 ± 0.4 pts over 2 seeds` or `+0.0 pts`."""
        if math.isnan(self.delta_pts):
            return NOT_MEASURED
        if self.n >= 2:
            return f"{self.delta_pts:+.1f} ± {self.std_pts:.1f} pts over {self.n} seeds"
        return f"{self.delta_pts:+.1f} pts"

    def text(self) -> str:
        """The verdict with its evidence, e.g. `better: +3.1 ± 0.4 pts over 2 seeds (needs > 1.3)`."""
        if self.decided or self.verdict == NO_CLEAR:
            return (
                f"{self.verdict}: {self.value_text()}, SE {self.se_pts:.2f}, needs |mean| > {self.needed_pts:.2f} pts"
            )
        return self.reason + ("" if math.isnan(self.delta_pts) else f" ({self.value_text()})")


def accuracy_verdict(
    candidate: Mapping[object, float],
    baseline: Mapping[object, float],
    chance: float | None,
    names: tuple[str, str] = ("candidate", "baseline"),
) -> AccuracyVerdict:
    """Paired-by-seed accuracy comparison; `candidate` / `baseline` map a seed to last-30 % accuracy."""
    cand = {k: float(v) for k, v in candidate.items() if v is not None and not math.isnan(v)}
    base = {k: float(v) for k, v in baseline.items() if v is not None and not math.isnan(v)}
    out = AccuracyVerdict(NO_VERDICT, "")
    out.candidate = float(np.mean(list(cand.values()))) if cand else float("nan")
    out.baseline = float(np.mean(list(base.values()))) if base else float("nan")
    if not cand or not base:
        out.reason = "not evaluated: no accuracy verdict"
        return out
    idle = [n for n, acc in zip(names, (out.candidate, out.baseline), strict=True) if did_not_learn(acc, chance)]
    pairs = [k for k in cand if k in base]
    diffs = np.array([cand[k] - base[k] for k in pairs]) * 100
    out.n = len(pairs)
    if out.n:
        out.delta_pts = float(diffs.mean())
    if idle:
        out.reason = f"{' and '.join(idle)} did not learn: no accuracy verdict"
        return out
    if out.n == 0:
        out.reason = "no seed run by both: no accuracy verdict"
        return out
    if out.n == 1:
        out.reason = "one seed: no accuracy verdict"
        return out
    out.std_pts = float(diffs.std(ddof=1))
    out.se_pts = out.std_pts / math.sqrt(out.n)
    out.needed_pts = max(t_critical(out.n - 1) * out.se_pts, MIN_EFFECT * 100)
    if abs(out.delta_pts) > out.needed_pts:
        out.verdict = BETTER if out.delta_pts > 0 else WORSE
        out.reason = f"paired over {out.n} seeds"
    else:
        out.verdict = NO_CLEAR
        out.reason = f"within noise over {out.n} seeds"
    return out


# -- time and energy ----------------------------------------------------------------------------------


@dataclass
class Windows:
    """Client windows behind one median: how many there were, were clean, and were left out and why."""

    total: int = 0
    clean: int = 0
    excluded: dict[str, int] = field(default_factory=dict)  # flag -> windows carrying it
    excluded_windows: int = 0
    missing: int = 0  # unflagged windows without a value (not measured)

    def text(self) -> str:
        """e.g. `14 of 16 windows (2 excluded: 2 contended)`."""
        used = self.total - self.missing
        text = f"{self.clean} of {used} windows"
        if self.excluded_windows:
            why = ", ".join(f"{n} {flag}" for flag, n in self.excluded.items())
            text += f" ({self.excluded_windows} excluded: {why})"
        return text


def clean_values(clients: pd.DataFrame, values: pd.Series, phase: str | None) -> tuple[pd.Series, Windows]:
    """`values` (indexed like `clients`) of the accepted windows without an excluding flag, and the counts."""
    rows = accepted(clients)
    vals = values.reindex(rows.index).astype(float)
    found = window_exclusions(rows, phase)
    w = Windows(total=len(rows))
    bad = found.map(bool)
    for flag in EXCLUDING_FLAGS:
        count = int(found.map(lambda fs, f=flag: f in fs).sum())
        if count:
            w.excluded[flag] = count
    w.excluded_windows = int(bad.sum())
    w.missing = int((~bad & vals.isna()).sum())
    good = vals[~bad].dropna()
    w.clean = len(good)
    return good, w


@dataclass
class MedianVerdict:
    """Candidate vs baseline on the median of one per-window quantity (lower is better)."""

    quantity: str
    unit: str
    candidate: float
    baseline: float
    ratio: float
    verdict: str
    candidate_windows: Windows
    baseline_windows: Windows
    estimated: bool = False
    p_value: float = float("nan")

    def value_text(self) -> str:
        if self.verdict in (CONTAMINATED, CROSS_ENGINE, NOT_MEASURED) or math.isnan(self.ratio):
            return NOT_MEASURED
        return f"{self.ratio:.2f}x"

    def windows_text(self) -> str:
        return f"candidate {self.candidate_windows.text()}; baseline {self.baseline_windows.text()}"

    def text(self) -> str:
        """e.g. `0.98x: tie` or `contaminated: no verdict (candidate 1 of 8 windows ...)`."""
        if self.verdict == CONTAMINATED:
            return f"contaminated: no verdict ({self.windows_text()})"
        if self.verdict == CROSS_ENGINE:
            return f"engines differ and windows were contended: no verdict ({self.windows_text()})"
        if self.verdict == NOT_MEASURED:
            return "n/a (not measured)"
        return f"{self.value_text()}: {self.verdict}" + (" (ESTIMATED)" if self.estimated else "")

    def evidence(self) -> str:
        """Windows used on both sides and the test's p-value."""
        if math.isnan(self.p_value):
            p = ""
        else:
            p = "; Mann-Whitney p < 0.001" if self.p_value < 0.001 else f"; Mann-Whitney p = {self.p_value:.3f}"
        return f"{self.windows_text()}{p}"


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation, tie and continuity corrected)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    m, n = len(x), len(y)
    if m == 0 or n == 0:
        return float("nan")
    ranks = pd.Series(np.concatenate([x, y])).rank(method="average").to_numpy()
    u = ranks[:m].sum() - m * (m + 1) / 2
    mean = m * n / 2
    _, counts = np.unique(np.concatenate([x, y]), return_counts=True)
    total = m + n
    var = m * n / 12 * ((total + 1) - float((counts**3 - counts).sum()) / (total * (total - 1)))
    if var <= 0:
        return 1.0
    z = (abs(u - mean) - 0.5) / math.sqrt(var)
    return float(min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2))))


def _contaminated(w: Windows) -> bool:
    measurable = w.total - w.missing
    return w.clean < MIN_CLEAN_WINDOWS or w.clean < MIN_CLEAN_SHARE * measurable


def ratio_verdict(ratio: float, band: float = TIE_BAND) -> str:
    """better / worse / tie for a lower-is-better ratio (NaN: n/a)."""
    if math.isnan(ratio):
        return NOT_MEASURED
    if ratio < 1 / (1 + band):
        return BETTER
    if ratio > 1 + band:
        return WORSE
    return TIE


def median_verdict(
    quantity: str,
    unit: str,
    candidate: tuple[pd.DataFrame, pd.Series],
    baseline: tuple[pd.DataFrame, pd.Series],
    phase: str | None,
    estimated: bool = False,
) -> MedianVerdict:
    """Compare medians of per-window values over clean windows; `candidate` = (client rows, values)."""
    cv, cw = clean_values(candidate[0], candidate[1], phase)
    bv, bw = clean_values(baseline[0], baseline[1], phase)
    cmed = float(cv.median()) if len(cv) else float("nan")
    bmed = float(bv.median()) if len(bv) else float("nan")
    if cw.total == cw.missing or bw.total == bw.missing:
        verdict, ratio = NOT_MEASURED, float("nan")
    elif _contaminated(cw) or _contaminated(bw):
        verdict, ratio = CONTAMINATED, float("nan")
    else:
        ratio = cmed / bmed if bmed > 0 else float("nan")
        verdict = ratio_verdict(ratio)
    p = mann_whitney_p(cv.to_numpy(), bv.to_numpy()) if verdict in (BETTER, WORSE, TIE) else float("nan")
    if verdict in (BETTER, WORSE) and not p < ALPHA:
        verdict = NO_CLEAR
    return MedianVerdict(quantity, unit, cmed, bmed, ratio, verdict, cw, bw, estimated, p)


def contended_windows(v: MedianVerdict) -> int:
    """Windows flagged `contended` on either side of a comparison."""
    return v.candidate_windows.excluded.get("contended", 0) + v.baseline_windows.excluded.get("contended", 0)


def refuse_across_engines(v: MedianVerdict) -> MedianVerdict:
    """A time or energy comparison between two engines: no verdict when either side has a contended window."""
    if v.verdict == NOT_MEASURED or not contended_windows(v):
        return v
    v.verdict, v.ratio, v.p_value = CROSS_ENGINE, float("nan"), float("nan")
    return v


@dataclass
class BytesVerdict:
    candidate: float
    baseline: float
    ratio: float
    verdict: str

    def value_text(self) -> str:
        return NOT_MEASURED if math.isnan(self.ratio) else f"{self.ratio:.2f}x"


def bytes_verdict(candidate: float, baseline: float) -> BytesVerdict:
    ok = not (math.isnan(candidate) or math.isnan(baseline)) and baseline > 0
    ratio = candidate / baseline if ok else float("nan")
    return BytesVerdict(candidate, baseline, ratio, ratio_verdict(ratio, BYTES_TIE))
