"""CMA-ES (Hansen & Ostermeier 2001) through the ``cma`` package's ask/tell interface.

Choices:
- the search runs in the unit box: ``x = lb + u (ub - lb)`` with ``u`` in ``[0, 1]^D``, so
  one step size fits boxes whose sides differ; ``cma``'s bound handling keeps ``u`` inside;
- it starts at the best point of the engine's initial uniform population (those
  evaluations are already spent) with ``sigma0 = 0.3`` of the range, ``popsize = N``;
  ``Optimizer(x0=)`` starts the mean at ``x0`` instead, with no initial population evaluated
  (the first ask is ``cma``'s own sample); ``Optimizer(sigma0=)`` (units of x, per coordinate)
  is passed as ``cma``'s ``sigma0`` (its root mean square in the unit box) and ``CMA_stds`` (the ratios);
  ``result.center`` is ``cma``'s distribution mean (``result.xfavorite``) in the box;
- randomness: ``cma`` draws its normal deviates through the ``randn`` option, which we
  point at a ``numpy.random.Generator`` seeded from ``ctx.rng``. (Its ``seed`` option would
  call ``np.random.seed``: a process-wide side effect, and two interleaved instances would
  share one stream.) Nothing global is touched, so runs are reproducible in any order;
- in 1-D ``maxstd`` defaults to infinity: ``cma`` (4.5) crashes there ("not yet initialized
  (dimension needed)") when it caps a step size at its default ``maxstd``, a third of the box;
- when ``cma``'s own termination criteria fire before the budget is spent (``tolfun``,
  ``tolx``, flat fitness ...), it restarts from a uniform random point with the same
  population size (``restarts=False`` keeps stepping the stopped instance);
- NaN or inf fitness is told to ``cma`` as a value worse than every finite one;
- the initial uniform population counts as iteration 1 (with ``x0``, ``cma``'s first sample does):
  ``T = max_evals // N``;
- ``Optimizer.tell(fitness, candidates=X)`` (points evaluated instead of the asked ones): the
  distribution is updated from the samples ``cma`` drew, with the told fitness attributed to
  them; ``X`` only becomes the best so far (``cma`` ignores modified points under its bound
  handling anyway). Integral coordinates (``integrality=``) are this case: the engine rounds the
  asked points, ``cma`` learns from its continuous samples.
The ``cma.CMAEvolutionStrategy`` lives in the state (it pickles).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scpo.algorithms import es_tools as es
from scpo.algorithms.base import Algorithm, Context, check_bool, check_number, check_positive_int, register

RESERVED = ("bounds", "popsize", "randn", "seed", "verbose", "verb_disp", "verb_log", "maxiter", "maxfevals")


class GeneratorRandn:
    """``cma``'s ``randn(lam, N)`` from a numpy Generator (picklable, unlike a lambda)."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def __call__(self, *shape: int) -> np.ndarray:
        return self.rng.standard_normal(shape)


def check_cma_options(options: dict) -> None:
    """Refuse an option ``cma`` does not know now, in one line (``cma`` itself would list all ~80 of its
    options in a traceback, after the initial population was evaluated)."""
    import difflib

    import cma

    known = cma.CMAOptions.defaults()
    for key in options:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ValueError(f"cma_options: {key!r} is not an option of cma{hint}; valid ones: "
                             "python -c 'import cma; cma.CMAOptions().pprint()'")


@dataclass
class CMAESState:
    es: Any  # cma.CMAEvolutionStrategy, working in the unit box
    asked: list = field(default_factory=list)  # the unit-box points of the last ask, told back as given
    restarts: int = 0


@register
class CMAES(Algorithm):
    """CMA-ES with restarts, via ``cma``; ``cma_options`` go to ``cma.CMAEvolutionStrategy``.

    Comparisons (under constraints they follow Deb's rules, :mod:`scpo.constraints`): the ranking of each
    generation that ``cma`` selects and weights by, and the engine's best so far.
    """

    name = "cmaes"
    initial_counts_as_iteration = True
    distribution = True
    checkpointable = False  # the state is a cma.CMAEvolutionStrategy, which a checkpoint will not pickle

    def __init__(self, sigma0: float = 0.3, restarts: bool = True, cma_options: dict | None = None):
        if not (np.isfinite(check_number("sigma0", sigma0)) and 0 < sigma0 <= 1):
            raise ValueError(f"sigma0 must be in (0, 1] (a share of the range), got {sigma0!r}")
        if cma_options is not None and not isinstance(cma_options, dict):
            raise ValueError(f"cma_options must be a dict or None, got {cma_options!r}")
        extra = dict(cma_options or {})
        clash = sorted(set(extra) & set(RESERVED))
        if clash:
            raise ValueError(f"cma option {clash[0]!r} is set by scpo; leave it out of cma_options")
        check_cma_options(extra)
        self.sigma0, self.restarts = float(sigma0), check_bool("restarts", restarts)
        self.cma_options = extra

    def population_size(self, pop_size: int | None, dim: int | None = None) -> int:
        return 30 if pop_size is None else check_positive_int("pop_size", pop_size, minimum=2)

    def _strategy(self, u0: np.ndarray, pop_size: int, ctx: Context):
        import cma  # imported here: only this algorithm needs it

        one_d = {"maxstd": np.inf} if u0.size == 1 else {}  # cma's 1-D cap crashes (see the module's docstring)
        sigma0, stds = self.sigma0, {}
        if self.step_unit is not None:  # Optimizer(sigma0=): one global step, the diagonal carries the ratios
            sigma0 = es.step_scale(self.step_unit)
            if not np.allclose(self.step_unit, sigma0, rtol=1e-12, atol=0):
                stds = {"CMA_stds": (self.step_unit / sigma0).tolist()}
        options = {
            **one_d, **stds, "bounds": [0.0, 1.0], "popsize": pop_size,
            "randn": GeneratorRandn(int(ctx.rng.integers(2**63))),
            "seed": np.nan, "verbose": -9, "verb_disp": 0, "verb_log": 0, "maxiter": np.inf, "maxfevals": np.inf,
            **self.cma_options,
        }
        return cma.CMAEvolutionStrategy(u0, sigma0, options)

    def for_start(self, x0, step) -> CMAES:
        if step is not None and "CMA_stds" in self.cma_options:
            raise ValueError("cma_options 'CMA_stds' and sigma0= both set the initial steps: give one of them")
        return super().for_start(x0, step)

    def start(self, pop_size: int, ctx: Context) -> CMAESState | None:
        """At ``x0`` when it is given; otherwise from the best of the evaluated uniform population."""
        return None if self.x0_unit is None else CMAESState(self._strategy(self.x0_unit, pop_size, ctx))

    def center(self, state: CMAESState, ctx: Context) -> np.ndarray:
        return es.to_box(np.asarray(state.es.result.xfavorite, dtype=float), ctx)

    def step_size(self, state: CMAESState) -> np.ndarray:
        return np.asarray(state.es.stds)

    def init(self, X, fitness, ctx: Context) -> CMAESState:
        u0 = (X[int(np.argmin(fitness))] - ctx.lb) / (ctx.ub - ctx.lb)
        return CMAESState(self._strategy(u0, X.shape[0], ctx))

    def ask(self, state: CMAESState, ctx: Context) -> np.ndarray:
        state.asked = state.es.ask()
        U = np.clip(np.asarray(state.asked), 0.0, 1.0)
        return np.clip(ctx.lb + U * (ctx.ub - ctx.lb), ctx.lb, ctx.ub)

    def tell(self, state: CMAESState, candidates, fitness, ctx: Context) -> tuple[CMAESState, bool]:
        finite = np.isfinite(fitness)
        worst = fitness[finite].max() if finite.any() else 0.0
        told = np.where(finite, fitness, worst + 1.0 + abs(worst))
        state.es.tell(state.asked, told.tolist())
        if self.restarts and state.es.stop():
            u0 = ctx.rng.random(candidates.shape[1])
            return CMAESState(self._strategy(u0, candidates.shape[0], ctx), restarts=state.restarts + 1), True
        return CMAESState(state.es, restarts=state.restarts), True
