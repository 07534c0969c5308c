"""Training memory per client of MiniLM-L6-, DistilBERT- and Qwen2-0.5B-sized models, per method: *estimated*.

Each model is built on torch's meta device (no weight is allocated, nothing is downloaded) from the
dimensions of its published config.json; every method attaches its adapters with its default parameters
and the architecture's default target modules; :mod:`edgebench.models.memory` estimates one client's
local step from the resulting parameter counts (the formula is in that module and in docs/models.md).
Prints the Markdown tables of docs/models.md.

`--measure` also checks the estimate where a CPU can: each (model, method, setting) runs one real local
step (random weights of the published shapes, random tokens) in a fresh child process, which reports its
peak resident memory above what it held after imports (Linux `ru_maxrss`).

    python -m benchmarks.model_memory                      # estimates, batch 16, 128 tokens (federation defaults)
    python -m benchmarks.model_memory --seq-len 64 --batch-size 16
    python -m benchmarks.model_memory --measure            # + measured CPU peaks for MiniLM-L6 and DistilBERT
    python -m benchmarks.model_memory --smoke              # MiniLM-L6 only (exercised by the tests)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification

from edgebench.methods import get_method
from edgebench.models.memory import MIB, MemoryEstimate, estimate_training_memory
from edgebench.models.resolver import freeze_backbone
from edgebench.models.targets import default_targets

METHODS = ("lora", "ffa_lora", "fedara", "fedadalora")
NUM_LABELS = 4  # AG News

#: label -> (model_type, the published config.json's dimensions)
SIZED: dict[str, tuple[str, dict[str, Any]]] = {
    "MiniLM-L6 (sentence-transformers/all-MiniLM-L6-v2)": (
        "bert",
        {
            "hidden_size": 384,
            "num_hidden_layers": 6,
            "num_attention_heads": 12,
            "intermediate_size": 1536,
            "vocab_size": 30522,
            "max_position_embeddings": 512,
        },
    ),
    "DistilBERT (distilbert-base-uncased)": (
        "distilbert",
        {"dim": 768, "n_layers": 6, "n_heads": 12, "hidden_dim": 3072, "vocab_size": 30522},
    ),
    "Qwen2-0.5B (Qwen/Qwen2-0.5B)": (
        "qwen2",
        {
            "hidden_size": 896,
            "num_hidden_layers": 24,
            "num_attention_heads": 14,
            "num_key_value_heads": 2,
            "intermediate_size": 4864,
            "vocab_size": 151936,
            "max_position_embeddings": 131072,
            "tie_word_embeddings": True,
            "pad_token_id": 151643,
        },
    ),
}

#: (column, backbone dtype, activation dtype (autocast), gradient checkpointing)
SETTINGS = (
    ("float32", "float32", "float32", False),
    ("float32 + checkpointing", "float32", "float32", True),
    ("bfloat16", "bfloat16", "bfloat16", False),
    ("bfloat16 + checkpointing", "bfloat16", "bfloat16", True),
)


def build_on_meta(model_type: str, dims: dict[str, Any]) -> nn.Module:
    """A frozen sequence-classification model of these dimensions, on the meta device (no memory)."""
    config = AutoConfig.for_model(model_type, num_labels=NUM_LABELS, **dims)
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(config)
    freeze_backbone(model)
    return model


@dataclass
class Row:
    model: str
    targets: list[str]
    method: str
    rank: str
    estimates: list[MemoryEstimate]


def estimate_rows(batch_size: int, seq_len: int, models: list[str]) -> list[Row]:
    rows = []
    for label in models:
        model_type, dims = SIZED[label]
        for method in METHODS:
            spec = get_method(method)
            params = spec.params_model()
            client = spec.client_cls(params, seed=0, rounds=10, local_steps=10)
            base = build_on_meta(model_type, dims)
            choice = default_targets(base)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = client.build(base)
            rank = f"r0 = {params.r0}" if hasattr(params, "r0") else f"r = {params.r}"
            estimates = [
                estimate_training_memory(
                    model, batch_size, seq_len, backbone_dtype=b, activation_dtype=a, gradient_checkpointing=gc
                )
                for _, b, a, gc in SETTINGS
            ]
            rows.append(Row(label, choice.modules if choice else [], method, rank, estimates))
    return rows


def markdown(rows: list[Row], batch_size: int, seq_len: int) -> str:
    head = ["model", "method", "trainable", "frozen", *(f"{name} (MiB)" for name, *_ in SETTINGS)]
    lines = [
        f"Estimated training memory per client, batch {batch_size} x {seq_len} tokens, AdamW (not measured):",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(" --- " for _ in head) + "|",
    ]
    for row in rows:
        first = row.estimates[0]
        cells = [
            row.model,
            f"{row.method} ({row.rank})",
            f"{first.trainable_parameters:,}",
            f"{first.frozen_parameters / 1e6:,.1f}M",
            *(f"{e.total_bytes / MIB:,.0f}" for e in row.estimates),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def measure_child(job: dict[str, Any]) -> dict[str, Any]:
    """One real local step in this (fresh) process; its peak RSS above the RSS after imports, and the estimate."""
    import psutil

    from edgebench.methods.base import Placement, TrainSettings
    from edgebench.methods.common.training import local_train
    from edgebench.models.resolver import enable_gradient_checkpointing

    torch.set_num_threads(int(job.get("threads", 2)))
    runtime = psutil.Process().memory_info().rss
    model_type, dims = SIZED[job["model"]]
    config = AutoConfig.for_model(model_type, num_labels=NUM_LABELS, **dims)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = AutoModelForSequenceClassification.from_config(config)
    freeze_backbone(model)
    if getattr(model.config, "use_cache", False):
        model.config.use_cache = False
    if job["checkpointing"]:
        enable_gradient_checkpointing(model, job["model"])
    spec = get_method(job["method"])
    client = spec.client_cls(spec.params_model(), seed=0, rounds=10, local_steps=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = client.build(model)
    placement = Placement(autocast=job["precision"], backbone_dtype=job["precision"])
    model = placement.place(model)
    batch_size, seq_len = job["batch_size"], job["seq_len"]
    batch = {
        "input_ids": torch.randint(5, 1000, (batch_size, seq_len)),
        "attention_mask": torch.ones(batch_size, seq_len, dtype=torch.long),
        "labels": torch.randint(0, NUM_LABELS, (batch_size,)),
    }
    local_train(model, [batch], TrainSettings(lr=1e-3), placement)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    estimate = estimate_training_memory(
        model, batch_size, seq_len, backbone_dtype=job["precision"], activation_dtype=job["precision"]
    )
    return {
        **job,
        "runtime_mib": runtime / MIB,
        "measured_mib": (peak - runtime) / MIB,
        "estimate_mib": estimate.total_mib,
    }


MEASURED = (  # (method, precision, checkpointing): every method at float32, then lora's other settings
    *((method, "float32", False) for method in METHODS),
    ("lora", "float32", True),
    ("lora", "bfloat16", False),
)


def measure(batch_size: int, seq_len: int, models: list[str]) -> str:
    lines = [
        f"Measured on this CPU (peak RSS above the runtime), batch {batch_size} x {seq_len} tokens:",
        "",
        "| model | method | setting | measured (MiB) | estimate (MiB) | estimate / measured |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    runtime = []
    for label in models:
        for method, precision, checkpointing in MEASURED:
            job = {
                "model": label,
                "method": method,
                "precision": precision,
                "checkpointing": checkpointing,
                "batch_size": batch_size,
                "seq_len": seq_len,
            }
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.model_memory", "--child", json.dumps(job)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            result = json.loads(out.strip().splitlines()[-1])
            runtime.append(result["runtime_mib"])
            setting = precision + (" + checkpointing" if checkpointing else "")
            measured, estimate = result["measured_mib"], result["estimate_mib"]
            lines.append(
                f"| {label} | {method} | {setting} | {measured:,.0f} | {estimate:,.0f} | {estimate / measured:.2f} |"
            )
            print(lines[-1], file=sys.stderr, flush=True)
    lines += ["", f"Runtime after imports (not in the figures above): {min(runtime):,.0f} MiB RSS."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--smoke", action="store_true", help="MiniLM-L6 only")
    parser.add_argument("--measure", action="store_true", help="also measure MiniLM-L6 and DistilBERT on this CPU")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure_child(json.loads(args.child))))
        return
    models = list(SIZED)[:1] if args.smoke else list(SIZED)
    print(markdown(estimate_rows(args.batch_size, args.seq_len, models), args.batch_size, args.seq_len))
    if args.measure:
        print()
        print(measure(args.batch_size, args.seq_len, models[:2]))


if __name__ == "__main__":
    main()
