"""Sine Cosine Algorithm (Mirjalili 2016), as the reference code SCA.m behaves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scpo.algorithms.base import Algorithm, Context, check_bool, check_number, clip, register, replaced


@dataclass
class SCAState:
    X: np.ndarray  # (N, D) positions
    fitness: np.ndarray  # (N,)


def sca_move(X, destination, r1, r2, r3, r4, xp=np):
    """X + r1 * sin(r2) * |r3 * P - X| where r4 < 0.5, else the same with cos (Eq. 3.3).
    ``xp`` is the array module (numpy, or torch for tensors)."""
    wave = xp.where(r4 < 0.5, xp.sin(r2), xp.cos(r2))
    return X + r1 * wave * xp.abs(r3 * destination - X)


@register
class SCA(Algorithm):
    """Sine Cosine Algorithm as SCA.m; ``greedy=True`` is mealpy's OriginalSCA.

    Reference behaviour: every agent moves, is clipped and evaluated; the
    destination P (best so far) is updated after the whole population moved.
    ``greedy=True`` is mealpy's OriginalSCA: an agent keeps the better of old and new, and
    out-of-bound coordinates are re-drawn uniformly instead of clipped.
    """

    name = "sca"
    initial_counts_as_iteration = True  # SCA.m: t = 2..T after the initial evaluation

    def __init__(self, a: float = 2.0, greedy: bool = False):
        if not np.isfinite(check_number("a", a)) or a <= 0:
            raise ValueError(f"a must be a positive number, got {a!r}")
        self.a, self.greedy = float(a), check_bool("greedy", greedy)

    def init(self, X, fitness, ctx: Context) -> SCAState:
        return SCAState(X, fitness)

    def ask(self, state: SCAState, ctx: Context) -> np.ndarray:
        shape = state.X.shape
        r1 = self.a - ctx.t * self.a / ctx.max_iter
        r2 = 2 * np.pi * ctx.rng.random(shape)
        r3 = 2 * ctx.rng.random(shape)
        r4 = ctx.rng.random(shape)
        moved = sca_move(state.X, ctx.best_x, r1, r2, r3, r4)
        if not self.greedy:
            return clip(moved, ctx)
        outside = (moved < ctx.lb) | (moved > ctx.ub)
        return np.where(outside, ctx.rng.uniform(ctx.lb, ctx.ub, shape), moved)

    def replace_members(self, state: SCAState, indices, X, fitness, ctx: Context) -> SCAState:
        return SCAState(*replaced(state.X, state.fitness, indices, X, fitness))

    def tell(self, state: SCAState, candidates, fitness, ctx: Context) -> tuple[SCAState, bool]:
        if not self.greedy:
            return SCAState(candidates, fitness), True
        better = fitness < state.fitness
        X = np.where(better[:, None], candidates, state.X)
        return SCAState(X, np.where(better, fitness, state.fitness)), True
