"""sep-CMA-ES (Ros & Hansen 2008): CMA-ES with a diagonal covariance matrix, O(D) memory
and time per sample, whose learning rate is raised by ``(D + 2) / 3`` because a diagonal
has only D entries to learn.

Choices (the paper's settings):
- ``lambda = 4 + floor(3 ln D)``, ``mu = floor(lambda / 2)``, weights
  ``w_i ~ ln((lambda + 1) / 2) - ln i`` summing to 1, ``mu_eff = 1 / sum w_i^2``;
- ``c_sigma = (mu_eff + 2) / (D + mu_eff + 3)``,
  ``d_sigma = 1 + 2 max(0, sqrt((mu_eff - 1) / (D + 1)) - 1) + c_sigma``, ``c_c = 4 / (D + 4)``;
- ``mu_cov = mu_eff``, ``c_cov = 1/mu_cov 2/(D + sqrt 2)^2 + (1 - 1/mu_cov)
  min(1, (2 mu_eff - 1) / ((D + 2)^2 + mu_eff))``, used as ``c_cov (D + 2) / 3`` (at most 1);
- ``h_sigma`` stalls ``p_c`` while ``||p_sigma||`` is large, as in the paper;
- search in the unit box with ``sigma0 = 0.3`` (as ``cmaes``); start ``init="center"``
  (default; no initial population is evaluated: the first ask is the strategy's own sample),
  ``"mean"`` or ``"best"`` of the initial population; ``Optimizer(x0=, sigma0=)`` starts ``m`` at
  ``x0``, with a per-coordinate ``sigma0`` (units of x) as the global step (its root mean square)
  times the square root of the initial diagonal;
- bounds: candidates are clipped to the box; the update uses the drawn samples, and the
  mean is kept in the box. Where the box stops the mean, both paths take the step the mean took,
  not the samples' recombined one: a mean held on a bound, whose samples beyond it all score alike,
  otherwise grows the paths and sigma without end (before 2026-12-07: overflow, and no feasible
  spring in 20,000 evaluations; ``tests/test_es.py``). Inside the box nothing changes, bit for bit;
- no restarts; ties in fitness are ranked by index;
- against ``cma`` (``CMA_diagonal=True``; experiments/bench_es.py): the same or better at
  D = 100; at D = 1000 ``cma``'s default step-size rule is TPA, which converges faster on
  sphere; with CSA, the rule used here, ``cma`` is behind this implementation;
- with ``init="mean"``/``"best"`` the initial uniform population counts as iteration 1; either
  way ``T = max_evals // N``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scpo.algorithms import es_tools as es
from scpo.algorithms.base import Algorithm, Context, register


@dataclass
class SepCMAESState:
    m: np.ndarray  # (D,) mean, unit box
    sigma: np.ndarray  # () global step
    C: np.ndarray  # (D,) diagonal of the covariance matrix
    p_sigma: np.ndarray  # (D,) conjugate evolution path
    p_c: np.ndarray  # (D,) evolution path
    z: np.ndarray  # (N, D) the last ask's standard normal samples
    generation: int = 0


@dataclass(frozen=True)
class SepCMAParams:
    weights: np.ndarray  # (mu,)
    mu_eff: float
    c_sigma: float
    d_sigma: float
    c_c: float
    c_cov: float  # already multiplied by (D + 2) / 3
    mu_cov: float
    chi_d: float  # E||N(0, I)||


def sep_cma_params(n: int, dim: int) -> SepCMAParams:
    mu = n // 2
    w = math.log((n + 1) / 2) - np.log(np.arange(1, mu + 1))
    w = w / w.sum()
    mu_eff = 1.0 / float((w * w).sum())
    c_sigma = (mu_eff + 2) / (dim + mu_eff + 3)
    d_sigma = 1 + 2 * max(0.0, math.sqrt((mu_eff - 1) / (dim + 1)) - 1) + c_sigma
    mu_cov = mu_eff
    c_cov = (2 / (dim + math.sqrt(2)) ** 2 / mu_cov
             + (1 - 1 / mu_cov) * min(1.0, (2 * mu_eff - 1) / ((dim + 2) ** 2 + mu_eff)))
    chi_d = math.sqrt(dim) * (1 - 1 / (4 * dim) + 1 / (21 * dim**2))
    return SepCMAParams(w, mu_eff, c_sigma, d_sigma, 4 / (dim + 4), min(1.0, c_cov * (dim + 2) / 3), mu_cov, chi_d)


def sep_cma_update(state: SepCMAESState, fitness, p: SepCMAParams, xp=np) -> SepCMAESState:
    """Recombination, both paths, the diagonal covariance and the step size (one generation)."""
    dim, g = state.m.shape[0], state.generation + 1
    D = xp.sqrt(state.C)
    w = xp.zeros_like(state.z[:, 0])  # each sample's recombination weight, 0 below the best mu (no gather)
    w[es.fitness_order(fitness, xp)[: p.weights.shape[0]]] = es.like(p.weights, state.z, xp)
    z_w = es.weighted_sum(w, state.z, xp)
    moved = state.m + state.sigma * D * z_w
    m = moved.clip(0.0, 1.0)
    # the paths learn the step the mean took: where the box stopped it, the shortened step (else a mean held
    # on a bound, whose samples beyond it all score alike, grows the paths, and sigma, without end)
    z_w = xp.where(m != moved, (m - state.m) / (state.sigma * D), z_w)
    p_sigma = (1 - p.c_sigma) * state.p_sigma + math.sqrt(p.c_sigma * (2 - p.c_sigma) * p.mu_eff) * z_w
    norm = xp.sqrt((p_sigma * p_sigma).sum())
    stalled = norm / math.sqrt(1 - (1 - p.c_sigma) ** (2 * g)) >= (1.4 + 2 / (dim + 1)) * p.chi_d
    h_sigma = es.like(np.array(1.0), norm, xp) * ~stalled  # 0 or 1, in the state's dtype
    p_c = (1 - p.c_c) * state.p_c + h_sigma * math.sqrt(p.c_c * (2 - p.c_c) * p.mu_eff) * D * z_w
    rank_one = p_c * p_c + (1 - h_sigma) * p.c_c * (2 - p.c_c) * state.C
    rank_mu = state.C * es.weighted_square_sum(w, state.z, xp)  # sum_k w_k (D z_k)^2
    C = (1 - p.c_cov) * state.C + p.c_cov / p.mu_cov * rank_one + p.c_cov * (1 - 1 / p.mu_cov) * rank_mu
    sigma = state.sigma * xp.exp(p.c_sigma / p.d_sigma * (norm / p.chi_d - 1))
    return SepCMAESState(m, sigma, C, p_sigma, p_c, state.z, g)


@register
class SepCMAES(es.Sampler, Algorithm):
    """Diagonal CMA-ES with the adapted covariance learning rate of Ros & Hansen.

    Comparisons (under constraints they follow Deb's rules, :mod:`scpo.constraints`): the ranking of each
    generation that selects and weights the mu best, and the engine's best so far.
    """

    name = "sep-cmaes"
    initial_counts_as_iteration = True
    distribution = True
    xp = np

    def __init__(self, sigma0: float = 0.3, init: es.Start = "center"):
        self.sigma0 = es.check_number("sigma0", sigma0, 0.0, 1.0)
        self.init_how = es.check_choice("init", init, es.STARTS)

    def population_size(self, pop_size: int | None, dim: int | None = None) -> int:
        n = es.population(pop_size, dim, self.name)
        if n < 4:
            raise ValueError(f"pop_size must be at least 4 for sep-cmaes (mu = pop_size // 2 >= 2), got {n}")
        return n

    def normal(self, shape, ctx: Context):
        return ctx.normal(shape, "normal")

    def for_start(self, x0, step) -> SepCMAES:
        es.check_start(self, x0)
        return super().for_start(x0, step)

    def _state(self, m, z) -> SepCMAESState:
        zeros = m * 0.0
        if self.step_unit is None:
            return SepCMAESState(m, zeros.sum() + self.sigma0, zeros + 1.0, zeros, zeros, z)
        scale = es.step_scale(self.step_unit)
        C = es.vector((self.step_unit / scale) ** 2, m, self.xp)
        return SepCMAESState(m, zeros.sum() + scale, C, zeros, zeros, z)

    def init(self, X, fitness, ctx: Context) -> SepCMAESState:
        return self._state(es.start_point(X, fitness, ctx, self.init_how, self.xp), X * 0.0)

    def start(self, pop_size: int, ctx: Context) -> SepCMAESState | None:
        if not es.starts_without_population(self):
            return None
        m = es.start_centre(self, ctx, self.xp)
        return self._state(m, es.zeros((pop_size, m.shape[0]), m, self.xp))

    def center(self, state: SepCMAESState, ctx: Context):
        return es.to_box(state.m, ctx)

    def step_size(self, state: SepCMAESState):
        return state.sigma * self.xp.sqrt(state.C)

    def ask(self, state: SepCMAESState, ctx: Context):
        state.z = self.normal(tuple(state.z.shape), ctx)
        return self.sample_box(state.m, state.sigma * self.xp.sqrt(state.C), state.z, ctx)

    def tell(self, state: SepCMAESState, candidates, fitness, ctx: Context) -> tuple[SepCMAESState, bool]:
        params = sep_cma_params(fitness.shape[0], state.m.shape[0])
        return sep_cma_update(state, fitness, params, self.xp), True
