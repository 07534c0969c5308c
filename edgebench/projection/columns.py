"""Every column of the projection's CSV files: name, unit and meaning, declared once.

The tables in docs/results-contract.md ("Fleet projection outputs") are generated from these lists by
``python -m edgebench.projection.doc_tables docs/results-contract.md``.
"""

from __future__ import annotations

from edgebench.results.schema import BYTES, COUNT, FRACTION, JOULES, SECONDS, TEXT, Column


def _col(name: str, unit: str, doc: str) -> Column:
    return Column(name, unit, "text" if unit == TEXT else "number", doc)


_PROV = "`measured` / `estimated` (as the inputs were), `scaled` (a class costed from another's), `extrapolated`"

ROUND_COLUMNS: list[Column] = [
    _col("method", TEXT, "the method's label in the measured runs"),
    _col("round", COUNT, "1-based projected round (every attempt, failed ones included)"),
    _col(
        "model_round",
        COUNT,
        "the measured round this attempt stands for: aggregated rounds so far + 1 (a failed round repeats it)",
    ),
    _col(
        "costs_round",
        COUNT,
        "the measured round whose client costs were used (not `model_round` when costs are extrapolated)",
    ),
    _col(
        "status",
        TEXT,
        "`ok` (aggregated) or `failed: <n> replies < min_replies <m>` (not aggregated; the model stays as it was)",
    ),
    _col("clients_online", COUNT, "fleet clients online at the round's start"),
    _col("clients_selected", COUNT, "clients selected (clients_per_round x over_selection, at most those online)"),
    _col("clients_completed", COUNT, "selected clients whose replies were kept (finished before the round closed)"),
    _col(
        "clients_dropped",
        COUNT,
        "selected clients not kept: over-selected stragglers and those past the deadline (their costs still count)",
    ),
    _col("close_s", SECONDS, "from the round's start until it closed: the last kept reply, or the deadline"),
    _col("round_s", SECONDS, "the round's wall time: `close_s` plus the fleet file's `server_s`"),
    _col("elapsed_s", SECONDS, "projected wall time from the first round's start to this round's end"),
    _col(
        "client_s_max",
        SECONDS,
        "slowest kept client: download link + compute + upload link time; empty when no client was kept",
    ),
    _col("bytes_down", BYTES, "bytes sent to every selected client (exact sizes from the measured runs)"),
    _col("bytes_up", BYTES, "bytes every selected client sent back, dropped clients included"),
    _col("bytes_provenance", TEXT, "`exact` (from the runs), with `extrapolated` when costs are held"),
    _col(
        "compute_energy_j",
        JOULES,
        "energy of the selected clients' windows (measured `energy_j` x time_factor x power_factor); "
        "empty when any selected client's energy is unavailable",
    ),
    _col("compute_energy_provenance", TEXT, f"how `compute_energy_j` was obtained: {_PROV}, or `unavailable: ...`"),
    _col("radio_energy_j", JOULES, "*estimated* radio energy of every selected client's transfers (link model)"),
    _col("radio_energy_provenance", TEXT, "`estimated: link model`, with `extrapolated` when costs are held"),
    _col(
        "idle_energy_j",
        JOULES,
        "idle power x time each kept client waited from its finish to the round's close; "
        "empty when a class with kept clients has no idle power",
    ),
    _col("idle_energy_provenance", TEXT, "where the idle powers came from: `measured`, `estimated` or `unavailable`"),
    _col("energy_j", JOULES, "compute + radio + idle-wait energy of the round; empty when any part is"),
    _col("dropped_energy_j", JOULES, "compute + radio energy of the dropped clients (spent, not used)"),
    _col("time_provenance", TEXT, f"how the client times were obtained: {_PROV}"),
    _col(
        "accuracy",
        FRACTION,
        "global accuracy after this round: the measured runs' `eval_accuracy` at the round that aggregated as "
        "often (mean over runs); empty before any aggregation, on rounds the runs did not evaluate, and past "
        "the measured rounds",
    ),
    _col("client_energy_p10_j", JOULES, "10th percentile over selected clients of compute + radio + idle energy"),
    _col("client_energy_p50_j", JOULES, "median of the same per-client energy"),
    _col("client_energy_p90_j", JOULES, "90th percentile of the same per-client energy"),
    _col("client_energy_max_j", JOULES, "largest per-client energy"),
    _col("peak_rss_bytes", BYTES, "largest measured host RSS peak among selected clients (x memory_factor)"),
]

CLASS_COLUMNS: list[Column] = [
    _col("method", TEXT, "the method's label"),
    _col("round", COUNT, "1-based projected round"),
    _col("class", TEXT, "the fleet class's name"),
    _col("clients_selected", COUNT, "clients of this class selected"),
    _col("clients_completed", COUNT, "of them, kept"),
    _col("clients_dropped", COUNT, "of them, dropped"),
    _col("compute_s_mean", SECONDS, "mean compute time (measured `total_s` x time_factor) of the selected clients"),
    _col("compute_s_max", SECONDS, "largest compute time of the selected clients"),
    _col("bytes_down", BYTES, "bytes sent to this class's selected clients"),
    _col("bytes_up", BYTES, "bytes this class's selected clients sent"),
    _col("compute_energy_j", JOULES, "compute energy of this class's selected clients"),
    _col("compute_energy_provenance", TEXT, f"how it was obtained: {_PROV}, or `unavailable: ...`"),
    _col("radio_energy_j", JOULES, "*estimated* radio energy of this class's selected clients"),
    _col("idle_energy_j", JOULES, "idle-wait energy of this class's kept clients"),
    _col("idle_energy_provenance", TEXT, "where this class's idle power came from"),
    _col("energy_j", JOULES, "compute + radio + idle-wait energy of this class; empty when any part is"),
    _col("peak_rss_bytes", BYTES, "largest host RSS peak among this class's selected clients (x memory_factor)"),
]

SUMMARY_COLUMNS: list[Column] = [
    _col("method", TEXT, "the method's label"),
    _col("rounds", COUNT, "projected rounds (attempts)"),
    _col("rounds_failed", COUNT, "rounds with fewer than min_replies replies (not aggregated)"),
    _col("rounds_extrapolated", COUNT, "rounds costed (in part) from another measured round (flagged `extrapolated`)"),
    _col("model_rounds", COUNT, "aggregated rounds"),
    _col("final_accuracy", FRACTION, "`accuracy` after the last projected round (empty when unknown)"),
    _col("target_accuracy", FRACTION, "the fleet file's `target_accuracy` (empty when not given)"),
    _col("target_round", COUNT, "first projected round whose accuracy reaches the target; empty when none"),
    _col("target_model_round", COUNT, "the measured round at which the target was reached"),
    _col("time_to_target_s", SECONDS, "`elapsed_s` at `target_round`"),
    _col("energy_to_target_j", JOULES, "fleet energy (compute + radio + idle) of rounds 1 .. `target_round`"),
    _col("compute_energy_to_target_j", JOULES, "compute part of `energy_to_target_j`"),
    _col("radio_energy_to_target_j", JOULES, "radio part of `energy_to_target_j` (estimated)"),
    _col("idle_energy_to_target_j", JOULES, "idle-wait part of `energy_to_target_j`"),
    _col("bytes_down_to_target", BYTES, "bytes sent to clients in rounds 1 .. `target_round`"),
    _col("bytes_up_to_target", BYTES, "bytes sent by clients in rounds 1 .. `target_round`"),
    _col("time_s", SECONDS, "projected wall time of all rounds"),
    _col("energy_j", JOULES, "fleet energy of all rounds (compute + radio + idle); empty when any part is"),
    _col("compute_energy_j", JOULES, "compute energy of all rounds"),
    _col("radio_energy_j", JOULES, "radio energy of all rounds (estimated)"),
    _col("idle_energy_j", JOULES, "idle-wait energy of all rounds"),
    _col("bytes_down", BYTES, "bytes sent to clients in all rounds"),
    _col("bytes_up", BYTES, "bytes sent by clients in all rounds"),
    _col("clients_selected", COUNT, "client selections over all rounds"),
    _col("clients_dropped", COUNT, "dropped selections over all rounds"),
    _col("energy_provenance", TEXT, "every provenance the fleet energy carries, e.g. `estimated; scaled`"),
]

TABLES = {"rounds": ROUND_COLUMNS, "classes": CLASS_COLUMNS, "summary": SUMMARY_COLUMNS}
