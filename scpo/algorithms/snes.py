"""SNES, separable natural evolution strategies (Schaul, Glasmachers & Schmidhuber 2011).

A Gaussian with centre ``mu`` and one step ``sigma_i`` per coordinate, moved along the
natural gradient of the expected utility; O(N D) per generation, for high dimensions.

Choices (the paper's defaults):
- ``lambda = 4 + floor(3 ln D)`` samples ``z = mu + sigma s``, ``s ~ N(0, I)``;
- utilities by rank, best first: ``u_k = max(0, ln(lambda/2 + 1) - ln k) / sum_j (...) - 1/lambda``
  (``fitness_shaping="nes"``, default); or ``"centered"`` (centred ranks), ``"raw"`` (the loss) or
  ``"normalized"`` (the standardised loss) (:func:`scpo.algorithms.es_tools.shape_fitness`), negated
  and divided by their sum of absolute values, as EvoTorch's SNES does for a ranking other than NES's
  (so ``eta_mu`` keeps its meaning; ``"raw"`` is not centred there: a loss far from 0 relative to its
  spread moves the centre little and biases the step-size update);
- ``weight_decay`` (default 0): each sample is ranked by ``f(x) + weight_decay * mean(x**2)`` (x in
  the problem's units; :func:`~scpo.algorithms.es_tools.decayed_fitness`), an L2 pull towards 0;
- ``mu += eta_mu sigma sum_k u_k s_k`` with ``eta_mu = 1``;
  ``sigma *= exp(eta_sigma / 2 sum_k u_k (s_k^2 - 1))`` with ``eta_sigma = (3 + ln D) / (5 sqrt D)``;
- search in the unit box; ``sigma0 = 0.1`` of the range in every coordinate (the paper
  leaves it to the user; 0.3 reaches 10x less far on shifted sphere in 200-D at 20,000
  evaluations, since in D dimensions the samples lie ``sigma sqrt(D)`` from the centre);
- start: ``init="center"`` (default; no initial population is evaluated: the first ask is the
  strategy's own sample), ``"mean"`` or ``"best"`` of the initial population;
  ``Optimizer(x0=, sigma0=)`` starts ``mu`` at ``x0`` with ``sigma = sigma0`` (units of x);
- bounds: candidates are clipped to the box (the update uses the drawn ``s``), and so is
  the centre after each step;
- ties in fitness (e.g. several ``+inf``) are ranked by index: deterministic;
- with ``init="mean"``/``"best"`` the initial uniform population counts as iteration 1; either
  way ``T = max_evals // N``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from scpo.algorithms import es_tools as es
from scpo.algorithms.base import Algorithm, Context, register

Shaping = Literal["nes", "centered", "raw", "normalized"]  # "nes": the paper's utilities
SHAPINGS: tuple[str, ...] = get_args(Shaping)


@dataclass
class SNESState:
    mu: np.ndarray  # (D,) centre, unit box
    sigma: np.ndarray  # (D,) per-coordinate step, unit box
    s: np.ndarray  # (N, D) the last ask's standard normal samples


def snes_utilities(n: int) -> np.ndarray:
    """The paper's rank utilities, best first; they sum to zero."""
    raw = np.maximum(0.0, math.log(n / 2 + 1) - np.log(np.arange(1, n + 1)))
    return raw / raw.sum() - 1.0 / n


def snes_update(mu, sigma, s, fitness, eta_mu: float, eta_sigma: float, xp=np, shaping: str = "nes"):
    """One natural-gradient step on centre and steps from samples ``s`` and their losses."""
    if shaping == "nes":  # each sample's utility by its rank (scattered, so that s is never reordered)
        ranked = es.like(snes_utilities(fitness.shape[0]), s, xp)
        u = xp.zeros_like(ranked)
        u[es.fitness_order(fitness, xp)] = ranked
    else:  # as EvoTorch's SNES: any other shaping divided by its sum of absolute values (raw: not centred)
        u = -es.shape_fitness(fitness, shaping, xp)
        total = xp.abs(u).sum()
        u = u / xp.where(total > 0, total, 1.0)
    grad_mu = es.weighted_sum(u, s, xp)  # sum_k u_k s_k and sum_k u_k (s_k^2 - 1): no (N, D) temporary
    grad_sigma = es.weighted_square_sum(u, s, xp) - u.sum()
    return (mu + eta_mu * sigma * grad_mu).clip(0.0, 1.0), sigma * xp.exp(eta_sigma / 2 * grad_sigma)


@register
class SNES(es.Sampler, Algorithm):
    """Separable NES with the paper's population size, utilities and learning rates.

    Comparisons (under constraints they follow Deb's rules, :mod:`scpo.constraints`): the ranking behind the
    utilities of each generation, and the engine's best so far.
    """

    name = "snes"
    initial_counts_as_iteration = True
    distribution = True
    xp = np

    def __init__(self, sigma0: float = 0.1, eta_mu: float = 1.0, eta_sigma: float | None = None,
                 init: es.Start = "center", fitness_shaping: Shaping = "nes",
                 weight_decay: float = 0.0):
        self.sigma0 = es.check_number("sigma0", sigma0, 0.0, 1.0)
        self.fitness_shaping = es.check_choice("fitness_shaping", fitness_shaping, SHAPINGS)
        self.weight_decay = es.check_number("weight_decay", weight_decay, 0.0, low_open=False)
        self.eta_mu = es.check_number("eta_mu", eta_mu, 0.0, 2.0)
        self.eta_sigma = None if eta_sigma is None else es.check_number("eta_sigma", eta_sigma, 0.0, 2.0)
        self.init_how = es.check_choice("init", init, es.STARTS)

    def population_size(self, pop_size: int | None, dim: int | None = None) -> int:
        return es.population(pop_size, dim, self.name)

    def normal(self, shape, ctx: Context):
        return ctx.normal(shape, "normal")

    def for_start(self, x0, step) -> SNES:
        es.check_start(self, x0)
        return super().for_start(x0, step)

    def _sigma(self, mu):
        return mu * 0.0 + self.sigma0 if self.step_unit is None else es.vector(self.step_unit, mu, self.xp)

    def init(self, X, fitness, ctx: Context) -> SNESState:
        mu = es.start_point(X, fitness, ctx, self.init_how, self.xp)
        return SNESState(mu, self._sigma(mu), X * 0.0)

    def start(self, pop_size: int, ctx: Context) -> SNESState | None:
        if not es.starts_without_population(self):
            return None
        mu = es.start_centre(self, ctx, self.xp)
        return SNESState(mu, self._sigma(mu), es.zeros((pop_size, mu.shape[0]), mu, self.xp))

    def center(self, state: SNESState, ctx: Context):
        return es.to_box(state.mu, ctx)

    def step_size(self, state: SNESState):
        return state.sigma

    def ask(self, state: SNESState, ctx: Context):
        state.s = self.normal(tuple(state.s.shape), ctx)
        return self.sample_box(state.mu, state.sigma, state.s, ctx)

    def tell(self, state: SNESState, candidates, fitness, ctx: Context) -> tuple[SNESState, bool]:
        dim = state.mu.shape[0]
        eta_sigma = self.eta_sigma or (3 + math.log(dim)) / (5 * math.sqrt(dim))
        fitness = es.decayed_fitness(fitness, candidates, self.weight_decay, self.xp)
        mu, sigma = snes_update(state.mu, state.sigma, state.s, fitness, self.eta_mu, eta_sigma, self.xp,
                                self.fitness_shaping)
        return SNESState(mu, sigma, state.s), True
