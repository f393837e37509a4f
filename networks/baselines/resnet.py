"""The TagFinder study's Text ResNet: a 1-D ResNet-18 over word embeddings.

Embedding -> conv (kernel 7, stride 2) + batch-norm + ReLU -> max-pool (3, stride 2) -> stages of
residual blocks (two 3-wide convs with batch-norm; the first block of every later stage halves the
length with a strided 1x1 projection shortcut) -> global average pool -> dropout -> linear.
The study used four stages of two blocks with 64/128/256/512 channels (the defaults); ``channels``
and ``blocks_per_stage`` make it smaller for tests and small corpora. Conv and linear weights use
Xavier initialisation, as in the study.

Word vectors: ``word_vectors`` names a local word2vec/GloVe text file. ``embedding="trainable"``
starts a trainable table from it, ``"frozen"`` keeps it fixed, and ``"both"`` concatenates the two
(the study's setting with GloVe 100d). Words missing from the file start from small random vectors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ._base import check_positive_int
from ._torch import TorchTagger
from .text import PAD, Vocabulary, load_word_vectors

EMBEDDINGS = ("trainable", "frozen", "both")


class _Residual(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv1d(c_in, c_out, 3, stride=stride, padding=1)
        self.bn1 = nn.BatchNorm1d(c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, padding=1)
        self.bn2 = nn.BatchNorm1d(c_out)
        self.shortcut = nn.Conv1d(c_in, c_out, 1, stride=stride) if (stride != 1 or c_in != c_out) else None

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class _TextResNetModule(nn.Module):
    def __init__(self, weights: torch.Tensor, embedding: str, channels, blocks_per_stage, dropout, n_labels):
        super().__init__()
        vocab_size, dim = weights.shape
        self.embedding = None
        self.constant_embedding = None
        if embedding in ("trainable", "both"):
            self.embedding = nn.Embedding(vocab_size, dim, padding_idx=PAD)
            self.embedding.weight.data.copy_(weights)
        if embedding in ("frozen", "both"):
            self.constant_embedding = nn.Embedding.from_pretrained(weights.clone(), freeze=True, padding_idx=PAD)
        c_in = dim * (2 if embedding == "both" else 1)
        layers: list[nn.Module] = [
            nn.Conv1d(c_in, channels[0], 7, stride=2, padding=3),
            nn.BatchNorm1d(channels[0]),
            nn.ReLU(),
            nn.MaxPool1d(3, stride=2, padding=1),
        ]
        prev = channels[0]
        for s, c in enumerate(channels):
            for b in range(blocks_per_stage):
                layers.append(_Residual(prev, c, stride=2 if (s > 0 and b == 0) else 1))
                prev = c
        layers += [nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Dropout(dropout)]
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(prev, n_labels)
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)

    def forward(self, ids):
        parts = [e(ids) for e in (self.embedding, self.constant_embedding) if e is not None]
        x = torch.cat(parts, dim=2).permute(0, 2, 1)  # (batch, channels, seq)
        return self.fc(self.body(x))


class TextResNetTagger(TorchTagger):
    """1-D ResNet over right-padded word embeddings (see the module docstring)."""

    def __init__(
        self,
        embed_dim: int = 100,
        channels: Sequence[int] = (64, 128, 256, 512),
        blocks_per_stage: int = 2,
        dropout: float = 0.5,
        word_vectors: str | None = None,
        embedding: str = "trainable",
        max_len: int = 64,
        min_freq: int = 1,
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 0.01,
        patience: int = 3,
        loss: str = "bce",
        seed: int = 0,
        device: str = "cpu",
    ):
        self.embed_dim = embed_dim
        self.channels = channels
        self.blocks_per_stage = blocks_per_stage
        self.dropout = dropout
        self.word_vectors = word_vectors
        self.embedding = embedding
        self.max_len = max_len
        self.min_freq = min_freq
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.loss = loss
        self.seed = seed
        self.device = device

    def _prepare(self, texts, Y):
        if self.embedding not in EMBEDDINGS:
            raise ValueError(f"embedding must be one of {EMBEDDINGS}, got {self.embedding!r}")
        if self.embedding != "trainable" and self.word_vectors is None:
            raise ValueError(f"embedding={self.embedding!r} needs word_vectors (a word-vector text file)")
        channels = tuple(self.channels)
        if not channels or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in channels):
            raise ValueError(f"channels must be a non-empty sequence of positive integers, got {self.channels!r}")
        check_positive_int("blocks_per_stage", self.blocks_per_stage)
        check_positive_int("embed_dim", self.embed_dim)
        check_positive_int("max_len", self.max_len)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        self.vocab_ = Vocabulary(min_freq=self.min_freq).fit(texts)
        n = len(self.vocab_)
        if self.word_vectors is None:
            weights = torch.randn(n, int(self.embed_dim))
            self.vectors_found_ = 0
        else:
            vectors, found = load_word_vectors(self.word_vectors, self.vocab_)
            scale = float(vectors[found].std()) if found.sum() > 1 else 0.1
            weights = torch.from_numpy(vectors)
            missing = torch.from_numpy(~found)
            weights[missing] = torch.randn(int(missing.sum()), vectors.shape[1]) * scale
            self.vectors_found_ = int(found.sum())
        weights[PAD] = 0.0
        self._init_weights = weights
        self.embed_dim_ = weights.shape[1]

    def _encode(self, texts):
        return {"ids": torch.from_numpy(self.vocab_.encode(texts, self.max_len, padding="right"))}

    def _build_module(self, n_labels):
        weights = self._init_weights
        del self._init_weights
        return _TextResNetModule(
            weights,
            self.embedding,
            [int(c) for c in self.channels],
            int(self.blocks_per_stage),
            float(self.dropout),
            n_labels,
        )

    def _extra_state(self):
        return {"embed_dim": int(self.embed_dim_), "vectors_found": int(self.vectors_found_)}

    def _restore_extra(self, state, where):
        self.embed_dim_, self.vectors_found_ = int(state["embed_dim"]), int(state["vectors_found"])
        check_positive_int("embed_dim", self.embed_dim_)
        self._init_weights = torch.zeros(len(self.vocab_), self.embed_dim_)  # replaced by the saved weights
