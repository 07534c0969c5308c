"""Small factories for the results tests: run metadata, client rows, round totals and rank rows.

Every argument has a plain default; a test names only the values it relies on. Use it as
`from tests.results import rowkit` and call `rowkit.meta()`, `rowkit.client_row(...)`, so that a test's
own local names (`meta`, `totals`) do not shadow the factories.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from edgebench.results import (
    ACCEPTED,
    ClientMeasurement,
    ClientRow,
    Evaluation,
    RankRow,
    ResultsWriter,
    RoundRow,
    RunMeta,
    Transport,
)

#: The cells `append_round` measures on every client unless a test says otherwise.
MEASURED: dict[str, Any] = {"train_s": 0.5, "bytes_up": 10}


def meta(**overrides: Any) -> RunMeta:
    """A run.json with fixed values (no git, package or host lookups); `overrides` replace or add fields."""
    values: dict[str, Any] = {
        "config_file": "exp.yaml",
        "config_hash": "abc",
        "config": {"seed": 7},
        "run_dir": "runs/x",
        "device": {"name": "host"},
        "git_commit": None,
        "packages": {"torch": "2"},
        "host": {"cpu": "x"},
    }
    return RunMeta(**{**values, **overrides})


def client_row(
    method: str = "lora",
    rnd: int = 1,
    cid: int = 0,
    *,
    status: str = ACCEPTED,
    transport: Transport | None = None,
    measurement: ClientMeasurement | None = None,
    num_examples: int = 10,
    active_rank: int = 4,
    active_modules: int = 2,
    **measured: Any,
) -> ClientRow:
    """One clients.csv row; `measured` are ClientMeasurement cells (or pass a whole `measurement`)."""
    if measurement is not None and measured:
        raise TypeError("pass either measurement= or measured cells, not both")
    return ClientRow(
        method=method,
        round=rnd,
        client_id=cid,
        num_examples=num_examples,
        active_rank=active_rank,
        active_modules=active_modules,
        status=status,
        measurement=measurement if measurement is not None else ClientMeasurement(**measured),
        transport=transport if transport is not None else Transport(),
    )


def totals(
    method: str,
    rnd: int,
    clients: Sequence[ClientRow],
    *,
    round_s: float = 1.0,
    active_rank: int = 4,
    active_modules: int = 2,
    budget: int | None = None,
    evaluation: Evaluation | None = None,
    with_flower: bool = False,
) -> RoundRow:
    """The rounds.csv row of `clients`, through RoundRow.from_clients."""
    return RoundRow.from_clients(
        method,
        rnd,
        clients,
        round_s=round_s,
        active_rank=active_rank,
        active_modules=active_modules,
        budget=budget,
        evaluation=evaluation,
        with_flower=with_flower,
    )


def rank_rows(method: str, rnd: int, modules: Iterable[str] = ("q", "v"), rank: int = 2) -> list[RankRow]:
    """One ranks.csv row per module, all at `rank`."""
    return [RankRow(method=method, round=rnd, module=m, rank=rank) for m in modules]


def append_round(writer: ResultsWriter, method: str, rnd: int, *, n_clients: int = 2, **measured: Any) -> None:
    """Write one round: `n_clients` accepted clients measuring MEASURED (updated by `measured`), the totals
    of default `totals`, and ranks of `rank_rows`."""
    cells = {**MEASURED, **measured}
    clients = [client_row(method, rnd, cid, **cells) for cid in range(n_clients)]
    writer.append_round(clients, totals(method, rnd, clients), rank_rows(method, rnd))
