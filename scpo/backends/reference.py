"""The backend interface, implemented by the numpy reference (what the engine did inline before)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from scpo.algorithms.base import Algorithm, Context
from scpo.problem import Problem


class Backend:
    """What the engine asks of a backend: a context, the algorithm's implementation, the
    initial population, evaluation, best-so-far tracking, and conversion of results.

    This base class is the numpy reference; numba and torch subclass it.
    """

    name = "numpy"

    def __init__(self, device: str = "cpu", dtype: str = "float64", draws: str = "native"):
        self.device, self.dtype, self.draws = device, dtype, draws

    def __repr__(self) -> str:
        return f"{type(self).__name__}(device={self.device!r}, dtype={self.dtype!r}, draws={self.draws!r})"

    def context(self, seed: int, problem: Problem, max_iter: int) -> Context:
        return Context(np.random.default_rng(seed), problem.lb, problem.ub, max_iter)

    def adapt(self, algorithm: Algorithm) -> Algorithm:
        """The algorithm as this backend runs it (the same options, another implementation)."""
        return algorithm

    def initial_population(self, ctx: Context, shape: tuple[int, int]):
        return ctx.rng.uniform(ctx.lb, ctx.ub, shape)

    def copy(self, X):
        return X.copy()

    def evaluator(self, problem: Problem) -> Callable:
        """Fitness of the optimizer's own candidates (which the objective must not see mutable)."""
        return lambda X: problem.evaluate(X.copy())

    def check_fitness(self, ctx: Context, problem: Problem, fitness, n: int):
        return problem.check_fitness(fitness, n)

    def update_best(self, ctx: Context, candidates, fitness) -> None:
        best = int(np.argmin(fitness))
        if fitness[best] < ctx.best_f or ctx.best_x is None:
            ctx.best_f, ctx.best_x = float(fitness[best]), candidates[best].copy()

    def nonfinite(self, ctx: Context, problem: Problem) -> int:
        return problem.nonfinite_count

    def to_numpy(self, value) -> Any:
        return value

    def to_float(self, value) -> float:
        return float(value)

    def floats(self, values: list) -> list[float]:
        return list(values)


def adapt_by_type(algorithm: Algorithm, table: dict, backend: str) -> Algorithm:
    """An instance of ``table[type(algorithm)]`` sharing the algorithm's settings."""
    cls = table.get(type(algorithm))
    if cls is None:
        supported = ", ".join(sorted(c.name for c in table))
        raise ValueError(f"algorithm {algorithm.name!r} has no {backend} implementation; "
                         f"use backend='numpy' or one of: {supported}")
    adapted = object.__new__(cls)
    adapted.__dict__.update(algorithm.__dict__)
    return adapted
