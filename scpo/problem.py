"""The optimization problem: an objective over the whole population, and its bounds."""

from __future__ import annotations

import numbers
import pickle
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np

from scpo.constraints import as_constraints
from scpo.executors import ExecutorError, check_executor, make_executor

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


class ObjectiveError(ValueError):
    """The objective raised, or returned something that is not one finite-or-inf number per candidate.

    When the objective raised, ``__cause__`` is its exception (rebuilt from a worker's copy for
    joblib and Ray, without the traceback object) and ``frames`` the (file, line) pairs of the
    failing call, outermost first, so a user sees where in their code it failed.
    """

    frames: tuple = ()


@dataclass
class RunCounters:
    """What went wrong while evaluating, counted once per evaluation.

    ``nonfinite``: the objective returned NaN or inf (scored +inf); ``errors``: it raised or
    returned something unusable and ``on_error="penalize"`` scored it +inf (not also counted
    as non-finite); ``worker_restarts``: Ray workers replaced. A run owns one (its
    ``RunState.counters``); a :class:`Problem` keeps another for its whole lifetime.
    """

    nonfinite: int = 0
    errors: int = 0
    worker_restarts: int = 0

    def add(self, other: RunCounters) -> None:
        self.nonfinite += other.nonfinite
        self.errors += other.errors
        self.worker_restarts += other.worker_restarts


def as_bounds(lb: ArrayLike, ub: ArrayLike, dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
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
    with np.errstate(over="ignore"):
        wide = np.flatnonzero(~np.isfinite(ub_arr - lb_arr))
    if wide.size:  # every algorithm maps the box as lb + u (ub - lb): an infinite width makes inf and NaN
        i = wide[0]
        raise ValueError(f"the box is wider than float64 holds: ub[{i}] - lb[{i}] = {ub_arr[i]} - ({lb_arr[i]}) "
                         "overflows; rescale the variables")
    return lb_arr, ub_arr


def check_integrality(integrality: Any, lb: np.ndarray, ub: np.ndarray) -> np.ndarray | None:
    """``integrality`` (scipy's: one boolean per dimension, or one for all) as a read-only boolean
    mask of shape (dim,), or ``None`` when no coordinate is integral.

    An integral coordinate's bounds must be integers (a one-line ValueError naming the dimension and
    the value otherwise), so rounding a point of the box never leaves it."""
    if integrality is None:
        return None
    dim = lb.size
    values = np.asarray(integrality)
    if values.dtype.kind not in "biu" or (values.dtype.kind in "iu" and not np.isin(values, (0, 1)).all()):
        raise ValueError(f"integrality must be booleans (True/False or 1/0), one per dimension or one for all, "
                         f"got {_short(integrality)}")
    if values.ndim == 0:
        values = np.full(dim, bool(values))
    elif values.ndim != 1 or values.size != dim:
        raise ValueError(f"integrality must give one boolean per dimension ({dim}) or one for all, "
                         f"got shape {values.shape}")
    mask = values.astype(bool)
    for name, bound in (("lb", lb), ("ub", ub)):
        bad = np.flatnonzero(mask & (bound != np.floor(bound)))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"integrality: dimension {i} is integral but its bound {name}[{i}]={float(bound[i])} "
                             "is not an integer; give integral coordinates integer bounds")
    if not mask.any():
        return None
    mask.setflags(write=False)
    return mask


@dataclass
class Problem:
    """An objective to minimize inside a box.

    ``objective`` maps the whole population ``(N, D) -> (N,)`` in one call (``vectorized=True``)
    or one vector ``(D,) -> float`` (``vectorized=False``, it is wrapped). The default,
    ``vectorized="auto"``, decides on the first evaluation by calling the objective once on a
    small population whose size differs from the dimension (:func:`detect_vectorized`): a
    per-vector function called on a population of N == D rows can return N numbers that mean
    nothing, so nothing is assumed. Say ``vectorized=True`` when it is, to save the probe call.
    NaN and inf are scored +inf (counted as non-finite) so a broken candidate can never become
    the best one.

    Hostile objectives: ``on_error="raise"`` stops with an error naming the failing
    candidate; ``"penalize"`` scores it +inf (counted as an error, once) and goes on.
    ``timeout`` bounds one objective call in seconds.

    Where it runs: ``executor="serial"`` (this process), ``"joblib"`` (``n_jobs`` worker
    processes) or ``"ray"`` (``n_jobs`` Ray actors holding the objective, on the cluster at
    ``ray_address`` or a local Ray instance; needs the ``distributed`` extra). ``n_jobs > 1``
    alone means joblib. A parallel executor gets the population in ``n_jobs`` contiguous
    chunks: a per-vector objective is called once per candidate, a vectorized one once per
    chunk. Ray workers that die are replaced and their chunk is run again (counted in
    ``worker_restarts``). ``close()`` (or ``with problem:``) ends the workers; ``minimize``
    does it when it returns.

    Integer and mixed variables: ``integrality`` (as scipy's ``differential_evolution``: one
    boolean per dimension, or one for all) makes those coordinates integral in every candidate
    a run evaluates and in its result (the engine rounds what the algorithm asks,
    :class:`scpo.engine.Optimizer`); their bounds must be integers. Stored as a read-only
    boolean mask, or ``None`` when no coordinate is integral.

    Constraints: ``constraints`` (``g(x) <= 0``: a callable, vectorized or per vector, or scipy's
    ``NonlinearConstraint``/``LinearConstraint``, or a list; :mod:`scpo.constraints`) make every
    comparison of a run follow Deb's feasibility rules; :meth:`violation` gives each row's total
    violation. Stored as a :class:`scpo.constraints.Constraints`, or ``None``.

    Counters: ``evaluate(X, counters)`` adds to the run's :class:`RunCounters`; the problem's
    own ``nonfinite_count``, ``error_count`` and ``worker_restarts`` are lifetime totals over
    every evaluation it ever made (all runs included), for direct ``evaluate`` calls.
    """

    objective: Callable
    lb: np.ndarray  # given as a number or a sequence (see __init__ below): a (D,) float array once built
    ub: np.ndarray
    dim: int = cast(int, None)  # None: the bounds' length; an int once built
    vectorized: bool | str = "auto"
    name: str = "custom"
    f_opt: float | None = None
    x_opt: np.ndarray | None = None
    on_error: str = "raise"
    timeout: float | None = None
    n_jobs: int = 1
    executor: str = cast(str, None)  # None: "joblib" when n_jobs > 1, else "serial"
    ray_address: str | None = None
    integrality: Any = None
    constraints: Any = None
    totals: RunCounters = field(default_factory=RunCounters, init=False, repr=False, compare=False)
    _pool: Any = field(default=None, init=False, repr=False, compare=False)
    # True in a subclass whose objective never writes into the population it is given: the torch backend then
    # passes its own tensor, not a copy (a copy a generation costs P x D memory and time: 2.7 % of a
    # generation at 85k weights, population 256). numpy arrays are passed read-only whatever this says.
    reads_input_only: ClassVar[bool] = False

    if TYPE_CHECKING:  # what callers may pass; the fields above hold what __post_init__ makes of it
        def __init__(self, objective: Callable, lb: ArrayLike, ub: ArrayLike,
                     dim: int | None = None, vectorized: bool | str = "auto", name: str = "custom",
                     f_opt: float | None = None, x_opt: np.ndarray | None = None, on_error: str = "raise",
                     timeout: float | None = None, n_jobs: int = 1, executor: str | None = None,
                     ray_address: str | None = None, integrality: Any = None,
                     constraints: Any = None) -> None: ...

    def __post_init__(self) -> None:
        if not callable(self.objective):
            raise ValueError(f"objective must be callable, got {self.objective!r}")
        if self.dim is not None and (not isinstance(self.dim, int | np.integer) or self.dim < 1):
            raise ValueError(f"dim must be a positive integer, got {self.dim!r}")
        if self.vectorized not in (True, False, "auto"):
            raise ValueError(f"vectorized must be True, False or 'auto', got {self.vectorized!r}")
        if self.on_error not in ("raise", "penalize"):
            raise ValueError(f"on_error must be 'raise' or 'penalize', got {self.on_error!r}")
        if self.timeout is not None and not (isinstance(self.timeout, int | float) and self.timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout!r}")
        if isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, int | np.integer) or self.n_jobs < 1:
            raise ValueError(f"n_jobs must be a positive integer, got {self.n_jobs!r}")
        if self.executor is None:
            self.executor = "joblib" if self.n_jobs > 1 else "serial"
        check_executor(self.executor, self.n_jobs, self.ray_address)
        self.lb, self.ub = as_bounds(self.lb, self.ub, self.dim)
        self.dim = int(self.lb.size)
        self.integrality = check_integrality(self.integrality, self.lb, self.ub)
        self.constraints = as_constraints(self.constraints, self.lb, self.ub)

    def probe_population(self) -> np.ndarray:
        """The rows that decide ``vectorized="auto"`` (:func:`detect_vectorized`): spread inside the box,
        integral coordinates rounded (bounds are integers there, so they stay inside)."""
        fractions = np.linspace(0.3, 0.7, probe_size(self.dim))[:, None]
        rows = self.lb + fractions * (self.ub - self.lb)
        return rows if self.integrality is None else np.where(self.integrality, np.round(rows), rows)

    def violation(self, population: Any) -> Any:
        """Total constraint violation of every row (0: feasible), of the population's kind: numpy, or a
        torch tensor on its device. All zeros without constraints."""
        if self.constraints is None:
            return population[:, 0] * 0
        return self.constraints.violation(population)

    @property
    def nonfinite_count(self) -> int:
        """Non-finite values over the problem's lifetime (a run's own count is in its result)."""
        return self.totals.nonfinite

    @property
    def error_count(self) -> int:
        return self.totals.errors

    @property
    def worker_restarts(self) -> int:
        return self.totals.worker_restarts

    def evaluate(self, population: Any, counters: RunCounters | None = None) -> np.ndarray:
        """Fitness of every row of ``population`` as a float array of shape (N,), NaN/inf/penalized as +inf.

        What went wrong is counted once per candidate into ``counters`` (a run's) and the
        problem's lifetime ``totals``.
        """
        if self.vectorized == "auto":  # probed with rows of the caller's kind (a torch tensor: on its device)
            probe = None
            if hasattr(population, "new_tensor"):
                probe = population.new_tensor(self.probe_population())
            elif self.integrality is not None:
                probe = self.probe_population()
            self.vectorized = detect_vectorized(self.objective, self.dim, self.lb, self.ub, self.name, probe)
        tally = RunCounters()
        try:
            return self._evaluate(population, tally)
        finally:
            self.totals.add(tally)
            if counters is not None:
                counters.add(tally)

    def _evaluate(self, population: Any, tally: RunCounters) -> np.ndarray:
        n = len(population)
        chunks = _chunks(n, 1 if self.executor == "serial" else self.n_jobs)
        if not self.vectorized:
            return self._evaluate_rows(population, chunks, False, tally)
        outcomes = self._map(_call_batch, [(population[a:b], self.timeout) for a, b in chunks], chunks, tally)
        fitness, failed = np.empty(n), []
        for (a, b), (value, error) in zip(chunks, outcomes, strict=True):
            if error is None:
                fitness[a:b] = self.check_fitness(value, b - a, tally)
            elif self.on_error == "penalize" and "timeout" not in error:  # find which rows fail
                failed.append((a, b))
            else:
                where = "" if len(chunks) == 1 else f" (a batch of candidates {a}-{b - 1})"
                raise _objective_error(f"objective {self.name!r} {error}{where}{_index_hint(error, self.dim)}", error)
        if failed:
            rows = iter(self._evaluate_rows(population, failed, True, tally))
            for a, b in failed:
                fitness[a:b] = [next(rows) for _ in range(a, b)]
        return fitness

    def _evaluate_rows(self, population: Any, chunks: list[tuple[int, int]],
                       vectorized: bool, tally: RunCounters) -> np.ndarray:
        """One call per candidate of ``chunks``; failures named (by index in ``population``) or penalized."""
        args = [(population[a:b], self.timeout, vectorized) for a, b in chunks]
        outcomes = self._map(_call_rows, args, chunks, tally)
        indices = (i for a, b in chunks for i in range(a, b))
        fitness = np.empty(sum(b - a for a, b in chunks))
        penalized = np.zeros(fitness.size, dtype=bool)
        for k, (i, (value, error)) in enumerate(zip(indices, (o for part in outcomes for o in part), strict=True)):
            if error is None:
                number = np.asarray(value, dtype=float) if _is_number(value) else None
                if number is None or number.size != 1:
                    error = f"returned {_describe(value)}, expected a scalar"
            if error is None and number is not None:
                fitness[k] = number.reshape(())
            elif self.on_error == "penalize":
                fitness[k], penalized[k] = np.inf, True  # counted as an error, not also as non-finite
                tally.errors += 1
            else:
                raise _objective_error(f"objective {self.name!r} failed on candidate {i}: {error}"
                                       f"{_index_hint(error, self.dim)}", error)
        bad = ~np.isfinite(fitness) & ~penalized
        if bad.any():
            tally.nonfinite += int(bad.sum())
            fitness[bad] = np.inf
        return fitness

    def _map(self, task: Callable, args: list[tuple], chunks: list[tuple[int, int]], tally: RunCounters) -> list:
        """``task(objective, *a)`` for each of ``args`` on the executor, started on first use."""
        if self._pool is None:
            self._pool = make_executor(self.executor, self.objective, self.n_jobs, self.ray_address)
        pool, before = self._pool, self._pool.restarts
        try:
            return pool.map(task, args)
        except ExecutorError as exc:
            if exc.item is None:
                raise
            a, b = chunks[exc.item]
            raise ExecutorError(f"objective {self.name!r} on candidates {a}-{b - 1}: {exc}") from exc
        finally:
            tally.worker_restarts += pool.restarts - before

    def close(self) -> None:
        """End the executor's workers (Ray actors); the next ``evaluate`` starts new ones."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def __enter__(self) -> Problem:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_pool": None}  # workers stay with the process that started them

    def check_fitness(self, fitness: Any, n: int, counters: RunCounters | None = None) -> np.ndarray:
        """Validate a fitness vector for ``n`` candidates; NaN and inf become +inf (counted in ``counters``)."""
        fitness = np.asarray(_to_numpy(fitness))
        if not _is_number(fitness) and not _all_real(fitness):  # complex, strings, None: named, never cast
            raise ObjectiveError(f"objective {self.name!r} returned {_describe(fitness)} for {n} candidates, "
                                 f"expected {n} real numbers")
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
            if counters is not None:
                counters.nonfinite += int(bad.sum())
            fitness = np.where(bad, np.inf, fitness)
        return fitness


def probe_size(dim: int) -> int:
    """Rows of the population that decides ``vectorized="auto"``: never equal to the dimension."""
    return 3 if dim == 2 else 2


def detect_vectorized(objective: Callable, dim: int, lb: np.ndarray, ub: np.ndarray, name: str = "objective",
                      population: np.ndarray | None = None) -> bool:
    """Whether ``objective`` maps a population ``(N, D) -> (N,)`` (True) or one vector to a number (False).

    It is called once on ``probe_size(dim)`` rows (inside the bounds; ``population`` may give
    them, e.g. as tensors): one number per row means vectorized; a scalar, another shape or an
    exception means it is then called on one row, which must give a scalar. A per-vector
    function such as ``sum(x**2)`` returns a scalar for the whole population, and one that
    indexes ``x[0]``, ``x[1:]`` returns ``D``-sized arrays: since ``N != D`` neither passes
    for vectorized. Neither reading working is an :class:`ObjectiveError` (a ``ValueError``): pass
    ``vectorized`` explicitly.
    """
    k = probe_size(dim)
    if population is None:
        fractions = np.linspace(0.3, 0.7, k)[:, None]
        population = np.asarray(lb) + fractions * (np.asarray(ub) - np.asarray(lb))
    value, error = _guarded(objective, population)
    if error is None and _is_number(value) and np.asarray(value).size == k and np.asarray(value).ndim in (1, 2):
        return True
    single, single_error = _guarded(objective, population[0])
    if single_error is None and _is_number(single) and np.asarray(single).size == 1:
        return False
    if all(isinstance(getattr(e, "exception", None), IndexError) for e in (error, single_error)):
        raise _objective_error(  # most likely the bounds are shorter than what the function reads
            f"objective {name!r} raised IndexError on {k} candidates of {dim} variables ({error.exception}) and "
            f"on one ({single_error.exception}): the bounds give {dim} variables; pass one (lb, ub) pair per "
            "variable the objective reads", single_error)
    if single_error is None and not _is_number(single) and error is None and not _is_number(value):
        raise ObjectiveError(f"objective {name!r} returned {_describe(single)} for one candidate, expected a number")
    found = error or f"returned {_describe(value)}"
    raise _objective_error(
        f"cannot tell whether objective {name!r} is vectorized: on {k} candidates it {found}, on one it "
        f"{single_error or 'returned ' + _describe(single)}; pass vectorized=True or False",
        single_error if single_error is not None else error,
    )


class Failure(str):
    """What went wrong in one objective call: the text that messages show, with the exception the
    objective raised (``exception``, the :class:`ObjectiveError`'s ``__cause__``) and where
    (``frames``: (file, line) pairs, outermost first).

    It survives pickling, as joblib and Ray send it back from workers: the traceback object stays
    behind (its frames travel), and an exception that cannot be pickled (a class the parent
    cannot import) comes back as a ``RuntimeError`` with its type and text.
    """

    exception: BaseException | None = None
    frames: tuple = ()

    def __reduce__(self) -> tuple[Callable, tuple]:
        return _failure, (str(self), _portable(self.exception), self.frames)


def _failure(text: str, exception: BaseException | None = None, frames: tuple = ()) -> Failure:
    failure = Failure(text)
    failure.exception, failure.frames = exception, frames
    return failure


def _portable(exception: BaseException | None) -> BaseException | None:
    """``exception`` if it pickles both ways, else a RuntimeError saying what it was."""
    if exception is None:
        return None
    try:
        pickle.loads(pickle.dumps(exception))
        return exception
    except Exception:
        return RuntimeError(f"{type(exception).__name__}: {exception}")


def _objective_error(message: str, failure: Any) -> ObjectiveError:
    """An ObjectiveError whose cause and frames are those of ``failure`` (a :class:`Failure` or a plain text)."""
    error = ObjectiveError(message)
    error.__cause__ = getattr(failure, "exception", None)
    error.frames = getattr(failure, "frames", ())
    return error


def _index_hint(failure: Any, dim: int) -> str:
    """Bounds shorter than the objective expects show up as an IndexError: say how many variables there are."""
    if isinstance(getattr(failure, "exception", None), IndexError):
        return f" (candidates have {dim} variables, one per (lb, ub) pair)"
    return ""


def _guarded(function: Callable, argument: Any, timeout: float | None = None) -> tuple[Any, Any]:
    """(value, None) or (None, what went wrong as a :class:`Failure`): exceptions and time-outs as data, not
    as crashes."""
    if timeout is None:
        try:
            return _to_numpy(function(argument)), None
        except Exception as exc:
            frames = tuple((frame.f_code.co_filename, line) for frame, line in traceback.walk_tb(exc.__traceback__))
            return None, _failure(f"raised {type(exc).__name__}: {exc}", exc, frames)
    outcome: list = [None, f"exceeded the evaluation timeout of {timeout} s"]

    def call() -> None:
        outcome[:] = _guarded(function, argument)

    worker = threading.Thread(target=call, daemon=True)  # a hung objective cannot be killed, only left
    worker.start()
    worker.join(timeout)
    return (None, f"exceeded the evaluation timeout of {timeout} s") if worker.is_alive() else tuple(outcome)


def _chunks(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous (start, stop) ranges covering ``range(n)``, sizes differing by at most one."""
    parts = max(1, min(parts, n))
    edges = [n * k // parts for k in range(parts + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _call_batch(objective: Callable, rows: np.ndarray, timeout: float | None) -> tuple[Any, Any]:
    """A task: the objective on a chunk of rows at once."""
    return _guarded(objective, rows, timeout)


def _call_rows(objective: Callable, rows: np.ndarray, timeout: float | None, vectorized: bool) -> list:
    """A task: the objective on each row of a chunk (a vectorized one sees a batch of one)."""
    function = _first_of_batch(objective) if vectorized else objective
    return [_guarded(function, x, timeout) for x in rows]


def _first_of_batch(objective: Callable) -> Callable:
    """A vectorized objective called on one row at a time: its one value, or all it returned when
    that is not one value (then named as the wrong shape, never read as its first entry)."""

    def one(x: np.ndarray) -> Any:
        value = np.asarray(_to_numpy(objective(x[None, :])))
        return value.reshape(-1)[0] if value.size == 1 else value

    return one


def _is_number(value: Any) -> bool:
    try:
        return np.asarray(value).dtype.kind in "biuf"
    except (TypeError, ValueError):
        return False


def _all_real(array: np.ndarray) -> bool:
    """An object array of real numbers only (``None`` would become NaN, a complex lose its imaginary part)."""
    return array.dtype.kind == "O" and all(isinstance(v, numbers.Real) for v in array.reshape(-1))


def _describe(value: Any) -> str:
    """What an objective returned, as errors name it: "None", "a str 'abc'", "complex values", "shape (3,)"."""
    try:
        array = np.asarray(value)
    except Exception:
        return f"a {type(value).__name__}"
    kind = array.dtype.kind
    if kind in "biuf":
        return f"shape {array.shape}"
    if kind == "c":
        return f"a complex value {array.item()!r}" if array.ndim == 0 else f"complex values of shape {array.shape}"
    if kind in "US":
        return f"a str {_short(array.item())}" if array.ndim == 0 else f"strings of shape {array.shape}"
    if kind == "O" and array.ndim == 0:
        item = array.item()
        if item is None:
            return "None"
        return f"a {type(item).__name__}" + (f" {_short(item)}" if isinstance(item, str | bytes) else "")
    odd = [v for v in array.reshape(-1) if not isinstance(v, numbers.Real)] if kind == "O" else []
    if odd:
        return f"{_describe(odd[0])} among values of shape {array.shape}"
    return f"values of dtype {array.dtype}"


def _short(text: Any) -> str:
    shown = repr(text)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _to_numpy(value: Any) -> np.ndarray:
    """Accept numpy arrays, scalars and (CPU or CUDA) torch tensors without importing torch."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)
