"""Micro-benchmark: FedARA's local step time as ranks shrink and modules are pruned.

Runs the real client step (`FedARAClient.fit`: forward, orthogonality term, backward, AdamW step,
importance EMAs) on one model whose adapters are physically shrunk to each configuration in turn,
and prints mean milliseconds per local step with ratios against the full-rank configuration.
LoRA at the same r0 (PEFT) is timed the same way for reference.

    python -m benchmarks.fedara_compute                 # MiniLM-L6 (offline extra), batch 16, seq 64
    python -m benchmarks.fedara_compute --smoke         # tiny-bert, seconds (exercised by the tests)
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from dataclasses import dataclass

import torch

from edgebench.data.config import DataConfig
from edgebench.data.loaders import load_splits
from edgebench.fl.batches import collate, tokenize
from edgebench.methods import get_method
from edgebench.methods.base import TrainSettings
from edgebench.methods.fedara.config import FedARAParams
from edgebench.methods.lora.config import LoraParams
from edgebench.models import ModelConfig, resolve_model


@dataclass
class Timing:
    name: str
    active_rank: int
    active_modules: int
    trainable_params: int
    ms_per_step: float
    spread_ms: float


def _time_fit(client, model, payload, batches, repeats: int) -> tuple[float, float]:
    settings = TrainSettings(lr=1e-3)
    client.fit(model, payload, batches[:1], settings, None)  # warm-up (allocator, kernels)
    per_step = []
    for _ in range(repeats):
        start = time.perf_counter()
        client.fit(model, payload, batches, settings, None)
        per_step.append((time.perf_counter() - start) / len(batches) * 1000)
    return statistics.median(per_step), (max(per_step) - min(per_step)) / 2


def run(model_name: str, steps: int, repeats: int, batch_size: int, seq_len: int, r0: int) -> list[Timing]:
    splits = load_splits(DataConfig(dataset="ag_news_sample"))
    resolved = resolve_model(ModelConfig(name=model_name), splits.train.num_labels, seed=0)
    tokens = tokenize(resolved.tokenizer, splits.train, seq_len)
    batches = [collate(tokens, list(range(i * batch_size, (i + 1) * batch_size))) for i in range(steps)]
    pristine = copy.deepcopy(resolved.model)

    results: list[Timing] = []
    lora_spec = get_method("lora")
    lora_client = lora_spec.client_cls(LoraParams(r=r0), seed=0)
    lora_model = lora_client.build(copy.deepcopy(pristine))
    lora_server = lora_spec.server_cls(LoraParams(r=r0), total_rounds=1)
    lora_server.initialize(lora_client.initial_parameters(lora_model))
    ms, spread = _time_fit(lora_client, lora_model, lora_server.global_payload(), batches, repeats)
    trainable = sum(p.numel() for p in lora_model.parameters() if p.requires_grad)
    ranks = lora_server.module_ranks()
    results.append(Timing(f"lora r={r0}", sum(ranks.values()), len(ranks), trainable, ms, spread))
    del lora_model

    spec = get_method("fedara")
    params = FedARAParams(r0=r0, r_target=1, t_init=0, t_final=0)
    client = spec.client_cls(params, seed=0)
    model = client.build(copy.deepcopy(pristine))
    server = spec.server_cls(params, total_rounds=2)
    server.initialize(client.initial_parameters(model))
    modules = list(server.modules)
    half = len(modules) // 2
    plan = [
        (f"fedara r={r0} all modules", {m: r0 for m in modules}),
        (f"fedara r={max(r0 // 3, 1)} all modules", {m: max(r0 // 3, 1) for m in modules}),
        (
            f"fedara r={max(r0 // 3, 1)}, half pruned",
            {m: (max(r0 // 3, 1) if i >= half else 0) for i, m in enumerate(modules)},
        ),
        ("fedara all modules pruned (head only)", {m: 0 for m in modules}),
    ]
    for name, target in plan:
        for m in modules:  # scores that make exactly the first `target[m]` surviving triplets win
            keep = set(server.ids[m][: target[m]])
            server.smoothed[m] = torch.tensor([1.0 if rid in keep else 0.0 for rid in server.ids[m]])
        server._allocate(sum(target.values()))
        payload = server.global_payload()
        client.apply(model, payload)
        ms, spread = _time_fit(client, model, payload, batches, repeats)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        ranks = server.module_ranks()
        active = sum(1 for r in ranks.values() if r)
        results.append(Timing(name, sum(ranks.values()), active, trainable, ms, spread))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--steps", type=int, default=8, help="local steps per timed fit")
    parser.add_argument("--repeats", type=int, default=3, help="timed fits per configuration (median reported)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--r0", type=int, default=12)
    parser.add_argument("--smoke", action="store_true", help="tiny-bert, 2 steps, 1 repeat")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.smoke:
        args.model, args.steps, args.repeats, args.batch_size, args.seq_len = "tiny-bert", 2, 1, 4, 16
    results = run(args.model, args.steps, args.repeats, args.batch_size, args.seq_len, args.r0)
    if args.json:
        print(json.dumps([r.__dict__ for r in results], indent=2))
        return 0
    reference = results[1].ms_per_step
    print(
        f"model={args.model} batch={args.batch_size} seq={args.seq_len} steps={args.steps} repeats={args.repeats} "
        f"threads={torch.get_num_threads()}"
    )
    print(
        f"{'configuration':40s} {'rank':>5s} {'mods':>5s} {'trainable':>10s} {'ms/step':>9s} {'+-':>6s} {'vs full':>8s}"
    )
    for r in results:
        print(
            f"{r.name:40s} {r.active_rank:5d} {r.active_modules:5d} {r.trainable_params:10d} "
            f"{r.ms_per_step:9.1f} {r.spread_ms:6.1f} {r.ms_per_step / reference:7.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
