"""The optimization problem: an objective over the whole population, and its bounds."""

from __future__ import annotations

import threading
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

    Hostile objectives: ``on_error="raise"`` stops with an error naming the failing
    candidate; ``"penalize"`` scores it +inf (counted in ``error_count``) and goes on.
    ``timeout`` bounds one objective call in seconds. ``n_jobs > 1`` evaluates a per-vector
    objective in that many joblib worker processes.
    """

    objective: Callable
    lb: np.ndarray | float
    ub: np.ndarray | float
    dim: int | None = None
    vectorized: bool = True
    name: str = "custom"
    f_opt: float | None = None
    x_opt: np.ndarray | None = None
    on_error: str = "raise"
    timeout: float | None = None
    n_jobs: int = 1
    nonfinite_count: int = field(default=0, init=False)
    error_count: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not callable(self.objective):
            raise ValueError(f"objective must be callable, got {self.objective!r}")
        if self.dim is not None and (not isinstance(self.dim, int | np.integer) or self.dim < 1):
            raise ValueError(f"dim must be a positive integer, got {self.dim!r}")
        if self.on_error not in ("raise", "penalize"):
            raise ValueError(f"on_error must be 'raise' or 'penalize', got {self.on_error!r}")
        if self.timeout is not None and not (isinstance(self.timeout, int | float) and self.timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout!r}")
        if isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, int | np.integer) or self.n_jobs < 1:
            raise ValueError(f"n_jobs must be a positive integer, got {self.n_jobs!r}")
        self.lb, self.ub = as_bounds(self.lb, self.ub, self.dim)
        self.dim = int(self.lb.size)

    def evaluate(self, population) -> np.ndarray:
        """Fitness of every row of ``population`` as a float array of shape (N,)."""
        n = len(population)
        if not self.vectorized or self.n_jobs > 1:
            return self.check_fitness(self._evaluate_rows(population, self.objective), n)
        value, error = _guarded(self.objective, population, self.timeout)
        if error is None:
            return self.check_fitness(value, n)
        if self.on_error == "penalize" and "timeout" not in error:  # find which rows fail
            return self.check_fitness(self._evaluate_rows(population, _first_of_batch(self.objective)), n)
        raise ObjectiveError(f"objective {self.name!r} {error}")

    def _evaluate_rows(self, population, function) -> np.ndarray:
        """One call per candidate (serial or in joblib workers); failures named or penalized."""
        if self.n_jobs > 1:
            from joblib import Parallel, delayed

            outcomes = Parallel(n_jobs=self.n_jobs)(delayed(_guarded)(function, x, self.timeout) for x in population)
        else:
            outcomes = [_guarded(function, x, self.timeout) for x in population]
        fitness = np.empty(len(population))
        for i, (value, error) in enumerate(outcomes):
            if error is None:
                value = np.asarray(value, dtype=float) if _is_number(value) else None
                if value is None or value.size != 1:
                    error = f"returned {_describe(outcomes[i][0])}, expected a scalar"
            if error is None:
                fitness[i] = value.reshape(())
            elif self.on_error == "penalize":
                fitness[i] = np.inf
                self.error_count += 1
            else:
                raise ObjectiveError(f"objective {self.name!r} failed on candidate {i}: {error}")
        return fitness

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


def _guarded(function, argument, timeout: float | None = None):
    """(value, None) or (None, what went wrong): exceptions and time-outs as data, not as crashes."""
    if timeout is None:
        try:
            return _to_numpy(function(argument)), None
        except Exception as exc:
            return None, f"raised {type(exc).__name__}: {exc}"
    outcome: list = [None, f"exceeded the evaluation timeout of {timeout} s"]

    def call() -> None:
        outcome[:] = _guarded(function, argument)

    worker = threading.Thread(target=call, daemon=True)  # a hung objective cannot be killed, only left
    worker.start()
    worker.join(timeout)
    return (None, f"exceeded the evaluation timeout of {timeout} s") if worker.is_alive() else tuple(outcome)


def _first_of_batch(objective):
    """A vectorized objective called on one row at a time."""
    return lambda x: np.asarray(_to_numpy(objective(x[None, :]))).reshape(-1)[0]


def _is_number(value) -> bool:
    try:
        return np.asarray(value).dtype.kind in "biuf"
    except (TypeError, ValueError):
        return False


def _describe(value) -> str:
    array = np.asarray(value) if _is_number(value) else None
    return f"shape {array.shape}" if array is not None else f"a {type(value).__name__}"


def _to_numpy(value):
    """Accept numpy arrays, scalars and (CPU or CUDA) torch tensors without importing torch."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)
