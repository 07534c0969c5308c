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
from edgebench.report.summary import Analysis


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


VERDICT_MARK = {"better": "✔ better", "worse": "✘ worse", "tie": "= tie", "n/a": "n/a (not measured)"}


def build_document(analysis: Analysis, plots: PlotResult, csv_names: list[str]) -> Document:
    """Assemble every section from the analysis and the drawn figures."""
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    target = f"{analysis.target_accuracy:g}" if analysis.target_accuracy is not None else "none"
    subtitle = (
        f"Generated {now} by edgebench {edgebench.__version__} from {len(analysis.runs)} run director"
        f"{'y' if len(analysis.runs) == 1 else 'ies'}; baseline '{analysis.baseline}', target accuracy {target}."
    )
    sections = [
        _headline(analysis),
        _summary(analysis, csv_names),
        _figures(plots),
        _missing(analysis, plots),
        _runs(analysis),
        _configs(analysis),
        _devices(analysis),
        _provenance(analysis),
    ]
    return Document("edgebench report", subtitle, sections)


def _headline(a: Analysis) -> Section:
    sec = Section("Headline", anchor="headline")
    if not a.series:
        sec.blocks.append(Paragraph("No run had any rows: nothing to compare.", strong=True))
        return sec
    if not a.headline:
        sec.blocks.append(Paragraph(f"Only one method per device; no comparison with '{a.baseline}'."))
    for h in a.headline:
        multi_cfg = len({s.settings for s in a.series}) > 1
        where = f"on {h['device']}" + (f" (settings {h['settings']})" if multi_cfg else "")
        if not h["baseline"]:
            sec.blocks.append(
                Paragraph(f"{h['candidate_label']} {where}: no baseline '{a.baseline}' to compare with.", strong=True)
            )
            continue
        wins = [k for k in ("bytes", "train time", "energy", "accuracy") if h[k][1] == "better"]
        partial = " (PARTIAL DATA)" if h["partial"] else ""
        verdict = (
            f"{h['candidate_label']} beat {h['baseline_label']} {where}{partial} on {len(wins)} of 4: "
            f"{', '.join(wins) or 'none'}."
        )
        sec.blocks.append(Paragraph(verdict, strong=True))
        rows = []
        for key, label in (
            ("bytes", "bytes transmitted (ratio, lower is better)"),
            ("train time", "client train time per round (ratio, lower is better)"),
            ("energy", "energy, total (ratio, lower is better)"),
            ("accuracy", "final accuracy (difference, higher is better)"),
        ):
            value, verdict_key = h[key]
            shown = "n/a" if math.isnan(value) else (f"{value:+.1f} pts" if key == "accuracy" else f"{value:.2f}x")
            est = "ESTIMATED" if key == "energy" and h["energy_estimated"] and not math.isnan(value) else "measured"
            if math.isnan(value):
                est = "-"
            rows.append({"figure": label, "value": shown, "result": VERDICT_MARK[verdict_key], "source": est})
        sec.blocks.append(Table(pd.DataFrame(rows)))
        notes = [f"Candidate chosen by {h['chosen_by']}."]
        if h["estimated_series"]:
            notes.append("Estimated energy (not measured): " + ", ".join(h["estimated_series"]) + ".")
        else:
            notes.append("No estimated figures: every energy value shown here is measured or marked n/a.")
        if h["partial"]:
            notes.append("PARTIAL: at least one side comes only from an unfinished (failed or killed) run.")
        sec.blocks.append(Bullets(notes))
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
    sec.blocks.append(Table(tables.accuracy_table(a.summary, a.target_accuracy), "Accuracy and communication"))
    sec.blocks.append(Table(tables.time_table(a.summary), "Mean client time per round, by phase"))
    sec.blocks.append(Table(tables.energy_table(a.summary), "Energy (* = estimated)"))
    sec.blocks.append(Table(tables.memory_rank_table(a.summary), "Memory and ranks (final round)"))
    sec.blocks.append(Table(tables.baseline_table(a.summary), f"Against the baseline '{a.baseline}'"))
    return sec


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
            methods.append(f"{label}: {done}/{planned if planned else '?'} rounds, {run.method_status(label)}{mark}")
        rows.append(
            {
                "run": run.name,
                "status": run.status,
                "seed": "" if run.seed is None else str(run.seed),
                "device": run.device,
                "settings": run.settings_key,
                "methods": "; ".join(methods) or "none",
                "note": "; ".join(run.problems) or ("partial rows used where marked" if not run.complete else ""),
                "path": str(run.path),
            }
        )
    sec.blocks.append(Table(pd.DataFrame(rows)))
    return sec


def _key_settings(run: RunData) -> dict[str, Any]:
    c = run.config
    fed = c.get("federation") or {}
    part = c.get("partition") or {}
    model = run.meta.get("model") or {}
    data = run.meta.get("data") or {}
    return {
        "model": model.get("name") or (c.get("model") or {}).get("name"),
        "parameters": model.get("parameters") or model.get("parameter_count"),
        "dataset": data.get("name") or (c.get("data") or {}).get("dataset"),
        "train / test examples": f"{data.get('train_examples', '?')} / {data.get('test_examples', '?')}",
        "partition": f"{part.get('scheme')} (alpha {part.get('alpha')})"
        if part.get("scheme") == "dirichlet"
        else part.get("scheme"),
        "clients (per round / total)": f"{fed.get('clients_per_round')} / {fed.get('num_clients')}",
        "rounds": fed.get("rounds"),
        "local steps / epochs": f"{fed.get('local_steps')} / {fed.get('local_epochs')}",
        "batch size": fed.get("batch_size"),
        "lr, optimizer": f"{fed.get('lr')}, {fed.get('optimizer')}",
        "max sequence length": fed.get("max_seq_len"),
        "eval every": fed.get("eval_every"),
        "wire dtype": fed.get("wire_dtype"),
    }


def _configs(a: Analysis) -> Section:
    sec = Section("Configurations", anchor="configs")
    seen: dict[str, list[RunData]] = {}
    for run in a.runs:
        seen.setdefault(run.settings_key, []).append(run)
    for key, runs in seen.items():
        first = runs[0]
        files = sorted({str(r.meta.get("config_file")) for r in runs})
        sec.blocks.append(
            Paragraph(
                f"Settings {key} (runs: {', '.join(r.name for r in runs)}; files: {', '.join(files)})", strong=True
            )
        )
        if not first.config:
            sec.blocks.append(Paragraph("no config recorded (no run.json)"))
            continue
        settings = _key_settings(first)
        sec.blocks.append(
            Table(pd.DataFrame({"setting": list(settings), "value": [str(v) for v in settings.values()]}))
        )
        methods = {}
        for r in runs:
            for label in r.labels:
                info = r.method_info(label)
                params = ", ".join(f"{k}={v}" for k, v in (info.get("params") or {}).items())
                methods[label] = {
                    "label": label,
                    "method": str(info.get("method")),
                    "params": params,
                    "trainable parameters": str(info.get("trainable_parameters", "n/a")),
                    "summary": str(info.get("summary", "")),
                }
        sec.blocks.append(Table(pd.DataFrame(list(methods.values())), "Methods"))
    return sec


def _devices(a: Analysis) -> Section:
    sec = Section("Devices", anchor="devices")
    rows = {}
    for run in a.runs:
        h = run.host
        mem = h.get("memory_total_bytes")
        rows.setdefault(
            run.device,
            {
                "device": run.device,
                "hostname": str(h.get("hostname", "n/a")),
                "board": str(h.get("board_model") or "n/a"),
                "cpu": str(h.get("cpu_model", "n/a")),
                "cpus (logical / physical)": f"{h.get('logical_cpus', '?')} / {h.get('physical_cpus', '?')}",
                "memory (GiB)": f"{mem / 2**30:.1f}" if mem else "n/a",
                "accelerators": ", ".join(h.get("cuda_devices") or []) or "none",
                "os": str(h.get("os", "n/a")),
                "torch": str((run.meta.get("packages") or {}).get("torch", "n/a")),
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
        energy = dict.fromkeys(p for r in s.runs for p in r.metrics["energy_provenance"])
        missing = dict.fromkeys(p for r in s.runs for p in r.metrics["energy_missing_provenance"])
        memory = dict.fromkeys(p for r in s.runs for p in r.metrics["memory_provenance"])
        rows.append(
            {
                "series": s.display,
                "energy figures from": " | ".join(energy) or "none measured",
                "estimated": "YES" if s.energy_estimated else "no",
                "energy not measured because": " | ".join(missing) or "-",
                "memory": " | ".join(memory) or "n/a",
            }
        )
    if rows:
        sec.blocks.append(Table(pd.DataFrame(rows)))
    meters = {run.name: run.meta["meters"] for run in a.runs if run.meta.get("meters")}
    profiler = {run.name: run.config.get("profiler") for run in a.runs if run.config.get("profiler")}
    items = [f"{name}: meters {value}" for name, value in meters.items()]
    items += [f"{name}: profiler {value}" for name, value in profiler.items()]
    if items:
        sec.blocks.append(Bullets(items))
    return sec
