"""The population engine: ask/tell around any registered algorithm, and scipy-style ``minimize``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from scpo import backends
from scpo.algorithms import Algorithm, Context, create
from scpo.backends import BACKENDS
from scpo.backends.reference import Backend, Evaluator
from scpo.backends.threads import set_threads
from scpo.constraints import feasibility_key
from scpo.observers import Callback, Checkpointer, History, Observer
from scpo.problem import Problem, RunCounters, as_bounds, detect_vectorized, probe_size
from scpo.restarts import RestartOptimizer, check_restarts
from scpo.stopping import make_rules

__all__ = ["BACKENDS", "History", "OptimizeResult", "Optimizer", "Progress", "RunState", "make", "minimize"]


class OptimizeResult(dict):
    """scipy.optimize's result shape: a dict whose keys are also attributes."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.items() if k not in ("history", "x", "center")}
        return f"OptimizeResult(fun={self['fun']!r}, {', '.join(f'{k}={v!r}' for k, v in shown.items() if k != 'fun')})"


@dataclass
class Progress:
    """What a callback sees after each iteration; returning True from it stops the run."""

    nit: int
    max_iter: int
    nfev: int
    best_fitness: float
    best_x: np.ndarray | None  # None before the first evaluation
    elapsed: float


@dataclass
class RunState:
    """Everything a run changes, in one place (the settings never change after construction).

    ``algorithm_state``: the algorithm's own state (``None`` before the initial population is
    told); ``best_x``/``best_fitness``: the best so far; ``nit``: completed iterations;
    ``nfev``: evaluations spent (told, plus the ``vectorized="auto"`` probe's rows and
    ``replace_members``' evaluations, which are also in ``extra_evals``: they do not count
    against ``max_evals``); ``counters``: non-finite values, penalized errors and worker
    restarts of this run; ``rng``: the run's generator (its bit state is checkpointed);
    ``pending``: candidates asked and not yet told (``pending_partial``: cut short by
    ``max_evals``, the run's last batch); ``stop_message``: set by
    :meth:`Optimizer.request_stop`, with ``stop_rule`` its short key (the result's ``stop_rule``).
    A constrained problem: ``best_fitness`` is the best's Deb key (:func:`scpo.constraints.feasibility_key`,
    what the comparisons use), and ``feasibility`` (:class:`BestPair`) holds its objective and violation.
    With torch, non-finite values are first summed on the device (``device_nonfinite``) to avoid
    a synchronization per evaluation.
    """

    rng: np.random.Generator
    algorithm_state: Any = None
    best_x: Any = None
    best_fitness: Any = np.inf
    nit: int = 0
    nfev: int = 0
    counters: RunCounters = field(default_factory=RunCounters)
    device_nonfinite: Any = 0
    pending: Any = None
    pending_partial: bool = False
    extra_evals: int = 0
    stop_message: str | None = None
    stop_rule: str | None = None
    feasibility: Any = None


@dataclass
class BestPair:
    """A constrained run's best so far as ``best_x = [f, total violation]`` (backend array), kept by the
    backend's own ``update_best`` on the same keys as the best point, so the two always agree."""

    best_x: Any = None
    best_fitness: Any = np.inf


def resolve_problem(fun_or_problem: Any, bounds: ArrayLike | None = None, vectorized: bool | str | None = None,
                    name: str | None = None, **settings: Any) -> Problem:
    """A Problem from a Problem, or from a function plus scipy-style bounds.

    ``vectorized`` (``None``: ``"auto"``) and ``settings`` (``on_error``, ``timeout``,
    ``integrality``, ``constraints``; ``None``: the Problem's default) describe a function. A Problem carries its
    own bounds and settings: passing one with it is a ValueError rather than an argument silently
    ignored.
    """
    given = {"bounds": bounds, "vectorized": vectorized, **settings}
    if isinstance(fun_or_problem, Problem):
        for key, value in given.items():
            if value is not None:
                raise ValueError(f"{key}= cannot be combined with a Problem: the Problem carries its own {key} "
                                 f"(set it in Problem(...), or pass a function)")
        return fun_or_problem
    if not callable(fun_or_problem):
        raise ValueError(f"fun must be callable (or a Problem), got {_short_repr(fun_or_problem)}")
    if bounds is None:
        raise ValueError("bounds are required when passing a plain function: a list of (lb, ub) pairs")
    lb, ub = split_bounds(bounds)
    label = name if name else str(getattr(fun_or_problem, "__name__", "custom"))
    chosen = {key: value for key, value in given.items() if key != "bounds" and value is not None}
    return Problem(fun_or_problem, lb, ub, **{"vectorized": "auto", **chosen}, name=label)


def check_seed(seed: Any) -> int | None:
    """``seed`` as an ``int``, or ``None`` (one is drawn and reported). A float, bool, string or negative
    number would seed some other generator, or fail deep inside numpy: a one-line ValueError instead."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {_short_repr(seed)}")
    return int(seed)


def _short_repr(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def split_bounds(bounds: Any) -> tuple[np.ndarray, np.ndarray]:
    """Accept ``[(lb, ub)] * D``, an array of shape (D, 2), or an object with ``lb``/``ub``."""
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):
        return as_bounds(bounds.lb, bounds.ub)
    try:
        pairs = np.asarray(bounds, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be a list of (lb, ub) pairs, got {bounds!r}") from None
    if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.shape[0] < 1:
        raise ValueError(f"bounds must be a list of (lb, ub) pairs, got shape {pairs.shape}")
    return as_bounds(pairs[:, 0], pairs[:, 1])


def _check_box_fits(problem: Problem, dtype: str) -> None:
    """A float32 run maps its box as ``lb + u (ub - lb)`` in float32: bounds or a width beyond float32's range
    would make inf (the ES would then return the upper bound, whatever the objective): a one-line error."""
    if dtype != "float32":
        return  # float64: Problem's bounds are checked already
    with np.errstate(over="ignore"):
        lb, ub = problem.lb.astype(np.float32), problem.ub.astype(np.float32)
        wide = np.flatnonzero(~(np.isfinite(lb) & np.isfinite(ub) & np.isfinite(ub - lb)))
    if wide.size:
        i = wide[0]
        raise ValueError(f"dtype='float32' cannot hold the box: lb[{i}]={problem.lb[i]}, ub[{i}]={problem.ub[i]} "
                         f"(float32 reaches {float(np.finfo(np.float32).max):.3g}, width included); use "
                         "dtype='float64' or rescale the variables")


class Optimizer:
    """Ask/tell driver and the run loop. ``ask()`` returns candidates to evaluate,
    ``tell(fitness)`` takes their fitness. The first ask is the uniform initial population (a
    distribution algorithm started at its mean, ``x0`` or ``init="center"``, asks its own sample instead);
    algorithms with two evaluation phases per iteration (PO, SCPO) simply ask twice.
    ``run()`` is the loop: ask, evaluate with the backend's evaluator, tell, until the budget
    is spent or an observer requests a stop (:mod:`scpo.observers`).

    Integer and mixed variables (``problem.integrality``): ``ask()`` returns the candidates with
    their integral coordinates already rounded (in the backend's arrays: with torch, on the
    device), and those rounded points are what is evaluated, told to the algorithm, kept as the
    best so far and returned as ``x``. The algorithm thus learns the points actually evaluated
    (as with ``tell(candidates=)``): SCA, PO, SCPO, PSO, DE keep the rounded members (PSO's
    velocity is the rounded displacement); the distribution algorithms (``cmaes``, ``openai-es``,
    ``snes``, ``pgpe``, ``sep-cmaes``) update their continuous distribution from the samples they
    drew, each credited with its rounded point's fitness (a step size far below 0.5 in an integral
    coordinate then sees flat fitness there). The uniform initial population (and random search)
    gives each integer of ``[lb, ub]`` the same chance; a given ``initial_population`` is rounded.

    ``backend`` ("numpy", "numba", "torch"), ``device`` ("cpu", "cuda", "cuda:N"; torch
    only) and ``dtype`` ("float64", "float32"; numba and torch) choose the implementation
    (:mod:`scpo.backends`). With torch, ``ask()`` returns and ``tell()`` takes tensors on
    ``device``, and the best so far stays there until ``result()``.

    ``initial_population``: an ``(N, D)`` array inside the bounds, or a function of ``N`` that
    returns one, which the first ``ask()`` returns instead of the uniform draw (``None``, the
    default): a caller who knows a good region (a network's initial weights, a previous run)
    starts the algorithm there.

    ``x0`` (a point in the box; a number is broadcast) and ``sigma0`` (a positive step in the units
    of x, one number or one per coordinate) set where the search starts. The distribution
    algorithms (``cmaes``, ``sep-cmaes``, ``openai-es``, ``snes``, ``pgpe``) put their mean at
    ``x0`` (default: the box centre, or ``cmaes``'s best of a uniform population) with initial step
    ``sigma0`` (default: their option's share of the range), and evaluate no initial population:
    their first ask is their own sample. The population algorithms (``sca``, ``po``, ``scpo``,
    ``pso``, ``de``, ``random``) start from ``initial_population`` = ``x0`` plus ``x0 + sigma0 N(0, I)``
    clipped to the bounds (:func:`population_around`; default ``sigma0``: a tenth of each side);
    ``sigma0`` without ``x0`` is refused there, and ``x0`` with ``initial_population`` everywhere
    (a distribution algorithm takes ``sigma0`` with ``initial_population``: its step, and its ``init``
    start from that population).
    ``result().center``: the distribution's mean in the box (``None`` for population algorithms),
    not evaluated: ``fun`` is ``f(x)``, ``x`` the best evaluated sample.

    Budget: ``max_iter`` is the algorithm's iteration count T (its schedule); ``max_evals`` sets
    T as the algorithm's reference does (:meth:`Algorithm.iterations`) and is also a hard cap:
    ``nfev <= max_evals`` always. Once fewer evaluations remain than a full batch, ``ask()``
    returns only that many rows (the first ones); their fitness updates the best so far,
    ``nfev`` and the history, is not told to the algorithm (its update assumes the whole batch),
    and ends the run. ``nfev`` counts every row the objective is handed, the
    ``vectorized="auto"`` probe's included.

    Settings (``algorithm``, ``problem``, ``pop_size``, ``max_iter``, ``max_evals``, ``seed``,
    the backend) never change after construction; everything that does is in ``run_state``
    (:class:`RunState`). ``compile_time_s``: seconds spent before the clock started compiling
    (or loading from numba's cache) the backend's kernels (:meth:`Backend.warm_up`); the
    result's ``wall_time_s`` leaves it out.

    Constraints (``problem.constraints``, :mod:`scpo.constraints`): every comparison follows Deb's
    feasibility rules (a feasible point beats an infeasible one; two feasible ones compare by f, two
    infeasible ones by total violation). ``tell`` computes each candidate's violation and hands the
    algorithm, the best so far and the ``target``/``stagnation`` rules the Deb key of each candidate
    instead of f; observers' ``on_evaluation``, the history and loggers see f itself. The result's
    ``fun`` is ``f(x)``, ``constraint_violation`` the violation of ``x`` (0.0: feasible), and
    ``success`` is False when no evaluated point was feasible. Constraint evaluations do not count in
    ``nfev``.

    Stopping rules (:mod:`scpo.stopping`; ``None``: off): ``target`` (stop in the batch where the
    best so far is ``<= target``), ``tol_f`` (fitness range of the iteration and of the recent
    iteration bests below it), ``tol_x`` (step size or population spread below it), ``max_time``
    (seconds of the run's clock, checked after every batch), ``stagnation`` (that many iterations
    without a lower best so far). When one fires, ``done`` becomes True and ``result()`` names it
    in ``message`` and ``stop_rule``; their state is checkpointed.

    ``threads``: the thread count of numba's kernels, of torch (both, as they share the OpenMP runtime) and
    of numpy's BLAS (:mod:`scpo.backends.threads`), set process-wide when the optimizer is made; ``None``
    (default) leaves them as they are, and a numba run then leaves torch's count as the user set it.

    ``draws``: where the random numbers come from (:func:`scpo.backends.get`). ``"native"`` (default): each
    backend's fastest generator; ``"numpy"``: the run's numpy Generator in the reference's order (numba and
    torch then reproduce the numpy run, slowly); ``"counter"``: every number a pure function of (seed,
    iteration, phase, index), computed on the backend's own device (:mod:`scpo.draws`), so one seed gives
    the same run on numpy, numba and torch (cpu or cuda) to float rounding. Not yet for ``cmaes``.
    """

    def __init__(self, algorithm: Algorithm, problem: Problem, pop_size: int | None = None,
                 max_iter: int | None = None, max_evals: int | None = None, seed: int | None = None,
                 backend: str | Backend = "numpy", device: str = "cpu", dtype: str = "float64",
                 observers: list[Observer] | tuple = (), initial_population: ArrayLike | None = None,
                 target: float | None = None, tol_f: float | None = None, tol_x: float | None = None,
                 max_time: float | None = None, stagnation: int | None = None,
                 x0: ArrayLike | None = None, sigma0: ArrayLike | None = None,
                 threads: int | None = None, draws: str = "native") -> None:
        set_threads(threads)  # before anything compiles or runs: numba's kernels and torch's pool
        self.impl = backends.get(backend, device, dtype, draws)
        backends.check_draws(self.impl.draws, algorithm)
        self.backend, self.device, self.dtype = self.impl.name, self.impl.device, self.impl.dtype
        _check_box_fits(problem, self.dtype)
        self.pop_size = algorithm.population_size(pop_size, dim=problem.dim)
        self.algorithm, self.problem = self.impl.adapt(algorithm.for_population(self.pop_size)), problem
        self.max_iter = self.algorithm.iterations(self.pop_size, max_iter, max_evals)
        self.max_evals = None if max_evals is None else int(max_evals)  # validated by iterations()
        self.initial_population = _check_initial_population(initial_population, self.pop_size, problem)
        self.rounding = self.impl.rounding(problem)  # None: no integral coordinate
        seed = check_seed(seed)
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])  # reported, so reproducible
        self.seed = seed
        self.x0, self.sigma0 = self._start_point(x0, sigma0, initial_population)
        self._settings: Context = self.impl.context(seed, problem, self.max_iter)
        self.run_state = RunState(rng=self._settings.rng)
        self.history = History()
        # stopping rules (scpo.stopping): after the history, before any checkpointer, so a save holds their state
        self.stopping = make_rules(target, tol_f, tol_x, max_time, stagnation)
        self.observers: list[Observer] = [self.history, *([self.stopping] if self.stopping else []), *observers]
        self.evaluator_kind: str | None = None
        if problem.vectorized == "auto" and self.max_evals is not None and self.max_evals < probe_size(problem.dim) + 2:
            raise ValueError(f"max_evals={self.max_evals} leaves no evaluation after the vectorized='auto' probe "
                             f"(up to {probe_size(problem.dim) + 1} rows); pass vectorized=True or False")
        self.compile_time_s = float(self.impl.warm_up(self.algorithm, problem))
        self._start = time.perf_counter()
        if problem.vectorized == "auto":
            self.run_state.nfev += self._detect_vectorized()

    def _start_point(self, x0: Any, sigma0: Any,
                     initial_population: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``x0``/``sigma0`` checked, as ``(D,)`` arrays (or ``None``), and put to use: a distribution
        algorithm starts its mean there (:meth:`Algorithm.for_start`); a population algorithm gets an
        ``initial_population`` around ``x0`` (:func:`population_around`)."""
        problem = self.problem
        x0, sigma0 = check_x0(x0, problem), check_sigma0(sigma0, problem.dim)
        if x0 is None and sigma0 is None:
            return None, None
        if initial_population is not None and x0 is not None:
            raise ValueError("x0= and initial_population= both set the start: give one of them")
        span = problem.ub - problem.lb
        if self.algorithm.distribution:
            self.algorithm = self.algorithm.for_start(None if x0 is None else (x0 - problem.lb) / span,
                                                      None if sigma0 is None else sigma0 / span)
        elif x0 is None:
            raise ValueError(f"sigma0= needs x0= for {self.algorithm.name!r}: it is the spread of the initial "
                             "population around x0")
        else:
            spread = POPULATION_SPREAD * span if sigma0 is None else sigma0
            self.initial_population = population_around(x0, spread, self.pop_size, problem, self.seed)
        return x0, sigma0

    def _detect_vectorized(self) -> int:
        """Decide ``problem.vectorized`` by probing the objective; returns the rows it was handed
        (``probe_size`` in one call, plus one row when it is per-vector), counted in ``nfev``."""
        problem = self.problem
        rows = probe_size(problem.dim)
        probe = self.impl.as_population(problem.probe_population())
        problem.vectorized = detect_vectorized(problem.objective, problem.dim, problem.lb, problem.ub, problem.name,
                                               population=probe)
        return rows if problem.vectorized else rows + 1

    # ---- observers and the loop

    def attach(self, observer: Observer) -> Observer:
        """Add an observer (its hooks fire from now on); returns it."""
        self.observers.append(observer)
        return observer

    def enable_checkpoints(self, path: str | Path, every: int | None = None, resume: bool = False) -> bool:
        """Save the full state to ``path`` (see :class:`scpo.observers.Checkpointer`; ``every=None``:
        adaptive); with ``resume``, first continue from ``path`` if it exists. Returns whether it resumed.

        Every backend checkpoints: numpy and numba resume bit for bit, torch (its tensors and its own
        generator saved) to the same result on the cpu; a checkpoint resumes only on the backend (and torch
        device) that wrote it. An algorithm whose state cannot be stored (cmaes) is refused here, before any
        evaluation. A
        resume re-evaluates the best point so far (one evaluation, counted in ``nfev``) and refuses a
        checkpoint whose objective changed (:func:`scpo.checkpoint.check_best`)."""
        from scpo.checkpoint import check_best, load_checkpoint

        checkpointer = Checkpointer(path, every)
        if not self.algorithm.checkpointable:
            raise ValueError(f"algorithm {self.algorithm.name!r} does not support checkpoints (its state holds an "
                             "external library's object): run it without a checkpoint")
        resumed = bool(resume and checkpointer.path.exists())
        if resumed:
            checkpointer.history_rows = load_checkpoint(self, checkpointer.path)
            check_best(self, checkpointer.path)
        self.attach(checkpointer)
        return resumed

    def request_stop(self, message: str, rule: str | None = None) -> None:
        """End the run after the current evaluation; ``result().message`` will be ``message`` and
        ``result().stop_rule`` ``rule`` (``None``: ``"interrupted"``, ``"terminated"`` or ``"callback"``
        for those messages, else ``"requested"``). The first request wins."""
        run = self.run_state
        if run.stop_message is None:
            known = {"interrupted": "interrupted", "terminated": "terminated", "stopped by callback": "callback"}
            run.stop_message, run.stop_rule = message, rule or known.get(message, "requested")

    def evaluator(self) -> Evaluator:
        """The backend's evaluator of this problem: compiled F1-F13 for numba and torch, else ``Problem.evaluate``."""
        return self.impl.evaluator(self.problem, self.run_state.counters)

    def run(self, observers: list[Observer] | tuple = ()) -> OptimizeResult:
        """Ask, evaluate, tell until the budget is spent or a stop is requested; returns the result.

        ``observers`` are attached for this run only. The problem's parallel workers are
        closed when it returns. A ``KeyboardInterrupt`` calls ``on_interrupt``, any other exception
        ``on_error``; either propagates.
        """
        extra = list(observers)
        self.observers.extend(extra)
        evaluate = self.evaluator()
        self.evaluator_kind = evaluate.kind
        try:
            self._notify("on_start")
            while not self.done:
                candidates = self.ask(copy=False)
                self.tell(evaluate(candidates), checked=evaluate.checked)
            if self.run_state.stop_message in ("interrupted", "terminated"):  # StopOnSigint
                self._notify("on_interrupt")
            result = self.result()
            self._notify("on_end", result)
            return result
        except KeyboardInterrupt:
            self.run_state.pending = None  # the state is that of the last tell
            self._notify("on_interrupt")
            raise
        except BaseException as error:  # the objective raised, or a second signal's SystemExit
            self.run_state.pending = None
            self._notify("on_error", error)
            raise
        finally:
            self.problem.close()  # parallel workers (Ray actors) end with the run
            for observer in extra:
                self.observers.remove(observer)

    def _notify(self, hook: str, *args: Any) -> None:
        for observer in list(self.observers):
            getattr(observer, hook)(self, *args)

    # ---- state

    @property
    def state(self) -> Any:
        """The algorithm's state (``run_state.algorithm_state``)."""
        return self.run_state.algorithm_state

    @property
    def nit(self) -> int:
        return self.run_state.nit

    @property
    def nfev(self) -> int:
        return self.run_state.nfev

    @property
    def done(self) -> bool:
        """The budget (``max_iter`` iterations or ``max_evals`` evaluations) is spent or a stop was requested."""
        run = self.run_state
        return run.nit >= self.max_iter or run.stop_message is not None or self.evals_spent

    @property
    def evals_spent(self) -> bool:
        """``max_evals`` is set and ``nfev`` has reached it."""
        return self.max_evals is not None and self._evals_left() <= 0

    def _evals_left(self) -> int:
        run, max_evals = self.run_state, self.max_evals
        assert max_evals is not None  # callers check it first
        return max_evals - (run.nfev - run.extra_evals)

    @property
    def best_x(self) -> np.ndarray | None:
        return self.run_state.best_x

    @property
    def best_fitness(self) -> float:
        return self.run_state.best_fitness

    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    def resume_elapsed(self, seconds: float) -> None:
        """Continue the clock of a resumed run, so history times stay monotone."""
        self._start = time.perf_counter() - seconds

    def _context(self) -> Context:
        """The read-only view a step gets: settings plus the run's t, best so far and generator."""
        run, ctx = self.run_state, object.__new__(type(self._settings))
        ctx.__dict__.update(self._settings.__dict__)
        ctx.rng, ctx.t, ctx.best_x, ctx.best_f = run.rng, run.nit + 1, run.best_x, run.best_fitness
        return ctx

    # ---- ask / tell

    def ask(self, copy: bool = True) -> Any:
        """The next candidates: a read-only copy (numpy; edit a ``.copy()`` and tell it with
        ``candidates=``), or with ``copy=False`` the engine's own array (for runners that only
        evaluate it; it must not be modified and is valid until the next ``tell``). With torch
        the tensor cannot be made read-only: tell edited candidates with ``candidates=``.

        Fewer rows than a full batch when ``max_evals`` leaves fewer (the run's last ask)."""
        run = self.run_state
        if run.pending is not None:
            raise RuntimeError("ask() called twice without tell(): evaluate the last candidates first")
        if self.done:
            reason = run.stop_message or (f"the budget of {self.max_evals} evaluations is spent" if self.evals_spent
                                          else f"the budget of {self.max_iter} iterations is spent")
            raise RuntimeError(f"the run is over: {reason}")
        ctx = self._context()
        if run.algorithm_state is None and self.initial_population is not None:
            candidates = self.impl.given_population(self.initial_population)
        elif run.algorithm_state is None and (started := self.algorithm.start(self.pop_size, ctx)) is not None:
            run.algorithm_state = started  # a distribution at its start point: its first ask is its own sample
            candidates = self.algorithm.ask(started, ctx)
        elif run.algorithm_state is None:
            candidates = self.impl.initial_population(ctx, (self.pop_size, self.problem.dim))
        else:
            candidates = self.algorithm.ask(run.algorithm_state, ctx)
        remaining = None if self.max_evals is None else self._evals_left()
        run.pending_partial = remaining is not None and len(candidates) > remaining
        if run.pending_partial:
            candidates = candidates[:remaining]
        if self.rounding is not None:  # what is evaluated and told: integral where the problem says so
            first = run.algorithm_state is None
            uniform = (first and self.initial_population is None) or (not first and self.algorithm.uniform_asks)
            candidates = self.rounding(candidates, uniform=uniform)
        run.pending = candidates
        return self.impl.read_only(self.impl.copy(candidates)) if copy else candidates

    def tell(self, fitness: Any, checked: bool = False, candidates: Any = None) -> None:
        """The fitness of the last ``ask``; ``checked=True`` (evaluators that validate and count
        themselves) skips the check that turns NaN/inf into +inf and counts them.

        ``candidates``: the points actually evaluated, when they differ from the asked ones
        (repaired, rounded): same shape as the asked batch, finite and inside the bounds (a
        one-line ``ValueError`` otherwise; they are not clipped, since the best so far must be a
        point that was evaluated). They replace the asked ones for the best so far, the
        observers and the algorithm's state: SCA, PO, SCPO, PSO, DE keep them as their members'
        positions. The distribution-based algorithms (``cmaes``, ``openai-es``, ``snes``,
        ``pgpe``, ``sep-cmaes``) update their distribution from the samples they drew, with the
        told fitness attributed to them: ``candidates=`` then only changes the best so far
        (and the result's ``x``). With integral coordinates (``problem.integrality``) they must
        be integral there, as the asked ones are.
        """
        run = self.run_state
        if run.pending is None:
            raise RuntimeError("tell() called before ask()")
        if candidates is not None:
            candidates = self._told_candidates(candidates, run.pending)
        else:
            candidates = run.pending
        run.pending = None
        if not checked:
            fitness = self.impl.check_fitness(run, self.problem, fitness, len(candidates))
        run.nfev += len(candidates)
        objective = fitness
        if self.problem.constraints is not None:  # from here on, compare by Deb's rules
            fitness = self._feasibility_keys(candidates, fitness)
        self.impl.update_best(run, candidates, fitness)
        for observer in self.observers:
            observer.on_evaluation(self, candidates, objective)
        if run.pending_partial:  # the budget's last, cut batch: the algorithm's update needs a whole one
            run.pending_partial, iteration_done = False, False
        elif run.algorithm_state is None:
            run.algorithm_state = self.algorithm.init(candidates, fitness, self._context())
            iteration_done = self.algorithm.initial_counts_as_iteration
        else:
            run.algorithm_state, iteration_done = self.algorithm.tell(run.algorithm_state, candidates, fitness,
                                                                      self._context())
        if iteration_done:
            run.nit += 1
            for observer in list(self.observers):
                observer.on_iteration(self)
        elif self.evals_spent:  # the run ends inside an iteration: the history still gets its last point
            self.history.on_iteration(self)

    def _feasibility_keys(self, candidates: Any, fitness: Any) -> Any:
        """The candidates' Deb keys (:func:`scpo.constraints.feasibility_key`); the best's objective and
        violation follow the same keys in ``run_state.feasibility``."""
        run = self.run_state
        violation = self.problem.violation(candidates)
        keys = feasibility_key(fitness, violation)
        if run.feasibility is None:
            run.feasibility = BestPair()
        self.impl.update_best(run.feasibility, _columns(fitness, violation), keys)
        return keys

    def _told_candidates(self, X: Any, asked: Any) -> Any:
        """``X`` as the engine's own array (a copy: the algorithm may keep or reuse it), checked
        against the asked batch ``asked``: same shape, finite, inside the bounds."""
        values = np.asarray(self.impl.to_numpy(X), dtype=float)
        shape = tuple(asked.shape)
        if values.shape != shape:
            raise ValueError(f"candidates must have the asked shape {shape}, got {values.shape}")
        if not np.isfinite(values).all():
            raise ValueError(f"candidates has {int((~np.isfinite(values)).sum())} non-finite entries")
        dtype = np.dtype(self.dtype)  # compared in the run's dtype: asked float32 points at a bound pass
        lb, ub = self.problem.lb.astype(dtype).astype(float), self.problem.ub.astype(dtype).astype(float)
        outside = int(((values < lb) | (values > ub)).sum())
        if outside:
            raise ValueError(f"candidates has {outside} entries outside the bounds; evaluate points inside [lb, ub]")
        self._check_integral("candidates", values)
        return self.impl.own(X)

    def _check_integral(self, label: str, values: np.ndarray) -> None:
        """A one-line ValueError if ``values`` (numpy) is not integral in the problem's integral coordinates."""
        mask = self.problem.integrality
        if mask is not None:
            off = int((values[:, mask] != np.round(values[:, mask])).sum())
            if off:
                raise ValueError(f"{label} has {off} non-integral entries in the integral coordinates "
                                 f"{np.flatnonzero(mask).tolist()} (integrality); round them")

    def replace_members(self, indices: ArrayLike, X: Any, fitness: Any, evaluations: int = 0) -> None:
        """Put members ``indices`` at positions ``X`` with ``fitness`` (Lamarckian refinement).

        For an observer's ``on_iteration`` (or between iterations in ask/tell use): members keep
        their role (PO/SCPO: their party and constituency slot), the best so far is updated,
        ``evaluations`` spent on the refinement are added to ``nfev``, on top of ``max_evals``
        (which caps what the algorithm asks; ``run_state.extra_evals``). Supported by the numpy
        and numba implementations of SCA, PO, SCPO, PSO, DE and random search; others raise
        ``ValueError``.
        """
        run = self.run_state
        if self.backend == "torch":
            raise ValueError("replace_members needs backend='numpy' or 'numba', got backend='torch'")
        if run.pending is not None or run.algorithm_state is None:
            raise ValueError("replace_members works between iterations: tell the pending fitness first")
        indices = np.asarray(indices)
        if indices.ndim != 1 or indices.dtype.kind not in "iu" or len(np.unique(indices)) != indices.size:
            raise ValueError(f"indices must be distinct integers, got {indices!r}")
        if indices.size and (indices.min() < 0 or indices.max() >= self.pop_size):
            raise ValueError(f"indices must lie in 0..{self.pop_size - 1}, got {indices.tolist()}")
        X = np.asarray(X, dtype=np.dtype(self.dtype))
        if X.shape != (indices.size, self.problem.dim):
            raise ValueError(f"X must have shape ({indices.size}, {self.problem.dim}), got {X.shape}")
        if ((X < self.problem.lb) | (X > self.problem.ub)).any():
            raise ValueError("replace_members: X lies outside the bounds")
        self._check_integral("replace_members: X", X)
        fitness = self.impl.check_fitness(run, self.problem, fitness, indices.size)
        if self.problem.constraints is not None and indices.size:
            fitness = self._feasibility_keys(X, fitness)
        run.algorithm_state = self.algorithm.replace_members(run.algorithm_state, indices, X, fitness,
                                                             self._context())
        if indices.size:
            self.impl.update_best(run, X, fitness)
        run.nfev += int(evaluations)
        run.extra_evals += int(evaluations)

    # ---- reporting

    def progress(self) -> Progress:
        run = self.run_state
        best_x = None if run.best_x is None else self.impl.to_numpy(run.best_x)
        return Progress(run.nit, self.max_iter, run.nfev, self.impl.to_float(self.best_objective), best_x,
                        self.elapsed())

    def result(self, message: str | None = None) -> OptimizeResult:
        run = self.run_state
        best_f = self.impl.to_float(self.best_objective)
        violation = self.best_violation
        nonfinite = run.counters.nonfinite + self.impl.pending_nonfinite(run)
        success = bool(np.isfinite(best_f)) and violation == 0
        message = message or run.stop_message or self._end_reason()
        if not np.isfinite(best_f) and run.nfev:
            message = (f"no finite fitness in {run.nfev} evaluations ({nonfinite} NaN or inf, "
                       f"{run.counters.errors} failed and penalized)")
        elif not success and run.nfev:
            message = (f"no feasible point found in {run.nfev} evaluations: the least total constraint violation "
                       f"was {violation:.6g} (at x, with f = {best_f:.6g})")
        return OptimizeResult(
            x=None if run.best_x is None else self.impl.to_numpy(run.best_x).copy(), fun=best_f,
            nit=run.nit, nfev=run.nfev, success=success, message=message, stop_rule=self._end_rule(),
            constraint_violation=violation,
            algorithm=self.algorithm.name, pop_size=self.pop_size, max_iter=self.max_iter, seed=self.seed,
            backend=self.backend, device=self.device, dtype=self.dtype, evaluator=self.evaluator_kind,
            nonfinite=nonfinite, errors=run.counters.errors, worker_restarts=run.counters.worker_restarts,
            wall_time_s=self.elapsed(), compile_time_s=self.compile_time_s,
            history=self.history.as_dict(self.impl),
            center=self._center(),
        )

    @property
    def best_objective(self) -> Any:
        """The objective f of the best so far (a backend scalar): with constraints, that of the best by
        Deb's rules (``run_state.best_fitness`` then holds its key)."""
        pair = self.run_state.feasibility
        return self.run_state.best_fitness if pair is None or pair.best_x is None else pair.best_x[0]

    @property
    def best_violation(self) -> float:
        """The total constraint violation of the best so far (0.0: feasible, or no constraints)."""
        pair = self.run_state.feasibility
        return 0.0 if pair is None or pair.best_x is None else self.impl.to_float(pair.best_x[1])

    def _end_rule(self) -> str | None:
        """The short key of what ended the run (``None`` while it is not over): a stopping rule's
        (``"target"``, ``"tol_f"``, ``"tol_x"``, ``"max_time"``, ``"stagnation"``), ``"max_iter"``,
        ``"max_evals"``, ``"interrupted"``, ``"terminated"``, ``"callback"`` or ``"requested"``."""
        if self.run_state.stop_rule is not None:
            return self.run_state.stop_rule
        if not self.done:
            return None
        return "max_evals" if self.evals_spent and self.run_state.nit < self.max_iter else "max_iter"

    def _center(self) -> np.ndarray | None:
        """The distribution's mean in the box (``result.center``): distribution algorithms only, never
        evaluated by the engine (``fun`` stays ``f(x)``, the best evaluated sample)."""
        state = self.run_state.algorithm_state
        if state is None or not self.algorithm.distribution:
            return None
        return np.array(self.impl.to_numpy(self.algorithm.center(state, self._context())), dtype=float)

    def _end_reason(self) -> str:
        if self.run_state.stop_message is not None:
            return self.run_state.stop_message
        if self.evals_spent and self.run_state.nit < self.max_iter:
            return f"evaluation budget reached ({self.max_evals} evaluations)"
        return "iteration budget reached"


def make(problem_or_bounds: Problem | Callable[..., Any] | ArrayLike | None = None, algorithm: str = "scpo", *,
         seed: int | None = None, pop_size: int | None = None,
         max_iter: int | None = None, max_evals: int | None = None, backend: str | Backend = "numpy",
         bounds: ArrayLike | None = None,
         device: str = "cpu", dtype: str = "float64", vectorized: bool | str | None = None,
         observers: list[Observer] | tuple = (), initial_population: ArrayLike | None = None,
         on_error: str | None = None, timeout: float | None = None,
         integrality: ArrayLike | None = None,
         target: float | None = None, tol_f: float | None = None, tol_x: float | None = None,
         max_time: float | None = None, stagnation: int | None = None,
         x0: ArrayLike | None = None, sigma0: ArrayLike | None = None,
         constraints: Any = None,
         threads: int | None = None,
         restarts: str | None = None,
         draws: str = "native",
         **options: Any) -> Optimizer | RestartOptimizer:
    """An ask/tell optimizer: ``opt = scpo.make(problem, "sca", seed=0); X = opt.ask(); opt.tell(f)``.

    The arguments come in ``minimize``'s order: ``problem_or_bounds`` is a Problem, a function
    with ``bounds=`` (``vectorized``, ``on_error``, ``timeout`` as in :func:`minimize`), or bounds
    alone (a list of (lb, ub) pairs) when the evaluation happens elsewhere. The older order
    ``make("sca", problem, ...)`` (algorithm first) is still accepted. ``backend``/``device``/
    ``dtype``, ``initial_population``, ``x0``, ``sigma0``, the stopping rules (``target``, ``tol_f``,
    ``tol_x``, ``max_time``, ``stagnation``), ``threads``, ``draws``: see :class:`Optimizer`; ``integrality`` and
    ``constraints``: see :func:`minimize` (with bounds alone too: ``ask()`` then returns rounded candidates,
    and ``tell`` evaluates the constraints itself); ``options`` go to the algorithm
    (the algorithms' own ``sigma0`` option, a share of the range, is reached through
    ``Optimizer(scpo.create(name, sigma0=...), ...)``: ``sigma0=`` here is in the units of x).
    Arguments that would be ignored (``bounds`` with a Problem, ``vectorized`` without a
    function) are refused. ``restarts="ipop"|"bipop"``: a :class:`scpo.restarts.RestartOptimizer` (same
    interface) runs the algorithm with restarts inside ``max_evals`` (see :func:`minimize`).
    """
    seed = check_seed(seed)
    if isinstance(problem_or_bounds, str):  # the old order: make(algorithm, problem, ...)
        problem_or_bounds, algorithm = algorithm, problem_or_bounds
    restarts = check_restarts(restarts, algorithm, options)  # a boolean is cmaes's own option
    if problem_or_bounds is None:
        problem_or_bounds, bounds = bounds, None
    if isinstance(problem_or_bounds, Problem) or callable(problem_or_bounds) or bounds is not None:
        problem = resolve_problem(problem_or_bounds, bounds, vectorized, on_error=on_error, timeout=timeout,
                                  integrality=integrality, constraints=constraints)
    else:
        for key, value in (("vectorized", vectorized), ("on_error", on_error), ("timeout", timeout)):
            if value is not None:
                raise ValueError(f"{key}= describes an objective, and an optimizer made from bounds alone has none")
        lb, ub = split_bounds(problem_or_bounds)
        problem = Problem(_no_objective, lb, ub, vectorized=True, name="external",  # never probed
                          integrality=integrality, constraints=constraints)
    driver = Optimizer if restarts is None else partial(RestartOptimizer, restarts)
    return driver(create(algorithm, **options), problem, pop_size, max_iter, max_evals, seed, backend,
                  device, dtype, observers, initial_population,
                  target=target, tol_f=tol_f, tol_x=tol_x, max_time=max_time, stagnation=stagnation,
                  x0=x0, sigma0=sigma0, threads=threads, draws=draws)


def _check_initial_population(X: Any, pop_size: int, problem: Problem) -> np.ndarray | None:
    """``X`` (or ``X(pop_size)``) as a float64 ``(pop_size, dim)`` copy, or a one-line ValueError saying
    what is wrong with it."""
    if X is None:
        return None
    if callable(X):
        X = X(pop_size)
    X = np.array(X, dtype=float)
    if X.shape != (pop_size, problem.dim):
        raise ValueError(f"initial_population must have shape (pop_size, dim) = ({pop_size}, {problem.dim}), "
                         f"got {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"initial_population has {int((~np.isfinite(X)).sum())} non-finite entries")
    outside = int(((X < problem.lb) | (X > problem.ub)).sum())
    if outside:
        raise ValueError(f"initial_population has {outside} entries outside the bounds; clip it to [lb, ub]")
    return X


POPULATION_SPREAD = 0.1  # a population algorithm's default sigma0 around x0: a tenth of each side of the box


def check_x0(x0: Any, problem: Problem) -> np.ndarray | None:
    """``x0`` (a scalar is broadcast) as a float ``(D,)`` copy inside the bounds, or a one-line ValueError."""
    if x0 is None:
        return None
    values = _numbers(x0, "x0 must be a point: one number per coordinate (or one number for all)")
    if values.ndim == 0:
        values = np.full(problem.dim, float(values))
    if values.shape != (problem.dim,):
        raise ValueError(f"x0 must have length dim={problem.dim} (or be one number), got shape {values.shape}")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(f"x0 must be finite, got x0[{bad[0]}]={float(values[bad[0]])!r}")
    outside = np.flatnonzero((values < problem.lb) | (values > problem.ub))
    if outside.size:
        i = outside[0]
        raise ValueError(f"x0 must lie inside the bounds, got x0[{i}]={float(values[i])!r} outside "
                         f"[{float(problem.lb[i])!r}, {float(problem.ub[i])!r}]")
    return values


def check_sigma0(sigma0: Any, dim: int) -> np.ndarray | None:
    """``sigma0`` (a scalar is broadcast) as a positive finite float ``(D,)`` array, or a one-line ValueError."""
    if sigma0 is None:
        return None
    values = _numbers(sigma0, "sigma0 must be a number or one number per coordinate (positive, in the units of x)")
    if values.ndim == 0:
        values = np.full(dim, float(values))
    if values.shape != (dim,):
        raise ValueError(f"sigma0 must have length dim={dim} (or be one number), got shape {values.shape}")
    bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
    if bad.size:
        raise ValueError(f"sigma0 must be positive and finite, got sigma0[{bad[0]}]={float(values[bad[0]])!r}")
    return values


def _numbers(value: Any, message: str) -> np.ndarray:
    """``value`` as a float array if it holds real numbers only (no strings, booleans or objects)."""
    try:
        kind = np.asarray(value).dtype.kind
        values = np.array(value, dtype=float) if kind in "iuf" else None
    except (TypeError, ValueError):
        values = None
    if values is None or values.ndim > 1:
        raise ValueError(f"{message}, got {_short_repr(value)}")
    return values


def population_around(x0: np.ndarray, sigma0: np.ndarray, pop_size: int, problem: Problem, seed: int) -> np.ndarray:
    """A population algorithm's initial population from ``x0``: ``x0`` itself as member 0, the others
    ``x0 + sigma0 * N(0, I)`` clipped to the bounds. Drawn from a generator of its own keyed by the
    seed, so the run's stream is that of a run given this array as ``initial_population``."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5830]))
    X = np.clip(x0 + sigma0 * rng.standard_normal((pop_size, problem.dim)), problem.lb, problem.ub)
    X[0] = x0
    return X


def _columns(first: Any, second: Any) -> Any:
    """Two length-N vectors as an ``(N, 2)`` array of their kind (numpy, or a torch tensor on their device)."""
    if isinstance(first, np.ndarray):
        return np.column_stack([first, second])
    pair = first.new_empty((len(first), 2))
    pair[:, 0], pair[:, 1] = first, second
    return pair


def _no_objective(X: np.ndarray) -> np.ndarray:
    raise RuntimeError("this optimizer was made from bounds alone: evaluate its ask() yourself")


def minimize(fun_or_problem: Problem | Callable[..., Any], bounds: ArrayLike | None = None, algorithm: str = "scpo",
             pop_size: int | None = None, max_iter: int | None = None, max_evals: int | None = None,
             seed: int | None = None, backend: str | Backend = "numpy",
             callback: Callable[[Progress], Any] | None = None,
             vectorized: bool | str | None = None, checkpoint: str | Path | None = None,
             checkpoint_every: int | None = None, resume: bool = False, device: str = "cpu",
             dtype: str = "float64", observers: list[Observer] | tuple = (), on_error: str | None = None,
             timeout: float | None = None,
             integrality: ArrayLike | None = None,
             target: float | None = None, tol_f: float | None = None, tol_x: float | None = None,
             max_time: float | None = None, stagnation: int | None = None,
             x0: ArrayLike | None = None, sigma0: ArrayLike | None = None,
             constraints: Any = None,
             threads: int | None = None,
             restarts: str | None = None,
             draws: str = "native",
             **options: Any) -> OptimizeResult:
    """Minimize over a box with a population algorithm; the whole population is evaluated per call.

    ``fun_or_problem`` is a :class:`Problem` (it carries its bounds and settings: ``bounds``,
    ``vectorized``, ``on_error`` or ``timeout`` with it are refused) or a function with
    ``bounds``. For a function, ``vectorized="auto"`` (default) calls it once on a small population
    whose size differs from the dimension and decides whether it maps ``(N, D) -> (N,)`` or
    one vector to a number; ``True``/``False`` say it (the probe's rows count in ``nfev``);
    ``on_error`` and ``timeout`` are :class:`Problem`'s. ``max_evals`` sets the iterations as
    each algorithm's reference does (PO/SCPO: ``round(max_evals / (N + parties))``) and caps
    ``nfev``: the last batch is cut to fit.
    ``x0``/``sigma0``: the start point and initial step (units of x), see :class:`Optimizer`; the
    result's ``center`` is a distribution algorithm's final mean.
    ``threads``: numba's, torch's and numpy's BLAS thread count; ``draws="counter"``: the same run for a seed on every
    backend (:class:`Optimizer`). ``options`` go to the algorithm.
    ``callback(progress)`` runs after each iteration
    (True stops); ``observers`` (:mod:`scpo.observers`) get every hook. ``checkpoint`` saves
    the full state (every ``checkpoint_every`` iterations; ``None``: adaptively, at most
    10 % of the run time); with ``resume=True`` a run continues from it and ends bit for
    bit as an uninterrupted one.

    ``backend="numba"`` runs compiled kernels, ``backend="torch"`` tensor operations on
    ``device`` ("cpu" or "cuda"); ``dtype="float32"`` halves their memory. With torch the
    function receives the population as a tensor on ``device``; the F1-F13 problems of
    :mod:`scpo.problems` run natively (compiled) on every backend. A :class:`Problem` with
    ``executor="joblib"`` or ``"ray"`` evaluates in parallel; its workers end when this returns.
    A run in which no evaluation gave a finite fitness has ``success=False``.

    ``integrality`` (scipy's ``differential_evolution``'s: a boolean per dimension, or one for
    all): those coordinates are integral in every candidate handed to ``fun`` and in ``x``; their
    bounds must be integers. A :class:`Problem` carries its own (``Problem(..., integrality=)``);
    see :class:`Optimizer` for what each algorithm learns.
    ``constraints``: inequality constraints ``g(x) <= 0`` (a callable, vectorized ``(N, D) -> (N, m)``
    or per vector, decided by a probe; scipy's ``NonlinearConstraint``/``LinearConstraint``; or a
    list): every comparison follows Deb's feasibility rules (:mod:`scpo.constraints`), the result
    gains ``constraint_violation`` (of ``x``) and has ``success=False`` when no feasible point was found.
    Stopping rules (:mod:`scpo.stopping`), besides the budget: ``target`` (the best so far
    ``<= target``, checked after every batch), ``tol_f`` (fitness range, as cma's tolfun), ``tol_x``
    (population spread or step size), ``max_time`` (seconds), ``stagnation`` (iterations without
    improvement). ``result.message`` names what ended the run and ``result.stop_rule`` gives its key.
    ``restarts="ipop"`` (population doubled at each restart) or ``"bipop"`` (large and small regimes
    alternating) restarts the algorithm inside the one budget ``max_evals`` (required), whenever a run ends
    before it (its ``tol_f``/``tol_x``/``stagnation``, given or cma's defaults, the algorithm's own criteria,
    or its ``max_iter``); ``result.restarts`` counts the restarts (:mod:`scpo.restarts`).
    """
    if not (isinstance(fun_or_problem, Problem) or callable(fun_or_problem)):
        raise ValueError(f"fun must be callable (or a Problem), got {_short_repr(fun_or_problem)}")
    if checkpoint is None and (resume or checkpoint_every is not None):
        raise ValueError(f"{'resume=True' if resume else 'checkpoint_every'} needs checkpoint=PATH")
    optimizer = make(fun_or_problem, algorithm, bounds=bounds, seed=seed, pop_size=pop_size, max_iter=max_iter,
                     max_evals=max_evals, backend=backend, device=device, dtype=dtype, vectorized=vectorized,
                     on_error=on_error, timeout=timeout,
                     integrality=integrality,
                     target=target, tol_f=tol_f, tol_x=tol_x, max_time=max_time, stagnation=stagnation,
                     x0=x0, sigma0=sigma0, constraints=constraints, threads=threads, restarts=restarts, draws=draws,
                     **options)
    if checkpoint is not None:
        optimizer.enable_checkpoints(checkpoint, checkpoint_every, resume)
    watchers = [*observers, *([Callback(callback)] if callback is not None else [])]
    return optimizer.run(watchers)
