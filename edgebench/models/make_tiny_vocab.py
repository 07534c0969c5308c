"""Regenerate `tiny_vocab.txt`, the fixed WordPiece vocabulary of the random-init `tiny-bert` model.

The vocabulary is trained once on the bundled AG News sample and committed, because the tokenizers
trainer is not deterministic for small corpora (tie order varies between runs) and every process of
a federated run must share one vocabulary. Lines are in the trainer's order (specials, the alphabet,
then merges as learned), so the first N lines always form a usable WordPiece vocabulary.

    python -m edgebench.models.make_tiny_vocab
"""

from __future__ import annotations

from pathlib import Path

from edgebench.data.config import DataConfig
from edgebench.data.loaders import load_splits

VOCAB_PATH = Path(__file__).with_name("tiny_vocab.txt")
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def main(vocab_size: int = 4000) -> None:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False)
    tok.train_from_iterator(load_splits(DataConfig(dataset="ag_news_sample")).train.texts, trainer=trainer)
    ordered = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    VOCAB_PATH.write_text("".join(f"{token}\n" for token, _ in ordered))
    print(f"wrote {len(ordered)} tokens to {VOCAB_PATH}")


if __name__ == "__main__":
    main()
