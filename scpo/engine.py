"""The population engine: ask/tell around any registered algorithm, and scipy-style ``minimize``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scpo import backends
from scpo.algorithms import Algorithm, create
from scpo.backends import BACKENDS, Backend
from scpo.problem import Problem, as_bounds

__all__ = ["BACKENDS", "History", "OptimizeResult", "Optimizer", "Progress", "make", "minimize"]


class OptimizeResult(dict):
    """scipy.optimize's result shape: a dict whose keys are also attributes."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.items() if k not in ("history", "x")}
        return f"OptimizeResult(fun={self['fun']!r}, {', '.join(f'{k}={v!r}' for k, v in shown.items() if k != 'fun')})"


@dataclass
class History:
    """Best fitness after each counted iteration, with evaluations used and seconds elapsed."""

    best: list[float] = field(default_factory=list)
    nfev: list[int] = field(default_factory=list)
    time: list[float] = field(default_factory=list)

    def as_dict(self, backend: Backend | None = None) -> dict[str, list]:
        best = list(self.best) if backend is None else backend.floats(self.best)
        return {"best": best, "nfev": list(self.nfev), "time": list(self.time)}


@dataclass
class Progress:
    """What a callback sees after each iteration; returning True from it stops the run."""

    nit: int
    max_iter: int
    nfev: int
    best_fitness: float
    best_x: np.ndarray
    elapsed: float


def resolve_problem(fun_or_problem, bounds=None, vectorized: bool = True, name: str | None = None) -> Problem:
    """A Problem from a Problem, or from a function plus scipy-style bounds."""
    if isinstance(fun_or_problem, Problem):
        return fun_or_problem
    if bounds is None:
        raise ValueError("bounds are required when passing a plain function: a list of (lb, ub) pairs")
    lb, ub = split_bounds(bounds)
    label = name or getattr(fun_or_problem, "__name__", "custom")
    return Problem(fun_or_problem, lb, ub, vectorized=vectorized, name=label)


def split_bounds(bounds) -> tuple[np.ndarray, np.ndarray]:
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


class Optimizer:
    """Ask/tell driver. ``ask()`` returns candidates to evaluate, ``tell(fitness)`` takes
    their fitness. The first ask is the uniform initial population; algorithms with two
    evaluation phases per iteration (PO, SCPO) simply ask twice.

    ``backend`` ("numpy", "numba", "torch"), ``device`` ("cpu", "cuda", "cuda:N"; torch
    only) and ``dtype`` ("float64", "float32"; numba and torch) choose the implementation
    (:mod:`scpo.backends`). With torch, ``ask()`` returns and ``tell()`` takes tensors on
    ``device``, and the best so far stays there until ``result()``.
    """

    def __init__(self, algorithm: Algorithm, problem: Problem, pop_size: int | None = None,
                 max_iter: int | None = None, max_evals: int | None = None, seed: int | None = None,
                 backend: str | Backend = "numpy", device: str = "cpu", dtype: str = "float64"):
        self.impl = backends.get(backend, device, dtype)
        self.backend, self.device, self.dtype = self.impl.name, self.impl.device, self.impl.dtype
        self.algorithm, self.problem = self.impl.adapt(algorithm), problem
        self.pop_size = self.algorithm.population_size(pop_size, dim=problem.dim)
        self.max_iter = self.algorithm.iterations(self.pop_size, max_iter, max_evals)
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])  # reported, so reproducible
        self.seed = seed
        self.ctx = self.impl.context(seed, problem, self.max_iter)
        self.state: Any = None
        self.nit = self.nfev = 0
        self.history = History()
        self._pending: np.ndarray | None = None
        self._start = time.perf_counter()
        self.checkpoint_path: Path | None = None
        self.checkpoint_every = 0

    def enable_checkpoints(self, path: str | Path, every: int = 25, resume: bool = False) -> bool:
        """Save the full state to ``path`` every ``every`` iterations and at the end; with
        ``resume``, first continue from ``path`` if it exists. Returns whether it resumed."""
        from scpo.checkpoint import load_checkpoint

        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"checkpoint_every must be a positive integer, got {every!r}")
        if self.backend == "torch":
            raise ValueError("checkpoints need backend='numpy' or 'numba', got backend='torch'")
        self.checkpoint_path, self.checkpoint_every = Path(path), every
        if resume and self.checkpoint_path.exists():
            load_checkpoint(self, self.checkpoint_path)
            return True
        return False

    def resume_elapsed(self, seconds: float) -> None:
        """Continue the clock of a resumed run, so history times stay monotone."""
        self._start = time.perf_counter() - seconds

    @property
    def done(self) -> bool:
        return self.nit >= self.max_iter

    @property
    def best_x(self) -> np.ndarray | None:
        return self.ctx.best_x

    @property
    def best_fitness(self) -> float:
        return self.ctx.best_f

    def ask(self) -> np.ndarray:
        return self.impl.copy(self._ask())

    def _ask(self):
        """The candidates themselves, not a copy: for ``minimize``, whose evaluator copies as needed."""
        if self._pending is not None:
            raise RuntimeError("ask() called twice without tell(): evaluate the last candidates first")
        if self.done:
            raise RuntimeError(f"the budget of {self.max_iter} iterations is spent")
        if self.state is None:
            candidates = self.impl.initial_population(self.ctx, (self.pop_size, self.problem.dim))
        else:
            self.ctx.t = self.nit + 1
            candidates = self.algorithm.ask(self.state, self.ctx)
        self._pending = candidates
        return candidates

    def tell(self, fitness) -> None:
        if self._pending is None:
            raise RuntimeError("tell() called before ask()")
        candidates, self._pending = self._pending, None
        fitness = self.impl.check_fitness(self.ctx, self.problem, fitness, len(candidates))
        self.nfev += len(candidates)
        self.impl.update_best(self.ctx, candidates, fitness)
        if self.state is None:
            self.state = self.algorithm.init(candidates, fitness, self.ctx)
            if self.algorithm.initial_counts_as_iteration:
                self._finish_iteration()
            return
        self.state, iteration_done = self.algorithm.tell(self.state, candidates, fitness, self.ctx)
        if iteration_done:
            self._finish_iteration()

    def _finish_iteration(self) -> None:
        self.nit += 1
        self.history.best.append(self.ctx.best_f)
        self.history.nfev.append(self.nfev)
        self.history.time.append(time.perf_counter() - self._start)
        if self.checkpoint_path is not None and (self.nit % self.checkpoint_every == 0 or self.done):
            from scpo.checkpoint import save_checkpoint

            save_checkpoint(self, self.checkpoint_path)

    def progress(self) -> Progress:
        best_x = None if self.ctx.best_x is None else self.impl.to_numpy(self.ctx.best_x)
        return Progress(self.nit, self.max_iter, self.nfev, self.impl.to_float(self.ctx.best_f), best_x,
                        time.perf_counter() - self._start)

    def result(self, message: str = "iteration budget reached") -> OptimizeResult:
        best_f = self.impl.to_float(self.ctx.best_f)
        return OptimizeResult(
            x=None if self.ctx.best_x is None else self.impl.to_numpy(self.ctx.best_x).copy(), fun=best_f,
            nit=self.nit, nfev=self.nfev, success=bool(np.isfinite(best_f)), message=message,
            algorithm=self.algorithm.name, pop_size=self.pop_size, max_iter=self.max_iter, seed=self.seed,
            backend=self.backend, device=self.device, dtype=self.dtype,
            nonfinite=self.impl.nonfinite(self.ctx, self.problem), errors=self.problem.error_count,
            worker_restarts=self.problem.worker_restarts,
            wall_time_s=time.perf_counter() - self._start, history=self.history.as_dict(self.impl),
        )


def make(algorithm: str, problem, seed: int | None = None, pop_size: int | None = None,
         max_iter: int | None = None, max_evals: int | None = None, backend: str = "numpy",
         bounds=None, device: str = "cpu", dtype: str = "float64", **options: Any) -> Optimizer:
    """An ask/tell optimizer: ``opt = scpo.make("sca", problem, seed=0); X = opt.ask(); opt.tell(f)``.

    ``problem`` is a Problem, or bounds alone (a list of (lb, ub) pairs) when the
    evaluation happens elsewhere. ``backend``/``device``/``dtype``: see :class:`Optimizer`.
    """
    if not isinstance(problem, Problem):
        bounds, problem = problem if bounds is None else bounds, None
        lb, ub = split_bounds(bounds)
        problem = Problem(_no_objective, lb, ub, name="external")
    return Optimizer(create(algorithm, **options), problem, pop_size, max_iter, max_evals, seed, backend,
                     device, dtype)


def _no_objective(X):
    raise RuntimeError("this optimizer was made from bounds alone: evaluate its ask() yourself")


def minimize(fun_or_problem, bounds=None, algorithm: str = "scpo", pop_size: int | None = None,
             max_iter: int | None = None, max_evals: int | None = None, seed: int | None = None,
             backend: str = "numpy", callback: Callable[[Progress], Any] | None = None,
             vectorized: bool = True, checkpoint: str | Path | None = None, checkpoint_every: int = 25,
             resume: bool = False, device: str = "cpu", dtype: str = "float64", **options: Any) -> OptimizeResult:
    """Minimize over a box with a population algorithm; the whole population is evaluated per call.

    ``fun_or_problem`` is a :class:`Problem` (its bounds are used) or a function of the
    population ``(N, D) -> (N,)`` (``vectorized=False`` for a function of one vector) with
    ``bounds``. ``max_evals`` sets the iterations as each algorithm's reference does
    (PO/SCPO: ``round(max_evals / (N + parties))``). ``options`` go to the algorithm.
    ``checkpoint`` saves the full state every ``checkpoint_every`` iterations; with
    ``resume=True`` a run continues from it and ends bit for bit as an uninterrupted one.

    ``backend="numba"`` runs compiled kernels, ``backend="torch"`` tensor operations on
    ``device`` ("cpu" or "cuda"); ``dtype="float32"`` halves their memory. With torch the
    function receives the population as a tensor on ``device``; the F1-F13 problems of
    :mod:`scpo.problems` run natively on every backend. A :class:`Problem` with
    ``executor="joblib"`` or ``"ray"`` evaluates in parallel; its workers end when this returns.
    """
    problem = resolve_problem(fun_or_problem, bounds, vectorized)
    optimizer = make(algorithm, problem, seed, pop_size, max_iter, max_evals, backend, device=device,
                     dtype=dtype, **options)
    if checkpoint is not None:
        optimizer.enable_checkpoints(checkpoint, checkpoint_every, resume)
    evaluate = optimizer.impl.evaluator(problem)
    message = "iteration budget reached"
    try:
        while not optimizer.done:
            nit_before = optimizer.nit
            optimizer.tell(evaluate(optimizer._ask()))
            if callback is not None and optimizer.nit > nit_before and callback(optimizer.progress()):
                message = "stopped by callback"
                break
    finally:
        problem.close()  # parallel workers (Ray actors) end with the run
    return optimizer.result(message)
