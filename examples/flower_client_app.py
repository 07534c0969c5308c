"""Add edgebench's profiler to an existing Flower ClientApp (Flower 1.42 Message API), without its engine.

A plain Flower app: a small PyTorch classifier on synthetic per-client data, FedAvg on the server. The
lines marked ``# edgebench`` are all that is added. Each client measures its own round on its own device
(the device profile and meter that ``edgebench run`` would pick there) in the engine's windows --
``client`` enclosing ``download`` (arrays into the model), ``train`` and ``upload`` (model into arrays) --
and returns the record edgebench's engine writes in a ``ConfigRecord`` beside its arrays and metrics. The
server appends every client's record to a CSV with the results contract's column names.

    python examples/flower_client_app.py [OUT_CSV]   # Flower's simulation runtime (extra flower-sim: Ray)

In a deployment, point ``flwr run`` at ``examples.flower_client_app:app`` and ``:server_app``.
``bytes_down``/``bytes_up`` are Flower's ``ArrayRecord.count_bytes()`` of the arrays each way.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg
from torch import nn

import edgebench  # edgebench
from edgebench.api import append_window_rows  # edgebench

EDGEBENCH_RECORD = "edgebench"  # the reply's ConfigRecord holding the client's measurement
RECORDS_CSV = "flower-rounds.csv"  # where the server appends them (run config `edgebench-csv` overrides)


class Net(nn.Module):
    def __init__(self, features: int = 32) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(features, 64), nn.ReLU(), nn.Linear(64, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def load_partition(partition_id: int, n: int = 256, features: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic data of one client (a linear rule, shifted per client)."""
    g = torch.Generator().manual_seed(partition_id)
    x = torch.randn(n, features, generator=g) + 0.1 * partition_id
    return x, (x[:, :4].sum(dim=1) > 0).long()


def train_model(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int = 1, batch_size: int = 32
) -> tuple[float, int]:
    """Local training; returns the mean loss and the number of optimizer steps."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for _ in range(epochs):
        for start in range(0, len(x), batch_size):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x[start : start + batch_size]), y[start : start + batch_size])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return sum(losses) / len(losses), len(losses)


app = ClientApp()


@app.train()
def train(msg: Message, context: Context) -> Message:
    partition_id = int(context.node_config["partition-id"])
    server_round = int(msg.content["config"]["server-round"])
    with edgebench.Monitor() as monitor, monitor.window("client") as measured:  # edgebench
        with monitor.window("download"):  # edgebench
            model = Net()
            model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
        with monitor.window("train"):  # edgebench
            x, y = load_partition(partition_id)
            loss, steps = train_model(model, x, y)
        with monitor.window("upload"):  # edgebench
            arrays = ArrayRecord(model.state_dict())
    measured.update(  # edgebench
        round=server_round,
        client_id=partition_id,
        num_examples=len(y),
        num_steps=steps,
        train_loss=loss,
        bytes_down=msg.content["arrays"].count_bytes(),
        bytes_up=arrays.count_bytes(),
    )
    record = ConfigRecord({k: v for k, v in measured.row().items() if v is not None})  # edgebench
    metrics = MetricRecord({"train_loss": loss, "num-examples": len(y)})
    return Message(RecordDict({"arrays": arrays, "metrics": metrics, EDGEBENCH_RECORD: record}), reply_to=msg)


class FedAvgWithRecords(FedAvg):
    """FedAvg that appends each client's edgebench record of the round to `csv_path`."""

    def __init__(self, csv_path: str | Path, **kwargs) -> None:
        super().__init__(**kwargs)
        self.csv_path = Path(csv_path)

    def aggregate_train(self, server_round: int, replies: Iterable[Message]):
        replies = list(replies)
        rows = [
            dict(r.content.config_records[EDGEBENCH_RECORD])
            for r in replies
            if r.has_content() and EDGEBENCH_RECORD in r.content.config_records
        ]
        append_window_rows(self.csv_path, rows)  # edgebench
        return super().aggregate_train(server_round, replies)


def run_federation(grid: Grid, csv_path: str | Path, num_rounds: int = 2) -> None:
    strategy = FedAvgWithRecords(csv_path, fraction_evaluate=0.0)
    strategy.start(grid=grid, initial_arrays=ArrayRecord(Net().state_dict()), num_rounds=num_rounds)


server_app = ServerApp()


@server_app.main()
def main(grid: Grid, context: Context) -> None:
    run_federation(grid, str(context.run_config.get("edgebench-csv", RECORDS_CSV)))


if __name__ == "__main__":
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        sys.exit("Flower's simulation runtime needs Ray: pip install 'edgebench[flower-sim]'")
    from flwr.simulation import run_simulation

    RECORDS_CSV = sys.argv[1] if len(sys.argv) > 1 else RECORDS_CSV
    run_simulation(server_app=server_app, client_app=app, num_supernodes=2)
    print(f"per-client round records: {RECORDS_CSV}")
