"""The backend interface, implemented by the numpy reference (what the engine did inline before)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from scpo.algorithms.base import Algorithm, Context
from scpo.problem import Problem, RunCounters


@dataclass(frozen=True)
class Evaluator:
    """How a run evaluates its candidates: ``evaluator(X) -> fitness``.

    ``kind`` names the code that computes the objective: ``"problem"`` (``Problem.evaluate``:
    the user's function, serial or parallel, guarded), ``"numba"`` (F1-F13 compiled),
    ``"torch"`` (F1-F13 as tensor code) or ``"torch-function"`` (the user's torch function
    called on the population tensor). ``checked``: the fitness comes back validated, NaN/inf
    already +inf and counted; otherwise the engine checks and counts it.
    """

    function: Callable
    kind: str
    checked: bool

    def __call__(self, X):
        return self.function(X)


@dataclass(frozen=True)
class Rounding:
    """Rounds the integral coordinates of a population (``Problem.integrality``), in the population's own
    array type: numpy, or torch on its device (``xp``). ``mask``, ``lb``, ``ub``, ``scale`` have shape (D,).

    ``rounding(X)``: nearest integer (ties to even), kept in ``[lb, ub]`` (integers there). ``rounding(X,
    uniform=True)``, for a uniform draw on ``[lb, ub]``: ``floor(lb + (X - lb) (ub - lb + 1) / (ub - lb))``,
    so each of the ``ub - lb + 1`` integers gets the same share (rounding would give the two end points half
    the share of the others). Continuous coordinates pass unchanged; the result is a new array.
    """

    mask: Any
    lb: Any
    ub: Any
    scale: Any
    xp: Any = np

    def __call__(self, X, uniform: bool = False):
        xp = self.xp
        rounded = xp.floor(self.lb + (X - self.lb) * self.scale) if uniform else xp.round(X)
        return xp.where(self.mask, xp.minimum(xp.maximum(rounded, self.lb), self.ub), X)


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
        draws = None
        if self.draws == "counter":
            from scpo.draws import CounterDraws

            draws = CounterDraws(seed)
        return Context(np.random.default_rng(seed), problem.lb, problem.ub, max_iter, draws=draws)

    def adapt(self, algorithm: Algorithm) -> Algorithm:
        """The algorithm as this backend runs it (the same options, another implementation)."""
        return algorithm

    def initial_population(self, ctx: Context, shape: tuple[int, int]):
        return ctx.uniform(shape, "init")

    def copy(self, X):
        return X.copy()

    def read_only(self, X):
        """``X`` (a copy handed to the user) made read-only, so an in-place edit raises instead of
        being lost; tensors have no such flag and are returned as they are."""
        X.setflags(write=False)
        return X

    def own(self, X):
        """Candidates told back by the user (``tell(candidates=)``) as a copy the engine owns, in this
        backend's array type and dtype: the algorithm may keep it as its state or reuse its memory."""
        return self.given_population(self.to_numpy(X))

    def rounding(self, problem: Problem) -> Rounding | None:
        """The :class:`Rounding` of ``problem``'s integral coordinates for this backend's populations
        (``None``: no integral coordinate)."""
        if problem.integrality is None:
            return None
        mask = problem.integrality
        scale = np.where(mask, (problem.ub - problem.lb + 1) / (problem.ub - problem.lb), 1.0)
        mask, lb, ub, scale = (self.constant(a) for a in (mask, problem.lb, problem.ub, scale))
        return Rounding(mask, lb, ub, scale, xp=self.array_module)

    array_module = np

    def constant(self, values: np.ndarray):
        """A constant numpy array (a mask, the bounds) as this backend's arrays: floats in the run's dtype."""
        return values if values.dtype == bool else values.astype(np.dtype(self.dtype))

    def warm_up(self, algorithm: Algorithm, problem: Problem) -> float:
        """Compile what a run of ``algorithm`` on ``problem`` will call, before the run's clock starts;
        returns the seconds it took (numba's kernels; nothing to do for numpy)."""
        return 0.0

    def as_population(self, X: np.ndarray):
        """A numpy population in this backend's array type (for probing an objective)."""
        return X

    def given_population(self, X: np.ndarray):
        """A caller's initial population (``Optimizer(initial_population=...)``): a copy in this
        backend's array type and dtype, which the algorithm may own."""
        return self.as_population(np.array(X, dtype=float))

    def evaluator(self, problem: Problem, counters: RunCounters) -> Evaluator:
        """Fitness of the optimizer's own candidates (which the objective must not see mutable)."""
        return Evaluator(lambda X: problem.evaluate(X.copy(), counters), "problem", True)

    def check_fitness(self, run, problem: Problem, fitness, n: int):
        """Fitness told from outside (or by an unchecked evaluator): validated, NaN/inf -> +inf, counted."""
        return problem.check_fitness(fitness, n, run.counters)

    def update_best(self, run, candidates, fitness) -> None:
        """Keep the run's best so far (``run.best_x``, ``run.best_fitness``) up to date."""
        best = int(np.argmin(fitness))
        if fitness[best] < run.best_fitness or run.best_x is None:
            run.best_fitness, run.best_x = float(fitness[best]), candidates[best].copy()

    def pending_nonfinite(self, run) -> int:
        """Non-finite values counted on the device and not yet in ``run.counters`` (torch)."""
        return 0

    def to_numpy(self, value) -> Any:
        return value

    def to_float(self, value) -> float:
        return float(value)

    # ---- checkpoints (scpo.checkpoint): what the numpy state needs to become this backend's again

    def restore(self, value):
        """A saved array as this backend's array (numpy: itself)."""
        return value

    def generator_state(self, settings) -> dict[str, np.ndarray]:
        """Random-number state beyond the run's numpy Generator (torch's own generator), as arrays."""
        return {}

    def load_generator_state(self, settings, arrays: dict[str, np.ndarray]) -> None:
        pass

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
