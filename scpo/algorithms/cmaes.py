"""CMA-ES (Hansen & Ostermeier 2001) over whole-population arrays, numpy or torch (``xp``), with the
equations of Hansen's tutorial (arXiv:1604.00772); ``implementation="cma"`` drives the ``cma`` package instead.

Choices (the tutorial's and ``cma``'s defaults):
- ``lambda = 4 + floor(3 ln D)`` (it was 30 before issue 26), ``mu = floor(lambda / 2)``, log weights
  ``w'_i = ln((lambda + 1) / 2) - ln i`` for all ``lambda`` ranks: the positive ones sum to 1, the negative
  ones (active CMA, as ``cma``'s default ``CMA_active``) are scaled to
  ``min(1 + c1/c_mu, 1 + 2 mu_eff^- / (mu_eff + 2), (1 - c1 - c_mu) / (D c_mu))`` in total and, in the
  covariance update, by ``D / ||C^(-1/2) y_i||^2`` (so ``C`` stays positive definite);
- ``c_sigma = (mu_eff + 2) / (D + mu_eff + 5)``, ``d_sigma = 1 + 2 max(0, sqrt((mu_eff - 1) / (D + 1)) - 1)
  + c_sigma``, ``c_c = (4 + mu_eff / D) / (D + 4 + 2 mu_eff / D)``, ``c1 = 2 / ((D + 1.3)^2 + mu_eff)``,
  ``c_mu = min(1 - c1, 2 (mu_eff - 2 + 1/mu_eff) / ((D + 2)^2 + mu_eff))``; CSA with ``h_sigma`` (stalls
  ``p_c`` while ``||p_sigma||`` is large) and the ``(1 - h_sigma) c_c (2 - c_c)`` correction; the step
  factor ``exp(c_sigma / d_sigma (||p_sigma|| / E||N(0, I)|| - 1))`` is capped at ``e`` (as ``cma``);
- the eigendecomposition ``C = B diag(d^2) B^T`` (``xp.linalg.eigh``, on the device under torch) is
  refreshed every ``lambda / (c1 + c_mu) / D / 10`` evaluations, as the tutorial advises: every
  ``max(1, floor(1 / (10 D (c1 + c_mu))))`` generations (1 up to D ~ 100, 8 at D = 1000; a staler one lets
  the negative weights, normalised with it, break positive definiteness where ``C`` changes fast);
- the search runs in the unit box: ``x = lb + u (ub - lb)``, ``u in [0, 1]^D``, so one step size fits
  boxes whose sides differ; ``sigma0 = 0.3`` of the range;
- bounds: ``cma``'s default ``BoundTransform`` (:func:`to_feasible`, its formula for the bounds 0 and 1): a
  sample ``u = m + sigma y`` is evaluated at its image in the box, the identity on ``[0.05, 0.95]``,
  quadratic on the margins, mirrored beyond and periodic; the update uses the drawn samples, so it is the
  unbounded algorithm's on the transformed function. The transform is smooth, so the local landscape keeps
  its shape near a bound, and a whole neighbourhood beyond a bound maps onto it, so an optimum on a bound is
  reached exactly (a corner of the box: 1e-24 in 1,000 evaluations at D = 5, as ``cma``). Clipping and
  learning from the clipped points (Lamarckian repair) converged 10^10 times slower there in our test, and a
  penalty needs a weight in fitness units (``cma``'s ``BoundPenalty``). The mean is wrapped into the
  transform's base period after each step (the same images, so the same run), so the distribution stays
  within a period (``[-0.6, 1.6]``) of the box, and ``result.center`` is the mean's image;
- start: the best point of the engine's initial uniform population (those evaluations are already spent;
  it counts as iteration 1: ``T = max_evals // N``); ``Optimizer(x0=)`` starts the mean at (the preimage
  of) ``x0`` with no initial population evaluated (the first ask is the strategy's own sample);
  ``Optimizer(sigma0=)`` (units of x, per coordinate) is the global step (its root mean square in the unit
  box) times the square root of the initial diagonal ``C`` (``cma``'s ``CMA_stds``);
- termination, ``cma``'s criteria with ``cma``'s defaults (:func:`stop_flags`): ``tolfun`` 1e-11 (this and
  the last ``10 + ceil(30 D / lambda)`` generations' best values), ``tolx`` 1e-11 (``sigma sqrt(C_ii)`` and
  ``sigma p_c``), ``tolstagnation`` (``int(100 + 100 D^1.5 / lambda)`` generations: the best and the median
  values of its recent half no better, by median, than of its older half, and no new best in the recent
  half; ``cma`` keeps a longer, sparser history), ``noeffectaxis`` (``0.1 sigma`` along the principal axis
  ``generation % D`` leaves ``m`` unchanged), ``noeffectcoord`` (``0.2 sigma sqrt(C_ii)``), ``conditioncov``
  (``cond(C) > 1e14``), ``tolflatfitness`` (more than 1 generation in a row whose best equals its
  ``0.75 lambda``-th value). When one fires before the budget is spent, the strategy restarts from a uniform
  random point with the same population size (``restarts=False`` keeps stepping); under the engine's
  restart strategies (``minimize(restarts="ipop"|"bipop")``, :mod:`scpo.restarts`) these own restarts are
  off and the criteria end the run instead (:meth:`CMAES.converged`);
- NaN or inf fitness ranks below every finite value (told as ``worst + 1 + |worst|``), ties by index;
- ``Optimizer.tell(fitness, candidates=X)`` (points evaluated instead of the asked ones): the distribution
  is updated from its own samples, credited with the told fitness; ``X`` only becomes the best
  so far. Integral coordinates (``integrality=``) are this case;
- randomness: normal deviates from ``ctx.rng`` (numpy, numba) or the torch generator (torch). Under torch
  no value is read on the host by this code inside an iteration: the own restart is a ``where`` on the
  state's arrays (the restart point is drawn every generation), the eigendecomposition follows a schedule
  on the generation count, and only :meth:`CMAES.converged` (read by the restart strategies) reads the
  flags on the host. On cuda ``torch.linalg.eigh`` itself synchronizes (it checks its error flag on the
  host), once per eigendecomposition;
- the state is arrays and integers (:class:`CMAESState`), so checkpoints store it without pickle.

``implementation="cma"`` (with ``cma_options``) keeps the ``cma`` package as an option because it still does
what this one does not: its ~80 options (``CMA_diagonal``, TPA step-size control, noise handling, fixed
variables, ``BoundPenalty``, ...), which no re-implementation should chase. Its state is a
``cma.CMAEvolutionStrategy`` on the host: not checkpointable, and on torch each generation goes to the host
and back. ``cma`` draws its deviates through its ``randn`` option, pointed at a ``numpy.random.Generator``
seeded from ``ctx.rng`` (its ``seed`` option would seed numpy's global stream); in 1-D ``maxstd`` defaults to
infinity (``cma`` 4.5 crashes capping a 1-D step at its default, a third of the box); its bound handling is
its default ``BoundTransform``; under the restart strategies ``cma``'s ``stop()`` ends the run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, get_args

import numpy as np

from scpo.algorithms import es_tools as es
from scpo.algorithms.base import (
    Algorithm,
    Context,
    check_bool,
    check_number,
    check_positive_int,
    register,
    resolved_copy,
)

Implementation = Literal["auto", "own", "cma"]  # "auto": "cma" when cma_options are given, else "own"
IMPLEMENTATIONS: tuple[str, ...] = get_args(Implementation)
# cma's termination criteria that stop (or restart) a run, in the order of stop_flags
CRITERIA = ("tolfun", "tolx", "tolstagnation", "noeffectaxis", "noeffectcoord", "conditioncov", "tolflatfitness")
TOLFUN, TOLX, TOLCONDITIONCOV, TOLFLATFITNESS = 1e-11, 1e-11, 1e14, 1  # cma's defaults

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
    """Our CMA-ES between generations: arrays (numpy or tensors) and integers, stored by checkpoints as they are."""

    m: Any  # (D,) mean, unit box
    sigma: Any  # () global step
    C: Any  # (D, D) covariance matrix
    B: Any  # (D, D) its eigenvectors (columns), as of the last refresh
    d: Any  # (D,) the square roots of its eigenvalues, as of the last refresh
    p_sigma: Any  # (D,) conjugate evolution path
    p_c: Any  # (D,) evolution path
    z: Any  # (N, D) the last ask's standard normal samples (steps y = B diag(d) z)
    y: Any  # (N, D) the last ask's steps B diag(d) z (the tell reuses them: one (N, D) x (D, D) product saved)
    g: Any  # () generations since the (re)start
    hist: Any  # (10 + ceil(30 D / N),) best values of the last generations, newest first (tolfun)
    best_hist: Any  # (int(100 + 100 D^1.5 / N),) best values, newest first (tolstagnation)
    median_hist: Any  # (same,) median values, newest first (tolstagnation)
    fit_range: Any  # () the last generation's max - min (tolfun)
    flat: Any  # () generations in a row with a flat fitness (tolflatfitness)
    restarts: Any  # () own restarts so far
    generation: int = 0  # generations since the start, restarts included
    eigen_at: int = 0  # the generation of the last eigendecomposition


@dataclass(frozen=True)
class CMAParams:
    weights: np.ndarray  # (lambda,) positive (mu, sum 1), then negative
    mu: int
    mu_eff: float
    c_sigma: float
    d_sigma: float
    c_c: float
    c1: float
    c_mu: float
    chi_d: float  # E||N(0, I)||
    eigen_every: int  # generations between eigendecompositions
    history: int  # tolfun's history length
    stagnation: int  # tolstagnation's window


@lru_cache(maxsize=64)
def cma_params(n: int, dim: int) -> CMAParams:
    """The tutorial's default parameters for population ``n`` in dimension ``dim`` (Hansen, arXiv:1604.00772,
    table 1), with negative weights."""
    mu = n // 2
    raw = math.log((n + 1) / 2) - np.log(np.arange(1, n + 1))
    pos, neg = raw[:mu], raw[mu:]
    neg = neg[neg < 0]
    mu_eff = float(pos.sum() ** 2 / (pos * pos).sum())
    c_sigma = (mu_eff + 2) / (dim + mu_eff + 5)
    d_sigma = 1 + 2 * max(0.0, math.sqrt((mu_eff - 1) / (dim + 1)) - 1) + c_sigma
    c_c = (4 + mu_eff / dim) / (dim + 4 + 2 * mu_eff / dim)
    c1 = 2 / ((dim + 1.3) ** 2 + mu_eff)
    c_mu = min(1 - c1, 2 * (mu_eff - 2 + 1 / mu_eff) / ((dim + 2) ** 2 + mu_eff))
    weights = np.zeros(n)
    weights[:mu] = pos / pos.sum()
    if neg.size and c_mu > 0:
        mu_eff_neg = float(neg.sum() ** 2 / (neg * neg).sum())
        scale = min(1 + c1 / c_mu, 1 + 2 * mu_eff_neg / (mu_eff + 2), (1 - c1 - c_mu) / (dim * c_mu))
        weights[n - neg.size:] = scale * neg / np.abs(neg).sum()
    chi_d = math.sqrt(dim) * (1 - 1 / (4 * dim) + 1 / (21 * dim**2))
    eigen_every = max(1, int(1 / (c1 + c_mu) / dim / 10))  # the tutorial's lambda / (c1 + c_mu) / D / 10 evaluations
    history = 10 + math.ceil(30 * dim / n)
    stagnation = int(100 + 100 * dim**1.5 / n)
    return CMAParams(weights, mu, mu_eff, c_sigma, d_sigma, c_c, c1, c_mu, chi_d, eigen_every, history, stagnation)


def _cat(first, rest, xp=np):
    return np.concatenate([first, rest]) if xp is np else xp.cat([first, rest])


def _median(values, xp=np):
    return xp.quantile(values, 0.5)


MARGIN = 0.05  # cma's BoundTransform margin for the bounds 0 and 1: 0.05 max(|bound|, 1)
PERIOD = 2 * (1 + 2 * MARGIN)  # the transform's period
START = -2 * MARGIN - 0.5  # where its base period starts


def to_feasible(x, xp=np):
    """``cma``'s ``BoundTransform`` (``BoxConstraintsLinQuadTransformation``) onto ``[0, 1]``: the identity on
    ``[MARGIN, 1 - MARGIN]``, quadratic on the margins (``[-MARGIN, MARGIN]`` onto ``[0, MARGIN]``), mirrored
    beyond and periodic: smooth, onto the box, and its bounds are reached from a whole neighbourhood."""
    y = x - PERIOD * xp.floor((x - START) / PERIOD)  # into the base period [START, START + PERIOD)
    y = xp.where(y > 1 + MARGIN, 2 * (1 + MARGIN) - y, y)
    y = xp.where(y < -MARGIN, -2 * MARGIN - y, y)
    y = xp.where(y < MARGIN, (y + MARGIN) ** 2 / (4 * MARGIN), y)
    return xp.where(y > 1 - MARGIN, 1 - (y - 1 - MARGIN) ** 2 / (4 * MARGIN), y)


def from_feasible(u, xp=np):
    """A preimage of a point ``u`` of the box under :func:`to_feasible` (the identity away from the margins)."""
    y = xp.where(u < MARGIN, 2 * xp.sqrt(MARGIN * u.clip(min=0.0)) - MARGIN, u)
    return xp.where(u > 1 - MARGIN, 1 + MARGIN - 2 * xp.sqrt(MARGIN * (1 - u).clip(min=0.0)), y)


def told_fitness(fitness, xp=np):
    """Non-finite values (NaN, inf: failed candidates) as ``worst + 1 + |worst|``, below every finite one;
    no branch on the values, so nothing goes to the host on a device."""
    ok = xp.isfinite(fitness)
    worst = xp.where(ok, fitness, -math.inf).max()
    worst = xp.where(xp.isfinite(worst), worst, 0.0)
    return xp.where(ok, fitness, worst + 1.0 + xp.abs(worst))


def cma_update(state: CMAESState, fitness, p: CMAParams, xp=np) -> CMAESState:
    """One generation: recombination, both paths, rank-one + rank-mu (active) covariance update, the step
    size, the lazy eigendecomposition and the termination histories (arrays in, new arrays out). The samples
    are the drawn ones (their images in the box were evaluated), so the update is the unbounded algorithm's."""
    m, sigma, B, d = state.m, state.sigma, state.B, state.d
    n, dim = state.z.shape
    f = told_fitness(fitness, xp)
    order = es.fitness_order(f, xp)
    z, y, f_sorted = state.z[order], state.y[order], f[order]  # y ~ N(0, C), the ask's steps
    w = es.like(p.weights, y, xp)
    z_w = es.weighted_sum(w[: p.mu], z[: p.mu], xp)  # the recombined z: y_w and C^(-1/2) y_w from one vector
    y_w = (z_w * d) @ B.T
    cy_w = z_w @ B.T
    m_new = m + sigma * y_w
    m_new = m_new - PERIOD * xp.floor((m_new - START) / PERIOD)  # the same images: the mean stays near the box
    c_s, c_c, c1, c_mu = p.c_sigma, p.c_c, p.c1, p.c_mu
    p_sigma = (1 - c_s) * state.p_sigma + math.sqrt(c_s * (2 - c_s) * p.mu_eff) * cy_w
    norm = xp.sqrt((p_sigma * p_sigma).sum())
    g = state.g + 1
    stalled = norm / xp.sqrt(1 - (1 - c_s) ** (2 * g)) >= (1.4 + 2 / (dim + 1)) * p.chi_d
    h_sigma = 1.0 - stalled * 1.0  # 0 or 1, an array: no branch
    p_c = (1 - c_c) * state.p_c + h_sigma * math.sqrt(c_c * (2 - c_c) * p.mu_eff) * y_w
    lengths2 = (z * z).sum(1)  # ||C^(-1/2) y||^2
    w_cov = xp.where(w >= 0, w, w * dim / xp.where(lengths2 > 0, lengths2, 1.0))
    rank_mu = (y.T * w_cov) @ y
    decay = 1 + c1 * (1 - h_sigma) * c_c * (2 - c_c) - c1 - c_mu * float(p.weights.sum())
    C = decay * state.C + c1 * p_c[:, None] * p_c[None, :] + c_mu * rank_mu
    C = (C + C.T) / 2
    sigma_new = sigma * xp.exp((c_s / p.d_sigma * (norm / p.chi_d - 1)).clip(max=1.0))
    generation, eigen_at = state.generation + 1, state.eigen_at
    if generation - eigen_at >= p.eigen_every:  # a schedule on the generation count: no value is read
        values, B = xp.linalg.eigh(C)
        B = B * _column_signs(B, xp)
        d, eigen_at = xp.sqrt(values.clip(min=1e-300)), generation
    median = _median(f, xp)
    flat = xp.where(f_sorted[0] < f_sorted[int(0.75 * n)], 0.0, state.flat + 1)
    return CMAESState(
        m_new, sigma_new, C, B, d, p_sigma, p_c, state.z, state.y, g,
        _cat(f_sorted[:1], state.hist[:-1], xp), _cat(f_sorted[:1], state.best_hist[:-1], xp),
        _cat(median.reshape(1), state.median_hist[:-1], xp), f_sorted[-1] - f_sorted[0], flat, state.restarts,
        generation, eigen_at)


def _column_signs(B, xp):
    """+1 or -1 per eigenvector, making its largest-magnitude entry positive: LAPACK builds differ in the sign
    they return (numpy's and torch's did), and ``B`` turns the same normal draws into the samples, so without
    one convention the same counter draws gave different runs on numpy and torch."""
    magnitude = xp.abs(B)
    pivot = (B * (magnitude == xp.amax(magnitude, 0)[None, :])).sum(0)
    return xp.where(pivot < 0, -1.0, 1.0)


def stop_flags(state: CMAESState, p: CMAParams, xp=np):
    """``cma``'s termination criteria (:data:`CRITERIA`, ``cma``'s default values) as a boolean array, read
    from the state alone (so :meth:`CMAES.converged` and the own restart agree)."""
    m, sigma, dim = state.m, state.sigma, state.m.shape[0]
    hist, g = state.hist, state.g
    valid = xp.arange(hist.shape[0], device=hist.device) < g if xp is not np else np.arange(hist.shape[0]) < g
    spread = xp.where(valid, hist, -math.inf).max() - xp.where(valid, hist, math.inf).min()
    tolfun = (state.fit_range < TOLFUN) & (spread < TOLFUN)
    sd = sigma * xp.sqrt(xp.diagonal(state.C))
    tolx = (sd < TOLX).all() & (sigma * xp.abs(state.p_c) < TOLX).all()
    half = p.stagnation // 2
    recent_best, older_best = state.best_hist[:half], state.best_hist[half: 2 * half]
    stagnant = ((g >= p.stagnation) & (_median(recent_best, xp) >= _median(older_best, xp))
                & (_median(state.median_hist[:half], xp) >= _median(state.median_hist[half: 2 * half], xp))
                & (recent_best.min() >= older_best.min()))
    axis = state.generation % dim
    noeffectaxis = (m == m + 0.1 * sigma * state.d[axis] * state.B[:, axis]).all()
    noeffectcoord = (m == m + 0.2 * sd).any()
    conditioncov = state.d.max() > math.sqrt(TOLCONDITIONCOV) * state.d.min()
    tolflat = state.flat > TOLFLATFITNESS
    flags = [tolfun, tolx, stagnant, noeffectaxis, noeffectcoord, conditioncov, tolflat]
    return np.array([bool(x) for x in flags]) if xp is np else xp.stack(flags)


@dataclass
class PycmaState:
    """``implementation="cma"``: the ``cma`` object (not checkpointable)."""

    es: Any  # cma.CMAEvolutionStrategy, working in the unit box
    asked: list = field(default_factory=list)  # the unit-box points of the last ask, told back as given
    restarts: int = 0


@register
class CMAES(Algorithm):
    """CMA-ES with restarts: our own over ``xp`` arrays, or the ``cma`` package's (``implementation="cma"``).

    ``cma_options`` go to ``cma.CMAEvolutionStrategy`` (``implementation="cma"`` only).

    Comparisons (under constraints they follow Deb's rules, :mod:`scpo.constraints`): the ranking of each
    generation that selects and weights the samples, and the engine's best so far.
    """

    name = "cmaes"
    initial_counts_as_iteration = True
    distribution = True
    xp = np

    def __init__(self, sigma0: float = 0.3, restarts: bool = True, cma_options: dict | None = None,
                 implementation: Implementation = "auto"):
        if not (np.isfinite(check_number("sigma0", sigma0)) and 0 < sigma0 <= 1):
            raise ValueError(f"sigma0 must be in (0, 1] (a share of the range), got {sigma0!r}")
        if cma_options is not None and not isinstance(cma_options, dict):
            raise ValueError(f"cma_options must be a dict or None, got {cma_options!r}")
        es.check_choice("implementation", implementation, IMPLEMENTATIONS)
        if implementation == "auto":  # cma_options alone still mean cma, as before the own implementation
            implementation = "cma" if cma_options else "own"
        self.implementation = implementation
        if cma_options and self.implementation != "cma":
            raise ValueError("cma_options are options of the cma package: give implementation='cma' with them")
        extra = dict(cma_options or {})
        clash = sorted(set(extra) & set(RESERVED))
        if clash:
            raise ValueError(f"cma option {clash[0]!r} is set by scpo; leave it out of cma_options")
        if extra:
            check_cma_options(extra)
        self.sigma0, self.restarts = float(sigma0), check_bool("restarts", restarts)
        self.cma_options = extra
        # the cma object cannot be stored without pickle: refused before any evaluation (engine, restarts)
        self.__dict__["checkpointable"] = self.implementation == "own"

    @property
    def pycma(self) -> bool:
        return self.implementation == "cma"

    def population_size(self, pop_size: int | None, dim: int | None = None) -> int:
        """cma's default ``4 + floor(3 ln D)`` (Hansen's rule); at least 2 when given."""
        if pop_size is None and dim is not None:
            return es.default_population(dim)
        return 30 if pop_size is None else check_positive_int("pop_size", pop_size, minimum=2)

    def for_restarts(self) -> CMAES:
        return resolved_copy(self, restarts=False)

    def for_start(self, x0, step) -> CMAES:
        if step is not None and "CMA_stds" in self.cma_options:
            raise ValueError("cma_options 'CMA_stds' and sigma0= both set the initial steps: give one of them")
        return super().for_start(x0, step)

    def normal(self, shape, ctx: Context):
        return ctx.normal(shape, "normal")

    def restart_point(self, dim: int, ctx: Context):
        """Where an own restart puts the mean (uniform in the unit box): drawn when one happens on numpy,
        every generation under torch (the restart is a ``where``, not a branch)."""
        return ctx.random((dim,), "restart")

    def converged(self, state) -> str | None:
        """``cma``'s termination criteria (``tolfun``, ``tolx``, ``tolstagnation``, ...; :func:`stop_flags`)."""
        if isinstance(state, PycmaState):
            stop = state.es.stop()
            return f"cma stopped: {', '.join(sorted(stop))}" if stop else None
        n, dim = state.z.shape
        flags = np.asarray(self._flags(state, n, dim)).tolist()
        fired = [name for name, flag in zip(CRITERIA, flags, strict=True) if flag]
        return f"cmaes stopped: {', '.join(fired)}" if fired else None

    def _flags(self, state: CMAESState, n: int, dim: int):
        flags = stop_flags(state, cma_params(n, dim), self.xp)
        return flags.cpu() if hasattr(flags, "cpu") else flags

    # ---- our own implementation

    def _fresh(self, u0, n: int, restarts=None) -> CMAESState:
        """The state at mean ``u0`` (unit box, an array of the run's kind) before its first generation."""
        xp, dim = self.xp, u0.shape[0]
        p = cma_params(n, dim)
        zeros = u0 * 0.0
        if self.step_unit is None:
            sigma, ratios = zeros.sum() + self.sigma0, zeros + 1.0
        else:
            scale = es.step_scale(self.step_unit)
            sigma, ratios = zeros.sum() + scale, es.vector(self.step_unit / scale, u0, xp)
        eye = np.eye(dim) if xp is np else xp.eye(dim, dtype=u0.dtype, device=u0.device)
        return CMAESState(
            m=u0, sigma=sigma, C=eye * (ratios * ratios), B=eye + 0.0, d=ratios, p_sigma=zeros, p_c=zeros + 0.0,
            z=es.zeros((n, dim), u0, xp), y=es.zeros((n, dim), u0, xp), g=zeros.sum(),
            hist=es.zeros((p.history,), u0, xp),
            best_hist=es.zeros((p.stagnation,), u0, xp), median_hist=es.zeros((p.stagnation,), u0, xp),
            fit_range=zeros.sum() + math.inf, flat=zeros.sum(),
            restarts=zeros.sum() if restarts is None else restarts)

    def _restarted(self, state: CMAESState, stop, u0) -> CMAESState:
        """A fresh state at ``u0`` where ``stop`` (a criterion fired), the others kept: one ``where`` per array,
        so nothing is read on the host (torch)."""
        fresh = self._fresh(u0, state.z.shape[0], state.restarts + 1)
        merged = {name: self.xp.where(stop, getattr(fresh, name), getattr(state, name))
                  for name in CMAESState.__dataclass_fields__ if name not in ("generation", "eigen_at", "z", "y")}
        return CMAESState(**merged, z=state.z, y=state.y, generation=state.generation, eigen_at=state.eigen_at)

    # ---- the Algorithm interface

    def start(self, pop_size: int, ctx: Context):
        """At ``x0`` when it is given; otherwise from the best of the evaluated uniform population."""
        if self.x0_unit is None:
            return None
        if self.pycma:
            return PycmaState(self._strategy(self.x0_unit, pop_size, ctx))
        return self._fresh(from_feasible(es.vector(self.x0_unit, ctx.lb, self.xp), self.xp), pop_size)

    def init(self, X, fitness, ctx: Context):
        if self.pycma:
            u0 = (X[int(np.argmin(fitness))] - ctx.lb) / (ctx.ub - ctx.lb)
            return PycmaState(self._strategy(u0, X.shape[0], ctx))
        u0 = es.start_point(X, told_fitness(fitness, self.xp), ctx, "best", self.xp).clip(0.0, 1.0)
        return self._fresh(from_feasible(u0, self.xp), X.shape[0])

    def center(self, state, ctx: Context):
        if isinstance(state, PycmaState):
            return es.to_box(np.asarray(state.es.result.xfavorite, dtype=float), ctx)
        return es.to_box(to_feasible(state.m, self.xp), ctx)

    def step_size(self, state):
        if isinstance(state, PycmaState):
            return np.asarray(state.es.stds)
        return state.sigma * self.xp.sqrt(self.xp.diagonal(state.C))

    def ask(self, state, ctx: Context):
        if isinstance(state, PycmaState):
            state.asked = state.es.ask()
            U = np.clip(np.asarray(state.asked), 0.0, 1.0)
            return np.clip(ctx.lb + U * (ctx.ub - ctx.lb), ctx.lb, ctx.ub)
        state.z = self.normal(tuple(state.z.shape), ctx)
        state.y = (state.z * state.d) @ state.B.T
        return es.to_box(to_feasible(state.m + state.sigma * state.y, self.xp), ctx)

    def tell(self, state, candidates, fitness, ctx: Context):
        if isinstance(state, PycmaState):
            return self._tell_pycma(state, candidates, fitness, ctx)
        n, dim = state.z.shape
        state = cma_update(state, fitness, cma_params(n, dim), self.xp)
        if not self.restarts:
            return state, True
        stop = stop_flags(state, cma_params(n, dim), self.xp).any()
        if self.xp is np:  # a branch: the restart point is drawn only when a restart happens
            if not stop:
                return state, True
            fresh = self._fresh(from_feasible(self.restart_point(dim, ctx)), n, state.restarts + 1)
            fresh.generation = fresh.eigen_at = state.generation
            return fresh, True
        return self._restarted(state, stop, from_feasible(self.restart_point(dim, ctx), self.xp)), True

    # ---- implementation="cma"

    def _strategy(self, u0: np.ndarray, pop_size: int, ctx: Context):
        import cma  # imported here: only this option needs it

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

    def _tell_pycma(self, state: PycmaState, candidates, fitness, ctx: Context) -> tuple[PycmaState, bool]:
        told = told_fitness(np.asarray(fitness, dtype=float))
        state.es.tell(state.asked, told.tolist())
        if self.restarts and state.es.stop():
            u0 = ctx.rng.random(candidates.shape[1])
            return PycmaState(self._strategy(u0, candidates.shape[0], ctx), restarts=state.restarts + 1), True
        return PycmaState(state.es, restarts=state.restarts), True
