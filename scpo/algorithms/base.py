"""What every algorithm shares: the step context, the ask/tell contract, the registry."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

REGISTRY: dict[str, type[Algorithm]] = {}


def register(cls: type[Algorithm]) -> type[Algorithm]:
    """Class decorator: make an algorithm reachable by name from the API, CLI and benchmarks."""
    REGISTRY[cls.name] = cls
    return cls


def names() -> list[str]:
    return sorted(REGISTRY)


def create(name: str, **options: Any) -> Algorithm:
    """Instantiate algorithm ``name`` with ``options``, turning bad options into one-line ValueErrors."""
    if name not in REGISTRY:
        raise ValueError(f"unknown algorithm {name!r}; choose from {', '.join(names())}")
    cls = REGISTRY[name]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"unknown option {unknown[0]!r} for {name}; accepted: {', '.join(accepted) or 'none'}"
        )
    algorithm = cls(**options)
    algorithm.options = dict(options)  # kept so a checkpoint can name what it was run with
    return algorithm


@dataclass
class Context:
    """What a step may read besides its own state: randomness, bounds, schedule, best so far."""

    rng: np.random.Generator
    lb: np.ndarray
    ub: np.ndarray
    max_iter: int  # T, counted as the algorithm's reference code counts it
    t: int = 1  # the iteration being computed, 1-based
    best_x: np.ndarray | None = None
    best_f: float = np.inf


class Algorithm:
    """One generation of one algorithm over whole-population arrays.

    ``init`` builds the state from the evaluated initial population; ``ask`` proposes the
    next candidates; ``tell`` takes their fitness and returns the new state and whether an
    iteration is complete (PO asks twice per iteration: campaign, then parliament).
    """

    name: ClassVar[str]
    # SCA's reference counts the initial evaluation as iteration 1; PO's does not.
    initial_counts_as_iteration: ClassVar[bool] = False

    def population_size(self, pop_size: int | None, dim: int | None = None) -> int:
        """N for a requested ``pop_size`` (None: the default, which may depend on ``dim``)."""
        if pop_size is None:
            return 30
        return check_positive_int("pop_size", pop_size, minimum=2)

    def iterations(self, pop_size: int, max_iter: int | None, max_evals: int | None) -> int:
        """Iterations T for a budget; by default T * N evaluations, initial population included."""
        from_evals = None if max_evals is None else max_evals // pop_size
        return _budget(max_iter, from_evals, max_evals, pop_size)

    def init(self, X: np.ndarray, fitness: np.ndarray, ctx: Context) -> Any:
        raise NotImplementedError

    def ask(self, state: Any, ctx: Context) -> np.ndarray:
        raise NotImplementedError

    def tell(self, state: Any, candidates: np.ndarray, fitness: np.ndarray, ctx: Context) -> tuple[Any, bool]:
        raise NotImplementedError


def check_positive_int(label: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{label} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _budget(max_iter, from_evals, max_evals, smallest_unit) -> int:
    if max_iter is not None:
        max_iter = check_positive_int("max_iter", max_iter)
    if max_evals is not None:
        check_positive_int("max_evals", max_evals)
        if from_evals < 1:
            raise ValueError(f"max_evals={max_evals} is below one iteration ({smallest_unit} evaluations)")
    if max_iter is None and from_evals is None:
        return 500
    if from_evals is None:
        return max_iter
    return from_evals if max_iter is None else min(max_iter, from_evals)


def clip(X: np.ndarray, ctx: Context) -> np.ndarray:
    return np.clip(X, ctx.lb, ctx.ub)
