"""A run's data, loaded and partitioned once and shared by every method (and tokenized once)."""

from __future__ import annotations

from dataclasses import dataclass

from edgebench.config import ExperimentConfig
from edgebench.data.dataset import DatasetSplits
from edgebench.data.partition import Partition, partition
from edgebench.fl.batches import TokenizedSplit


@dataclass
class PreparedData:
    """Data shared by every method of a run: splits, partition, and the token ids once tokenized
    (`eval_tokens`: the split the global model is evaluated on, test or validation)."""

    splits: DatasetSplits
    partition: Partition
    train_tokens: TokenizedSplit | None = None
    eval_tokens: TokenizedSplit | None = None

    def num_examples(self, cid: int) -> int:
        """Client `cid`'s training examples (its FedAvg weight)."""
        return len(self.partition.client_indices[cid])

    def describe(self) -> dict[str, object]:
        """run.json `data`: `eval_split` names the split rounds.csv's `eval_*` columns were computed on."""
        from edgebench.data.loaders import label_counts

        out: dict[str, object] = {
            "name": self.splits.name,
            "source": self.splits.source,
            "notes": self.splits.notes,
            "label_names": self.splits.train.label_names,
            "train_examples": len(self.splits.train),
            "test_examples": len(self.splits.test),
            # examples per label name: the report's majority-class (chance) rate comes from the test counts
            "train_label_counts": label_counts(self.splits.train),
            "test_label_counts": label_counts(self.splits.test),
            "eval_split": self.splits.eval_split,
        }
        if self.splits.validation is not None:
            out["validation_examples"] = len(self.splits.validation)
            out["validation_label_counts"] = label_counts(self.splits.validation)
        return out


def prepare_data(config: ExperimentConfig) -> PreparedData:
    """Load the dataset and partition its train split across `federation.num_clients` clients."""
    from edgebench.data.loaders import load_splits, require_two_classes

    base_dir = config.source.parent if config.source else None
    splits = load_splits(config.data, base_dir=base_dir, seed=config.seed)
    require_two_classes(config.data, splits)
    parts = partition(
        splits.train.labels, config.federation.num_clients, config.partition, config.seed, source=config.source
    )
    return PreparedData(splits=splits, partition=parts)
