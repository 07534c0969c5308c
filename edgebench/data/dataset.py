"""In-memory text-classification datasets shared by loaders, partitioners and the engine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


class DataError(ValueError):
    """A dataset file or directory could not be read; the message names the path and the problem."""


@dataclass(frozen=True)
class TextDataset:
    """Parallel lists of texts and integer labels (0..num_labels-1), with the label names."""

    texts: list[str]
    labels: list[int]
    label_names: list[str]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"texts ({len(self.texts)}) and labels ({len(self.labels)}) differ in length")
        bad = [y for y in self.labels if not 0 <= y < len(self.label_names)]
        if bad:
            raise ValueError(f"label {bad[0]} outside 0..{len(self.label_names) - 1}")

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def subset(self, indices: Sequence[int]) -> TextDataset:
        """The rows at `indices`, in that order, with the same label names."""
        return TextDataset(
            texts=[self.texts[i] for i in indices],
            labels=[self.labels[i] for i in indices],
            label_names=list(self.label_names),
        )


@dataclass(frozen=True)
class DatasetSplits:
    """A train split (partitioned across clients), a held-out test split and, when `data.validation_fraction`
    is set, a validation split carved out of train; the global model is evaluated on :attr:`evaluation`."""

    train: TextDataset
    test: TextDataset
    name: str
    source: str
    notes: list[str] = field(default_factory=list)
    #: The train and the test split's files, when the format knows them (else `source` says where).
    files: tuple[str, str] | None = None
    #: Held out of the training rows (`data.validation_fraction`); None when the run evaluates on `test`.
    validation: TextDataset | None = None

    @property
    def eval_split(self) -> str:
        """The split the global model is evaluated on: `validation` when there is one, else `test`."""
        return "validation" if self.validation is not None else "test"

    @property
    def evaluation(self) -> TextDataset:
        """The rows of :attr:`eval_split`."""
        return self.validation if self.validation is not None else self.test
