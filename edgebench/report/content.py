"""The report as a renderer-neutral document: sections of paragraphs, bullet lists, tables and figures."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

import edgebench
from edgebench.report import tables
from edgebench.report.load import RunData
from edgebench.report.plots import FigureFile, PlotResult
from edgebench.report.style import MB
from edgebench.report.summary import Analysis, Comparison, Group
from edgebench.report.verdicts import (
    ALPHA,
    BYTES_TIE,
    CHANCE_MARGIN,
    MIN_CLEAN_WINDOWS,
    MIN_EFFECT,
    TARGET_SHARE,
    TIE_BAND,
    did_not_learn,
)


@dataclass
class Paragraph:
    text: str
    strong: bool = False


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    frame: pd.DataFrame
    caption: str = ""


@dataclass
class Image:
    figure: FigureFile


Block = Paragraph | Bullets | Table | Image


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    anchor: str = ""


@dataclass
class Document:
    title: str
    subtitle: str
    sections: list[Section]


# The thresholds of edgebench.report.verdicts as the rules state them.
CHANCE_PTS = f"{CHANCE_MARGIN * 100:g} points"
MIN_EFFECT_PT = f"{MIN_EFFECT * 100:g} point"
TIE_FACTOR = f"{1 + TIE_BAND:g}"

VERDICT_MARK = {
    "better": "✔ better",
    "worse": "✘ worse",
    "tie": "= tie",
    "n/a": "n/a (not measured)",
    "no clear difference": "≈ no clear difference (within noise)",
    "engines differ": "no verdict: engines differ and windows were contended",
}


def build_document(analysis: Analysis, plots: PlotResult, csv_names: list[str]) -> Document:
    """Assemble every section from the analysis and the drawn figures."""
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    if analysis.target_accuracy is not None:
        target = f"target accuracy {analysis.target_accuracy * 100:g} % (given)"
    else:
        target = (
            f"target accuracy {TARGET_SHARE * 100:g} % of the best method's last-30 % accuracy (per device, see Notes)"
        )
    subtitle = (
        f"Generated {now} by edgebench {edgebench.__version__} from {len(analysis.runs)} run director"
        f"{'y' if len(analysis.runs) == 1 else 'ies'}; the candidate is compared with every other method; "
        f"{target}."
    )
    sections = [
        _headline(analysis),
        _verdicts(analysis),
        _summary(analysis, csv_names),
        _figures(plots),
        _missing(analysis, plots),
        _runs(analysis),
        _configs(analysis),
        _devices(analysis),
        _provenance(analysis),
    ]
    return Document("edgebench report", subtitle, sections)


# -- headline -------------------------------------------------------------------------------------

# (measure, its name in the one-line sentence, its row in the headline table)
HEADLINE_ROWS = (
    ("bytes", "bytes", "bytes transmitted, total (ratio)"),
    ("train time", "train time", "train time per client window (ratio of medians)"),
    ("client window time", "client window time", "client window time (ratio of medians)"),
    (
        "end-to-end round time (window + estimated link)",
        "end-to-end round time",
        "end-to-end round time: window + ESTIMATED link (ratio)",
    ),
    ("energy per client window", "energy", "energy per client window (ratio of medians)"),
    ("accuracy", "accuracy", "accuracy, last 30 % of rounds (difference)"),
)


def baseline_name(c: Comparison) -> str:
    """e.g. `lora-r12 (same start, r = r0 = 12)`, or `ffa_lora (other baseline)`."""
    return f"{c.baseline.display} ({c.role})"


def _cell(c: Comparison, key: str) -> str:
    if key == "bytes":
        v = c.bytes
        return VERDICT_MARK[v.verdict] if v.verdict == "n/a" else f"{v.value_text()} {VERDICT_MARK[v.verdict]}"
    if key == "accuracy":
        a = c.accuracy
        return f"{a.value_text()} {VERDICT_MARK[a.verdict]}" if a.verdict in VERDICT_MARK else a.text()
    v = c.measure(key)
    if v is None or v.verdict == "n/a":
        return VERDICT_MARK["n/a"]
    if v.verdict == "contaminated":
        return "contaminated: no verdict"
    if v.verdict == "engines differ":
        return "engines differ, contended: no verdict"
    est = " (ESTIMATED)" if v.estimated and key.startswith("energy") else ""
    return f"{v.value_text()} {VERDICT_MARK[v.verdict]}{est}"


def comparison_sentence(c: Comparison) -> str:
    """One line per comparison: what is better, worse, tied, and what has no verdict and why."""
    buckets: dict[str, list[str]] = {"better": [], "worse": [], "tie": [], "none": []}
    for key, name, _ in HEADLINE_ROWS:
        verdict = c.verdict(key)
        if verdict in ("better", "worse", "tie"):
            buckets[verdict].append(name)
        elif key == "accuracy":
            why = c.accuracy.reason.split(":")[0] if verdict == "no verdict" else "within noise"
            buckets["none"].append(f"{name} ({why})")
        elif verdict == "no clear difference":
            buckets["none"].append(f"{name} (within noise)")
        elif verdict == "contaminated":
            buckets["none"].append(f"{name} (contaminated)")
        elif verdict == "engines differ":
            buckets["none"].append(f"{name} (engines differ, windows contended)")
        else:
            buckets["none"].append(f"{name} (not measured)")
    parts = [f"{k} on {', '.join(v)}" for k, v in buckets.items() if v and k != "none"]
    if buckets["none"]:
        parts.append(f"no verdict on {', '.join(buckets['none'])}")
    partial = " (PARTIAL DATA)" if c.partial else ""
    name = c.candidate.label if c.candidate.engine == c.baseline.engine else c.candidate.display
    return f"{name} vs {baseline_name(c)}{partial}: {'; '.join(parts)}."


def _headline(a: Analysis) -> Section:
    sec = Section("Headline", anchor="headline")
    if not a.series:
        sec.blocks.append(Paragraph("No run had any rows: nothing to compare.", strong=True))
        return sec
    if not a.comparisons:
        sec.blocks.append(Paragraph("Only one method per device: nothing to compare."))
        return sec
    multi_cfg = len({s.settings for s in a.series}) > 1
    keys = list(dict.fromkeys((c.group.key, c.candidate.display) for c in a.comparisons))
    for gkey, cand in keys:
        comps = [c for c in a.comparisons if c.group.key == gkey and c.candidate.display == cand]
        g, first = comps[0].group, comps[0]
        where = f"on {g.device}" + (f" (settings {g.settings})" if multi_cfg else "")
        engines = list(dict.fromkeys([first.candidate.engine, *(c.baseline.engine for c in comps)]))
        where += f", engine {' and '.join(engines)}" if len(engines) == 1 else f", engines {' and '.join(engines)}"
        sec.blocks.append(
            Paragraph(
                f"{first.candidate.label} {where}, compared with "
                + (f"each of {len(comps)} other methods separately:" if len(comps) > 1 else "one other method:"),
                strong=True,
            )
        )
        sec.blocks.append(Bullets([comparison_sentence(c) for c in comps]))
        rows = []
        for key, _, label in HEADLINE_ROWS:
            row = {"measure (candidate / other; lower is better except accuracy)": label}
            for c in comps:
                row[f"vs {baseline_name(c)}"] = _cell(c, key)
            rows.append(row)
        sec.blocks.append(Table(pd.DataFrame(rows)))
        sec.blocks.append(Bullets(_headline_notes(a, g, comps)))
    return sec


def _headline_notes(a: Analysis, g: Group, comps: list[Comparison]) -> list[str]:
    cand = comps[0].candidate
    members = [cand, *[c.baseline for c in comps]]
    last30 = {s.display: s.mean("last30_accuracy") for s in members}
    acc = ", ".join(
        f"{name} {tables.fmt(v * 100)} %" if not math.isnan(v) else f"{name} n/a" for name, v in last30.items()
    )
    chance = f"{g.chance * 100:.1f} % ({g.chance_source})" if g.chance is not None else "unknown"
    notes = [
        f"Accuracy = mean test accuracy over the last 30 % of rounds: {acc}. Majority-class rate {chance}.",
        "Accuracy verdict only with two or more seeds, when the mean paired difference exceeds both "
        f"t(0.975, n-1) x its standard error and {MIN_EFFECT_PT}; one seed gives no accuracy verdict; a method "
        f"within {CHANCE_PTS} of the majority-class rate did not learn and is in no accuracy verdict.",
    ]
    idle = [name for name, v in last30.items() if did_not_learn(v, g.chance)]
    if idle:
        notes.append(f"Did not learn (within {CHANCE_PTS} of the majority-class rate): {', '.join(idle)}.")
    cand_w = comps[0].measure("client window time")
    excluded = [f"{cand.display}: {cand_w.candidate_windows.text()}"] if cand_w else []
    for c in comps:
        w = c.measure("client window time")
        if w is not None:
            excluded.append(f"{c.baseline.display}: {w.baseline_windows.text()}")
    notes.append(
        "Time and energy: medians over client windows not flagged contended or implausible; a tie within a "
        f"factor {TIE_FACTOR}, beyond it better / worse only when a Mann-Whitney test on the windows gives "
        f"p < {ALPHA:g}; fewer than {MIN_CLEAN_WINDOWS} clean windows (or under half) on a side = contaminated: "
        "no verdict. "
        "Windows used: " + "; ".join(excluded) + "."
    )
    notes.append(
        "End-to-end round time = measured client window + ESTIMATED link time from the device profile's link "
        "model (comm_time_est_s); link figures are never measured."
    )
    estimated = [s.display for s in members if s.energy_estimated]
    if estimated:
        notes.append("Estimated energy (not measured): " + ", ".join(estimated) + ".")
    else:
        notes.append("No estimated energy: every energy value shown here is measured or marked n/a.")
    across = [c for c in comps if c.candidate.engine != c.baseline.engine]
    if across:
        names = ", ".join(f"{c.candidate.display} vs {c.baseline.display}" for c in across)
        notes.append(
            f"Across engines ({names}): bytes and accuracy are compared; time and energy only when no window on "
            "either side is flagged contended (on Flower the nodes' processes share the machine with other work, "
            "in-process clients never run at once)."
        )
    dropped = [(s.display, s.delivery()) for s in members]
    dropped = [(name, d) for name, d in dropped if not d.complete]
    if dropped:
        notes.append("Dropouts and rejected replies: " + "; ".join(f"{name}: {d.text()}" for name, d in dropped) + ".")
    notes.append(f"Candidate chosen by {comps[0].chosen_by}.")
    if any(c.partial for c in comps):
        notes.append("PARTIAL: at least one side comes only from an unfinished (failed, interrupted or killed) run.")
    return notes


# -- verdicts in detail ---------------------------------------------------------------------------


def _verdicts(a: Analysis) -> Section:
    sec = Section("Verdicts in detail", anchor="verdicts")
    sec.blocks.append(
        Bullets(
            [
                "Accuracy: mean over the last 30 % of rounds per seed; methods paired by seed. n >= 2 seeds: "
                f"better / worse when |mean paired difference| > max(t(0.975, n-1) x SE, {MIN_EFFECT_PT}), else "
                f"no clear difference; one seed: no accuracy verdict; a method at most {CHANCE_PTS} above the "
                "majority-class rate did not learn and is in no accuracy verdict.",
                "Time and energy: medians over client windows (every round and seed), phase by phase; windows "
                "flagged contended or implausible (clients.csv window_flags, on the window or that phase) are "
                f"left out and counted; fewer than {MIN_CLEAN_WINDOWS} clean windows or under half of a side's "
                "windows: contaminated: no verdict. Ratio of medians candidate / other: a tie between "
                f"1/{TIE_FACTOR} and {TIE_FACTOR}; beyond, better (below) or worse (above) when a two-sided "
                f"Mann-Whitney U test on the clean windows gives p < {ALPHA:g}, else no clear difference.",
                "Bytes: exact totals (down + up); better / worse when the ratio differs from 1 by more than "
                f"{BYTES_TIE * 100:g} %.",
            ]
        )
    )
    if not a.comparisons:
        sec.blocks.append(Paragraph("No comparison: only one method per device."))
    for c in a.comparisons:
        partial = " (PARTIAL DATA)" if c.partial else ""
        sec.blocks.append(
            Paragraph(f"{c.candidate.display} vs {baseline_name(c)} on {c.group.device}{partial}", strong=True)
        )
        rows = [
            {
                "measure": "bytes, total (MB)",
                "candidate": tables.fmt(c.bytes.candidate / MB),
                "other": tables.fmt(c.bytes.baseline / MB),
                "ratio or difference": c.bytes.value_text(),
                "verdict": VERDICT_MARK[c.bytes.verdict],
                "windows used (candidate; other)": "exact counts",
            }
        ]
        for v in (*c.time, *c.energy):
            verdict = "contaminated: no verdict" if v.verdict == "contaminated" else VERDICT_MARK[v.verdict]
            if v.estimated and v.verdict in ("better", "worse", "tie"):
                verdict += " (ESTIMATED)"
            rows.append(
                {
                    "measure": f"{v.quantity}, median ({v.unit})",
                    "candidate": tables.fmt(v.candidate),
                    "other": tables.fmt(v.baseline),
                    "ratio or difference": v.value_text(),
                    "verdict": verdict,
                    "windows used (candidate; other)": v.evidence(),
                }
            )
        acc = c.accuracy
        rows.append(
            {
                "measure": "accuracy, last 30 % of rounds (%)",
                "candidate": tables.fmt(acc.candidate * 100),
                "other": tables.fmt(acc.baseline * 100),
                "ratio or difference": acc.value_text(),
                "verdict": VERDICT_MARK.get(acc.verdict, acc.reason),
                "windows used (candidate; other)": f"{acc.n} paired seed{'s' if acc.n != 1 else ''}"
                + (f"; SE {acc.se_pts:.2f} pts, needs > {acc.needed_pts:.2f} pts" if acc.n >= 2 else ""),
            }
        )
        sec.blocks.append(Table(pd.DataFrame(rows)))
    return sec


def _summary(a: Analysis, csv_names: list[str]) -> Section:
    sec = Section("Summary", anchor="summary")
    if a.summary.empty:
        sec.blocks.append(Paragraph("No usable rows."))
        return sec
    sec.blocks.append(
        Paragraph(
            "One row per method and device; numbers are mean ± sample std over the n runs (seeds) of that "
            "row. 'n/a' = not measured (an empty cell in the run files). Energy marked * is estimated. "
            f"Raw numbers in contract units: {', '.join(csv_names)}."
        )
    )
    sec.blocks.append(Table(tables.accuracy_table(a.summary), "Accuracy and communication"))
    sec.blocks.append(
        Table(
            tables.target_table(a.summary),
            "Cost to the target accuracy (bytes: all clients; device time: per client, compute measured + link "
            "estimated; energy: all clients) and accuracy within the smallest method's byte budget",
        )
    )
    sec.blocks.append(
        Table(
            tables.time_table(a.summary),
            "Mean client time per round, by phase (all windows; flagged windows are counted here and left out "
            "of verdicts)",
        )
    )
    links = sorted({_link_basis(r) for r in a.runs} - {""})
    sec.blocks.append(
        Table(
            tables.comm_table(a.summary),
            "Communication, ESTIMATED from the device profile's link model"
            + (f" ({'; '.join(links)})" if links else "")
            + ", and end-to-end round time per client (measured window + estimated link, median)",
        )
    )
    sec.blocks.append(Table(tables.energy_table(a.summary), "Energy (* = estimated)"))
    sec.blocks.append(Table(tables.memory_rank_table(a.summary), "Memory and ranks (final round)"))
    return sec


def _link_basis(run: RunData) -> str:
    link = (run.meta.get("measurement") or {}).get("link_model") or {}
    return str(link.get("name") or "")


def _figures(plots: PlotResult) -> Section:
    sec = Section("Figures", anchor="figures")
    for f in plots.figures:
        sec.blocks.append(Paragraph(f.title, strong=True))
        sec.blocks.append(Image(f))
        sec.blocks.append(Paragraph(f.caption))
    if not plots.figures:
        sec.blocks.append(Paragraph("No figure could be drawn; see 'Missing data and skipped figures'."))
    return sec


def _missing(a: Analysis, plots: PlotResult) -> Section:
    sec = Section("Missing data and skipped figures", anchor="missing")
    items = [f"{title}: skipped — {why}" for title, why in plots.skipped]
    items += [f"{topic}: {text}" for topic, text in a.notes]
    sec.blocks.append(Bullets(items or ["Nothing missing: every figure was drawn."]))
    return sec


def _runs(a: Analysis) -> Section:
    sec = Section("Runs", anchor="runs")
    rows = []
    used = {(r.run.path, r.label) for s in a.series for r in s.runs}
    for run in a.runs:
        methods = []
        for label in run.labels:
            _, rounds, _ = run.rows(label)
            done = rounds["round"].nunique()
            planned = run.planned_rounds()
            mark = "" if (run.path, label) in used else " [not used]"
            delivery = run.delivery(label).text()
            delivery = f" ({delivery})" if delivery else ""
            methods.append(
                f"{label}: {done}/{planned if planned else 'n/a'} rounds, {run.method_status(label)}{delivery}{mark}"
            )
        rows.append(
            {
                "run": run.name,
                "status": run.status,
                "seed": "n/a" if run.seed is None else str(run.seed),
                "device": run.device,
                "engine": run.engine,
                "compute": _compute_text(run.meta.get("compute")),
                "settings": run.settings_key,
                "methods": "; ".join(methods) or "none",
                "note": "; ".join(run.problems) or ("partial rows used where marked" if not run.complete else ""),
                "path": str(run.path),
            }
        )
    sec.blocks.append(Table(pd.DataFrame(rows)))
    return sec


def _compute_text(compute: dict[str, Any] | None) -> str:
    """Where the run trained and at which precision, e.g. `cuda:0 (NVIDIA ...), bfloat16 autocast`."""
    if not compute:
        return "cpu, float32 (recorded since compute placement; every earlier run trained so)"
    device = compute.get("device", "?")
    if compute.get("accelerator"):
        device += f" ({compute['accelerator']})"
    autocast = compute.get("autocast", "float32")
    precision = "float32" if autocast == "float32" else f"{autocast} autocast"
    if compute.get("grad_scaler"):
        precision += " + loss scaler"
    if compute.get("backbone_dtype", "float32") != "float32":
        precision += f", {compute['backbone_dtype']} backbone"
    return f"{device}, {precision}"


def _key_settings(run: RunData) -> dict[str, str]:
    c = run.config
    fed = c.get("federation") or {}
    part = c.get("partition") or {}
    model = run.meta.get("model") or {}
    data = run.meta.get("data") or {}
    t = tables.text
    scheme = part.get("scheme")
    if scheme == "dirichlet":
        partition = f"dirichlet (alpha {t(part.get('alpha'))})"
    elif scheme == "shards":
        partition = f"shards ({t(part.get('shards_per_client'))} per client)"
    else:
        partition = t(scheme)
    if fed.get("local_epochs") is not None:
        local = f"{t(fed.get('local_epochs'))} epochs"
    else:
        local = f"{t(fed.get('local_steps'))} steps"
    return {
        "model": t(model.get("name") or (c.get("model") or {}).get("name")),
        "parameters": t(model.get("parameters") or model.get("parameter_count")),
        "dataset": t(data.get("name") or (c.get("data") or {}).get("dataset")),
        "train / test examples": f"{t(data.get('train_examples'))} / {t(data.get('test_examples'))}",
        "partition": partition,
        "clients (per round / total)": f"{t(fed.get('clients_per_round'))} / {t(fed.get('num_clients'))}",
        "rounds": t(fed.get("rounds")),
        "local work per round": local,
        "batch size": t(fed.get("batch_size")),
        "lr, optimizer": f"{t(fed.get('lr'))}, {t(fed.get('optimizer'))}",
        "max sequence length": t(fed.get("max_seq_len")),
        "eval every (rounds)": t(fed.get("eval_every")),
        "wire dtype": t(fed.get("wire_dtype")),
    }


def _configs(a: Analysis) -> Section:
    sec = Section("Configurations", anchor="configs")
    seen: dict[str, list[RunData]] = {}
    for run in a.runs:
        seen.setdefault(run.settings_key, []).append(run)
    for key, runs in seen.items():
        first = runs[0]
        files = sorted({tables.text(r.meta.get("config_file")) for r in runs})
        sec.blocks.append(
            Paragraph(
                f"Settings {key} (runs: {', '.join(r.name for r in runs)}; files: {', '.join(files)})", strong=True
            )
        )
        if not first.config:
            sec.blocks.append(Paragraph("no config recorded (no run.json)"))
            continue
        settings = _key_settings(first)
        sec.blocks.append(Table(pd.DataFrame({"setting": list(settings), "value": list(settings.values())})))
        methods = {}
        for r in runs:
            for label in r.labels:
                info = r.method_info(label)
                methods[label] = {
                    "label": label,
                    "method": tables.text(info.get("method")),
                    "params (unset ones left out)": tables.text(info.get("params") or {}),
                    "trainable parameters": tables.text(info.get("trainable_parameters")),
                    "summary": tables.text(info.get("summary")),
                }
        sec.blocks.append(Table(pd.DataFrame(list(methods.values())), "Methods"))
    return sec


def _devices(a: Analysis) -> Section:
    sec = Section("Devices", anchor="devices")
    rows = {}
    for run in a.runs:
        h = run.host
        mem = h.get("memory_total_bytes")
        t = tables.text
        rows.setdefault(
            run.device,
            {
                "device": run.device,
                "hostname": t(h.get("hostname")),
                "board": t(h.get("board_model")),
                "cpu": t(h.get("cpu_model")),
                "cpus (logical / physical)": f"{t(h.get('logical_cpus'))} / {t(h.get('physical_cpus'))}",
                "memory (GiB)": f"{mem / 2**30:.1f}" if mem else "n/a",
                "accelerators": ", ".join(str(d) for d in h.get("cuda_devices") or []) or "none",
                "os": t(h.get("os")),
                "torch": t((run.meta.get("packages") or {}).get("torch")),
            },
        )
    sec.blocks.append(Table(pd.DataFrame(list(rows.values()))))
    return sec


def _provenance(a: Analysis) -> Section:
    sec = Section("Meters and provenance", anchor="provenance")
    sec.blocks.append(
        Paragraph(
            "How every energy and memory figure was obtained, quoted from clients.csv (energy_provenance, "
            "memory_provenance). 'estimated:' values are model-based, not measured."
        )
    )
    rows = []
    for s in a.series:
        rows.append(
            {
                "series": s.display,
                "energy figures from": " | ".join(s.provenance("energy_provenance")) or "none measured",
                "estimated": "YES" if s.energy_estimated else "no",
                "energy not measured because": " | ".join(s.provenance("energy_missing_provenance")) or "-",
                "memory": " | ".join(s.provenance("memory_provenance")) or "n/a",
            }
        )
    if rows:
        sec.blocks.append(Table(pd.DataFrame(rows)))
    meters = {run.name: run.meta["meters"] for run in a.runs if run.meta.get("meters")}
    profiler = {run.name: run.config.get("profiler") for run in a.runs if run.config.get("profiler")}
    items = [f"{name}: meters {tables.text(value)}" for name, value in meters.items()]
    items += [f"{name}: profiler settings {tables.text(value)}" for name, value in profiler.items()]
    if items:
        sec.blocks.append(Bullets(items))
    return sec
