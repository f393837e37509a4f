"""What every algorithm shares: the step context, the ask/tell contract, the registry."""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np

Array = Any  # the backend's arrays: numpy's, or torch tensors (the torch backend)
REGISTRY: dict[str, type[Algorithm]] = {}
A = TypeVar("A", bound="Algorithm")


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
    """What a step may read besides its own state: randomness, bounds, schedule, best so far.

    A read-only view the engine builds for each ask and tell from its settings (bounds,
    ``max_iter``) and the run state (``t``, the best so far, the generator): an algorithm
    draws from ``rng`` and reads the rest, and never writes to it.
    """

    rng: np.random.Generator
    lb: Array
    ub: Array
    max_iter: int  # T, counted as the algorithm's reference code counts it
    t: int = 1  # the iteration being computed, 1-based
    best_x: Array | None = None
    best_f: float = np.inf
    draws: Any = None  # draws="counter": a scpo.draws.CounterDraws; None: the numbers come from ``rng``

    # The draws an algorithm makes, by name (``phase``, unique inside one iteration): from ``rng`` in call
    # order, or under draws="counter" a pure function of (seed, t, phase), the same on every backend.

    def random(self, shape, phase: str):
        """U[0, 1) of ``shape``."""
        return self.rng.random(shape) if self.draws is None else self.draws.random(shape, self.t, phase)

    def uniform(self, shape, phase: str):
        """Uniform in the box [lb, ub] (``shape[-1]`` is the dimension)."""
        if self.draws is None:
            return self.rng.uniform(self.lb, self.ub, shape)
        return self.lb + (self.ub - self.lb) * self.random(shape, phase)

    def normal(self, shape, phase: str):
        """Standard normals of ``shape``."""
        return self.rng.standard_normal(shape) if self.draws is None else self.draws.normal(shape, self.t, phase)

    def integers(self, low: int, high: int, size: int, phase: str):
        """``size`` integers uniform in ``[low, high)``."""
        if self.draws is None:
            return self.rng.integers(low, high, size=size)
        return self.draws.integers(low, high, size, self.t, phase)


class Algorithm:
    """One generation of one algorithm over whole-population arrays.

    ``init`` builds the state from the evaluated initial population; ``ask`` proposes the
    next candidates; ``tell`` takes their fitness and returns the new state and whether an
    iteration is complete (PO asks twice per iteration: campaign, then parliament).
    ``tell``'s ``candidates`` are the points evaluated, which may differ from the asked ones
    (``Optimizer.tell(candidates=)``, an engine-owned copy): algorithms with members keep them;
    distribution-based ones update from their own drawn samples.

    The algorithm object holds settings only and is never changed by a run
    (:meth:`for_population` returns a resolved copy). Updates: the numpy algorithms are
    functional (``tell`` returns a new state and never writes into arrays of the state it
    was given, nor into the candidates); the numba and torch implementations may update in
    place the arrays a state owns (its own buffers, never handed to the user, who gets
    copies unless they ask with ``copy=False``), and return the state to use next. Either
    way the caller must use the returned state and drop the old one.
    """

    name: ClassVar[str]
    # SCA's reference counts the initial evaluation as iteration 1; PO's does not.
    initial_counts_as_iteration: ClassVar[bool] = False
    # False: the state holds an object a checkpoint cannot store (refused before any evaluation)
    checkpointable: ClassVar[bool] = True
    # True: every ask is a uniform draw on the box (random search); with integral coordinates
    # (``Problem.integrality``) the engine maps it so each integer of [lb, ub] is equally likely
    uniform_asks: ClassVar[bool] = False
    # True: samples a distribution around a mean (cmaes, sep-cmaes, openai-es, snes, pgpe): ``x0`` is where
    # that mean starts, ``sigma0`` its initial step, and ``result.center`` the final mean
    distribution: ClassVar[bool] = False
    x0_unit: np.ndarray | None = None  # the start point in the unit box (for_start), None: the default
    step_unit: np.ndarray | None = None  # the initial per-coordinate step in the unit box, None: the default
    options: dict[str, Any]  # what create() made it with (a checkpoint names them); absent on a direct construction

    def population_size(self, pop_size: int | None, dim: int | None = None) -> int:
        """N for a requested ``pop_size`` (None: the default, which may depend on ``dim``)."""
        if pop_size is None:
            return 30
        return check_positive_int("pop_size", pop_size, minimum=2)

    def for_population(self, pop_size: int) -> Algorithm:
        """This algorithm with every setting that depends on the population size resolved (self if none)."""
        return self

    def for_start(self: A, x0: np.ndarray | None, step: np.ndarray | None) -> A:
        """This algorithm starting its mean at ``x0`` with per-coordinate step ``step`` (both in the unit box,
        ``(D,)`` numpy, ``None``: the default): distribution algorithms only (the engine's ``x0=``/``sigma0=``;
        population algorithms get an initial population around ``x0`` instead)."""
        return resolved_copy(self, x0_unit=x0, step_unit=step)

    def start(self, pop_size: int, ctx: Context) -> Any:
        """The state of a distribution algorithm at its start point, built without evaluating anything (its
        first ask is then its own sample); ``None``: it starts from an evaluated initial population (``init``)."""
        return None

    def center(self, state: Any, ctx: Context) -> Any:
        """The distribution's mean in the box (``result.center``); ``None`` for population algorithms."""
        return None

    def step_size(self, state: Any) -> Any:
        """The sampling distribution's standard deviation per coordinate, as a share of the range (an array
        or a scalar, in the state's array type): what ``tol_x`` and the loggers read. ``None`` for
        population algorithms, which have no step."""
        return None

    def converged(self, state: Any) -> str | None:
        """Why the algorithm's own termination criteria say its run is over (``cmaes``: ``cma``'s ``stop()``),
        or ``None``. Read by restarts (:mod:`scpo.restarts`), which then start the next run; a run without
        restarts goes on to its budget."""
        return None

    def for_restarts(self) -> Algorithm:
        """This algorithm as the later runs of a restart strategy (:mod:`scpo.restarts`): its population set by
        the strategy, any restart mechanism of its own off (self if nothing changes)."""
        return self

    def replace_members(self, state: Any, indices: np.ndarray, X: np.ndarray, fitness: np.ndarray,
                        ctx: Context) -> Any:
        """A state whose members ``indices`` sit at ``X`` with ``fitness`` (Lamarckian refinement).

        Called between iterations only (:meth:`scpo.engine.Optimizer.replace_members`).
        """
        raise ValueError(f"algorithm {self.name!r} cannot take replaced members (no replace_members)")

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


def check_bool(label: str, value: Any) -> bool:
    """``value`` if it is a real boolean; a one-line ValueError otherwise (``"false"`` is not False)."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise ValueError(f"{label} must be True or False, got {value!r}")


def check_number(label: str, value: Any) -> float:
    """``value`` as a float if it is a real number (not a bool, not a string); a one-line ValueError otherwise."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{label} must be a number, got {value!r}")
    return float(value)


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


def replaced(X: np.ndarray, fitness: np.ndarray, indices, X_new, fitness_new) -> tuple[np.ndarray, np.ndarray]:
    """Copies of ``X`` and ``fitness`` with rows ``indices`` replaced (the functional update)."""
    X, fitness = X.copy(), fitness.copy()
    X[indices], fitness[indices] = X_new, fitness_new
    return X, fitness


def resolved_copy(algorithm: A, **settings: Any) -> A:
    """A shallow copy of ``algorithm`` with ``settings`` set: the original stays as the user made it."""
    twin = copy.copy(algorithm)
    twin.__dict__.update(settings)
    return twin
