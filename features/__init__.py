"""Hashtag data and features: loading tweets, labels, cleaning, splits, and keyword-set features.

Knows nothing of optimizers or networks; `scpo` and `networks` build on it. Every export is loaded on
first use (PEP 562): ``features.text`` and the light baselines do not import torch, and
``features.torchutil`` does not import scikit-learn.
"""

import importlib

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


# Every export is loaded on first use: ``features.text`` pulls in scikit-learn (and with it pandas, about
# 110 MB of resident memory), which a user of ``features.torchutil`` (the networks' neuroevolution) never needs.
_LAZY = {
    **dict.fromkeys(["SOURCES", "collection_tag", "default_data_home", "load_tweets"], "features.data"),
    **dict.fromkeys(["Dataset", "build_dataset", "dataset_info"], "features.dataset"),
    **dict.fromkeys(["LEAKAGE_MODES", "STOP_WORDS", "analyze", "clean_text", "duplicate_key", "extract_hashtags",
                     "hashtag_tokens", "prepare_text", "tokenize"], "features.text"),
    **dict.fromkeys(["FEATURE_NAMES", "KeywordSetFeaturizer"], "features.keywords"),
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'features' has no attribute {name!r}")
