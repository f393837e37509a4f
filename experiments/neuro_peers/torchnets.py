"""The benchmark's networks in torch, written both ways people write them: an ``nn.Sequential`` and an
``nn.Module`` subclass with the same ``named_parameters`` order (so one flat vector loads into either)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class MLP(nn.Module):
    """The subclass: one ``nn.Linear`` per layer in a ``ModuleList``, the activation in ``forward``."""

    def __init__(self, sizes: list[int], activation: str = "relu"):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.activation = torch.tanh if activation == "tanh" else torch.relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)


def sequential(sizes: list[int], activation: str = "relu") -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.Tanh() if activation == "tanh" else nn.ReLU())
    return nn.Sequential(*layers)


def network(sizes: list[int], activation: str, style: str, weights=None, dtype=torch.float32) -> nn.Module:
    """``style``: "sequential" or "subclass"; ``weights``: a flat vector to load (torch's parameter order)."""
    net = (sequential if style == "sequential" else MLP)(sizes, activation).to(dtype)
    if weights is not None:
        flat = torch.as_tensor(np.asarray(weights), dtype=dtype)
        torch.nn.utils.vector_to_parameters(flat, net.parameters())
    return net
