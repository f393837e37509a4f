"""PGPE, policy gradients with parameter-based exploration (Sehnke et al. 2010), symmetric
sampling, with ClipUp (Toklu, Liskowski & Srivastava 2020) or Adam on the centre.

Choices:
- search in the unit box; per-coordinate stdev ``sigma0 = 0.1`` of the range at the start;
- symmetric pairs ``mu +- eps``, ``eps ~ N(0, sigma^2)``: ``pop_size`` must be even
  (default ``4 + floor(3 ln D)`` rounded up to even);
- utilities: centred ranks (Salimans et al. 2017) with the best at ``+0.5``, ties sharing
  their average rank (``fitness_shaping="centered"``, default), or the negated ``"raw"`` or
  ``"normalized"`` loss (:func:`scpo.algorithms.es_tools.shape_fitness`); baseline ``b`` = their mean;
- ``weight_decay`` (default 0): each sample is scored ``f(x) + weight_decay * mean(x**2)`` (x in the
  problem's units; :func:`~scpo.algorithms.es_tools.decayed_fitness`) before shaping, an L2 pull towards 0;
- Sehnke's symmetric estimates, averaged over the P pairs:
  ``g_mu = 1/P sum eps (u+ - u-) / 2``,
  ``g_sigma = 1/P sum ((u+ + u-) / 2 - b) (eps^2 - sigma^2) / sigma``;
- centre: ``optimizer="adam"`` (default) or ``"clipup"`` (momentum 0.9, ``max_speed`` = the initial
  radius ``||sigma0||`` / 15 and ``learning_rate = max_speed / 2``, the ClipUp paper's
  advice); Adam's ``learning_rate = sigma0 / 30`` by default (the same size per
  coordinate); kept in the box. ClipUp moves the centre at up to ``max_speed`` whatever the
  gradient's size, which suits noisy neuroevolution but leaves the centre wandering at a
  distance proportional to ``max_speed`` from an exact optimum: on shifted sphere (D = 200,
  20,000 evaluations) ClipUp ends about 10x below random search, Adam 1e5x, hence Adam as the
  default (``experiments/bench_es.py`` compares ``optimizer="clipup"`` with evotorch's ClipUp PGPE);
- stdev: ``sigma += stdev_learning_rate g_sigma`` (0.2), each coordinate's change limited
  to ``stdev_max_change = 20 %`` of its value, so sigma stays positive;
- start: ``init="center"`` (default; no initial population is evaluated: the first ask is the
  strategy's own sample), ``"mean"`` or ``"best"`` of the initial population;
  ``Optimizer(x0=, sigma0=)`` starts ``mu`` at ``x0`` with stdev ``sigma0`` (units of x), the
  default speeds then scaled by its root mean square (as by ``sigma0`` here);
- bounds: candidates are clipped to the box; the update uses the drawn ``eps``;
- with ``init="mean"``/``"best"`` the initial uniform population counts as iteration 1; either
  way ``T = max_evals // N``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from scpo.algorithms import es_tools as es
from scpo.algorithms.base import Algorithm, Context, register


@dataclass
class PGPEState:
    mu: np.ndarray  # (D,) centre, unit box
    sigma: np.ndarray  # (D,) per-coordinate stdev, unit box
    velocity: np.ndarray  # (D,) ClipUp's velocity, or Adam's first moment
    v: np.ndarray  # (D,) Adam's second moment
    eps: np.ndarray  # (N/2, D) the last ask's perturbations
    step: int = 0


def pgpe_gradients(eps, sigma, fitness, xp=np, shaping: str = "centered"):
    """Sehnke's symmetric-sampling estimates for centre and stdev (ascending the utility)."""
    u = -es.shape_fitness(fitness, shaping, xp)
    half = eps.shape[0]
    plus, minus = u[:half, None], u[half:, None]
    g_mu = es.weighted_sum((plus - minus)[:, 0] / 2, eps, xp) / half  # no (N, D) temporary
    c = (plus + minus)[:, 0] / 2 - u.mean()  # mean_k c_k (eps_k^2 - sigma^2) / sigma
    g_sigma = (es.weighted_square_sum(c, eps, xp) - c.sum() * (sigma * sigma)) / sigma / half
    return g_mu, g_sigma


def pgpe_stdev(sigma, g_sigma, lr: float, max_change: float, xp=np):
    """``sigma + lr g_sigma``, each coordinate kept within ``+-max_change`` of its value."""
    return xp.minimum(xp.maximum(sigma + lr * g_sigma, sigma * (1 - max_change)), sigma * (1 + max_change))


@register
class PGPE(es.Sampler, Algorithm):
    """Symmetric PGPE with centred ranks; Adam (default) or ClipUp on the centre.

    Comparisons (under constraints they follow Deb's rules, :mod:`scpo.constraints`): the centred ranks of each
    generation (both samples of a symmetric pair), and the engine's best so far.
    """

    name = "pgpe"
    initial_counts_as_iteration = True
    distribution = True
    xp = np

    def __init__(self, sigma0: float = 0.1, optimizer: Literal["clipup", "adam"] = "adam",
                 learning_rate: float | None = None, max_speed: float | None = None, momentum: float = 0.9,
                 stdev_learning_rate: float = 0.2, stdev_max_change: float = 0.2, beta1: float = 0.9,
                 beta2: float = 0.999, init: es.Start = "center",
                 fitness_shaping: es.Shaping = "centered", weight_decay: float = 0.0):
        self.sigma0 = es.check_number("sigma0", sigma0, 0.0, 1.0)
        self.fitness_shaping = es.check_choice("fitness_shaping", fitness_shaping, es.SHAPINGS)
        self.weight_decay = es.check_number("weight_decay", weight_decay, 0.0, low_open=False)
        self.optimizer = es.check_choice("optimizer", optimizer, ("clipup", "adam"))
        self.learning_rate = None if learning_rate is None else es.check_number("learning_rate", learning_rate)
        self.max_speed = None if max_speed is None else es.check_number("max_speed", max_speed)
        self.momentum = es.check_number("momentum", momentum, 0.0, 0.999, low_open=False)
        self.stdev_learning_rate = es.check_number("stdev_learning_rate", stdev_learning_rate, 0.0, low_open=False)
        self.stdev_max_change = es.check_number("stdev_max_change", stdev_max_change, 0.0, 0.999)
        self.beta1 = es.check_number("beta1", beta1, 0.0, 0.999, low_open=False)
        self.beta2 = es.check_number("beta2", beta2, 0.0, 0.9999, low_open=False)
        self.init_how = es.check_choice("init", init, es.STARTS)

    def population_size(self, pop_size: int | None, dim: int | None = None) -> int:
        return es.population(pop_size, dim, self.name, even=True)

    def normal(self, shape, ctx: Context):
        return ctx.normal(shape, "normal")

    def speeds(self, dim: int) -> tuple[float, float]:
        """(learning rate, max speed) of the centre's optimizer."""
        sigma0 = self.sigma0 if self.step_unit is None else es.step_scale(self.step_unit)
        max_speed = self.max_speed or sigma0 * math.sqrt(dim) / 15
        default_lr = max_speed / 2 if self.optimizer == "clipup" else sigma0 / 30
        return self.learning_rate or default_lr, max_speed

    def for_start(self, x0, step) -> PGPE:
        es.check_start(self, x0)
        return super().for_start(x0, step)

    def _sigma(self, mu):
        return mu * 0.0 + self.sigma0 if self.step_unit is None else es.vector(self.step_unit, mu, self.xp)

    def init(self, X, fitness, ctx: Context) -> PGPEState:
        mu = es.start_point(X, fitness, ctx, self.init_how, self.xp)
        zeros = mu * 0.0
        return PGPEState(mu, self._sigma(mu), zeros, zeros, X[: X.shape[0] // 2] * 0.0)

    def start(self, pop_size: int, ctx: Context) -> PGPEState | None:
        if not es.starts_without_population(self):
            return None
        mu = es.start_centre(self, ctx, self.xp)
        zeros = mu * 0.0
        return PGPEState(mu, self._sigma(mu), zeros, zeros, es.zeros((pop_size // 2, mu.shape[0]), mu, self.xp))

    def center(self, state: PGPEState, ctx: Context):
        return es.to_box(state.mu, ctx)

    def step_size(self, state: PGPEState):
        return state.sigma

    def ask(self, state: PGPEState, ctx: Context):
        state.eps = self.normal(tuple(state.eps.shape), ctx)  # scaled by sigma in place: mu + [eps, -eps]
        return self.sample_box(state.mu, state.sigma, state.eps, ctx, mirrored=True, write_back=True)

    def tell(self, state: PGPEState, candidates, fitness, ctx: Context) -> tuple[PGPEState, bool]:
        xp = self.xp
        fitness = es.decayed_fitness(fitness, candidates, self.weight_decay, xp)
        g_mu, g_sigma = pgpe_gradients(state.eps, state.sigma, fitness, xp, self.fitness_shaping)
        lr, max_speed = self.speeds(state.mu.shape[0])
        step, v = state.step + 1, state.v
        if self.optimizer == "clipup":
            velocity = es.clipup(g_mu, state.velocity, lr, max_speed, self.momentum, xp)
            mu = state.mu + velocity
        else:
            delta, velocity, v = es.adam(-g_mu, state.velocity, state.v, step, lr, self.beta1, self.beta2, xp=xp)
            mu = state.mu - delta
        sigma = pgpe_stdev(state.sigma, g_sigma, self.stdev_learning_rate, self.stdev_max_change, xp)
        return PGPEState(mu.clip(0.0, 1.0), sigma, velocity, v, state.eps, step), True
