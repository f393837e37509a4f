"""OpenAI-ES (Salimans, Ho, Chen, Sidor & Sutskever 2017): the neuroevolution baseline.

A Gaussian of fixed isotropic step ``sigma`` around a centre ``theta``; the gradient of
the expected loss is estimated from mirrored samples and followed by Adam (or SGD).

Choices:
- search in the unit box (``x = lb + u (ub - lb)``): ``sigma = 0.002`` and Adam's
  ``learning_rate = 0.001`` are shares of the range. sigma is fixed, so the best point
  found can be no closer than about ``sigma sqrt(D)`` to the optimum: these defaults are
  small for box benchmarks (on shifted sphere, D = 200, 20,000 evaluations they reach
  1e-4 of random search's value); neuroevolution work typically uses larger ones;
- mirrored sampling: ``eps_1..eps_{N/2} ~ N(0, I)`` and their negatives, so ``pop_size``
  must be even (default ``4 + floor(3 ln D)`` rounded up to even);
- fitness shaping: centred ranks in ``[-0.5, 0.5]`` (ties share their average rank;
  ``fitness_shaping="centered"``, default), or the ``"raw"`` or ``"normalized"`` loss
  (:func:`scpo.algorithms.es_tools.shape_fitness`); gradient ``g = 1 / (N sigma) sum_i r_i eps_i``,
  plus ``weight_decay (theta - theta_0)``: the paper's L2 penalty pulls the weights towards
  ``x = 0`` (``theta_0``, its place in the unit box, clipped to the box: the box centre for a symmetric
  box; default 0: no pull);
- ``optimizer="adam"`` (``beta1 = 0.9, beta2 = 0.999``) or ``"sgd"`` (heavy ball:
  ``v = momentum v + g``, ``theta -= learning_rate v``);
  SGD's step scales with the gradient, which grows like ``1 / sigma``, so it needs a far
  smaller ``learning_rate`` than Adam (e.g. 3e-5 with ``sigma = 0.01``);
- start: ``init="center"`` (box centre, default; no initial population is evaluated: the
  first ask is the strategy's own sample), ``"mean"`` or ``"best"`` of the engine's uniform
  initial population; ``Optimizer(x0=, sigma0=)`` starts the centre at ``x0`` with
  ``sigma = sigma0`` (units of x, per coordinate); the centre is kept in the box after each step;
- bounds: candidates are clipped to the box; the gradient uses the drawn ``eps``;
- with ``init="mean"``/``"best"`` the initial uniform population counts as iteration 1; either
  way ``T = max_evals // N``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from scpo.algorithms import es_tools as es
from scpo.algorithms.base import Algorithm, Context, register


@dataclass
class OpenAIESState:
    theta: np.ndarray  # (D,) centre, unit box
    m: np.ndarray  # (D,) Adam's first moment, or SGD's velocity
    v: np.ndarray  # (D,) Adam's second moment
    eps: np.ndarray  # (N/2, D) the last ask's noise
    step: int = 0
    sigma: np.ndarray | None = None  # (D,) per-coordinate step from Optimizer(sigma0=); None: the option's


def openai_es_gradient(eps, fitness, sigma: float | np.ndarray, xp=np, shaping: str = "centered"):
    """``1 / (N sigma) sum_i r_i eps_i`` over the mirrored population ``[eps, -eps]``."""
    ranks = es.shape_fitness(fitness, shaping, xp)
    half = eps.shape[0]
    return es.weighted_sum(ranks[:half] - ranks[half:], eps, xp) / (2 * half * sigma)


@register
class OpenAIES(es.Sampler, Algorithm):
    """Salimans et al.'s ES: mirrored sampling, centred ranks, Adam or SGD, weight decay.

    Comparisons (under constraints they follow Deb's rules, :mod:`scpo.constraints`): the centred ranks of each
    generation, and the engine's best so far.
    """

    name = "openai-es"
    initial_counts_as_iteration = True
    distribution = True
    xp = np

    def __init__(self, sigma: float = 0.002, learning_rate: float = 0.001, optimizer: Literal["adam", "sgd"] = "adam",
                 momentum: float = 0.9, beta1: float = 0.9, beta2: float = 0.999, weight_decay: float = 0.0,
                 init: es.Start = "center", fitness_shaping: es.Shaping = "centered"):
        self.sigma = es.check_number("sigma", sigma, 0.0, 1.0)
        self.fitness_shaping = es.check_choice("fitness_shaping", fitness_shaping, es.SHAPINGS)
        self.learning_rate = es.check_number("learning_rate", learning_rate)
        self.optimizer = es.check_choice("optimizer", optimizer, ("adam", "sgd"))
        self.momentum = es.check_number("momentum", momentum, 0.0, 1.0, low_open=False)
        self.beta1 = es.check_number("beta1", beta1, 0.0, 1.0, low_open=False)
        self.beta2 = es.check_number("beta2", beta2, 0.0, 1.0, low_open=False)
        if self.beta1 == 1.0 or self.beta2 == 1.0 or self.momentum == 1.0:
            raise ValueError(f"beta1, beta2 and momentum must be below 1, got {beta1!r}, {beta2!r}, {momentum!r}")
        self.weight_decay = es.check_number("weight_decay", weight_decay, 0.0, low_open=False)
        self.init_how = es.check_choice("init", init, es.STARTS)

    def population_size(self, pop_size: int | None, dim: int | None = None) -> int:
        return es.population(pop_size, dim, self.name, even=True)

    def normal(self, shape, ctx: Context):
        return ctx.normal(shape, "normal")

    def for_start(self, x0, step) -> OpenAIES:
        es.check_start(self, x0)
        return super().for_start(x0, step)

    def _step(self, theta):
        return None if self.step_unit is None else es.vector(self.step_unit, theta, self.xp)

    def init(self, X, fitness, ctx: Context) -> OpenAIESState:
        theta = es.start_point(X, fitness, ctx, self.init_how, self.xp)
        zeros = theta * 0.0
        return OpenAIESState(theta, zeros, zeros, X[: X.shape[0] // 2] * 0.0, sigma=self._step(theta))

    def start(self, pop_size: int, ctx: Context) -> OpenAIESState | None:
        if not es.starts_without_population(self):
            return None
        theta = es.start_centre(self, ctx, self.xp)
        zeros = theta * 0.0
        return OpenAIESState(theta, zeros, zeros, es.zeros((pop_size // 2, theta.shape[0]), theta, self.xp),
                             sigma=self._step(theta))

    def center(self, state: OpenAIESState, ctx: Context):
        return es.to_box(state.theta, ctx)

    def step_size(self, state: OpenAIESState):
        return self.sigma if state.sigma is None else state.sigma

    def ask(self, state: OpenAIESState, ctx: Context):
        state.eps = self.normal((state.eps.shape[0], state.theta.shape[0]), ctx)
        sigma = self.sigma if state.sigma is None else state.sigma
        return self.sample_box(state.theta, sigma, state.eps, ctx, mirrored=True)  # theta + sigma [eps, -eps]

    def tell(self, state: OpenAIESState, candidates, fitness, ctx: Context) -> tuple[OpenAIESState, bool]:
        xp = self.xp
        grad = openai_es_gradient(state.eps, fitness, self.sigma if state.sigma is None else state.sigma, xp,
                                  self.fitness_shaping)
        if self.weight_decay:
            grad = grad + self.weight_decay * (state.theta - es.decay_target(ctx, xp))
        step = state.step + 1
        if self.optimizer == "adam":
            delta, m, v = es.adam(grad, state.m, state.v, step, self.learning_rate, self.beta1, self.beta2, xp=xp)
        else:
            m, v = self.momentum * state.m + grad, state.v
            delta = self.learning_rate * m
        theta = (state.theta - delta).clip(0.0, 1.0)
        return OpenAIESState(theta, m, v, state.eps, step, state.sigma), True
