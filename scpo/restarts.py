"""Restart strategies: IPOP (Auger & Hansen 2005) and BIPOP (Hansen 2009) for every algorithm, inside one budget.

``scpo.minimize(..., restarts="ipop")`` / ``scpo.make(..., restarts="bipop")`` (CLI: ``--restarts``) run the
algorithm as a sequence of independent runs, each an ordinary :class:`scpo.engine.Optimizer` (whole-population
evaluation with the backend's evaluator, the problem's parallel executor unchanged). What they share:

- **one budget**: ``max_evals`` (required) caps the evaluations of all runs together, ``nfev <= max_evals``;
  ``max_iter`` (optional) is each run's own iteration schedule (``None``: each run's iterations are set from
  the evaluations it may spend, as :meth:`Algorithm.iterations` does for one run);
- **the best over all runs**: ``x``/``fun`` (``fun == f(x)``), the history (best so far, cumulative ``nfev``),
  the observers (they see this object: cumulative ``nit``/``nfev``, the best over all runs, the current run's
  algorithm state), ``target`` and ``max_time`` (whole-run rules: reaching the target or the time ends
  everything);
- **the run's seeded generator**: run 0 is the plain run with the given ``seed`` (same draws); every later
  run takes its seed, start point and BIPOP draws from a generator keyed by ``seed``, so a restarted run is
  reproducible (and resumes bit for bit from a checkpoint).

A run ends, and the next one starts, when it ends before the budget is spent by:

- its stopping rules, the restart triggers: ``tol_f``, ``tol_x``, ``stagnation`` as given, each defaulting
  where not given to cma's ``tolfun``, ``tolx`` and ``tolstagnation``: ``tol_f = 1e-11``, ``tol_x = 1e-11``
  times the box's widest side (cma's ``tolx`` in the unit box where ``cmaes`` searches), ``stagnation =
  100 + 100 D^1.5 / N`` iterations (:func:`default_triggers`);
- the algorithm's own termination criteria (:meth:`Algorithm.converged`: ``cma``'s ``stop()`` for ``cmaes``,
  whose own same-size restarts are then off);
- its iteration schedule (``max_iter``), or its share of the budget (BIPOP's small regime).

IPOP: run k has population ``N_0 * 2^k`` (``N_0``: ``pop_size`` or the algorithm's default; where the algorithm
needs a particular size, the next valid one: PO and SCPO the next perfect square, their parties following it).
BIPOP: run 0 (``N_0``) opens the large regime; before each restart the regime that has spent fewer evaluations
so far runs next. Large: the population doubles at each large run (``N_0 * 2^k`` after ``k`` of them), with the
default step. Small: ``N_s = floor(N_0 (lambda_l / (2 N_0))^(U1^2))`` with ``lambda_l = N_0 * 2^k`` the
population of the next large run (so ``N_0 <= N_s <=`` the last large run's), step ``sigma_def * 10^(-2 U2)``,
``U1, U2`` uniform on [0, 1), and at most half the large regime's evaluations so far (whole batches, at least
two); as in Hansen (2009) and DEAP's ``cma_bipop`` example. (pycma's ``fmin`` counts run 0 in the small
regime's budget instead, a choice it marks as reproduced from the Matlab code.)

Where each run starts: run 0 as given (``x0``, ``sigma0``, ``initial_population``). Later runs: distribution
algorithms (``cmaes``, ``sep-cmaes``, ``snes``, ``pgpe``, ``openai-es``) put their mean at a uniform random point
of the box (those with ``init="mean"``/``"best"`` start from a fresh uniform population instead); population
algorithms draw a fresh uniform initial population, or in BIPOP's small regime sample it around a uniform
random point. The step ``sigma_def`` in units of x: the given ``sigma0``, else the algorithm's own initial step
(its ``sigma0``/``sigma`` option times the box's sides), for population algorithms 0.3 of the box's sides
(about the spread of a uniform population).

The result adds ``restarts`` (runs after the first), ``restart_pop_sizes``, ``restart_regimes`` (``"large"`` or
``"small"``), ``restart_evals`` (evaluations each run spent) and ``restart_stop_rules`` (what ended each run:
a trigger's key, ``"converged"``, ``"max_iter"``, ``"max_evals"``), one entry per run, the first run included;
``pop_size`` is ``N_0``, ``center`` the last run's mean.

Checkpoints (``enable_checkpoints``, ``minimize(checkpoint=)``): the current run's full state (as a plain run's)
plus the restart state (run records and their regime budgets, the restart generator, the best of the finished
runs) in the same file; a resume continues bit for bit on numpy and numba (the resume's re-evaluation of the
best point is counted in ``nfev`` but not against ``max_evals``). ``cmaes`` refuses checkpoints, as without
restarts.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from scpo.algorithms import Algorithm
from scpo.observers import Checkpointer, History, Observer
from scpo.problem import Problem
from scpo.stopping import make_rules

if TYPE_CHECKING:
    from scpo.engine import Optimizer

__all__ = ["STRATEGIES", "RestartOptimizer", "check_restarts", "default_triggers", "population_at_least"]

STRATEGIES = ("ipop", "bipop")
TRIGGERS = ("tol_f", "tol_x", "stagnation", "converged")  # an inner stop that is a restart, not the end
TOL_F, TOL_X = 1e-11, 1e-11  # cma's tolfun and tolx
POPULATION_STEP = 0.3  # a population algorithm's sigma_def, a share of each side (a uniform population's spread)
RESTART_KEY = 0x1257A7  # keys the restart generator: SeedSequence([seed, RESTART_KEY])
KNOWN_STOPS = {"interrupted": "interrupted", "terminated": "terminated", "stopped by callback": "callback"}


def as_optimizer(driver: Any) -> Optimizer:
    """``driver`` (a :class:`RestartOptimizer` or its checkpoint view) as the observers' hooks type it: it
    presents the part of :class:`~scpo.engine.Optimizer`'s interface they read (duck-typed, not a subclass)."""
    return cast("Optimizer", driver)


def check_restarts(restarts: Any, algorithm: str | None = None, options: dict | None = None) -> str | None:
    """``restarts`` as ``"ipop"``, ``"bipop"`` or ``None``, or a one-line ValueError naming the value.

    ``cmaes`` has an option ``restarts`` (True/False: ``cma``'s own same-size restarts); given as a boolean
    here, it goes to that option (``options`` is updated) so code written before the strategies exist runs
    unchanged."""
    import inspect

    from scpo.algorithms import REGISTRY

    if restarts is None:
        return None
    cls = REGISTRY.get(algorithm) if isinstance(algorithm, str) else None
    own = cls is not None and "restarts" in inspect.signature(cls.__init__).parameters
    if own and isinstance(restarts, bool | np.bool_) and options is not None:
        options["restarts"] = restarts
        return None
    if isinstance(restarts, str) and restarts.lower() in STRATEGIES:
        return restarts.lower()
    allowed = f"'ipop', 'bipop', None, True or False ({algorithm}'s own restarts)" if own else "'ipop', 'bipop' or None"
    raise ValueError(f"restarts must be {allowed}, got {restarts!r}")


def default_triggers(dim: int, pop_size: int, span: np.ndarray) -> dict[str, float | int]:
    """A run's restart triggers where the user set none, as cma's defaults: ``tolfun`` 1e-11, ``tolx`` 1e-11
    (cma's unit box: times the widest side here), ``tolstagnation`` ``100 + 100 D^1.5 / N`` iterations."""
    return {"tol_f": TOL_F, "tol_x": TOL_X * float(np.max(span)),
            "stagnation": int(100 + 100 * dim**1.5 / pop_size)}


def population_at_least(algorithm: Algorithm, n: int, dim: int) -> int:
    """The smallest population ``>= n`` the algorithm accepts (PO/SCPO: a perfect square; the ES: their
    minimum, or an even number)."""
    for size in range(max(int(n), 2), 2 * max(int(n), 2) + 8):
        try:
            return algorithm.population_size(size, dim=dim)
        except ValueError:
            continue
    raise ValueError(f"{algorithm.name!r} accepts no population between {n} and {2 * n + 7}")


class _Relay(Observer):
    """Attached to each run: ends it when its algorithm says it converged, and passes every hook on to the
    restarted optimizer's observers, which see the whole run (:class:`RestartOptimizer`)."""

    def __init__(self, owner: RestartOptimizer):
        self.owner = owner

    def on_evaluation(self, optimizer, candidates, fitness) -> None:
        for observer in list(self.owner.observers):
            observer.on_evaluation(as_optimizer(self.owner), candidates, fitness)

    def on_iteration(self, optimizer) -> None:
        message = optimizer.algorithm.converged(optimizer.state)
        if message is not None:
            optimizer.request_stop(message, "converged")
        for observer in list(self.owner.observers):
            observer.on_iteration(as_optimizer(self.owner))


class _RunView:
    """``run_state`` of the whole run, for observers: the best over all runs, cumulative counts, the current
    run's algorithm state and pending batch."""

    def __init__(self, owner: RestartOptimizer):
        self._owner = owner

    @property
    def algorithm_state(self):
        return self._owner.inner.run_state.algorithm_state

    @property
    def best_x(self):
        return self._owner.best_x

    @property
    def best_fitness(self):
        return self._owner.best_fitness

    @property
    def nit(self) -> int:
        return self._owner.nit

    @property
    def nfev(self) -> int:
        return self._owner.nfev

    @property
    def pending(self):
        return self._owner.inner.run_state.pending

    @property
    def stop_message(self) -> str | None:
        return self._owner.stop_message

    @property
    def feasibility(self):
        """With constraints, the best's ``[f, violation]`` over all runs (as :class:`scpo.engine.BestPair`)."""
        from scpo.engine import BestPair

        x, key, pair = self._owner._best()
        return None if pair is None else BestPair(pair, key)

    def __getattr__(self, name: str):
        return getattr(self._owner.inner.run_state, name)


class _Saved:
    """What :mod:`scpo.checkpoint` saves and restores: the current run, with the whole run's history and clock."""

    def __init__(self, owner: RestartOptimizer):
        self._owner = owner

    def __getattr__(self, name: str):
        return getattr(self._owner.inner, name)

    @property
    def history(self) -> History:
        return self._owner.history

    @property
    def restart_strategy(self) -> str | None:
        return self._owner.strategy

    def resume_elapsed(self, seconds: float) -> None:
        self._owner.resume_elapsed(seconds)


class _Checkpointer(Checkpointer):
    """The :class:`~scpo.observers.Checkpointer` of a restarted run: the current run's state, the restart state
    in the same file (``extra``)."""

    def save(self, optimizer) -> None:
        super().save(as_optimizer(_Saved(optimizer)))


class RestartOptimizer:
    """IPOP or BIPOP around any algorithm (see the module's docstring), with :class:`~scpo.engine.Optimizer`'s
    interface: ``ask``/``tell``, ``run``, ``result``, ``enable_checkpoints``, ``attach``, ``request_stop``,
    ``done``, ``nit``, ``nfev``, ``best_x``/``best_fitness``. ``inner`` is the current run's Optimizer,
    ``runs`` one record per run (population, regime, seed, start, budget, then what it spent and what ended it).
    ``max_iter``: the cumulative iteration at which the current run's schedule ends."""

    def __init__(self, strategy: str, algorithm: Algorithm, problem: Problem, pop_size: int | None = None,
                 max_iter: int | None = None, max_evals: int | None = None, seed: int | None = None,
                 backend="numpy", device: str = "cpu", dtype: str = "float64",
                 observers: list[Observer] | tuple = (), initial_population=None,
                 target: float | None = None, tol_f: float | None = None, tol_x: float | None = None,
                 max_time: float | None = None, stagnation: int | None = None, x0=None, sigma0=None,
                 threads: int | None = None, draws: str = "native"):
        from scpo.algorithms.base import check_positive_int
        from scpo.engine import check_seed

        self.strategy = check_restarts(strategy)
        if self.strategy is None:
            raise ValueError("RestartOptimizer needs a strategy: 'ipop' or 'bipop'")
        if max_evals is None:
            raise ValueError(f"restarts={self.strategy!r} needs max_evals: the one evaluation budget all restarts "
                             "share (--evals on the CLI)")
        self.max_evals = check_positive_int("max_evals", max_evals)
        self.user_max_iter = None if max_iter is None else check_positive_int("max_iter", max_iter)
        seed = check_seed(seed)
        self.seed = int(np.random.SeedSequence().generate_state(1)[0]) if seed is None else seed
        self.rng = np.random.default_rng(np.random.SeedSequence([self.seed, RESTART_KEY]))
        self.problem, self.base_algorithm = problem, algorithm
        self.restart_algorithm = algorithm.for_restarts()
        self._backend, self._device, self._dtype, self.threads = backend, device, dtype, threads
        self._draws = draws
        self._given = {"pop_size": pop_size, "initial_population": initial_population, "x0": x0, "sigma0": sigma0}
        self._user_triggers = {"tol_f": tol_f, "tol_x": tol_x, "stagnation": stagnation}
        self.history = History()
        self.stopping = make_rules(target=target, max_time=max_time)  # whole-run rules; triggers go to each run
        self.observers: list[Observer] = [self.history, *([self.stopping] if self.stopping else []), *observers]
        self.run_state = _RunView(self)
        self.stop_message: str | None = None  # a whole-run stop (request_stop), or why no restart could follow
        self.stop_rule: str | None = None
        self.evaluator_kind: str | None = None
        # the best of the finished runs (the run's array types): point, key (f, or Deb's key with constraints)
        # and, with constraints, [f, violation]
        self.carried_x: Any = None  # the best over finished runs: point, Deb key, [f, violation]
        self.carried_f: Any = None
        self.carried_pair: Any = None
        self._start = time.perf_counter()
        self.runs: list[dict[str, Any]] = []
        first_size = algorithm.population_size(pop_size, dim=problem.dim)  # the user's, as without restarts
        self.inner = self._build({"index": 0, "regime": "large", "pop_size": first_size, "seed": self.seed,
                                  "max_evals": self.max_evals})
        self.impl, self.backend, self.device, self.dtype = (self.inner.impl, self.inner.backend, self.inner.device,
                                                            self.inner.dtype)
        self.x0, self.sigma0 = self.inner.x0, self.inner.sigma0  # checked, (D,) arrays or None

    # ---- the runs

    def _build(self, record: dict[str, Any]):
        """The Optimizer of run ``record["index"]`` (appended to ``runs`` with its resolved population)."""
        from scpo.engine import Optimizer

        first, algorithm, pop = record["index"] == 0, self.restart_algorithm, record["pop_size"]
        dim, span = self.problem.dim, self.problem.ub - self.problem.lb
        defaults = default_triggers(dim, pop, span)
        triggers = {key: defaults[key] if value is None else value for key, value in self._user_triggers.items()}
        start = ({"x0": self._given["x0"], "sigma0": self._given["sigma0"]} if first else
                 {key: None if record.get(key) is None else np.asarray(record[key]) for key in ("x0", "sigma0")})
        inner = Optimizer(algorithm, self.problem, pop, self.user_max_iter, record["max_evals"], record["seed"],
                          self._backend, self._device, self._dtype,
                          initial_population=self._given["initial_population"] if first else None,
                          threads=self.threads, draws=self._draws,
                          tol_f=float(triggers["tol_f"]), tol_x=float(triggers["tol_x"]),
                          stagnation=int(triggers["stagnation"]), x0=start["x0"], sigma0=start["sigma0"])
        inner.attach(_Relay(self))
        inner.resume_elapsed(self.elapsed())  # one clock for the whole run
        record = {**record, "pop_size": inner.pop_size}
        if len(self.runs) > record["index"]:
            self.runs[record["index"]] = record
        else:
            self.runs.append(record)
        return inner

    def _close_run(self) -> None:
        """Record what the current run spent and what ended it; carry its best forward."""
        run = self.inner.run_state
        self.runs[-1].update(evals=run.nfev - run.extra_evals, extra=run.extra_evals, nit=run.nit,
                             stop_rule=self.inner._end_rule(), nonfinite=int(run.counters.nonfinite
                                                                            + self.impl.pending_nonfinite(run)),
                             errors=run.counters.errors, worker_restarts=run.counters.worker_restarts,
                             compile_time_s=self.inner.compile_time_s)
        x, key, pair = self._best()
        if x is not None:
            self.carried_x, self.carried_f = self.impl.copy(x), key
            self.carried_pair = None if pair is None else self.impl.copy(pair)

    def _advance(self) -> None:
        """The current run has ended and the whole run has not: start the next run, or end (budget spent)."""
        self._close_run()
        left = self._evals_left()
        if left <= 0:
            return
        record = self._next_record(left)
        size = population_at_least(self.restart_algorithm, record["pop_size"], self.problem.dim)
        if left < 2 * size:
            self.stop_message = (f"evaluation budget reached: {left} of {self.max_evals} evaluations left, too few "
                                 f"for a restart with population {size} ({len(self.runs) - 1} restarts)")
            self.stop_rule = "max_evals"
            return
        self.inner = self._build({**record, "pop_size": size})

    def _next_record(self, left: int) -> dict[str, Any]:
        """The next run's settings, drawn from the restart generator (in a fixed order: U1, U2, x0, seed)."""
        base, dim = self.runs[0]["pop_size"], self.problem.dim
        lb, span = self.problem.lb, self.problem.ub - self.problem.lb
        n_large = sum(r["regime"] == "large" for r in self.runs)
        regime = "large"
        if self.strategy == "bipop" and self._regime_evals("small") < self._regime_evals("large"):
            regime = "small"
        record: dict[str, Any] = {"index": len(self.runs), "regime": regime, "max_evals": left}
        step = self.sigma0
        if regime == "large":
            pop = base * 2**n_large
        else:
            u_pop, u_step = (float(u) for u in self.rng.random(2))
            large = base * 2**n_large  # the next large run's population
            pop = population_at_least(self.restart_algorithm, int(base * (0.5 * large / base) ** (u_pop**2)), dim)
            step = self._default_step() * 10.0 ** (-2.0 * u_step)
            budget = int(0.5 * self._regime_evals("large")) // pop * pop
            record.update(u=[u_pop, u_step], max_evals=min(left, max(2 * pop, budget)))
        record["pop_size"] = pop
        algorithm = self.restart_algorithm
        if algorithm.distribution:
            fresh_population = getattr(algorithm, "init_how", "center") != "center"
            x0 = None if fresh_population else lb + span * self.rng.random(dim)
        else:
            x0 = lb + span * self.rng.random(dim) if regime == "small" else None
        if x0 is None and not algorithm.distribution:
            step = None  # a population algorithm's step is the spread around x0
        record["x0"] = None if x0 is None else np.clip(x0, self.problem.lb, self.problem.ub).tolist()
        record["sigma0"] = None if step is None else np.broadcast_to(step, (dim,)).tolist()
        record["seed"] = int(self.rng.integers(2**63))
        return record

    def _default_step(self) -> np.ndarray:
        """``sigma_def`` in units of x (see the module's docstring)."""
        if self.sigma0 is not None:
            return np.asarray(self.sigma0, dtype=float)
        algorithm, share = self.base_algorithm, POPULATION_STEP
        if algorithm.distribution:
            share = getattr(algorithm, "sigma0", None) or getattr(algorithm, "sigma", None) or POPULATION_STEP
        return float(share) * (self.problem.ub - self.problem.lb)

    def _regime_evals(self, regime: str) -> int:
        return sum(r.get("evals", 0) for r in self.runs if r["regime"] == regime)

    # ---- counts over all runs

    def _finished(self, key: str) -> int:
        return sum(r.get(key, 0) for r in self.runs[:-1])

    def _evals_left(self) -> int:
        run = self.inner.run_state
        return self.max_evals - self._finished("evals") - (run.nfev - run.extra_evals)

    @property
    def nfev(self) -> int:
        return self._finished("evals") + self._finished("extra") + self.inner.nfev

    @property
    def nit(self) -> int:
        return self._finished("nit") + self.inner.nit

    @property
    def max_iter(self) -> int:
        return self._finished("nit") + self.inner.max_iter

    @property
    def restarts(self) -> int:
        return len(self.runs) - 1

    @property
    def pop_size(self) -> int:
        return self.inner.pop_size

    @property
    def algorithm(self) -> Algorithm:
        """The current run's algorithm (its population resolved): what the state in ``run_state`` belongs to."""
        return self.inner.algorithm

    @property
    def state(self) -> Any:
        return self.inner.state

    @property
    def evals_spent(self) -> bool:
        return self._evals_left() <= 0

    @property
    def done(self) -> bool:
        """The budget is spent, a stop was requested, or no restart fits in what is left."""
        return self.stop_message is not None or self.evals_spent or self.inner.done

    def _best(self):
        """The best over all runs: (x, key, [f, violation] or None), in the run's array types. Keys compare
        across runs: f, or with constraints Deb's key (:func:`scpo.constraints.feasibility_key`, absolute).
        On torch the choice is made on the device (no read)."""
        run = self.inner.run_state
        pair = None if run.feasibility is None else run.feasibility.best_x
        if self.carried_x is None:
            return run.best_x, run.best_fitness, pair
        if run.best_x is None:
            return self.carried_x, self.carried_f, self.carried_pair
        torch = _torch_of(run.best_fitness)
        if torch is not None:
            better = torch.as_tensor(run.best_fitness) < torch.as_tensor(self.carried_f)
            return (torch.where(better, run.best_x, self.carried_x),
                    torch.where(better, run.best_fitness, torch.as_tensor(self.carried_f)),
                    None if pair is None else torch.where(better, pair, self.carried_pair))
        if run.best_fitness < self.carried_f:
            return run.best_x, run.best_fitness, pair
        return self.carried_x, self.carried_f, self.carried_pair

    @property
    def best_x(self):
        return self._best()[0]

    @property
    def best_fitness(self):
        """The best's key (f; with constraints Deb's key, as :class:`~scpo.engine.RunState`'s)."""
        return self._best()[1]

    @property
    def best_objective(self):
        """f of the best over all runs (a backend scalar)."""
        _, key, pair = self._best()
        return key if pair is None else pair[0]

    @property
    def best_violation(self) -> float:
        """The total constraint violation of the best over all runs (0.0: feasible, or no constraints)."""
        pair = self._best()[2]
        return 0.0 if pair is None else self.impl.to_float(pair[1])

    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    def resume_elapsed(self, seconds: float) -> None:
        self._start = time.perf_counter() - seconds
        if getattr(self, "inner", None) is not None:
            self.inner.resume_elapsed(seconds)

    # ---- ask / tell / run

    def ask(self, copy: bool = True):
        """The current run's next candidates (see :meth:`Optimizer.ask`)."""
        if self.done:
            reason = self.stop_message or f"the budget of {self.max_evals} evaluations is spent"
            raise RuntimeError(f"the run is over: {reason}")
        return self.inner.ask(copy=copy)

    def tell(self, fitness, checked: bool = False, candidates=None) -> None:
        """The fitness of the last ``ask`` (see :meth:`Optimizer.tell`); a run that ends here is followed by the
        next one (drawn now, so a checkpoint saved later holds it)."""
        inner = self.inner
        nit = inner.nit
        inner.tell(fitness, checked=checked, candidates=candidates)
        if inner.nit == nit and inner.evals_spent:  # the run ended inside an iteration: still a history point
            self.history.on_iteration(as_optimizer(self))
        if inner.done and self.stop_message is None and not self.evals_spent:
            self._advance()

    def request_stop(self, message: str, rule: str | None = None) -> None:
        """End the whole run after the current evaluation (see :meth:`Optimizer.request_stop`)."""
        if self.stop_message is None:
            self.stop_message, self.stop_rule = message, rule or KNOWN_STOPS.get(message, "requested")
        self.inner.request_stop(message, rule)

    def attach(self, observer: Observer) -> Observer:
        self.observers.append(observer)
        return observer

    def _notify(self, hook: str, *args) -> None:
        for observer in list(self.observers):
            getattr(observer, hook)(self, *args)

    def run(self, observers: list[Observer] | tuple = ()):
        """Ask, evaluate, tell over all runs until the budget is spent or a stop is requested (see
        :meth:`Optimizer.run`); each run is evaluated by the backend's evaluator of the problem."""
        extra = list(observers)
        self.observers.extend(extra)
        try:
            self._notify("on_start")
            while not self.done:
                inner = self.inner
                evaluate = inner.evaluator()
                self.evaluator_kind = evaluate.kind
                while not self.done and self.inner is inner:
                    self.tell(evaluate(self.ask(copy=False)), checked=evaluate.checked)
            if self.stop_message in ("interrupted", "terminated"):
                self._notify("on_interrupt")
            result = self.result()
            self._notify("on_end", result)
            return result
        except KeyboardInterrupt:
            self.inner.run_state.pending = None
            self._notify("on_interrupt")
            raise
        except BaseException as error:  # the objective raised, or a second signal's SystemExit
            self.inner.run_state.pending = None
            self._notify("on_error", error)
            raise
        finally:
            self.problem.close()
            for observer in extra:
                self.observers.remove(observer)

    def replace_members(self, indices, X, fitness, evaluations: int = 0) -> None:
        """The current run's :meth:`Optimizer.replace_members`."""
        self.inner.replace_members(indices, X, fitness, evaluations)

    # ---- reporting

    def progress(self):
        from scpo.engine import Progress

        x = self.best_x
        return Progress(self.nit, self.max_iter, self.nfev, self.impl.to_float(self.best_objective),
                        None if x is None else self.impl.to_numpy(x), self.elapsed())

    def _end(self) -> tuple[str, str | None]:
        if self.stop_message is not None:
            return self.stop_message, self.stop_rule
        if self.evals_spent:
            return f"evaluation budget reached ({self.max_evals} evaluations, {self.restarts} restarts)", "max_evals"
        return f"running ({self.restarts} restarts so far)", None

    def result(self):
        """The best over all runs, cumulative counts, the whole run's history and the restart records."""
        from scpo.engine import OptimizeResult

        last = self.inner.result()
        x, fun, violation = self.best_x, self.impl.to_float(self.best_objective), self.best_violation
        message, rule = self._end()
        run = self.inner.run_state
        records = [*self.runs[:-1], {**self.runs[-1], "evals": run.nfev - run.extra_evals,
                                     "stop_rule": self.inner._end_rule()}]
        success = bool(np.isfinite(fun)) and violation == 0
        if not np.isfinite(fun) and self.nfev:
            message = f"no finite fitness in {self.nfev} evaluations"
        elif not success and self.nfev:
            message = (f"no feasible point found in {self.nfev} evaluations: the least total constraint violation "
                       f"was {violation:.6g} (at x, with f = {fun:.6g})")
        return OptimizeResult({
            **last, "x": None if x is None else np.array(self.impl.to_numpy(x), dtype=float), "fun": fun,
            "nit": self.nit, "nfev": self.nfev, "success": success, "message": message, "stop_rule": rule,
            "constraint_violation": violation,
            "algorithm": self.base_algorithm.name, "pop_size": self.runs[0]["pop_size"], "max_iter": self.max_iter,
            "seed": self.seed, "evaluator": self.evaluator_kind or last["evaluator"],
            "nonfinite": self._finished("nonfinite") + last["nonfinite"],
            "errors": self._finished("errors") + last["errors"],
            "worker_restarts": self._finished("worker_restarts") + last["worker_restarts"],
            "wall_time_s": self.elapsed(), "compile_time_s": self._finished("compile_time_s") + last["compile_time_s"],
            "history": self.history.as_dict(self.impl),
            "restarts": self.restarts, "restart_strategy": self.strategy,
            "restart_pop_sizes": [r["pop_size"] for r in records], "restart_regimes": [r["regime"] for r in records],
            "restart_evals": [r["evals"] for r in records], "restart_stop_rules": [r["stop_rule"] for r in records],
        })

    # ---- checkpoints

    def enable_checkpoints(self, path: str | Path, every: int | None = None, resume: bool = False) -> bool:
        """As :meth:`Optimizer.enable_checkpoints`, with the restart state in the same file; returns whether
        it resumed."""
        checkpointer = _Checkpointer(path, every, extra=self._checkpoint_extra)
        if not self.base_algorithm.checkpointable:
            raise ValueError(f"algorithm {self.base_algorithm.name!r} does not support checkpoints (its state holds "
                             "an external library's object): run it without a checkpoint")
        if self.backend == "torch":
            raise ValueError("checkpoints need backend='numpy' or 'numba', got backend='torch'")
        resumed = bool(resume and checkpointer.path.exists())
        if resumed:
            checkpointer.history_rows = self._load(checkpointer.path)
        self.attach(checkpointer)
        return resumed

    def _settings(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "max_evals": self.max_evals, "max_iter": self.user_max_iter,
                "seed": self.seed}

    def _checkpoint_extra(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        run = self.inner.run_state
        inner_stop = [run.stop_message, run.stop_rule] if run.stop_rule in TRIGGERS else None
        meta = {"restarts": {**self._settings(), "runs": self.runs, "rng": self.rng.bit_generator.state,
                             "carried_f": None if self.carried_f is None else float(self.carried_f),
                             "inner_stop": inner_stop,
                             "ended": [self.stop_message, self.stop_rule] if self.stop_rule == "max_evals" else None}}
        arrays: dict[str, np.ndarray] = {} if self.carried_x is None else {"carried_x": np.asarray(self.carried_x)}
        if self.carried_pair is not None:
            arrays["carried_pair"] = np.asarray(self.carried_pair)
        return arrays, meta

    def _load(self, path: Path) -> int:
        from scpo.checkpoint import check_best, load_checkpoint, read_extra

        arrays, meta = read_extra(path)
        saved = (meta or {}).get("restarts")
        if saved is None:
            raise ValueError(f"{path} was saved by a run without restarts: resume it without restarts=, or start "
                             "a new run with another checkpoint path")
        for key, value in self._settings().items():
            if saved.get(key) != value:
                raise ValueError(f"{path} belongs to another run: {key}={saved.get(key)!r}, this run has {value!r}")
        self.runs = [dict(r) for r in saved["runs"]]
        self.rng.bit_generator.state = saved["rng"]
        self.carried_f = saved["carried_f"]
        self.carried_x, self.carried_pair = arrays.get("carried_x"), arrays.get("carried_pair")
        current = self.runs[-1]
        if current["index"] > 0:
            self.inner = self._build(current)
        rows = load_checkpoint(_Saved(self), path)
        run = self.inner.run_state
        if saved["inner_stop"] is not None:
            run.stop_message, run.stop_rule = saved["inner_stop"]
        if saved["ended"] is not None:
            self.stop_message, self.stop_rule = saved["ended"]
        before = run.nfev
        check_best(self.inner, path)
        run.extra_evals += run.nfev - before  # the check is counted, but not against max_evals
        if self.inner.done and self.stop_message is None and not self.evals_spent:
            self._advance()  # saved between a run's end and the next run's start
        return rows


def _torch_of(value):
    import sys

    torch = sys.modules.get("torch")
    return torch if torch is not None and torch.is_tensor(value) else None
