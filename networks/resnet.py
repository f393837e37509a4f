"""The paper's Deep Residual Network (Section 3.4.1), sized for population training.

The feature vector ``mu = (f1..f9)`` is read as a 1-D signal of ``in_features`` positions with one
channel: a stem convolution, ``depth`` residual blocks (conv, batch norm, ReLU, conv, batch norm,
plus an identity shortcut, or a 1x1 convolution with batch norm where the channel count changes,
the paper's "dimension matching factor"), ReLU after the sum, global average pooling over the
positions, and a linear head. The paper's 2-D convolution has nothing to slide over in a vector of
nine numbers, so the convolutions are 1-D; nothing downsamples (the signal is already short).

The module returns logits. The link (softmax for single-label, sigmoid for ``multilabel=True``) is
applied by :func:`probabilities` and by the losses in :mod:`networks.population`, so the same
module serves gradient training (stable log-softmax) and the paper's MSE fitness.

Default size (``width=8, depth=2``, channels 8 then 16, 9 features, 10 tags): about 2,000 weights,
small enough that a population of 64 networks is evaluated in one batched pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["DeepResNet", "ResidualBlock", "probabilities", "seeded_init"]


@contextlib.contextmanager
def seeded_init(seed: int | None):
    """Run module construction under ``torch.manual_seed(seed)`` and restore the global RNG after.

    ``nn.Module`` initialisers draw from torch's global generator; forking it keeps construction
    reproducible from ``seed`` without changing the caller's random state. ``None``: no seeding.
    """
    if seed is None:
        yield
        return
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


class ResidualBlock(nn.Module):
    """``relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))``; the shortcut is the identity when the
    channel counts match, else a 1x1 convolution followed by batch norm (projection)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv1d(in_channels, out_channels, kernel_size, padding=pad, bias=False)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, kernel_size, padding=pad, bias=False)
        self.bn2 = nn.BatchNorm1d(out_channels)
        if in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv1d(in_channels, out_channels, 1, bias=False), nn.BatchNorm1d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


class DeepResNet(nn.Module):
    """Residual network over a feature vector; returns ``(batch, n_classes)`` logits.

    ``channels`` (one entry per residual block) overrides ``width``/``depth``; by default block ``i``
    has ``width * 2**i`` channels, so every block after the first uses a projection shortcut.
    ``kernel_size`` must be odd (same-length convolutions). ``seed`` makes the initial weights
    reproducible without touching the global RNG. Inputs may be ``(batch, in_features)`` or
    ``(batch, 1, in_features)``.
    """

    def __init__(self, in_features: int, n_classes: int, width: int = 8, depth: int = 2,
                 kernel_size: int = 3, multilabel: bool = False, channels: Sequence[int] | None = None,
                 seed: int | None = None):
        super().__init__()
        _check_int("in_features", in_features, 1)
        _check_int("n_classes", n_classes, 1)
        _check_int("kernel_size", kernel_size, 1)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (same-length convolutions), got {kernel_size}")
        if channels is None:
            _check_int("width", width, 1)
            _check_int("depth", depth, 1)
            channels = [width * 2**i for i in range(depth)]
        else:
            channels = list(channels)
            if not channels:
                raise ValueError("channels must name at least one residual block, got []")
            for i, c in enumerate(channels):
                _check_int(f"channels[{i}]", c, 1)
        self.in_features, self.n_classes, self.multilabel = in_features, n_classes, bool(multilabel)
        self.channels = tuple(channels)
        self.kernel_size = kernel_size
        with seeded_init(seed):
            self.stem = nn.Sequential(
                nn.Conv1d(1, channels[0], kernel_size, padding=kernel_size // 2, bias=False),
                nn.BatchNorm1d(channels[0]),
                nn.ReLU(),
            )
            blocks, previous = [], channels[0]
            for c in channels:
                blocks.append(ResidualBlock(previous, c, kernel_size))
                previous = c
            self.blocks = nn.Sequential(*blocks)
            self.pool = nn.AdaptiveAvgPool1d(1)
            self.head = nn.Linear(previous, n_classes)

    def config(self) -> dict:
        """The constructor arguments that rebuild this architecture (for saving)."""
        return {"in_features": self.in_features, "n_classes": self.n_classes, "channels": list(self.channels),
                "kernel_size": self.kernel_size, "multilabel": self.multilabel}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(-2)
        if x.dim() != 3 or x.shape[-2] != 1 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"expected input of shape (batch, {self.in_features}) or (batch, 1, {self.in_features}), "
                f"got {tuple(x.shape)}"
            )
        h = self.blocks(self.stem(x))
        return self.head(self.pool(h).flatten(-2))


def probabilities(logits: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """The output link: sigmoid per tag for multi-label, softmax over tags otherwise."""
    return torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=-1)
