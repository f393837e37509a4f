"""Differential evolution, DE/rand/1/bin (Storn & Price 1997).

Choices:
- mutant ``v = x_r1 + F (x_r2 - x_r3)`` with ``r1, r2, r3`` distinct and different from
  the target, ``F = 0.5``;
- binomial crossover with ``CR = 0.9`` and one coordinate ``j_rand`` always taken from the
  mutant;
- a mutant coordinate outside the box is put halfway between the target's coordinate and
  the violated bound (the repair of JADE, Zhang & Sanderson 2009), which unlike clipping
  does not pile trials up on the bounds;
- greedy one-to-one selection: the trial replaces its target if it is not worse;
- the initial uniform population counts as iteration 1: ``T = max_evals // N``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scpo.algorithms.base import Algorithm, Context, check_number, check_positive_int, register, replaced


@dataclass
class DEState:
    X: np.ndarray  # (N, D) targets
    fitness: np.ndarray  # (N,)


def distinct_partners(rng: np.random.Generator, n: int, k: int = 3) -> np.ndarray:
    """(n, k) indices: row i holds k distinct indices, none equal to i, uniformly chosen."""
    offsets = np.argpartition(rng.random((n, n - 1)), k - 1, axis=1)[:, :k] + 1  # distinct in 1..n-1
    return (np.arange(n)[:, None] + offsets) % n


def sorted_partners(ctx: Context, n: int, k: int = 3) -> np.ndarray:
    """:func:`distinct_partners` under draws="counter": the offsets of the ``k`` smallest keys in ascending
    order, as the torch backend's ``topk`` gives them, so every backend picks the same partners."""
    offsets = np.argsort(ctx.random((n, n - 1), "de.partners"), axis=1, kind="stable")[:, :k] + 1
    return (np.arange(n)[:, None] + offsets) % n


@register
class DE(Algorithm):
    """DE/rand/1/bin with greedy selection.

    Comparisons (under constraints they follow Deb's rules, :mod:`scpo.constraints`): the greedy selection, each
    trial against its target, and the engine's best so far.
    """

    name = "de"
    initial_counts_as_iteration = True

    def __init__(self, F: float = 0.5, CR: float = 0.9):  # noqa: N803  (the literature's names)
        if not (np.isfinite(check_number("F", F)) and 0 < F <= 2):
            raise ValueError(f"F must be in (0, 2], got {F!r}")
        if not (np.isfinite(check_number("CR", CR)) and 0 <= CR <= 1):
            raise ValueError(f"CR must be in [0, 1], got {CR!r}")
        self.F, self.CR = float(F), float(CR)

    def population_size(self, pop_size: int | None, dim: int | None = None) -> int:
        return 30 if pop_size is None else check_positive_int("pop_size", pop_size, minimum=4)

    def init(self, X, fitness, ctx: Context) -> DEState:
        return DEState(X, fitness)

    def ask(self, state: DEState, ctx: Context) -> np.ndarray:
        X = state.X
        n, dim = X.shape
        r = distinct_partners(ctx.rng, n) if ctx.draws is None else sorted_partners(ctx, n)
        mutant = X[r[:, 0]] + self.F * (X[r[:, 1]] - X[r[:, 2]])
        mutant = np.where(mutant < ctx.lb, (ctx.lb + X) / 2, mutant)
        mutant = np.where(mutant > ctx.ub, (ctx.ub + X) / 2, mutant)
        cross = ctx.random((n, dim), "de.cross") < self.CR
        cross[np.arange(n), ctx.integers(0, dim, n, "de.forced")] = True
        return np.where(cross, mutant, X)

    def replace_members(self, state: DEState, indices, X, fitness, ctx: Context) -> DEState:
        return DEState(*replaced(state.X, state.fitness, indices, X, fitness))

    def tell(self, state: DEState, candidates, fitness, ctx: Context) -> tuple[DEState, bool]:
        keep = fitness <= state.fitness
        X = np.where(keep[:, None], candidates, state.X)
        return DEState(X, np.where(keep, fitness, state.fitness)), True
