"""The TagFinder study's LSTM, with its batch-first bug fixed.

Embedding -> one unidirectional LSTM layer -> output at the last step -> ReLU -> linear. The
study built ``nn.LSTM(batch_first=True)`` but permuted its input to sequence-first and sized the
random initial state with the embedding width instead of the batch size, so the "batch" the LSTM
saw was the sequence axis. Here ``batch_first=True`` is used consistently with zero initial state,
and sequences are padded on the left (the study's own lesson) so the last step is the last word.
"""

from __future__ import annotations

import torch
from torch import nn

from ._base import check_positive_int
from ._torch import TorchTagger
from .text import PAD, Vocabulary


class _LSTMModule(nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_size, num_layers, dropout, n_labels):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.lstm = nn.LSTM(
            embed_dim,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.fc = nn.Linear(hidden_size, n_labels)

    def forward(self, ids):
        out, _ = self.lstm(self.embedding(ids))  # (batch, seq, hidden)
        return self.fc(torch.relu(out[:, -1, :]))


class LSTMTagger(TorchTagger):
    """LSTM over left-padded word ids (vocabulary from the training texts, truncated to ``max_len``)."""

    def __init__(
        self,
        embed_dim: int = 64,
        hidden_size: int = 64,
        num_layers: int = 1,
        dropout: float = 0.0,
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
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
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
        for name in ("embed_dim", "hidden_size", "num_layers", "max_len"):
            check_positive_int(name, getattr(self, name))
        self.vocab_ = Vocabulary(min_freq=self.min_freq).fit(texts)

    def _encode(self, texts):
        return {"ids": torch.from_numpy(self.vocab_.encode(texts, self.max_len, padding="left"))}

    def _build_module(self, n_labels):
        return _LSTMModule(len(self.vocab_), self.embed_dim, self.hidden_size, self.num_layers, self.dropout, n_labels)
