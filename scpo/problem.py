"""The optimization problem: an objective over the whole population, and its bounds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


class ObjectiveError(ValueError):
    """The objective raised, or returned something that is not one finite-or-inf number per candidate."""


def as_bounds(lb, ub, dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Broadcast scalar or per-dimension bounds to two float arrays of shape (dim,), checking lb < ub."""
    lb_arr = np.atleast_1d(np.asarray(lb, dtype=float))
    ub_arr = np.atleast_1d(np.asarray(ub, dtype=float))
    if lb_arr.ndim != 1 or ub_arr.ndim != 1:
        raise ValueError(f"bounds must be scalars or 1-D, got shapes {lb_arr.shape} and {ub_arr.shape}")
    if dim is None:
        dim = max(lb_arr.size, ub_arr.size)
    if dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim}")
    try:
        lb_arr, ub_arr = np.broadcast_to(lb_arr, (dim,)).copy(), np.broadcast_to(ub_arr, (dim,)).copy()
    except ValueError:
        raise ValueError(
            f"bounds of length {lb_arr.size} and {ub_arr.size} do not match dim={dim}"
        ) from None
    if not (np.all(np.isfinite(lb_arr)) and np.all(np.isfinite(ub_arr))):
        raise ValueError(f"bounds must be finite, got lb={lb_arr.tolist()} ub={ub_arr.tolist()}")
    bad = np.flatnonzero(lb_arr >= ub_arr)
    if bad.size:
        i = bad[0]
        raise ValueError(f"lower bound must be below upper bound: lb[{i}]={lb_arr[i]} >= ub[{i}]={ub_arr[i]}")
    return lb_arr, ub_arr


@dataclass
class Problem:
    """An objective to minimize inside a box.

    ``objective`` maps the whole population ``(N, D) -> (N,)`` in one call; pass
    ``vectorized=False`` for a plain function of one vector ``(D,) -> float`` and it is
    wrapped. NaN and inf are scored +inf (counted in ``nonfinite_count``) so a broken
    candidate can never become the best one.
    """

    objective: Callable
    lb: np.ndarray | float
    ub: np.ndarray | float
    dim: int | None = None
    vectorized: bool = True
    name: str = "custom"
    f_opt: float | None = None
    x_opt: np.ndarray | None = None
    nonfinite_count: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not callable(self.objective):
            raise ValueError(f"objective must be callable, got {self.objective!r}")
        if self.dim is not None and (not isinstance(self.dim, int | np.integer) or self.dim < 1):
            raise ValueError(f"dim must be a positive integer, got {self.dim!r}")
        self.lb, self.ub = as_bounds(self.lb, self.ub, self.dim)
        self.dim = int(self.lb.size)

    def evaluate(self, population) -> np.ndarray:
        """Fitness of every row of ``population`` as a float array of shape (N,)."""
        n = len(population)
        if self.vectorized:
            try:
                raw = self.objective(population)
            except Exception as exc:  # the user's code: report it as ours, with context
                raise ObjectiveError(f"objective {self.name!r} raised {type(exc).__name__}: {exc}") from exc
            fitness = _to_numpy(raw)
        else:
            fitness = np.empty(n)
            for i in range(n):  # only for user functions that cannot take a population
                try:
                    value = np.asarray(_to_numpy(self.objective(population[i])), dtype=float)
                except Exception as exc:
                    raise ObjectiveError(
                        f"objective {self.name!r} raised {type(exc).__name__} on candidate {i}: {exc}"
                    ) from exc
                if value.size != 1:
                    raise ObjectiveError(
                        f"objective {self.name!r} returned shape {value.shape} for candidate {i}, expected a scalar"
                    )
                fitness[i] = value.reshape(())
        return self.check_fitness(fitness, n)

    def check_fitness(self, fitness, n: int) -> np.ndarray:
        """Validate a fitness vector for ``n`` candidates; NaN and inf become +inf."""
        fitness = np.asarray(_to_numpy(fitness))
        if fitness.shape != (n,):
            if fitness.size == n and fitness.ndim == 2 and 1 in fitness.shape:
                fitness = fitness.reshape(n)
            else:
                raise ObjectiveError(
                    f"objective {self.name!r} returned shape {fitness.shape} for {n} candidates, expected ({n},)"
                )
        try:
            fitness = fitness.astype(float)
        except (TypeError, ValueError):
            raise ObjectiveError(f"objective {self.name!r} returned non-numeric values ({fitness.dtype})") from None
        bad = ~np.isfinite(fitness)
        if bad.any():
            self.nonfinite_count += int(bad.sum())
            fitness = np.where(bad, np.inf, fitness)
        return fitness


def _to_numpy(value):
    """Accept numpy arrays, scalars and (CPU or CUDA) torch tensors without importing torch."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)
