"""The numba backend: each generation of SCA, PO, SCPO, PSO, DE and random search is one compiled kernel
(two for PSO: its ask and its tell); the evolution strategies' sampling and normals are kernels too.

An algorithm here is the numpy class with its array-heavy steps replaced by kernels from
:mod:`scpo.backends.numba_kernels`; the bookkeeping (government formation, greedy
selection, the budget) is inherited unchanged. Draws:

- ``draws="native"`` (default): (N, D) random numbers come from the counter-based
  generator inside the kernels, keyed by (run seed, iteration, phase, row, slot): results
  depend on the seed only, not on the thread count, and survive checkpoint/resume. The few
  O(N) draws (who switches party, to which party, which winner to approach, DE's partners and
  forced coordinates) come from the run's numpy Generator, as in the reference.
- ``draws="numpy"``: every number comes from the numpy Generator in the reference's order
  and shapes and is passed to the ``*_drawn`` kernels: the run then matches the numpy
  backend to rounding (the equivalence tests).
- ``draws="counter"``: as ``"numpy"``, with every number (O(N) draws included) from the
  counter-based generator of :mod:`scpo.draws` by (seed, iteration, phase): the run of the
  numpy and torch backends for the same seed, to rounding.

Three (N, D) buffers rotate (current, previous, next), so a generation allocates nothing
of size N x D. The engine only ever hands the user copies of them.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np

from scpo.algorithms.base import Algorithm, Context
from scpo.algorithms.cmaes import CMAES
from scpo.algorithms.de import DE, DEState, distinct_partners, sorted_partners
from scpo.algorithms.es_tools import Sampler
from scpo.algorithms.openai_es import OpenAIES
from scpo.algorithms.pgpe import PGPE
from scpo.algorithms.po import PO, POState
from scpo.algorithms.pso import PSO, PSOState
from scpo.algorithms.random_search import RandomSearch
from scpo.algorithms.sca import SCA, SCAState
from scpo.algorithms.scpo_hybrid import SCPO
from scpo.algorithms.sep_cmaes import SepCMAES
from scpo.algorithms.snes import SNES
from scpo.backends import numba_kernels as K
from scpo.backends import numba_problems
from scpo.backends.numba_kernels import launch
from scpo.backends.reference import Backend, Evaluator, adapt_by_type
from scpo.draws import CounterDraws
from scpo.draws import call_key as counter_key
from scpo.problems import Benchmark

MASK = (1 << 64) - 1
INIT, STEP, CAMPAIGN, PARLIAMENT = range(4)  # what a kernel call draws for: part of its key
NONE2 = np.zeros((1, 1))
NONE3 = np.zeros((3, 1, 1))


def mix64(z: int) -> int:
    """splitmix64's output function on Python ints (``numba_kernels.mix64``)."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def run_key(seed: int) -> int:
    return int(np.random.SeedSequence([seed, 0x5C90]).generate_state(1, np.uint64)[0])


def call_key(key: int, t: int, purpose: int) -> np.uint64:
    """The generator's key for one kernel call: output number 4t + purpose + 1 of the run's stream."""
    return np.uint64(mix64((key + (4 * t + purpose + 1) * 0x9E3779B97F4A7C15) & MASK))


@dataclass
class NumbaContext(Context):
    key: int = 0
    dtype: type = np.float64
    native: bool = True
    pool: list = field(default_factory=list)
    normals: dict = field(default_factory=dict)  # (shape, dtype) -> the array native normal() draws into

    def call_key(self, purpose: int) -> np.uint64:
        return call_key(self.key, self.t, purpose)

    def random(self, shape, phase: str) -> np.ndarray:
        """U[0, 1) of ``shape``; with draws="counter" filled by the kernels' own generator (``fill_uniform``
        with the :mod:`scpo.draws` key of ``phase``: the same bits as numpy's and torch's, in parallel)."""
        if self.draws is None:
            return super().random(shape, phase)
        out = np.empty(tuple(int(s) for s in shape))
        if out.size:
            rows = out.reshape(-1, out.shape[-1]) if out.ndim else out.reshape(1, 1)
            key = np.uint64(counter_key(self.draws.key, self.t, phase))
            ones = np.ones(rows.shape[1])
            launch(K.fill_uniform, out.size, key, ones * 0.0, ones, rows)
        return out

    def normal(self, shape, phase: str) -> np.ndarray:
        """Standard normals of ``shape``; with native draws made by the kernels' generator (:func:`K.fill_normal`,
        keyed by (run, iteration, ``phase``); the same for any thread count) in the run's dtype, so that a float32
        run's evolution strategies sample and reduce in float32 (numpy's float64 ziggurat took 3x the time of
        the whole float32 update here); otherwise numpy's float64 normals, as the reference.

        Native draws of one shape are written into the same array each time: the caller (an ES's or CMA-ES's
        ask) holds one generation's normals at a time, so a generation neither allocates nor faults in fresh
        pages for them (at 256 x 85,000 that churn cost more than the draws and 170 MB of peak memory)."""
        if not self.native:
            return super().normal(shape, phase)
        shape = tuple(int(s) for s in shape)
        out: np.ndarray | None = self.normals.get((shape, self.dtype))
        if out is None:  # a new shape (a restart with a larger population): the old array goes
            self.normals.clear()
            out = self.normals[shape, self.dtype] = np.empty(shape, self.dtype)
        if out.size:
            rows = out.reshape(-1, out.shape[-1]) if out.ndim else out.reshape(1, 1)
            launch(K.fill_normal, out.size, np.uint64(counter_key(self.key, self.t, phase)), rows)
        return out

    def buffer(self, shape) -> np.ndarray:
        for k, spare in enumerate(self.pool):
            if spare.shape == shape:
                return self.pool.pop(k)
        return np.empty(shape, self.dtype)

    def release(self, X) -> None:
        """``X`` is no longer referenced by the state: the next generation may write into it."""
        if len(self.pool) < 2 and X.dtype == self.dtype and X.flags.c_contiguous and X.flags.writeable:
            self.pool.append(X)


class NumbaBackend(Backend):
    name = "numba"

    def context(self, seed, problem, max_iter) -> NumbaContext:
        return NumbaContext(np.random.default_rng(seed), problem.lb, problem.ub, max_iter,
                            draws=CounterDraws(seed) if self.draws == "counter" else None,
                            key=run_key(seed), dtype=np.dtype(self.dtype).type, native=self.draws == "native")

    def adapt(self, algorithm):
        if getattr(algorithm, "variant", None) == "invariant":
            raise ValueError(f"algorithm {algorithm.name!r} with variant='invariant' has no numba implementation; "
                             "use backend='numpy' or 'torch'")
        return adapt_by_type(algorithm, ADAPTED, self.name)

    def initial_population(self: Backend, ctx: Context, shape: tuple[int, int]) -> np.ndarray:
        assert isinstance(ctx, NumbaContext)  # made by context() (the torch backend passes ctx.numba())
        if not ctx.native:
            return ctx.uniform(shape, "init").astype(ctx.dtype, copy=False)
        out = ctx.buffer(shape)
        launch(K.fill_uniform, out.size, ctx.call_key(INIT), ctx.lb, ctx.ub, out)
        return out

    def given_population(self, X: np.ndarray):
        return np.array(X, dtype=np.dtype(self.dtype), order="C")

    def warm_up(self, algorithm, problem) -> float:
        """Compile (or load from numba's cache) every kernel a run calls, by running ``algorithm`` two
        iterations on a throwaway 4-row population with the run's types: numba compiles a kernel on its
        first call, which would otherwise land in the run's wall time. Returns the seconds."""
        start = time.perf_counter()
        objective = None
        if isinstance(problem.objective, Benchmark) and problem.executor == "serial":
            twin = copy.copy(problem.objective)
            twin.noise = None  # F7's noise generator belongs to the run
            objective = partial(numba_problems.objective, twin)
        warm_run(self, algorithm.for_population(4), problem, objective, np.float64)
        return time.perf_counter() - start

    def evaluator(self, problem, counters):
        if isinstance(problem.objective, Benchmark) and problem.vectorized is True and problem.executor == "serial":
            bench = problem.objective
            return Evaluator(lambda X: numba_problems.objective(bench, X), "numba", False)
        return super().evaluator(problem, counters)


def warm_run(backend: NumbaBackend, algorithm, problem, objective, fitness_dtype) -> None:
    """Two iterations of ``algorithm`` (numba implementation) on 4 rows: every kernel and compiled
    helper a run calls gets called once with the same argument types. Draws from its own
    generator; ``objective`` (None: a stand-in sum of squares) evaluates."""
    ctx = backend.context(0, problem, 3)

    def evaluate(X):
        values = objective(X) if objective is not None else np.square(X, dtype=np.float64).sum(1)
        return np.asarray(values, dtype=fitness_dtype)

    X = backend.initial_population(ctx, (algorithm.population_size(4), problem.dim))
    fitness = evaluate(X)
    ctx.best_x = X[int(np.argmin(fitness))].copy()
    state = algorithm.init(X, fitness, ctx)
    for t in (2, 2, 3, 3):  # PO and SCPO ask twice per iteration
        ctx.t = t
        candidates = algorithm.ask(state, ctx)
        state, _ = algorithm.tell(state, candidates, evaluate(candidates), ctx)


def _sca_draws(ctx, shape, greedy):
    """The reference's draws for one SCA step, in its order."""
    r2 = 2 * np.pi * ctx.random(shape, "sca.r2")
    r3 = 2 * ctx.random(shape, "sca.r3")
    r4 = ctx.random(shape, "sca.r4")
    U = ctx.uniform(shape, "sca.redraw") if greedy else NONE2
    return r2, r3, r4, U


class NumbaSCA(SCA):
    def ask(self: SCA, state: SCAState, ctx: Context) -> np.ndarray:  # self: SCA, the torch backend's too
        assert isinstance(ctx, NumbaContext)
        X, out = state.X, ctx.buffer(state.X.shape)
        r1 = self.a - ctx.t * self.a / ctx.max_iter
        if ctx.native:
            launch(K.sca_counter, X.size, X, ctx.best_x, r1, ctx.call_key(STEP), ctx.lb, ctx.ub, self.greedy, out)
        else:
            draws = _sca_draws(ctx, X.shape, self.greedy)
            launch(K.sca_drawn, X.size, X, ctx.best_x, r1, *draws, ctx.lb, ctx.ub, self.greedy, out)
        return out

    def tell(self: SCA, state: SCAState, candidates: np.ndarray, fitness: np.ndarray,
             ctx: Context) -> tuple[SCAState, bool]:
        assert isinstance(ctx, NumbaContext)
        if not self.greedy:
            ctx.release(state.X)
            return SCAState(candidates, fitness), True
        better = fitness < state.fitness
        state.X[better] = candidates[better]
        ctx.release(candidates)
        return SCAState(state.X, np.where(better, fitness, state.fitness)), True


class _Campaign(PO):
    """PO's generation as kernels: campaign + switching in one pass, parliament in another."""

    def _campaign(self: PO, state: POState, ctx: Context) -> np.ndarray:  # self: PO, the torch backend's too
        assert isinstance(ctx, NumbaContext)
        n, X = self.n_parties, state.X
        improved = state.fitness_last >= state.fitness
        winners = X[state.winner_idx]  # copied before the campaign moves anybody
        scpo = isinstance(self, SCPO)
        d1 = self.a - ctx.t * self.a / ctx.max_iter if isinstance(self, SCPO) else 0.0
        printed = isinstance(self, SCPO) and self.variant == "printed"
        draws = None if ctx.native else [_Campaign._stage_draws(ctx, X.shape, scpo, stage) for stage in range(2)]
        psr = (1 - (ctx.t - 1) / ctx.max_iter) * self.lambda_max
        moving = ctx.random((len(X),), "switch.moving") < psr
        offsets = ctx.integers(1, n, len(X), "switch.offsets")
        source, diagonal = K.switch_plan(state.fitness, n, moving, offsets, self.reference_switch_bug)
        out = ctx.buffer(X.shape)
        common = (X, state.X_last, state.leader_pos, winners, improved, source, diagonal, ctx.lb, ctx.ub)
        if ctx.native and scpo:
            launch(K.scpo_campaign_counter, X.size, *common, ctx.call_key(CAMPAIGN), ctx.best_x, d1, printed, out)
        elif ctx.native:
            launch(K.po_campaign_counter, X.size, *common, ctx.call_key(CAMPAIGN), out)
        else:
            assert draws is not None
            (r_a, sc_a), (r_b, sc_b) = draws
            launch(K.campaign_drawn, X.size, *common, r_a, r_b, sc_a, sc_b, scpo, ctx.best_x, d1, printed, out)
        return out

    @staticmethod
    def _stage_draws(ctx: NumbaContext, shape: tuple[int, ...], scpo: bool,
                     stage: int) -> tuple[np.ndarray, np.ndarray]:
        r = ctx.random(shape, f"campaign{stage}.r")
        if not scpo:
            return r, NONE3
        d2 = 2 * np.pi * ctx.random(shape, f"campaign{stage}.d2")
        d3 = 2 * ctx.random(shape, f"campaign{stage}.d3")
        d4 = ctx.random(shape, f"campaign{stage}.d4")
        return r, np.stack([d2, d3, d4])

    def _parliament(self: PO, state: POState, ctx: Context) -> np.ndarray:
        assert isinstance(ctx, NumbaContext)
        n, D = self.n_parties, state.X.shape[1]
        other = (np.arange(n) + ctx.integers(1, n, n, "parliament.other")) % n
        out = np.empty((n, D), state.X.dtype)
        if ctx.native:  # r drawn in the kernel, the winners read in place: one pass
            launch(K.parliament_counter, out.size, state.X, state.winner_idx, other, ctx.call_key(PARLIAMENT),
                   ctx.lb, ctx.ub, out)
        else:
            r = ctx.random((n, D), "parliament.r")
            launch(K.parliament, out.size, state.X[state.winner_idx], other, r, ctx.lb, ctx.ub, out)
        return out

    def tell(self, state: POState, candidates: np.ndarray, fitness: np.ndarray,
             ctx: Context) -> tuple[POState, bool]:
        assert isinstance(ctx, NumbaContext)
        if state.phase == "campaign":
            if state.X_last is not state.X:
                ctx.release(state.X_last)
            return super().tell(state, candidates, fitness, ctx)
        return parliament_tell(state, candidates, fitness)


def parliament_tell(state: POState, candidates: np.ndarray, fitness: np.ndarray) -> tuple[POState, bool]:
    """PO's parliament told: a winner replaced where the candidate is better (numpy arrays, written in place:
    they are the state's own)."""
    better = fitness < state.fitness[state.winner_idx]
    rows = state.winner_idx[better]
    state.X[rows], state.fitness[rows] = candidates[better], fitness[better]
    return replace(state, phase="campaign"), True


class NumbaPO(_Campaign, PO):
    pass


class NumbaSCPO(_Campaign, SCPO):
    pass


class NumbaRandom(RandomSearch):
    def ask(self: RandomSearch, pop_size: int, ctx: Context) -> np.ndarray:
        assert isinstance(ctx, NumbaContext)
        shape = (pop_size, ctx.lb.size)
        if not ctx.native:
            return ctx.uniform(shape, "uniform").astype(ctx.dtype, copy=False)
        out = ctx.buffer(shape)
        launch(K.fill_uniform, out.size, ctx.call_key(STEP), ctx.lb, ctx.ub, out)
        return out

    def tell(self, pop_size: int, candidates: np.ndarray, fitness: np.ndarray, ctx: Context) -> tuple[int, bool]:
        assert isinstance(ctx, NumbaContext)
        ctx.release(candidates)
        return pop_size, True


class _OnNumpyArrays(Sampler, Algorithm):
    """An algorithm whose update is its numpy reference code, run as it is on numba's arrays (which are
    numpy): its candidates are cast to the run's dtype. With native draws its standard normals come from the
    kernels' generator in the run's dtype (:meth:`NumbaContext.normal`) and its other draws from the run's numpy
    Generator; with draws="numpy" every draw is numpy's, so a distribution algorithm (no initial population)
    gives the numpy run for a seed; with draws="counter", the counter-based generator's, as on every backend."""

    def ask(self, state: Any, ctx: Context) -> np.ndarray:
        assert isinstance(ctx, NumbaContext)  # made by NumbaBackend.context()
        return np.asarray(super().ask(state, ctx), dtype=ctx.dtype)


    def sample_box(self, centre, scale, Z, ctx: Context, mirrored: bool = False, write_back: bool = False):
        """The evolution strategies' sampling (in the normals' dtype) in one fused pass, written in the run's dtype
        into a spare buffer of the context's pool (the tell gives it back)."""
        assert isinstance(ctx, NumbaContext)  # made by NumbaBackend.context()
        if not Z.flags.c_contiguous:
            return super().sample_box(centre, scale, Z, ctx, mirrored, write_back)
        return es_sample(Z, centre, scale, ctx, mirrored, write_back, ctx.dtype, ctx)


class _NumbaES(_OnNumpyArrays):
    """An evolution strategy: its candidates (from :meth:`sample_box`'s pooled buffer) are dead once told."""

    def tell(self, state: Any, candidates, fitness, ctx: Context):
        assert isinstance(ctx, NumbaContext)
        told = super().tell(state, candidates, fitness, ctx)  # the ES class's tell
        ctx.release(candidates)
        return told


def es_sample(Z: np.ndarray, centre, scale, ctx: Context, mirrored: bool, write_back: bool, dtype,
              pool: NumbaContext | None = None) -> np.ndarray:
    """:func:`scpo.backends.numba_kernels.es_sample` on numpy arrays: the numbers of ``es_tools.sample_to_box``.
    With ``pool``, the candidates go into one of its spare buffers."""
    kind = Z.dtype.type
    D = Z.shape[1]
    vector = lambda v: np.ascontiguousarray(np.broadcast_to(np.asarray(v, dtype=kind), (D,)))  # noqa: E731
    shape = ((2 if mirrored else 1) * Z.shape[0], D)
    out = pool.buffer(shape) if pool is not None and np.dtype(pool.dtype) == np.dtype(dtype) else np.empty(shape, dtype)
    K.launch(K.es_sample, out.size, Z, vector(centre), vector(scale), vector(ctx.lb), vector(ctx.ub),
             mirrored, write_back, out)
    return out


def _on_numpy_arrays(cls: type) -> type:
    return type(f"Numba{cls.__name__}", (_OnNumpyArrays, cls), {})


class NumbaPSO(_OnNumpyArrays, PSO):
    """PSO's arithmetic fused into one pass: r1 and r2 drawn in the kernel (native draws, :func:`K.pso_counter`)
    or the numpy reference's draws passed in (:func:`K.pso_move`); the tell in place (:func:`K.pso_tell`)."""

    def ask(self: PSO, state: PSOState, ctx: Context) -> np.ndarray:  # self: PSO, the torch backend's too
        assert isinstance(ctx, NumbaContext)  # made by NumbaBackend.context() (or TorchContext.numba())
        if not ctx.native:
            r1, r2 = ctx.random(state.X.shape, "pso.r1"), ctx.random(state.X.shape, "pso.r2")
            return pso_ask(self, state.X, state.V, state.P, ctx, r1, r2, np.dtype(ctx.dtype))
        X, out = state.X, ctx.buffer(state.X.shape)
        vmax, lb, ub = (np.asarray(v, dtype=X.dtype) for v in (self.vmax_fraction * (ctx.ub - ctx.lb), ctx.lb, ctx.ub))
        launch(K.pso_counter, X.size, X, state.V, state.P, np.asarray(ctx.best_x, dtype=X.dtype), ctx.call_key(STEP),
               self.inertia(ctx), self.c1, self.c2, vmax, lb, ub, out)
        return out

    def tell(self: PSO, state: PSOState, candidates, fitness, ctx: Context) -> tuple[PSOState, bool]:
        assert isinstance(ctx, NumbaContext)
        if not (candidates.flags.c_contiguous and candidates.dtype == state.X.dtype):
            return PSO.tell(self, state, candidates, fitness, ctx)
        better = fitness < state.P_fitness
        V = state.V if state.V.flags.writeable and state.V.flags.c_contiguous else np.empty_like(candidates)
        P = state.P
        if np.may_share_memory(P, state.X) or not (P.flags.writeable and P.flags.c_contiguous):  # the first tell
            P = P.copy()
        launch(K.pso_tell, candidates.size, state.X, candidates, better, V, P)
        ctx.release(state.X)
        return PSOState(candidates, V, P, np.where(better, fitness, state.P_fitness)), True


def pso_ask(algorithm: PSO, X, V, P, ctx: Context, r1, r2, dtype) -> np.ndarray:
    """:func:`K.pso_move` on numpy arrays (or numpy views of cpu tensors): the numpy equations' numbers."""
    vmax = np.asarray(algorithm.vmax_fraction * (ctx.ub - ctx.lb))
    out = np.empty(X.shape, dtype=dtype)
    launch(K.pso_move, X.size, X, V, P, np.asarray(ctx.best_x), r1, r2, algorithm.inertia(ctx),
           algorithm.c1, algorithm.c2, vmax, np.asarray(ctx.lb), np.asarray(ctx.ub), out)
    return out


class NumbaDE(_OnNumpyArrays, DE):
    """DE's trial vectors made in one pass: the crossover's uniforms drawn in the kernel (native draws,
    :func:`K.de_counter`) or the numpy reference's draws in its order (:func:`K.de_move`); the partners and
    the forced coordinates (O(N) draws) from the run's Generator, as the reference."""

    def ask(self: DE, state: DEState, ctx: Context) -> np.ndarray:  # self: DE, the torch backend's too
        assert isinstance(ctx, NumbaContext)  # made by NumbaBackend.context() (or TorchContext.numba())
        n, dim = state.X.shape
        if not ctx.native:
            partners = distinct_partners(ctx.rng, n) if ctx.draws is None else sorted_partners(ctx, n)
            U = ctx.random((n, dim), "de.cross")
            jrand = ctx.integers(0, dim, n, "de.forced")
            return de_ask(self, state.X, partners, U, jrand, ctx, np.dtype(ctx.dtype))
        partners = three_distinct(ctx.rng, n)
        jrand = ctx.integers(0, dim, n, "de.forced")
        X, out = state.X, ctx.buffer(state.X.shape)
        lb, ub = (np.asarray(v, dtype=X.dtype) for v in (ctx.lb, ctx.ub))
        launch(K.de_counter, X.size, X, np.ascontiguousarray(partners), np.asarray(jrand), ctx.call_key(STEP),
               self.F, self.CR, lb, ub, out)
        return out

    def tell(self: DE, state: DEState, candidates, fitness, ctx: Context) -> tuple[DEState, bool]:
        """Greedy selection in place: the rows whose trial is at least as good take it."""
        assert isinstance(ctx, NumbaContext)
        keep = fitness <= state.fitness
        if not (state.X.flags.writeable and candidates.dtype == state.X.dtype):
            return DE.tell(self, state, candidates, fitness, ctx)
        state.X[keep] = candidates[keep]
        ctx.release(candidates)
        return DEState(state.X, np.where(keep, fitness, state.fitness)), True


def three_distinct(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3) partners: row i a uniformly drawn ordered triple of distinct indices other than i, from 3n draws
    (the reference's ``distinct_partners`` draws n (n - 1) keys and partitions them: at n = 1,024 that is
    most of a generation's cost). Offsets o1 in 1..n-1, o2 in 1..n-2 skipping o1, o3 in 1..n-3 skipping both."""
    o1 = rng.integers(1, n, n)
    o2 = rng.integers(1, n - 1, n)
    o2 += o2 >= o1
    o3 = rng.integers(1, n - 2, n)
    low, high = np.minimum(o1, o2), np.maximum(o1, o2)
    o3 += o3 >= low
    o3 += o3 >= high
    return (np.arange(n)[:, None] + np.stack([o1, o2, o3], axis=1)) % n


def de_ask(algorithm: DE, X, partners, U, jrand, ctx: Context, dtype) -> np.ndarray:
    """:func:`K.de_move` on numpy arrays (or numpy views of cpu tensors): the numpy equations' numbers."""
    out = np.empty(X.shape, dtype=dtype)
    launch(K.de_move, X.size, X, np.ascontiguousarray(partners), U, np.asarray(jrand), algorithm.F, algorithm.CR,
           np.asarray(ctx.lb), np.asarray(ctx.ub), out)
    return out


ADAPTED: dict[type, type] = {SCA: NumbaSCA, PO: NumbaPO, SCPO: NumbaSCPO, RandomSearch: NumbaRandom,
                             PSO: NumbaPSO, DE: NumbaDE,
                             CMAES: _on_numpy_arrays(CMAES),
                             **{cls: type(f"Numba{cls.__name__}", (_NumbaES, cls), {})
                                for cls in (OpenAIES, SNES, PGPE, SepCMAES)}}
