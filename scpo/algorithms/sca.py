"""Sine Cosine Algorithm (Mirjalili 2016), as the reference code SCA.m behaves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from scpo.algorithms.base import Algorithm, Context, check_bool, check_number, clip, register, replaced


@dataclass
class SCAState:
    X: np.ndarray  # (N, D) positions
    fitness: np.ndarray  # (N,)


Variant = Literal["published", "invariant"]
VARIANTS: tuple[str, ...] = get_args(Variant)


def sca_move(X, destination, r1, r2, r3, r4, xp=np, invariant=False):
    """X + r1 * sin(r2) * |r3 * P - X| where r4 < 0.5, else the same with cos (Eq. 3.3).

    ``invariant=True``: X + r1 * sin(r2) * |r3 (P - X)| (see :class:`SCA`).
    ``xp`` is the array module (numpy, or torch for tensors)."""
    wave = xp.where(r4 < 0.5, xp.sin(r2), xp.cos(r2))
    if invariant:
        return X + r1 * wave * xp.abs(r3 * (destination - X))
    return X + r1 * wave * xp.abs(r3 * destination - X)


@register
class SCA(Algorithm):
    """Sine Cosine Algorithm as SCA.m; ``greedy=True`` is mealpy's OriginalSCA.

    Comparisons (under constraints they follow Deb's rules, :mod:`scpo.constraints`): the destination P is the
    engine's best so far; with ``greedy=True`` each agent keeps its move only if the new position is better.

    Reference behaviour: every agent moves, is clipped and evaluated; the
    destination P (best so far) is updated after the whole population moved.
    ``greedy=True`` is mealpy's OriginalSCA: an agent keeps the better of old and new, and
    out-of-bound coordinates are re-drawn uniformly instead of clipped.

    ``variant="invariant"`` (not the default: the published move is kept for fidelity)
    removes the move's structural bias towards the origin. The published step is
    ``|r3 P - X|``: the distance from X to the destination scaled about the *origin*, so
    after translating the problem by c (X -> X + c, P -> P + c) it becomes
    ``|r3 P - X + (r3 - 1) c|``: the step depends on where the origin is, and near the
    destination (X ~ P) it stays ``|r3 - 1| |P|`` instead of shrinking, so the swarm only
    settles where P ~ 0. The paper's reading of r3 is "a random weight for the destination
    that emphasizes (r3 > 1) or de-emphasizes (r3 < 1) its effect in defining the
    distance"; weighting the destination about the agent itself, ``X + r3 (P - X)``, gives
    the distance ``|r3 (P - X)|`` and the move ``X + r1 sin(r2) |r3 (P - X)|``, which
    commutes with translation (X' + c for X + c, P + c) and shrinks to 0 as X -> P.
    """

    name = "sca"
    initial_counts_as_iteration = True  # SCA.m: t = 2..T after the initial evaluation

    def __init__(self, a: float = 2.0, greedy: bool = False, variant: Variant = "published"):
        if not np.isfinite(check_number("a", a)) or a <= 0:
            raise ValueError(f"a must be a positive number, got {a!r}")
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(map(repr, VARIANTS))}, got {variant!r}")
        self.a, self.greedy, self.variant = float(a), check_bool("greedy", greedy), variant

    def init(self, X, fitness, ctx: Context) -> SCAState:
        return SCAState(X, fitness)

    def ask(self, state: SCAState, ctx: Context) -> np.ndarray:
        shape = state.X.shape
        r1 = self.a - ctx.t * self.a / ctx.max_iter
        r2 = 2 * np.pi * ctx.random(shape, "sca.r2")
        r3 = 2 * ctx.random(shape, "sca.r3")
        r4 = ctx.random(shape, "sca.r4")
        moved = sca_move(state.X, ctx.best_x, r1, r2, r3, r4, invariant=self.variant == "invariant")
        if not self.greedy:
            return clip(moved, ctx)
        outside = (moved < ctx.lb) | (moved > ctx.ub)
        return np.where(outside, ctx.uniform(shape, "sca.redraw"), moved)

    def replace_members(self, state: SCAState, indices, X, fitness, ctx: Context) -> SCAState:
        return SCAState(*replaced(state.X, state.fitness, indices, X, fitness))

    def tell(self, state: SCAState, candidates, fitness, ctx: Context) -> tuple[SCAState, bool]:
        if not self.greedy:
            return SCAState(candidates, fitness), True
        better = fitness < state.fitness
        X = np.where(better[:, None], candidates, state.X)
        return SCAState(X, np.where(better, fitness, state.fitness)), True
