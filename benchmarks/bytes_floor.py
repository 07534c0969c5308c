"""Benchmark 6: per-round payload bytes against the active-parameter floor (target: within 1 % + headers).

The floor of one payload is 4 bytes (float32) per value the method must send that round, computed
from the model's module shapes and the ranks each round broadcast (ranks.csv of the previous round):
  lora:       (out x r + r x in) per module + head        (both directions)
  ffa_lora:   out x r per module + head                   (both directions)
  fedara:     (out x r + r + r x in) per live module + head; uplink adds r scores per live module
  fedadalora: (out x r0 + r0 + r0 x in) per module + head (both directions)
Everything above the floor is the safetensors header (tensor names, shapes, offsets) plus FedARA's
JSON rank lists, so the benchmark reports it both as a ratio and as bytes per payload.

    python -m benchmarks.bytes_floor RUN_DIR
    python -m benchmarks.bytes_floor --smoke
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import pandas as pd
from torch import nn

from edgebench.config import parse_config
from edgebench.models import resolve_model


def module_shapes(config: dict, num_labels: int) -> tuple[dict[str, tuple[int, int]], int]:
    """(out, in) of every Linear by name, and the head's parameter count, for the run's model."""
    from edgebench.models.config import ModelConfig

    resolved = resolve_model(ModelConfig.model_validate(config["model"]), num_labels, seed=0)
    shapes = {n: tuple(m.weight.shape) for n, m in resolved.model.named_modules() if isinstance(m, nn.Linear)}
    head = sum(p.numel() for p in resolved.model.classifier.parameters())
    return shapes, head


def floors(run_dir: Path) -> pd.DataFrame:
    meta = json.loads((run_dir / "run.json").read_text())
    num_labels = len(meta["data"]["label_names"])
    shapes, head = module_shapes(meta["config"], num_labels)
    kinds = {label: m["method"] for label, m in meta["methods"].items()}
    params = {label: m["params"] for label, m in meta["methods"].items()}
    clients = pd.read_csv(run_dir / "clients.csv")
    ranks = pd.read_csv(run_dir / "ranks.csv")
    rows = []
    for (label, rnd), group in clients.groupby(["method", "round"]):
        kind = kinds[label]
        if kind not in ("lora", "ffa_lora", "fedara", "fedadalora"):
            continue
        if kind == "fedara" and rnd > 1:
            sent = ranks[(ranks["method"] == label) & (ranks["round"] == rnd - 1)].set_index("module")["rank"].to_dict()
        elif kind == "fedara":
            sent = {m: params[label]["r0"] for m in ranks[ranks["method"] == label]["module"].unique()}
        else:
            r = params[label].get("r", params[label].get("r0"))
            sent = {m: r for m in ranks[ranks["method"] == label]["module"].unique()}
        down = up = head
        for module, r in sent.items():
            out_f, in_f = shapes[module]
            if kind == "lora":
                values = out_f * r + r * in_f
            elif kind == "ffa_lora":
                values = out_f * r
            else:
                values = out_f * r + r + r * in_f if r else 0
            down += values
            up += values + (r if kind == "fedara" else 0)
        rows.append(
            {
                "method": label,
                "round": rnd,
                "bytes_down": int(group["bytes_down"].iloc[0]),
                "floor_down": 4 * down,
                "bytes_up": int(group["bytes_up"].iloc[0]),
                "floor_up": 4 * up,
            }
        )
    table = pd.DataFrame(rows)
    table["overhead_down"] = table["bytes_down"] - table["floor_down"]
    table["overhead_up"] = table["bytes_up"] - table["floor_up"]
    table["ratio_down"] = table["bytes_down"] / table["floor_down"]
    table["ratio_up"] = table["bytes_up"] / table["floor_up"]
    return table


def smoke_run(out: Path) -> Path:
    from edgebench.fl.engine import run_experiment
    from edgebench.fl.progress import Progress

    raw = {
        "model": {"name": "tiny-bert"},
        "data": {"dataset": "ag_news_sample", "max_train_examples": 200, "max_test_examples": 40},
        "federation": {"num_clients": 4, "clients_per_round": 2, "rounds": 3, "local_steps": 1, "batch_size": 8},
        "methods": [
            {"method": "lora", "r": 8},
            {"method": "ffa_lora", "r": 8},
            {"method": "fedara", "r0": 8, "r_target": 2, "t_init": 1, "t_final": 1},
            {"method": "fedadalora", "r0": 8, "r_target": 2},
        ],
    }
    run_dir, _ = run_experiment(parse_config(raw, out / "floor.yaml"), out=out / "run", progress=Progress(quiet=True))
    return run_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", nargs="?", type=Path)
    parser.add_argument("--smoke", action="store_true", help="run a tiny 4-method experiment first")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = smoke_run(Path(tmp)) if args.smoke or args.run_dir is None else args.run_dir
        table = floors(run_dir)
    if args.json:
        print(table.to_json(orient="records", indent=2))
        return 0
    print(table.to_string(index=False, float_format="{:.4f}".format))
    worst = table.groupby("method")[["ratio_down", "ratio_up", "overhead_down", "overhead_up"]].max()
    print("worst round per method (ratio = bytes / floor; overhead in bytes per payload):")
    print(worst.to_string(float_format="{:.4f}".format))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
