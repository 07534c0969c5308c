"""Training memory per client of MiniLM-L6-, DistilBERT- and Qwen2-0.5B-sized models, per method: *estimated*.

Each model is built on torch's meta device (no weight is allocated, nothing is downloaded) from the
dimensions of its published config.json; every method attaches its adapters with its default parameters
and the architecture's default target modules; :mod:`edgebench.models.memory` estimates one client's
local step from the resulting parameter counts (the formula is in that module and in docs/models.md).
Nothing here is measured. Prints the Markdown tables of docs/models.md.

    python -m benchmarks.model_memory                      # batch 16, 128 tokens (federation defaults)
    python -m benchmarks.model_memory --seq-len 64 --batch-size 16
    python -m benchmarks.model_memory --smoke              # MiniLM-L6 only (exercised by the tests)
"""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--smoke", action="store_true", help="MiniLM-L6 only")
    args = parser.parse_args(argv)
    models = list(SIZED)[:1] if args.smoke else list(SIZED)
    print(markdown(estimate_rows(args.batch_size, args.seq_len, models), args.batch_size, args.seq_len))


if __name__ == "__main__":
    main()
