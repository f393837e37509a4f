"""Particle swarm optimization: inertia weight, global-best topology (Shi & Eberhart 1998).

Choices (the literature varies; these are the common ones):
- inertia weight decreasing linearly from ``w_max = 0.9`` to ``w_min = 0.4`` over the run,
  ``w(t) = w_max - (w_max - w_min) t / T``;
- acceleration ``c1 = c2 = 2``, fresh ``U[0, 1)`` draws per particle and per dimension;
- global best = the best point found so far (the engine's ``ctx.best_x``);
- velocities start at zero and are clamped to ``+-vmax_fraction * (ub - lb)`` (20 %);
- positions are clipped to the bounds, and the stored velocity is the displacement
  actually made, so a particle that hits a wall loses that part of its speed;
- the initial uniform population counts as iteration 1: ``T = max_evals // N``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scpo.algorithms.base import Algorithm, Context, check_number, clip, register


@dataclass
class PSOState:
    X: np.ndarray  # (N, D) positions
    V: np.ndarray  # (N, D) velocities
    P: np.ndarray  # (N, D) personal best positions
    P_fitness: np.ndarray  # (N,)


@register
class PSO(Algorithm):
    """Global-best PSO with a linearly decreasing inertia weight and velocity clamping.

    Comparisons (under constraints they follow Deb's rules, :mod:`scpo.constraints`): each particle's personal
    best (new position against it) and the global best (the engine's best so far).
    """

    name = "pso"
    initial_counts_as_iteration = True

    def __init__(self, w_max: float = 0.9, w_min: float = 0.4, c1: float = 2.0, c2: float = 2.0,
                 vmax_fraction: float = 0.2):
        for label, value in (("w_max", w_max), ("w_min", w_min), ("c1", c1), ("c2", c2)):
            if not np.isfinite(check_number(label, value)) or value < 0:
                raise ValueError(f"{label} must be a non-negative number, got {value!r}")
        if w_min > w_max:
            raise ValueError(f"w_min must not exceed w_max, got w_min={w_min!r} > w_max={w_max!r}")
        if not (np.isfinite(check_number("vmax_fraction", vmax_fraction)) and 0 < vmax_fraction <= 1):
            raise ValueError(f"vmax_fraction must be in (0, 1], got {vmax_fraction!r}")
        self.w_max, self.w_min, self.c1, self.c2 = float(w_max), float(w_min), float(c1), float(c2)
        self.vmax_fraction = float(vmax_fraction)

    def init(self, X, fitness, ctx: Context) -> PSOState:
        return PSOState(X, np.zeros_like(X), X, fitness)

    def inertia(self, ctx: Context) -> float:
        return self.w_max - (self.w_max - self.w_min) * ctx.t / ctx.max_iter

    def ask(self, state: PSOState, ctx: Context) -> np.ndarray:
        shape = state.X.shape
        r1, r2 = ctx.random(shape, "pso.r1"), ctx.random(shape, "pso.r2")
        V = (self.inertia(ctx) * state.V + self.c1 * r1 * (state.P - state.X)
             + self.c2 * r2 * (ctx.best_x - state.X))
        vmax = self.vmax_fraction * (ctx.ub - ctx.lb)
        return clip(state.X + np.clip(V, -vmax, vmax), ctx)

    def replace_members(self, state: PSOState, indices, X, fitness, ctx: Context) -> PSOState:
        """Positions move (velocities kept); a personal best improves where the new fitness beats it."""
        positions = state.X.copy()
        positions[indices] = X
        better = np.zeros(len(state.X), dtype=bool)
        better[indices] = fitness < state.P_fitness[indices]
        P, P_fitness = state.P.copy(), state.P_fitness.copy()
        rows = np.asarray(indices)[better[indices]]
        P[rows], P_fitness[rows] = positions[rows], np.asarray(fitness)[better[indices]]
        return PSOState(positions, state.V, P, P_fitness)

    def tell(self, state: PSOState, candidates, fitness, ctx: Context) -> tuple[PSOState, bool]:
        better = fitness < state.P_fitness
        P = np.where(better[:, None], candidates, state.P)
        return PSOState(candidates, candidates - state.X, P, np.where(better, fitness, state.P_fitness)), True
