"""Hashtag data and features: loading tweets, labels, cleaning, splits, and keyword-set features.

Knows nothing of optimizers or networks; `scpo` and `networks` build on it. The keyword-set featurizer
(torch) is loaded on first use (PEP 562), so ``features.text`` and the light baselines do not import torch.
"""

import importlib

from features.data import SOURCES, collection_tag, default_data_home, load_tweets
from features.dataset import Dataset, build_dataset, dataset_info
from features.text import (
    LEAKAGE_MODES,
    STOP_WORDS,
    analyze,
    clean_text,
    duplicate_key,
    extract_hashtags,
    hashtag_tokens,
    prepare_text,
    tokenize,
)

__all__ = [
    "FEATURE_NAMES",
    "LEAKAGE_MODES",
    "SOURCES",
    "STOP_WORDS",
    "Dataset",
    "KeywordSetFeaturizer",
    "analyze",
    "build_dataset",
    "clean_text",
    "collection_tag",
    "dataset_info",
    "default_data_home",
    "duplicate_key",
    "extract_hashtags",
    "hashtag_tokens",
    "load_tweets",
    "prepare_text",
    "tokenize",
]


_LAZY = {"FEATURE_NAMES": "features.keywords", "KeywordSetFeaturizer": "features.keywords"}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'features' has no attribute {name!r}")
