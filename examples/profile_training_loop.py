"""Profile your own PyTorch training loop with edgebench: windows, nesting, callbacks, a decorator, a CSV.

    python examples/profile_training_loop.py [OUT_CSV]

A tiny classifier on synthetic data (CPU, seconds). Every window's record (time, energy gross and net with
provenance, mean power, peak memory, flags) is appended to OUT_CSV (default: windows.csv) with the
results contract's column names; a summary line per epoch is printed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

import edgebench


def make_data(n: int = 512, features: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic two-class data with a linear rule, so that training has something to learn."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    y = (x[:, :4].sum(dim=1) > 0).long()
    return x, y


def main(
    out_csv: str | Path = "windows.csv", epochs: int = 2, batch_size: int = 32
) -> list[edgebench.WindowMeasurement]:
    torch.manual_seed(0)
    x, y = make_data()
    model = nn.Sequential(nn.Linear(x.shape[1], 64), nn.ReLU(), nn.Linear(64, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()

    monitor = edgebench.Monitor(csv=out_csv)  # device profile and energy meter as `edgebench run` picks them

    @monitor.measure("evaluate")  # every call is a window
    def evaluate() -> float:
        with torch.no_grad():
            return (model(x).argmax(dim=1) == y).float().mean().item()

    epochs_done = []
    with monitor:  # starts the meter (and its sampler process, for power meters); closes it at the end
        for epoch in range(1, epochs + 1):
            with monitor.window(f"epoch-{epoch}") as window:
                losses = []
                for start in range(0, len(x), batch_size):
                    # begin_window/end_window: for code driven by callbacks; windows nest (epoch-1/step)
                    monitor.begin_window("step")
                    optimizer.zero_grad()
                    loss = loss_fn(model(x[start : start + batch_size]), y[start : start + batch_size])
                    loss.backward()
                    optimizer.step()
                    losses.append(loss.item())
                    monitor.end_window("step")
                # cells the caller knows, set inside the block, go into the CSV row too
                window.update(num_steps=len(losses), train_loss=sum(losses) / len(losses))
            accuracy = evaluate()
            epochs_done.append(window)
            print(
                f"epoch {epoch}: {window.total_s:.3f} s, energy {window.energy_j} J "
                f"({window.energy_provenance.split(':')[0]}), peak RSS {window.peak_rss_bytes} B, "
                f"accuracy {accuracy:.3f}, flags {window.flags or 'none'}"
            )
    print(f"{len(monitor.windows)} windows in {out_csv}")
    return epochs_done


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "windows.csv")
