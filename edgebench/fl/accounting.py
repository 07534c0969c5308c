"""Per-round bookkeeping shared by every runner (in-process engine, Flower ServerApp/ClientApp).

A client's round is prepared (seeding, batches) and measured (the client row's measurement cells)
the same way wherever it runs; the server side evaluates the global model and builds the round row
the same way. Keeping these here is what makes a Flower run's results comparable, cell by cell, to
an in-process run of the same config.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from edgebench.fl.batches import TokenizedSplit, collate, eval_batches, local_index_batches
from edgebench.fl.client_round import ClientRoundResult
from edgebench.methods.base import Batch, MethodClient, MethodServer, RoundOutcome
from edgebench.methods.common.training import EvalResult, evaluate
from edgebench.profiler import Profiler, WindowRecord
from edgebench.profiler.columns import sum_or_none, window_columns


class _CommEstimator(Protocol):
    def comm_estimate(self, bytes_down: int, bytes_up: int) -> tuple[float, float | None]: ...


class _FederationSettings(Protocol):
    batch_size: int
    local_steps: int | None
    local_epochs: int | None
    rounds: int
    eval_every: int
    eval_batch_size: int


def client_seed(seed: int, rnd: int, cid: int) -> np.random.SeedSequence:
    """Seed of client `cid`'s local work in round `rnd` (batch order, dropout)."""
    return np.random.SeedSequence([seed, rnd, cid])


def client_batches(
    fed: _FederationSettings,
    seed: int,
    rnd: int,
    cid: int,
    indices: Sequence[int],
    tokens: TokenizedSplit,
    rows: Mapping[int, int] | None = None,
) -> Iterator[Batch]:
    """Seed torch for client `cid`'s round and return its local batches (lazily collated).

    `indices` are the client's rows of the train split; `rows` maps such a row to its position in
    `tokens` when `tokens` holds only the client's rows (a device tokenizes just its own partition).
    Call it right before training: it reseeds torch's global generator.
    """
    seq = client_seed(seed, rnd, cid)
    torch.manual_seed(int(seq.generate_state(1)[0]))
    index_batches = local_index_batches(
        indices, fed.batch_size, np.random.default_rng(seq), fed.local_steps, fed.local_epochs
    )
    if rows is None:
        return (collate(tokens, b) for b in index_batches)
    return (collate(tokens, [rows[i] for i in b]) for b in index_batches)


def client_measurements(result: ClientRoundResult, bytes_down: int, measurement: _CommEstimator) -> dict[str, Any]:
    """What the client itself measured in its round: phase times, bytes, loss, energy and memory cells.

    Computed where the client ran (its own profiler, its own device's link model); the server adds the
    identity cells with :func:`client_row`.
    """
    window = result.window
    comm_s, comm_j = measurement.comm_estimate(bytes_down, len(result.uplink))
    return {
        "num_steps": result.fit.num_steps,
        "download_s": window.child("download").duration_s,
        "train_s": window.child("train").duration_s,
        "upload_s": window.child("upload").duration_s,
        "total_s": window.duration_s,
        "bytes_down": bytes_down,
        "bytes_up": len(result.uplink),
        "train_loss": result.fit.train_loss,
        **window_columns(window),
        "comm_time_est_s": comm_s,
        "comm_energy_est_j": comm_j,
    }


def client_row(
    label: str, rnd: int, cid: int, num_examples: int, ranks: Mapping[str, int], measured: Mapping[str, Any]
) -> dict[str, Any]:
    """One clients.csv row: identity cells, the client's measurements, and the broadcast ranks."""
    return {
        "method": label,
        "round": rnd,
        "client_id": cid,
        "num_examples": num_examples,
        **measured,
        "active_rank": sum(ranks.values()),
        "active_modules": sum(1 for r in ranks.values() if r > 0),
    }


def evaluate_global(
    rnd: int,
    fed: _FederationSettings,
    client: MethodClient,
    model: nn.Module,
    server: MethodServer,
    test_tokens: TokenizedSplit,
    profiler: Profiler,
) -> tuple[EvalResult | None, WindowRecord | None]:
    """Evaluate the global model in an ``eval`` window every `eval_every` rounds and at the last round."""
    if rnd % fed.eval_every != 0 and rnd != fed.rounds:
        return None, None
    with profiler.window("eval") as window:
        client.apply(model, server.global_payload())
        evaluation = evaluate(model, eval_batches(test_tokens, fed.eval_batch_size))
    return evaluation, window


def round_row(
    label: str,
    rnd: int,
    rows: Sequence[Mapping[str, Any]],
    rejected: int,
    outcome: RoundOutcome,
    round_s: float,
    evaluation: EvalResult | None,
    eval_window: WindowRecord | None,
) -> dict[str, Any]:
    """One rounds.csv row from the round's client rows (a dropout's missing cells count as unknown)."""
    energies = [r.get("energy_j") for r in rows]
    return {
        "method": label,
        "round": rnd,
        "clients": len(rows),
        "clients_rejected": rejected,
        "bytes_down": sum(r.get("bytes_down") or 0 for r in rows),
        "bytes_up": sum(r.get("bytes_up") or 0 for r in rows),
        "round_s": round_s,
        "eval_s": eval_window.duration_s if eval_window else None,
        "eval_accuracy": evaluation.accuracy if evaluation else None,
        "eval_loss": evaluation.loss if evaluation else None,
        "eval_examples": evaluation.num_examples if evaluation else None,
        "energy_j": sum(energies) if energies and all(e is not None for e in energies) else None,
        "energy_provenance": next((r["energy_provenance"] for r in rows if r.get("energy_provenance")), None),
        "active_rank": outcome.active_rank,
        "active_modules": outcome.active_modules,
        "budget": outcome.budget,
        "energy_net_j": sum_or_none([r.get("energy_net_j") for r in rows]),
        "eval_energy_j": eval_window.energy_j if eval_window else None,
        "eval_energy_provenance": eval_window.energy_provenance if eval_window else None,
        "comm_time_est_s": sum_or_none([r.get("comm_time_est_s") for r in rows]),
        "comm_energy_est_j": sum_or_none([r.get("comm_energy_est_j") for r in rows]),
    }
