"""A simple tokenizer and a vocabulary built from the training texts only, shared by the torch models."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

# Words (letters/digits, with inner apostrophes), and @/# prefixed tokens kept whole.
_TOKEN = re.compile(r"[#@]?[^\W_]+(?:['\u2019][^\W_]+)*")

PAD, UNK = 0, 1


def tokenize(text: str) -> list[str]:
    """Lowercased word tokens; punctuation is dropped (the study fed split() tokens)."""
    return _TOKEN.findall(text.lower())


class Vocabulary:
    """Token <-> index map. Index 0 is padding, 1 is unknown; the rest by decreasing training count,
    ties alphabetical, so the same training texts always give the same indices."""

    def __init__(self, min_freq: int = 1, max_size: int | None = None):
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq!r}")
        if max_size is not None and max_size < 2:
            raise ValueError(f"max_size must be >= 2 (padding and unknown), got {max_size!r}")
        self.min_freq = min_freq
        self.max_size = max_size

    def fit(self, texts: Iterable[str]) -> Vocabulary:
        counts = Counter(tok for t in texts for tok in tokenize(t))
        kept = sorted((tok for tok, c in counts.items() if c >= self.min_freq), key=lambda w: (-counts[w], w))
        if self.max_size is not None:
            kept = kept[: self.max_size - 2]
        self.tokens_ = ["<pad>", "<unk>", *kept]
        self.index_ = {tok: i for i, tok in enumerate(self.tokens_)}
        return self

    @classmethod
    def from_tokens(cls, tokens, min_freq: int = 1, max_size: int | None = None) -> Vocabulary:
        """A fitted vocabulary with these ``tokens_`` (a saved one); padding and unknown come first."""
        if not isinstance(tokens, list) or tokens[:2] != ["<pad>", "<unk>"] or len(set(tokens)) != len(tokens) \
                or not all(isinstance(t, str) for t in tokens):
            raise ValueError("a vocabulary must be a list of distinct tokens starting with '<pad>', '<unk>'")
        vocab = cls(min_freq, max_size)
        vocab.tokens_ = list(tokens)
        vocab.index_ = {tok: i for i, tok in enumerate(vocab.tokens_)}
        return vocab

    def __len__(self) -> int:
        return len(self.tokens_)

    def ids(self, text: str) -> list[int]:
        return [self.index_.get(tok, UNK) for tok in tokenize(text)]

    def encode(self, texts: Sequence[str], max_len: int, padding: str = "right") -> np.ndarray:
        """``(n, max_len)`` int64 ids, truncated to the first ``max_len`` tokens and padded with 0.

        ``padding="left"`` puts the padding first, so a recurrent model's last step is the last word.
        """
        if padding not in ("left", "right"):
            raise ValueError(f"padding must be 'left' or 'right', got {padding!r}")
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len!r}")
        out = np.full((len(texts), max_len), PAD, dtype=np.int64)
        for i, text in enumerate(texts):
            ids = self.ids(text)[:max_len]
            if ids:
                if padding == "right":
                    out[i, : len(ids)] = ids
                else:
                    out[i, max_len - len(ids) :] = ids
        return out


def load_word_vectors(path: str, vocab: Vocabulary) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a word2vec/GloVe *text* file (``word v1 v2 ...``) for the words of ``vocab``.

    Returns ``(vectors (len(vocab), dim) float32, found (len(vocab),) bool)``; rows of words not in
    the file are zero and ``found`` is False there. A word2vec header line ``"count dim"`` is skipped.
    Only the words of the vocabulary are kept, so large files stream through in little memory.
    """
    vectors: np.ndarray | None = None
    found = np.zeros(len(vocab), dtype=bool)
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line_no, line in enumerate(fh, start=1):
            parts = line.rstrip().split(" ")
            if line_no == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue
            if len(parts) < 2:
                continue
            if vectors is None:
                vectors = np.zeros((len(vocab), len(parts) - 1), dtype=np.float32)
            if len(parts) - 1 != vectors.shape[1]:
                raise ValueError(f"{path}:{line_no}: {len(parts) - 1} values, expected {vectors.shape[1]} like line 1")
            idx = vocab.index_.get(parts[0].lower())
            if idx is not None and idx > UNK and not found[idx]:
                vectors[idx] = np.asarray(parts[1:], dtype=np.float32)
                found[idx] = True
    if vectors is None:
        raise ValueError(f"{path}: no word vectors found")
    return vectors, found
