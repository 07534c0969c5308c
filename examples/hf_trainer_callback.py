"""Profile a Hugging Face Trainer with edgebench: one window per epoch, per N steps and per evaluation.

    python examples/hf_trainer_callback.py [OUT_CSV]

A tiny random-init BERT classifier on synthetic token ids (CPU, seconds); the only edgebench line is the
callback. Every window's record is appended to OUT_CSV (default: trainer-windows.csv).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

from edgebench.integrations.hf import EdgebenchCallback


class TokenDataset(torch.utils.data.Dataset):
    """Synthetic sequences; the label says whether token 7 occurs, so there is something to learn."""

    def __init__(self, n: int, seq_len: int = 16, vocab: int = 100, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(8, vocab, (n, seq_len), generator=g)
        self.ids[: n // 2, 3] = 7
        self.labels = (self.ids == 7).any(dim=1).long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "attention_mask": torch.ones_like(self.ids[i]), "labels": self.labels[i]}


def main(out_csv: str | Path = "trainer-windows.csv", epochs: int = 2, every_n_steps: int = 4) -> EdgebenchCallback:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=2
    )
    model = BertForSequenceClassification(config)
    callback = EdgebenchCallback(every_n_steps=every_n_steps, csv=out_csv)  # the edgebench line
    with tempfile.TemporaryDirectory() as output_dir:
        args = TrainingArguments(
            output_dir=output_dir,
            num_train_epochs=epochs,
            per_device_train_batch_size=16,
            per_device_eval_batch_size=32,
            learning_rate=1e-3,
            eval_strategy="epoch",
            save_strategy="no",
            logging_strategy="no",
            report_to="none",
            use_cpu=True,
            disable_tqdm=True,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=TokenDataset(160),
            eval_dataset=TokenDataset(64, seed=1),
            callbacks=[callback],
        )
        trainer.train()
    for window in callback.windows:
        print(
            f"{window.window:<14} {window.total_s:.3f} s  energy {window.energy_j} J  "
            f"steps {window.num_steps}  peak RSS {window.peak_rss_bytes} B"
        )
    print(f"provenance: {callback.windows[0].energy_provenance}")
    return callback


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "trainer-windows.csv")
