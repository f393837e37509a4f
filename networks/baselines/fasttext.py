"""fastText-style classifier (Joulin et al. 2016) in torch: the mean of word and hashed word n-gram
embeddings, then a linear layer, trained with Adam on one-vs-all BCE.

Why not the ``fasttext`` package: PyPI has only a source distribution (0.9.3). Measured here
(Python 3.11, g++, numpy 2): it compiled, but ``train_supervised`` raised ``RuntimeError:
Encountered NaN`` on a trivial 2,000-line two-class corpus with both ``softmax`` and ``ova``
losses, and a compiled extension is a poor dependency for CI anyway. Re-implementing the model
(``nn.EmbeddingBag``) takes a few lines, shares the training loop and seeding of the other
baselines, and runs on CUDA. Differences from the C++ tool: Adam instead of SGD with a linearly
decaying rate, one-vs-all sigmoid outputs (fastText's ``-loss ova``) instead of hierarchical
softmax, and CRC32 instead of FNV hashing of n-grams.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch
from torch import nn

from ._base import check_positive_int
from ._torch import TorchTagger
from .text import PAD, UNK, Vocabulary, tokenize


class _FastTextModule(nn.Module):
    def __init__(self, n_embeddings: int, dim: int, n_labels: int):
        super().__init__()
        self.bag = nn.EmbeddingBag(n_embeddings, dim, mode="mean", padding_idx=PAD)
        self.fc = nn.Linear(dim, n_labels)
        nn.init.uniform_(self.bag.weight, -1.0 / dim, 1.0 / dim)  # fastText's initialisation
        with torch.no_grad():
            self.bag.weight[PAD].zero_()

    def forward(self, ids):
        return self.fc(self.bag(ids))


class FastTextTagger(TorchTagger):
    """Bag of words and word n-grams (``ngrams=2``: unigrams and bigrams) hashed into ``buckets``.

    Words come from a vocabulary built on the training texts (unknown words are ignored, as in
    fastText); n-grams of 2..``ngrams`` words are hashed into ``buckets`` extra embedding rows.
    """

    def __init__(
        self,
        embed_dim: int = 50,
        ngrams: int = 2,
        buckets: int = 2**18,
        min_freq: int = 1,
        max_len: int = 64,
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 0.01,
        patience: int = 3,
        loss: str = "bce",
        seed: int = 0,
        device: str = "cpu",
    ):
        self.embed_dim = embed_dim
        self.ngrams = ngrams
        self.buckets = buckets
        self.min_freq = min_freq
        self.max_len = max_len
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.loss = loss
        self.seed = seed
        self.device = device

    def _prepare(self, texts, Y):
        for name in ("embed_dim", "ngrams", "buckets", "max_len"):
            check_positive_int(name, getattr(self, name))
        self.vocab_ = Vocabulary(min_freq=self.min_freq).fit(texts)

    def _features(self, text: str) -> list[int]:
        toks = tokenize(text)[: self.max_len]
        ids = [i for i in (self.vocab_.index_.get(t, UNK) for t in toks) if i != UNK]
        offset = len(self.vocab_)
        for n in range(2, self.ngrams + 1):
            for j in range(len(toks) - n + 1):
                gram = " ".join(toks[j : j + n]).encode("utf-8")
                ids.append(offset + zlib.crc32(gram) % self.buckets)
        return ids

    def _encode(self, texts):
        feats = [self._features(t) for t in texts]
        width = max([1, *map(len, feats)])
        out = np.full((len(texts), width), PAD, dtype=np.int64)
        for i, f in enumerate(feats):
            out[i, : len(f)] = f
        return {"ids": torch.from_numpy(out)}

    def _build_module(self, n_labels):
        return _FastTextModule(len(self.vocab_) + self.buckets, self.embed_dim, n_labels)
