"""Two torch helpers shared by the featurizer and the networks: the thread count for a block of
code, and loading a saved state dict with a one-line error when it does not fit the module."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import numpy as np
import torch
from torch import nn

__all__ = ["load_state", "module_state", "torch_threads"]


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``torch.set_num_threads(n)`` and restore the previous count; ``None`` changes nothing.

    Small networks gain little from intra-op threads, and on a shared machine threads that wait on
    each other can make a run several times slower (measured 2-10x for the featurizer's LSTM);
    ``n=1`` avoids that.
    """
    if n is None:
        yield
        return
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"num_threads must be an integer >= 1, got {n!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def module_state(module: nn.Module, prefix: str = "") -> dict[str, np.ndarray]:
    """The module's state dict as numpy arrays (on the CPU), keys prefixed with ``prefix``."""
    return {prefix + k: v.detach().cpu().contiguous().numpy() for k, v in module.state_dict().items()}


def load_state(module: nn.Module, arrays: Mapping[str, np.ndarray], where: str, prefix: str = "") -> nn.Module:
    """Load the arrays under ``prefix`` into ``module``; a missing, extra or mis-shaped entry is a
    one-line ValueError that starts with ``where``."""
    state = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
    expected = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    for key in sorted(set(expected) | set(state)):
        if key not in state:
            raise ValueError(f"{where}: array {prefix + key!r} is missing")
        if key not in expected:
            raise ValueError(f"{where}: unexpected array {prefix + key!r}")
        want, got = expected[key], np.asarray(state[key])
        if got.shape != want.shape or got.dtype != want.dtype:
            raise ValueError(f"{where}: array {prefix + key!r} is {got.dtype} {got.shape}, "
                             f"expected {want.dtype} {want.shape}")
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    return module
