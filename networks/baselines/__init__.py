"""Baseline hashtag recommenders: scikit-learn-style estimators on raw texts and a 0/1 tag matrix.

Each has ``fit(texts, Y, texts_val=None, Y_val=None)`` and ``predict_proba(texts) -> (n, L)``.
Use the registry so the CLI, benchmarks and tests share one list::

    from networks import baselines
    model = baselines.get("tfidf-lr", strategy="label-powerset").fit(texts, Y, texts_val, Y_val)
    scores = model.predict_proba(test_texts)

A fitted model's ``get_state()`` is ``(state, arrays)``: a JSON-able dict (class, parameters,
vocabularies, fitted settings) and numpy arrays (weights; TF-IDF idf, logistic coefficients and
intercepts); ``get_class(name).from_state(state, arrays)`` rebuilds it with identical predictions.
``HashtagRecommender.save`` writes them as JSON plus safetensors.

The torch models (``fasttext``, ``lstm``, ``text-resnet``, ``bert``) are imported on first use, so
listing or using ``frequency`` and ``tfidf-lr`` does not import torch or transformers.
"""

from __future__ import annotations

import importlib

from ._base import BaseTagger, idf_bce_weights

__all__ = ["BaseTagger", "get", "idf_bce_weights", "names"]

_REGISTRY: dict[str, tuple[str, str]] = {
    "frequency": ("frequency", "FrequencyTagger"),
    "tfidf-lr": ("tfidf_lr", "TfidfLogisticTagger"),
    "fasttext": ("fasttext", "FastTextTagger"),
    "lstm": ("lstm", "LSTMTagger"),
    "text-resnet": ("resnet", "TextResNetTagger"),
    "bert": ("bert", "BertTagger"),
}


def names() -> list[str]:
    """Registered baseline names, in the order of the study's tables."""
    return list(_REGISTRY)


def get_class(name: str) -> type[BaseTagger]:
    """The estimator class registered under ``name``."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown baseline {name!r}; choose one of {names()}")
    module, cls = _REGISTRY[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def get(name: str, **params) -> BaseTagger:
    """A new, unfitted estimator ``name`` built with ``params`` (its ``__init__`` arguments)."""
    cls = get_class(name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"bad parameters for baseline {name!r}: {exc}") from exc
