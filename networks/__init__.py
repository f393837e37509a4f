"""Networks for hashtag recommendation, trained by population optimizers or gradients.

Exports are loaded on first use (PEP 562), so ``import networks.metrics`` or the light baselines
do not import torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "DeepResNet": "networks.resnet",
    "HashtagRecommender": "networks.recommender",
    "TrainHistory": "networks.training",
    "train_population": "networks.training",
    "train_adam": "networks.training",
    "evaluate_loss": "networks.training",
    "batched_loss": "networks.population",
    "flat_size": "networks.population",
    "to_flat": "networks.population",
    "load_flat": "networks.population",
    "calibrate_batch_norm": "networks.population",
    "SupervisedProblem": "networks.neuro",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'networks' has no attribute {name!r}")
