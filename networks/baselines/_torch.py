"""The training loop shared by the torch baselines (fastText, LSTM, Text ResNet, BERT).

Written once: Adam on (optionally IDF-weighted) binary cross-entropy over logits, mini-batches
shuffled by an explicit ``torch.Generator``, early stopping on the validation loss with the best
weights restored. Model code only says how texts become tensors and which module reads them.

Reproducibility without global state: ``fit`` runs inside ``torch.random.fork_rng``, seeded from
the estimator's ``seed``, so weight initialisation and dropout are repeatable and the caller's
global RNG state is the same after ``fit`` as before.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from features.torchutil import load_state, module_state

from ._base import BaseTagger, check_positive_int, idf_bce_weights, resolve_device, saved_array
from .text import Vocabulary

LOSSES = ("bce", "idf-bce")


@contextlib.contextmanager
def seeded(seed: int):
    """Fork the global CPU (and CUDA) RNG state, seed it, and restore it on exit."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class TorchTagger(BaseTagger):
    """Base of the gradient-trained baselines. Subclasses set the hyper-parameters in ``__init__``
    (at least ``epochs, batch_size, lr, patience, loss, seed, device``) and implement:

    * ``_prepare(texts, Y)``: learn what depends on the training texts (vocabulary, encoder);
    * ``_encode(texts) -> dict[str, Tensor]``: CPU tensors whose first dimension is the text;
    * ``_build_module(n_labels) -> nn.Module``: ``module(**batch)`` returns ``(b, L)`` logits.
    """

    _min_texts = 2  # batch-norm layers need two examples per batch

    def _fit(self, texts, Y, texts_val, Y_val):
        for name in ("epochs", "batch_size", "patience"):
            check_positive_int(name, getattr(self, name))
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if not isinstance(self.seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        lr = self._learning_rate()
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        self.device_ = resolve_device(self.device)
        self.loss_weights_ = idf_bce_weights(Y) if self.loss == "idf-bce" else None

        with seeded(int(self.seed)):
            self._prepare(texts, Y)
            X = self._encode(texts)
            Xv = self._encode(texts_val) if texts_val is not None else None
            self.module_ = self._build_module(Y.shape[1]).to(self.device_)
            self._train(X, torch.from_numpy(Y), Xv, None if Y_val is None else torch.from_numpy(Y_val), lr)

    def _learning_rate(self) -> float:
        return self.lr

    def _criterion(self, logits, target):
        w = self._weight_tensor
        return F.binary_cross_entropy_with_logits(logits, target, weight=w)

    def _train(self, X, Y, Xv, Yv, lr):
        dev = self.device_
        self._weight_tensor = (
            None if self.loss_weights_ is None else torch.as_tensor(self.loss_weights_, dtype=torch.float32, device=dev)
        )
        params = [p for p in self.module_.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=lr)
        gen = torch.Generator().manual_seed(int(self.seed))
        n, bs = Y.shape[0], int(self.batch_size)
        best_loss, best_state, bad = math.inf, None, 0
        self.history_ = []
        self.best_epoch_ = int(self.epochs)
        for epoch in range(1, int(self.epochs) + 1):
            self.module_.train()
            perm = torch.randperm(n, generator=gen)
            total, seen = 0.0, 0
            for start in range(0, n, bs):
                idx = perm[start : start + bs]
                if idx.numel() < 2:  # a lone last example breaks batch-norm; it is seen next epoch
                    continue
                batch = {k: v[idx].to(dev) for k, v in X.items()}
                loss = self._criterion(self.module_(**batch), Y[idx].to(dev))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * idx.numel()
                seen += idx.numel()
            record = {"epoch": epoch, "train_loss": total / max(seen, 1)}
            if Xv is not None:
                val_loss = self._mean_loss(Xv, Yv)
                record["val_loss"] = val_loss
                if val_loss < best_loss:
                    best_loss, bad, self.best_epoch_ = val_loss, 0, epoch
                    best_state = {k: v.detach().clone() for k, v in self.module_.state_dict().items()}
                else:
                    bad += 1
            self.history_.append(record)
            if Xv is not None and bad >= int(self.patience):
                break
        if best_state is not None:
            self.module_.load_state_dict(best_state)
        self.module_.eval()
        del self._weight_tensor

    @torch.no_grad()
    def _logits(self, X) -> torch.Tensor:
        self.module_.eval()
        n = next(iter(X.values())).shape[0]
        bs = max(int(self.batch_size), 256)
        outs = [
            self.module_(**{k: v[s : s + bs].to(self.device_) for k, v in X.items()}).float().cpu()
            for s in range(0, n, bs)
        ]
        return torch.cat(outs) if outs else torch.zeros((0, self.n_labels_))

    def _mean_loss(self, X, Y) -> float:
        return float(self._criterion(self._logits(X).to(self.device_), Y.to(self.device_)))

    def _predict(self, texts):
        return torch.sigmoid(self._logits(self._encode(texts))).numpy().astype(float)

    # state: the module's weights as arrays; vocabulary, history and loss weights in JSON ----------
    def _get_state(self):
        state = {
            "best_epoch": int(self.best_epoch_),
            "history": [{k: float(v) if k != "epoch" else int(v) for k, v in h.items()} for h in self.history_],
            "vocab": self.vocab_.tokens_ if hasattr(self, "vocab_") else None,
            **self._extra_state(),
        }
        arrays = module_state(self.module_, "module.")
        if self.loss_weights_ is not None:
            arrays["loss_weights"] = np.asarray(self.loss_weights_)
        return state, arrays

    def _set_state(self, state, arrays, where):
        self.device_ = resolve_device(self.device)
        self.best_epoch_ = int(state["best_epoch"])
        self.history_ = [dict(h) for h in state["history"]]
        self.loss_weights_ = None
        if "loss_weights" in arrays:
            self.loss_weights_ = saved_array(arrays, "loss_weights", (self.n_labels_,), where)
        if state["vocab"] is not None:
            try:
                self.vocab_ = Vocabulary.from_tokens(state["vocab"], self.min_freq)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
        self._restore_extra(state, where)
        with seeded(int(self.seed)):  # initial weights are overwritten; the caller's RNG is left alone
            module = self._build_module(self.n_labels_)
        self.module_ = load_state(module, arrays, where, prefix="module.").to(self.device_).eval()

    def _extra_state(self) -> dict:
        """Fitted settings besides the vocabulary that ``_build_module`` needs (JSON values)."""
        return {}

    def _restore_extra(self, state: dict, where: str) -> None:
        """Set what ``_extra_state`` saved, before ``_build_module`` is called."""

    # hooks -------------------------------------------------------------------------------------
    def _prepare(self, texts, Y):  # pragma: no cover - abstract
        raise NotImplementedError

    def _encode(self, texts) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _build_module(self, n_labels: int) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError
