"""Uniform random search: the floor every optimizer must beat at the same budget."""

from __future__ import annotations

import numpy as np

from scpo.algorithms.base import Algorithm, Context, register


@register
class RandomSearch(Algorithm):
    """Uniform random search: each iteration draws a fresh population; the engine keeps the best seen.

    Comparisons (under constraints they follow Deb's rules, :mod:`scpo.constraints`): only the engine's best so
    far.
    """

    name = "random"
    initial_counts_as_iteration = True
    uniform_asks = True

    def init(self, X, fitness, ctx: Context) -> int:
        return X.shape[0]

    def ask(self, pop_size: int, ctx: Context) -> np.ndarray:
        return ctx.uniform((pop_size, ctx.lb.size), "uniform")

    def replace_members(self, pop_size: int, indices, X, fitness, ctx: Context) -> int:
        return pop_size  # no population is kept: only the best so far (the engine's) can change

    def tell(self, pop_size: int, candidates, fitness, ctx: Context) -> tuple[int, bool]:
        return pop_size, True
