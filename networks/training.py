"""Training a network by a population optimizer (any ``scpo`` algorithm) or by Adam, comparably.

Both trainers take the module, training arrays ``X (n, d)`` and ``Y (n, L)`` (0/1 targets; integer
class labels ``(n,)`` are one-hot encoded over the module's outputs), an optional validation pair
for early stopping, and a ``seed``; both restore the best weights into the module, calibrate batch
norm on the training set, leave the module in eval mode, and return a :class:`TrainHistory` with the
loss per iteration (or epoch), the network evaluations (or gradient steps), the examples forwarded,
and the wall time, so an optimizer can be set against Adam.

Choices (each with its switch):

* **Fitness batch: fixed by default** (``resample="fixed"``). PO and SCPO remember fitness values
  across iterations: party leaders, constituency winners, the best point ``G`` that SCA/SCPO pull
  towards, the improved-or-worse test of the campaign and the greedy parliamentary step all compare
  numbers computed earlier. On a fixed batch those comparisons are exact; with a fresh minibatch
  per iteration they compare losses on different data, and the record best is the luckiest
  (weights, batch) pair, a winner's curse. ``batch_size=None`` (default) uses the whole training
  set, the paper's fitness over all N samples. ``resample="per-iteration"`` draws a new minibatch
  each iteration through the ask/tell API (both evaluations of a PO iteration see the same one) and
  chooses the weights to keep by re-evaluating each iteration's best member, and the optimizer's
  record best when it changes, on the validation set (or, without one, on the whole training set).
* **Batch norm**: while searching, each member normalizes with its own batch statistics
  (:func:`networks.population.population_mode`: random weights have no running statistics). The
  weights kept are then given running statistics computed on the whole training set in one pass
  (:func:`networks.population.calibrate_batch_norm`), and the module is left in eval mode, so a
  prediction for one tweet does not depend on the other tweets in its batch. Validation losses,
  for both trainers, are computed the same way (calibrate on training data, evaluate in eval mode),
  so early stopping judges exactly the model that would be returned. Adam's own momentum-averaged
  running statistics are replaced by the same calibration, so both trainers' models are used alike.
* **Early stopping**: with ``X_val``, the kept weights are those with the lowest validation loss;
  ``patience`` iterations (epochs) without improvement stop the run. Without validation data the
  population trainer keeps the best fitness (fixed batch) and Adam the lowest training loss.

Randomness: the optimizer's seed and the minibatch generator are both derived from ``seed``
(``numpy.random.SeedSequence``); Adam shuffles with a ``torch.Generator`` seeded from ``seed``.
The module's initial weights are the caller's (``DeepResNet(..., seed=...)``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import scpo
import scpo.observers
from features.torchutil import load_state, torch_threads
from networks.memetic import REFINE_ADAM, REFINERS, AdamRefiner, Subspace, check_refinable
from networks.population import (
    DEFAULT_MEMORY_BUDGET_MB,
    LOSSES,
    batched_loss,
    calibrate_batch_norm,
    flat_size,
    load_flat,
    loss_per_example,
    members_per_chunk,
    parameter_bounds,
    population_mode,
    population_program,
    resolve_dtype,
    to_flat,
)
from scpo.algorithms import create as create_algorithm

__all__ = ["INITS", "RESAMPLING", "TrainHistory", "evaluate_loss", "torch_threads", "train_adam", "train_population"]

RESAMPLING = ("fixed", "per-iteration")
INITS = ("uniform", "w0")


@dataclass
class TrainHistory:
    """What a training run did, per iteration (population) or per epoch (Adam).

    ``loss``: population, the best fitness on the fitness batch (fixed batch: best so far; per
    iteration: that iteration's best on its minibatch); Adam, the mean minibatch loss of the epoch.
    ``val_loss``: the selection loss (validation if given) of the weights kept so far; empty when
    there is none besides ``loss``. ``evals``: cumulative network evaluations on a batch (population:
    fitness evaluations, like ``nfev``, refinement evaluations included; Adam: gradient steps).
    ``grad_steps``: cumulative gradient steps (population: one per refined member and step of a
    memetic run, else 0; Adam: its steps). ``samples``: cumulative examples forwarded (selection
    evaluations and refinement minibatches included), a cost both kinds share. ``time``: seconds
    since the start. ``initial_loss``: population, the best fitness of the initial population; Adam, the
    training loss of the initial weights. ``best_loss``: the selection loss of the weights returned.
    ``interrupted``: Ctrl-C or SIGTERM stopped the run (``stop_on_sigint``); the weights are the best
    so far. ``terminated``: that stop was a SIGTERM (a batch scheduler's time limit).
    """

    method: str
    seed: int
    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    evals: list[int] = field(default_factory=list)
    grad_steps: list[int] = field(default_factory=list)
    samples: list[int] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    initial_loss: float = math.nan
    best_loss: float = math.nan
    best_iteration: int = -1
    stopped_early: bool = False
    interrupted: bool = False
    terminated: bool = False
    settings: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- shared helpers


def _tensors(module: nn.Module, X, Y, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    like = next(iter(module.parameters()))
    X = X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else np.asarray(X, dtype=float)
    Y = Y.detach().cpu().numpy() if isinstance(Y, torch.Tensor) else np.asarray(Y)
    if X.ndim != 2:
        raise ValueError(f"X_{name} must be 2-D (n, features), got shape {X.shape}")
    if Y.ndim == 1 and Y.dtype.kind in "iu":  # integer class labels: one-hot over the module's outputs
        Y = _one_hot(module, X, Y, name)
    Y = Y.astype(float)
    if Y.ndim != 2:
        raise ValueError(f"Y_{name} must be 2-D (n, labels), got shape {Y.shape}")
    if len(X) != len(Y):
        raise ValueError(f"X_{name} has {len(X)} rows but Y_{name} has {len(Y)}")
    if len(X) < 2:
        raise ValueError(f"X_{name} needs at least 2 rows (batch norm statistics), got {len(X)}")
    if not np.isfinite(X).all():
        raise ValueError(f"X_{name} has {int((~np.isfinite(X)).sum())} non-finite entries")
    n_out = getattr(module, "n_classes", None)
    if n_out is not None and Y.shape[1] != n_out:
        raise ValueError(f"Y_{name} has {Y.shape[1]} label columns but the module outputs {n_out}")
    to = {"dtype": like.dtype, "device": like.device}
    return torch.as_tensor(X, **to), torch.as_tensor(Y, **to)


def _one_hot(module: nn.Module, X: np.ndarray, labels: np.ndarray, name: str) -> np.ndarray:
    """Integer class labels as one-hot rows over the module's outputs (``n_classes``, or one forward)."""
    n_out = getattr(module, "n_classes", None)
    if n_out is None:
        like = next(iter(module.parameters()))
        with torch.no_grad(), population_mode(module):
            n_out = int(module(torch.as_tensor(X[:2], dtype=like.dtype, device=like.device)).shape[-1])
    if len(labels) and (labels.min() < 0 or labels.max() >= n_out):
        bad = int(labels.min() if labels.min() < 0 else labels.max())
        raise ValueError(f"Y_{name} has class label {bad} but the module outputs {n_out} classes (0...{n_out - 1})")
    return np.eye(n_out)[labels]


def _validation(module, X_val, Y_val):
    if (X_val is None) != (Y_val is None):
        raise ValueError("X_val and Y_val must be given together (one of them is None)")
    return None if X_val is None else _tensors(module, X_val, Y_val, "val")


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")


def _check_int(name: str, value, minimum: int = 1, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}{' or None' if allow_none else ''}, got {value!r}")


def _multilabel(module: nn.Module) -> bool:
    return bool(getattr(module, "multilabel", False))


Monitor = Callable[[nn.Module, TrainHistory], Any]


class _MonitorHook:
    """Runs a training monitor every ``every`` iterations (epochs) on a copy of the module holding
    the kept weights (batch norm calibrated on the training rows, eval mode) and returns the
    seconds it took, which the trainers then leave out of ``history.time``: curves against wall
    time must show training cost, not measuring cost."""

    def __init__(self, monitor: Monitor | None, every: int):
        _check_int("monitor_every", every)
        if monitor is not None and not callable(monitor):
            raise ValueError(f"monitor must be callable(model, history) or None, got {monitor!r}")
        self.monitor, self.every = monitor, int(every)
        self.module: nn.Module | None = None
        self.xt: torch.Tensor | None = None
        self.to_weights: Callable[[np.ndarray], Any] | None = None

    def bind(self, module: nn.Module, xt: torch.Tensor,
             to_weights: Callable[[np.ndarray], Any] | None = None) -> _MonitorHook:
        """The module to copy, its training rows (batch-norm calibration), and how an optimizer's
        vector becomes flat weights (a subspace search keeps coordinates, not weights)."""
        self.module, self.xt, self.to_weights = module, xt, to_weights
        return self

    def flat(self, history: TrainHistory, vector) -> float:
        """Monitor the weights given by an optimizer's ``vector``; the seconds it took."""
        to_weights = self.to_weights or (lambda w: w)
        return self(history, lambda model: load_flat(model, to_weights(vector)))

    def __call__(self, history: TrainHistory, load: Callable[[nn.Module], Any]) -> float:
        if self.monitor is None or len(history.loss) % self.every:
            return 0.0
        start = time.perf_counter()
        model = copy.deepcopy(self.module)
        load(model)
        calibrate_batch_norm(model, self.xt)
        self.monitor(model, history)
        return time.perf_counter() - start


def evaluate_loss(module: nn.Module, X, Y, X_calibrate=None, loss: str = "mse", chunk_size: int = 4096) -> float:
    """Mean loss of ``module`` on ``(X, Y)`` in eval mode, after calibrating batch norm on
    ``X_calibrate`` if given (the way both trainers judge validation data). Leaves eval mode on."""
    _check_choice("loss", loss, LOSSES)
    xt, yt = (X, Y) if isinstance(X, torch.Tensor) and isinstance(Y, torch.Tensor) else _tensors(module, X, Y, "eval")
    if X_calibrate is not None:
        calibrate_batch_norm(module, X_calibrate, chunk_size)
    module.eval()
    total = 0.0
    with torch.no_grad():
        for xs, ys in zip(torch.split(xt, chunk_size), torch.split(yt, chunk_size), strict=True):
            total += float(loss_per_example(module(xs), ys, loss, _multilabel(module)).sum())
    return total / len(xt)


def _resolve_bounds(module: nn.Module, bounds) -> tuple[np.ndarray, np.ndarray]:
    d = flat_size(module)
    if isinstance(bounds, str):
        if bounds != "scaled":
            raise ValueError(f"bounds must be (low, high), (lb_array, ub_array) or 'scaled', got {bounds!r}")
        return parameter_bounds(module)
    try:
        lo, hi = bounds
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be (low, high), (lb_array, ub_array) or 'scaled', got {bounds!r}") from None
    lb, ub = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    for name, arr in (("low", lb), ("high", ub)):
        if arr.ndim > 1 or (arr.ndim == 1 and arr.size != d):
            raise ValueError(f"bounds {name} must be a scalar or have {d} entries (flat_size), got shape {arr.shape}")
    return np.broadcast_to(lb, (d,)).copy(), np.broadcast_to(ub, (d,)).copy()


def _subspace_bounds(space: Subspace, bounds) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of ``z``: scalars or ``k`` entries (per-weight bounds do not carry over to ``z``)."""
    if isinstance(bounds, str):
        raise ValueError(f"bounds={bounds!r} are per weight; with subspace={space.k} give (low, high) for z")
    try:
        lo, hi = bounds
        lb, ub = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be (low, high) for z with subspace={space.k}, got {bounds!r}") from None
    for name, arr in (("low", lb), ("high", ub)):
        if arr.ndim > 1 or (arr.ndim == 1 and arr.size != space.k):
            raise ValueError(f"bounds {name} must be a scalar or have {space.k} entries (subspace), "
                             f"got shape {arr.shape}")
    return np.broadcast_to(lb, (space.k,)).copy(), np.broadcast_to(ub, (space.k,)).copy()


def _seeds(seed) -> tuple[int, int, np.random.Generator, np.random.Generator, np.random.Generator]:
    """The run's seed (drawn and reported when None), the optimizer's seed, the minibatch generator,
    the refinement's minibatch generator and the initial population's generator (third and fourth
    children: the first ones are unchanged by them)."""
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    engine_ss, batch_ss, refine_ss, init_ss = np.random.SeedSequence(int(seed)).spawn(4)
    return int(seed), int(engine_ss.generate_state(1)[0]), np.random.default_rng(batch_ss), \
        np.random.default_rng(refine_ss), np.random.default_rng(init_ss)


def _around(center: np.ndarray, lb: np.ndarray, ub: np.ndarray, spread: float, rng: np.random.Generator):
    """The ``init="w0"`` population as a function of its size ``n``: ``center`` itself (clipped to the
    box) and ``n - 1`` points ``center + spread * (ub - lb) / 2 * U(-1, 1)`` per coordinate, clipped."""
    center = np.clip(center, lb, ub)

    def population(n: int) -> np.ndarray:
        X = center + spread * (ub - lb) / 2 * rng.uniform(-1.0, 1.0, (n, center.size))
        X[0] = center
        return np.clip(X, lb, ub)

    return population


# --------------------------------------------------------------------------- population training


def train_population(module: nn.Module, X_train, Y_train, algorithm: str = "scpo", max_evals: int = 30_000,
                     pop_size: int | None = 64, bounds=(-1.0, 1.0), batch_size: int | None = None,
                     resample: str = "fixed", loss: str = "mse", X_val=None, Y_val=None,
                     patience: int | None = None, seed: int | None = 0, chunk_size: int | None = None,
                     num_threads: int | None = None, callback: Callable[[TrainHistory], Any] | None = None,
                     dtype: str | torch.dtype = "float32", memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
                     checkpoint: str | Path | None = None, checkpoint_every: int | None = None,
                     resume: bool = False, stop_on_sigint: bool = False, refine: str | None = None,
                     refine_steps: int = 10, refine_members: int = 4, refine_lr: float = 1e-2,
                     refine_batch_size: int = 64, subspace: int | None = None, subspace_seed: int = 0,
                     init: str = "uniform", init_spread: float = 0.1, monitor: Monitor | None = None,
                     monitor_every: int = 1, refine_adam: str = "fresh", **options: Any) -> TrainHistory:
    """Optimize the flat weights of ``module`` with population algorithm ``algorithm``.

    Fitness of a member = ``loss`` of the network with those weights on the fitness batch
    (``batch_size`` rows, all when ``None``; see the module docstring for ``resample``), the whole
    population evaluated in one :func:`networks.population.batched_loss` call. ``bounds``:
    ``(low, high)`` scalars or per-weight arrays, or ``"scaled"``
    (:func:`networks.population.parameter_bounds`). ``max_evals`` and ``pop_size`` go to the
    engine (PO/SCPO need a perfect square; ``None`` is the algorithm's default) with ``options``.
    ``callback(history)`` runs after every iteration; returning True stops. The best weights are
    loaded into ``module``, batch norm is calibrated on ``X_train`` and the module is left in eval
    mode. ``num_threads``: torch threads for the run (see :func:`torch_threads`). ``dtype``
    (``"float32"`` default, ``"float64"``) and ``memory_budget_mb`` are those of the fitness pass
    (:func:`networks.population.batched_loss`); a fitness batch too large for the budget is refused
    before training starts, naming the memory one member needs.

    ``checkpoint``: save the run there (the engine's :class:`scpo.observers.Checkpointer`, every
    ``checkpoint_every`` iterations, ``None``: adaptive; always at the end), with this trainer's
    own state in the same file (best weights and selection loss, patience counter, examples,
    the minibatch generator, the history); ``resume``: continue from it if it exists, so that a
    killed run ends exactly as an uninterrupted one. A checkpoint of other data or settings is
    refused with a ValueError naming the difference. ``stop_on_sigint``: Ctrl-C ends the run
    after the current evaluation (``history.interrupted``), the best weights so far kept; a
    second Ctrl-C exits at once (:class:`scpo.observers.StopOnSigint`).

    ``refine="adam"`` makes the run memetic (:class:`networks.memetic.AdamRefiner`): after every
    iteration the ``refine_members`` best members take ``refine_steps`` fresh-Adam steps (rate
    ``refine_lr``) on seeded minibatches of ``refine_batch_size`` training rows, are clipped to the
    bounds, re-evaluated on the fitness batch, and written back where that fitness improved
    (Lamarckian). Those evaluations count in ``nfev``/``history.evals`` (on top of ``max_evals``,
    which sets the iterations), the steps in ``history.grad_steps`` and the examples in
    ``history.samples``. Needs an algorithm with members (sca, po, scpo, pso, de).
    ``refine_adam="continued"`` keeps ``refine_members`` Adam chains (point and moments) between
    iterations instead of starting Adam anew; a chain restarts, with fresh moments, at the
    population's member of its rank when that member is better on the fitness batch
    (:class:`networks.memetic.AdamRefiner`; restarts in ``history.settings["refine_restarts"]``).

    ``subspace=k`` searches ``z`` in ``R^k`` with ``W = W0 + A z`` (:class:`networks.memetic.Subspace`:
    ``W0`` the module's weights at the call, ``A`` Gaussian with entries ``N(0, 1/k)`` from
    ``subspace_seed``); ``bounds`` are then those of ``z``, scalars or ``k`` entries (``(-1, 1)``:
    each weight moves from ``W0`` by about 0.58 standard deviations of offset). Refinement works
    inside the subspace (the gradient of ``z`` is ``A^T grad_W``).

    ``init``: the initial population. ``"uniform"`` (default, the paper's) draws every member
    uniformly in the bounds. ``"w0"`` starts around the module's initial weights ``W0`` (its
    PyTorch/He initialization, where Adam starts; ``z = 0`` in a subspace): one member is ``W0``
    itself and the others ``W0 + init_spread * (ub - lb) / 2 * U(-1, 1)`` per weight, clipped to
    the bounds. A distribution algorithm (``cmaes``, ``sep-cmaes``, ``openai-es``, ``snes``, ``pgpe``),
    which evaluates no initial population, starts its mean at ``W0`` instead (``x0=``) with the step
    ``sigma0 = init_spread * (ub - lb) / 2 / sqrt(3)`` per weight (the standard deviation of the
    population's offsets); before issue #28 it silently started at the box centre.
    Why ``"w0"``: a uniform member of ``[-1, 1]`` has weights and batch-norm scales far from
    a He-initialized network's, and its refined descendants generalize worse: the memetic anchor
    (README, Fidelity) with ``"w0"`` scores higher Hit@5 on held-out training tweets than with
    ``"uniform"`` (``experiments/memetic_heldout.py``), although its selected validation MSE is
    not lower (that minimum over diverse candidates is biased low for a uniform population).

    ``monitor(model, history)``: every ``monitor_every`` iterations, called with a copy of the
    module holding the weights kept so far (batch norm calibrated, eval mode), e.g. to measure
    validation metrics for learning curves; its time is left out of ``history.time``.
    """
    hook = _MonitorHook(monitor, monitor_every)
    with torch_threads(num_threads):
        return _train_population(module, X_train, Y_train, algorithm, max_evals, pop_size, bounds, batch_size,
                                 resample, loss, X_val, Y_val, patience, seed, chunk_size, callback, options,
                                 dtype, memory_budget_mb, checkpoint, checkpoint_every, resume, stop_on_sigint,
                                 refine, refine_steps, refine_members, refine_lr, refine_batch_size, subspace,
                                 subspace_seed, hook, init, init_spread, refine_adam)


def _check_fitness_memory(module: nn.Module, rows: int, n_features: int, dtype: torch.dtype,
                          memory_budget_mb: float) -> None:
    """Refuse up front a fitness batch of ``rows`` examples that one member cannot fit in the budget."""
    program = population_program(module, (rows, n_features))
    if not isinstance(program, Exception):
        members_per_chunk(program, rows, torch.empty(0, dtype=dtype).element_size(), memory_budget_mb,
                          module_name=type(module).__name__)


def _train_population(module, X_train, Y_train, algorithm, max_evals, pop_size, bounds, batch_size, resample,
                      loss, X_val, Y_val, patience, seed, chunk_size, callback, options, dtype="float32",
                      memory_budget_mb=DEFAULT_MEMORY_BUDGET_MB, checkpoint=None, checkpoint_every=None,
                      resume=False, stop_on_sigint=False, refine=None, refine_steps=10, refine_members=4,
                      refine_lr=1e-2, refine_batch_size=64, subspace=None, subspace_seed=0,
                      hook: _MonitorHook | None = None, init="uniform", init_spread=0.1,
                      refine_adam="fresh") -> TrainHistory:
    _check_choice("resample", resample, RESAMPLING)
    _check_choice("loss", loss, LOSSES)
    if algorithm not in scpo.algorithm_names():
        raise ValueError(f"unknown algorithm {algorithm!r}; choose from {', '.join(scpo.algorithm_names())}")
    if refine is not None:
        _check_choice("refine", refine, REFINERS)
        check_refinable(algorithm)
        if options.get("backend") == "torch":
            raise ValueError("refine needs the engine's numpy or numba backend (replace_members), got backend='torch'")
        _check_int("refine_steps", refine_steps)
        _check_int("refine_members", refine_members)
        _check_int("refine_batch_size", refine_batch_size, minimum=2)
        _check_choice("refine_adam", refine_adam, REFINE_ADAM)
        if not (isinstance(refine_lr, (int, float)) and refine_lr > 0 and math.isfinite(refine_lr)):
            raise ValueError(f"refine_lr must be a positive number, got {refine_lr!r}")
    _check_int("subspace", subspace, allow_none=True)
    _check_int("subspace_seed", subspace_seed, minimum=0)
    _check_choice("init", init, INITS)
    if isinstance(init_spread, bool) or not isinstance(init_spread, (int, float)) or not 0 < init_spread <= 1:
        raise ValueError(f"init_spread must be a number in (0, 1] (a share of the box), got {init_spread!r}")
    _check_int("max_evals", max_evals)
    _check_int("batch_size", batch_size, minimum=2, allow_none=True)
    _check_int("patience", patience, allow_none=True)
    _check_int("chunk_size", chunk_size, allow_none=True)
    _check_checkpoint(checkpoint, checkpoint_every, resume)
    fitness_dtype = resolve_dtype(dtype, torch.float32)
    xt, yt = _tensors(module, X_train, Y_train, "train")
    val = _validation(module, X_val, Y_val)
    seed, engine_seed, batch_rng, refine_rng, init_rng = _seeds(seed)
    space = None if subspace is None else Subspace(to_flat(module), subspace, subspace_seed)
    lb, ub = _resolve_bounds(module, bounds) if space is None else _subspace_bounds(space, bounds)
    weights_of = (lambda w: w) if space is None else space.weights  # optimizer's vector -> flat weights
    n = len(xt)
    rows = n if batch_size is None else min(batch_size, n)
    multilabel = _multilabel(module)
    _check_fitness_memory(module, rows, xt.shape[1], fitness_dtype, memory_budget_mb)

    def fitness_of(W, xb, yb) -> np.ndarray:
        if space is not None:
            W = space.torch_weights(torch.as_tensor(np.asarray(W), dtype=fitness_dtype, device=xb.device))
        f = batched_loss(module, W, xb, yb, loss, multilabel, chunk_size, dtype=fitness_dtype,
                         memory_budget_mb=memory_budget_mb).cpu().numpy().astype(float)
        return np.where(np.isfinite(f), f, np.inf)

    def draw_batch(idx=None):
        """A fresh fitness batch (or the rows ``idx`` of a resumed one); its rows are kept for checkpoints."""
        if rows == n:
            return xt, yt
        if idx is None:
            idx = np.sort(batch_rng.choice(n, rows, replace=False))
        draw_batch.rows = np.asarray(idx, dtype=np.int64)
        at = torch.as_tensor(draw_batch.rows, device=xt.device)
        return xt[at], yt[at]

    def selection_losses(candidates: list[np.ndarray]) -> list[float]:
        if val is not None:
            return [evaluate_loss(load_flat(module, weights_of(w)), *val, X_calibrate=xt, loss=loss)
                    for w in candidates]
        return fitness_of(np.stack(candidates), xt, yt).tolist()  # per-iteration resampling, no validation

    batch = list(draw_batch())  # the fitness batch; the selection observer redraws it per iteration
    problem = scpo.Problem(lambda W: fitness_of(W, *batch), lb, ub, vectorized=True,
                           name=f"{type(module).__name__} {loss}")
    initial, start = None, {}
    if init == "w0":  # W0, the module's weights at the call; z = 0 in a subspace
        w0 = to_flat(module).astype(float) if space is None else np.zeros(space.k)
        if create_algorithm(algorithm).distribution:  # an ES starts its mean there: x0, not a population
            if "x0" in options or "sigma0" in options:
                raise ValueError("init='w0' sets x0 and sigma0 of a distribution algorithm; give init='uniform' "
                                 "with x0=/sigma0=, or drop them")
            start = {"x0": np.clip(w0, lb, ub), "sigma0": float(init_spread) * (ub - lb) / 2 / math.sqrt(3)}
        else:
            initial = _around(w0, lb, ub, float(init_spread), init_rng)
    opt = scpo.make(problem, algorithm, seed=engine_seed, pop_size=pop_size, max_evals=max_evals,
                    initial_population=initial, **start, **options)
    history = TrainHistory(method=algorithm, seed=seed, settings={
        "algorithm": algorithm, "max_evals": max_evals, "pop_size": opt.pop_size, "max_iter": opt.max_iter,
        "bounds": "scaled" if isinstance(bounds, str) else [float(lb.min()), float(ub.max())],
        "batch_size": rows, "resample": resample, "loss": loss, "patience": patience, "dim": int(lb.size),
        "validation": val is not None, "options": {k: repr(v) for k, v in options.items()},
        "dtype": str(fitness_dtype).removeprefix("torch."), "memory_budget_mb": memory_budget_mb,
    })
    if refine is not None:  # recorded only when used: checkpoints of plain runs keep their fingerprint
        history.settings.update(refine=refine, refine_steps=refine_steps, refine_members=refine_members,
                                refine_lr=refine_lr, refine_batch_size=refine_batch_size, refine_adam=refine_adam)
    if space is not None:
        history.settings.update(subspace=space.k, subspace_seed=space.seed, weights=space.dim)
    if init != "uniform":  # likewise recorded only when used
        history.settings.update(init=init, init_spread=init_spread)
    selection = _Selection(history, resample, val, xt, patience, callback, batch, draw_batch, selection_losses)
    selection.monitor = hook.bind(module, xt, weights_of) if hook is not None and hook.monitor is not None else None
    observers: list = [selection]
    refiner = None
    if refine is not None:  # before the selection observer: it refines on the batch the iteration used
        refiner = AdamRefiner(module, xt, yt, loss, multilabel, refine_steps, refine_members, refine_lr,
                              refine_batch_size, refine_rng, lb, ub, fitness_of, batch, selection,
                              None if space is None else space.torch_weights, refine_adam)
        observers.insert(0, refiner)
    if checkpoint is not None:
        fingerprint = _fingerprint(history, xt, yt, val)
        observers.append(_population_checkpoints(opt, selection, batch_rng, fingerprint, checkpoint,
                                                 checkpoint_every, resume, refiner))
    if stop_on_sigint:
        observers.append(scpo.observers.StopOnSigint())
    result = opt.run(observers)
    history.interrupted = result.message in (scpo.observers.INTERRUPTED, scpo.observers.TERMINATED)
    history.terminated = result.message == scpo.observers.TERMINATED
    best_w, best_sel = selection.best_w, selection.best_sel
    if best_w is None:  # stopped before a completed iteration could be judged
        best_w = opt.best_x
        best_sel = float(opt.best_fitness)
    load_flat(module, weights_of(best_w))
    calibrate_batch_norm(module, xt)
    history.best_loss, history.best_iteration = best_sel, selection.best_iter
    history.settings["nfev"] = int(opt.nfev)
    if refiner is not None:
        history.settings["refine_accepted"] = refiner.accepted
        if refine_adam == "continued":
            history.settings["refine_restarts"] = refiner.restarts
    history.settings["wall_time_s"] = time.perf_counter() - selection.start
    return history


class _Selection(scpo.observers.Observer):
    """The population trainer's observer: counts examples, keeps the weights to return (best
    selection loss), redraws the fitness batch per iteration, stops early after ``patience``."""

    monitor: _MonitorHook | None = None  # set by the trainer when a monitor is given

    def __init__(self, history: TrainHistory, resample, val, xt, patience, callback, batch: list, draw_batch,
                 selection_losses):
        self.history, self.resample, self.val, self.xt = history, resample, val, xt
        self.patience, self.callback, self.batch = patience, callback, batch
        self.draw_batch, self.selection_losses = draw_batch, selection_losses
        self.samples = 0
        self.grad_steps = 0  # credited by a memetic refiner
        self.best_w, self.best_sel, self.best_iter, self.since = None, math.inf, -1, 0
        self.seen_best = math.inf  # the optimizer's record fitness when last judged
        self.it_best_f, self.it_best_x = math.inf, None
        self.start = time.perf_counter()

    def on_start(self, opt) -> None:
        self.start = time.perf_counter() - (self.history.time[-1] if self.history.time else 0.0)

    STATE = ("samples", "grad_steps", "best_sel", "best_iter", "since", "seen_best", "it_best_f")
    LISTS = ("loss", "val_loss", "evals", "grad_steps", "samples", "time")

    def state(self, batch_rng) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """What a checkpoint keeps of this observer: arrays and a JSON-able dict."""
        arrays = {name: value for name, value in (("best_w", self.best_w), ("it_best_x", self.it_best_x),
                                                   ("batch_rows", getattr(self.draw_batch, "rows", None)))
                  if value is not None}
        h = self.history
        meta = {name: getattr(self, name) for name in self.STATE}
        meta["history"] = {name: list(getattr(h, name)) for name in self.LISTS}
        meta.update(initial_loss=h.initial_loss, stopped_early=h.stopped_early, batch_rng=batch_rng.bit_generator.state)
        return arrays, meta

    def restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any], batch_rng) -> None:
        for name in self.STATE:
            setattr(self, name, meta.get(name, 0) if name == "grad_steps" else meta[name])  # absent from older ones
        self.best_w, self.it_best_x = arrays.get("best_w"), arrays.get("it_best_x")
        for name in self.LISTS:
            setattr(self.history, name, list(meta["history"].get(name, [])))
        self.history.initial_loss, self.history.stopped_early = meta["initial_loss"], meta["stopped_early"]
        batch_rng.bit_generator.state = meta["batch_rng"]
        if "batch_rows" in arrays:
            self.batch[:] = self.draw_batch(arrays["batch_rows"])

    def on_evaluation(self, opt, candidates, fitness) -> None:
        self.samples += len(candidates) * len(self.batch[0])
        i = int(np.argmin(fitness))
        if fitness[i] < self.it_best_f:
            self.it_best_f, self.it_best_x = float(fitness[i]), np.array(candidates[i], copy=True)
        if math.isnan(self.history.initial_loss):
            self.history.initial_loss = float(np.min(fitness))

    def on_iteration(self, opt) -> None:
        history, val, xt = self.history, self.val, self.xt
        candidates, candidates_loss = [], []
        record_changed = opt.best_fitness < self.seen_best
        self.seen_best = opt.best_fitness
        if self.resample == "fixed":
            if val is None:
                candidates, candidates_loss = [opt.best_x], [opt.best_fitness]
            elif record_changed:
                candidates = [opt.best_x]
                candidates_loss = self.selection_losses(candidates)
                self.samples += len(xt) + len(val[0])
        else:
            same = opt.best_x is None or np.array_equal(opt.best_x, self.it_best_x)
            candidates = [self.it_best_x] + ([opt.best_x] if record_changed and not same else [])
            candidates_loss = self.selection_losses(candidates)
            self.samples += len(candidates) * (len(xt) + (0 if val is None else len(val[0])))
        improved = False
        for w, loss_value in zip(candidates, candidates_loss, strict=True):
            if loss_value < self.best_sel:
                self.best_w, self.best_sel, self.best_iter = np.array(w, copy=True), float(loss_value), opt.nit
                improved = True
        self.since = 0 if improved else self.since + 1
        history.loss.append(float(opt.best_fitness if self.resample == "fixed" else self.it_best_f))
        if val is not None or self.resample != "fixed":
            history.val_loss.append(self.best_sel)
        history.evals.append(int(opt.nfev))
        history.grad_steps.append(int(self.grad_steps))
        history.samples.append(int(self.samples))
        history.time.append(time.perf_counter() - self.start)
        self.it_best_f, self.it_best_x = math.inf, None
        if self.monitor is not None:  # the monitor's time is moved out of the training clock
            self.start += self.monitor.flat(history, opt.best_x if self.best_w is None else self.best_w)
        if self.patience is not None and self.since >= self.patience:
            history.stopped_early = True
            opt.request_stop("early stopping: no better selection loss")
        elif self.callback is not None and self.callback(history):
            opt.request_stop("stopped by callback")
        if self.resample == "per-iteration":  # after a stop too: a resumed run continues with the next batch
            self.batch[:] = self.draw_batch()  # both evaluations of a PO iteration see the same batch


def _check_checkpoint(checkpoint, checkpoint_every, resume) -> None:
    _check_int("checkpoint_every", checkpoint_every, allow_none=True)
    if resume and checkpoint is None:
        raise ValueError("resume needs a checkpoint path (--resume needs --checkpoint PATH)")


def _fingerprint(history: TrainHistory, xt, yt, val) -> dict[str, Any]:
    """What must match for a training checkpoint to be resumed: the data (a digest of X and Y,
    validation included), the method, the seed and the settings."""
    digest = hashlib.sha256()
    for tensor in (xt, yt, *(val or ())):
        array = np.ascontiguousarray(tensor.detach().cpu().numpy())
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return json.loads(json.dumps({"data": digest.hexdigest(), "method": history.method, "seed": history.seed,
                                  **history.settings}))


def _check_fingerprint(path, saved: dict[str, Any] | None, expected: dict[str, Any]) -> None:
    if saved is None:
        raise ValueError(f"{path} is not a training checkpoint (no trainer state): resume it with `scpo optimize`")
    for key in sorted(set(saved) | set(expected)):
        if saved.get(key) != expected.get(key):
            what = "the data differ (X/Y digest)" if key == "data" else \
                f"{key}={saved.get(key)!r} there, {expected.get(key)!r} here"
            raise ValueError(f"{path} belongs to another training run: {what}")


def _population_checkpoints(opt, selection: _Selection, batch_rng, fingerprint, path, every, resume,
                            refiner: AdamRefiner | None = None):
    """The engine's checkpointer, saving the selection observer's (and a refiner's) state in the
    same file; on ``resume``, first restore them from ``path`` if it exists."""
    from scpo.checkpoint import load_checkpoint, read_extra

    if opt.backend == "torch":
        raise ValueError("checkpoints need the engine's numpy or numba backend")

    def extra():
        arrays, meta = selection.state(batch_rng)
        if refiner is not None:
            meta["refiner"] = refiner.state()
            arrays.update({f"refiner_{name}": value for name, value in refiner.arrays().items()})
        return arrays, {"trainer": fingerprint, **meta}

    checkpointer = scpo.observers.Checkpointer(path, every, extra=extra)
    if resume and checkpointer.path.exists():
        arrays, meta = read_extra(checkpointer.path)
        _check_fingerprint(checkpointer.path, None if meta is None else meta.get("trainer"), fingerprint)
        checkpointer.history_rows = load_checkpoint(opt, checkpointer.path)
        selection.restore(arrays, meta, batch_rng)
        if refiner is not None:
            refiner.restore(meta["refiner"], {name.removeprefix("refiner_"): value for name, value in arrays.items()
                                              if name.startswith("refiner_")})
        selection.history.settings["resumed_at"] = int(opt.nit)
        if selection.history.stopped_early:
            opt.request_stop("early stopping: no better selection loss")
    return checkpointer


# --------------------------------------------------------------------------- Adam


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """A shuffled partition of ``range(n)``; a last batch of one row joins the previous one (batch norm)."""
    order = torch.randperm(n, generator=generator)
    parts = list(torch.split(order, batch_size))
    if len(parts) > 1 and len(parts[-1]) == 1:
        parts[-2] = torch.cat(parts[-2:])
        parts.pop()
    return parts


def train_adam(module: nn.Module, X_train, Y_train, epochs: int = 200, lr: float = 1e-2, batch_size: int = 64,
               X_val=None, Y_val=None, patience: int | None = 20, seed: int | None = 0, loss: str = "mse",
               weight_decay: float = 0.0, num_threads: int | None = None,
               callback: Callable[[TrainHistory], Any] | None = None, checkpoint: str | Path | None = None,
               checkpoint_every: int | None = None, resume: bool = False,
               stop_on_sigint: bool = False, monitor: Monitor | None = None, monitor_every: int = 1) -> TrainHistory:
    """Train ``module`` with ``torch.optim.Adam`` on shuffled minibatches (train-mode batch norm).

    After each epoch the selection loss is computed as :func:`evaluate_loss` does (batch norm
    calibrated on the training set, eval mode) on the validation set, or on the training set when
    there is none; the weights with the lowest one are restored at the end, and ``patience`` epochs
    without improvement stop training. Shuffling uses a ``torch.Generator`` seeded from ``seed``.
    ``num_threads``: torch threads for the run (see :func:`torch_threads`). ``callback(history)``
    runs after every epoch; True stops.

    ``checkpoint``: after every ``checkpoint_every`` epochs (``None``: every epoch) and at the end,
    save the module, Adam's state, the shuffling generator, the best state and the history there
    (safetensors with a JSON header, written atomically; nothing is unpickled on loading);
    ``resume``: continue from it if it exists, to the same weights as an uninterrupted run. A
    checkpoint of other data or settings is refused with a ValueError naming the difference.
    ``stop_on_sigint``: Ctrl-C ends training after the current step (``history.interrupted``; the
    best weights of the completed epochs are kept, the last checkpoint stands); a second Ctrl-C
    exits at once (status 130).

    ``monitor(model, history)``: every ``monitor_every`` epochs, as in :func:`train_population`
    (the best weights so far, in a calibrated copy; its time left out of ``history.time``).
    """
    hook = _MonitorHook(monitor, monitor_every)
    with torch_threads(num_threads):
        return _train_adam(module, X_train, Y_train, epochs, lr, batch_size, X_val, Y_val, patience, seed, loss,
                           weight_decay, callback, checkpoint, checkpoint_every, resume, stop_on_sigint, hook)


class _SigintFlag:
    """Adam's Ctrl-C or SIGTERM: the first sets ``requested`` (checked after every step; ``terminated``
    for SIGTERM), the second exits at once with status 130 (SIGINT) or 143 (SIGTERM), as
    :class:`scpo.observers.StopOnSigint` does for population runs."""

    def __init__(self, active: bool):
        self.active, self.requested, self.terminated, self.previous = active, False, False, {}

    def __enter__(self):
        if self.active and threading.current_thread() is threading.main_thread():
            for signum in scpo.observers.STOP_SIGNALS:
                self.previous[signum] = signal.signal(signum, self._handler)
        return self

    def _handler(self, signum, frame) -> None:
        if self.requested:
            raise SystemExit(scpo.observers.STOP_SIGNALS[signum][1])
        self.requested, self.terminated = True, signum == signal.SIGTERM

    def __exit__(self, *exc) -> None:
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)
        self.previous = {}


ADAM_FORMAT = "scpo-adam-checkpoint/1"


def _save_adam(path: Path, module, optimizer, best_state, generator, meta: dict[str, Any]) -> None:
    from safetensors.torch import save as st_save

    from scpo.io import atomic_write

    tensors = {f"module.{k}": v for k, v in module.state_dict().items()}
    tensors.update({f"best.{k}": v for k, v in best_state.items()})
    for index, state in optimizer.state_dict()["state"].items():
        tensors.update({f"adam.{index}.{k}": v for k, v in state.items()})
    tensors["generator"] = generator.get_state()
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    data = st_save(tensors, metadata={"meta": json.dumps({"format": ADAM_FORMAT, **meta})})
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def _load_adam(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    raw = path.read_bytes()
    if raw[:2] == b"PK":  # an .npz: the engine's checkpoint
        raise ValueError(f"{path} is a population run's checkpoint, not an Adam training checkpoint")
    try:
        tensors = st_load(raw)
        header_len = int.from_bytes(raw[:8], "little")
        meta = json.loads(json.loads(raw[8:8 + header_len])["__metadata__"]["meta"])
    except (SafetensorError, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a readable Adam training checkpoint (corrupted or truncated: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != ADAM_FORMAT:
        raise ValueError(f"{path} is not an Adam training checkpoint ({ADAM_FORMAT})")
    return tensors, meta


def _train_adam(module, X_train, Y_train, epochs, lr, batch_size, X_val, Y_val, patience, seed, loss,
                weight_decay, callback, checkpoint=None, checkpoint_every=None, resume=False,
                stop_on_sigint=False, hook: _MonitorHook | None = None) -> TrainHistory:
    _check_int("epochs", epochs)
    _check_int("batch_size", batch_size, minimum=2)
    _check_int("patience", patience, allow_none=True)
    _check_choice("loss", loss, LOSSES)
    _check_checkpoint(checkpoint, checkpoint_every, resume)
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if not (isinstance(weight_decay, (int, float)) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be a number >= 0, got {weight_decay!r}")
    xt, yt = _tensors(module, X_train, Y_train, "train")
    val = _validation(module, X_val, Y_val)
    seed = _seeds(seed)[0]
    generator = torch.Generator().manual_seed(seed)
    multilabel = _multilabel(module)
    sel_x, sel_y = val if val is not None else (xt, yt)
    history = TrainHistory(method="adam", seed=seed, settings={
        "epochs": epochs, "lr": lr, "batch_size": batch_size, "patience": patience, "loss": loss,
        "weight_decay": weight_decay, "validation": val is not None, "dim": flat_size(module),
    })
    start = time.perf_counter()
    optimizer = torch.optim.Adam(module.parameters(), lr=lr, weight_decay=weight_decay)
    path = None if checkpoint is None else Path(checkpoint)
    fingerprint = None if path is None else _fingerprint(history, xt, yt, val)
    every = 1 if checkpoint_every is None else checkpoint_every
    done_epochs = 0
    if path is not None and resume and path.exists():
        tensors, meta = _load_adam(path)
        _check_fingerprint(path, meta.get("trainer"), fingerprint)
        load_state(module, {k[len("module."):]: v.numpy() for k, v in tensors.items() if k.startswith("module.")},
                   str(path))
        best_state = {k[len("best."):]: v.to(xt.device) for k, v in tensors.items() if k.startswith("best.")}
        adam_state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("adam."):
                _, index, name = key.split(".", 2)
                adam_state.setdefault(int(index), {})[name] = value
        optimizer.load_state_dict({"state": adam_state, "param_groups": optimizer.state_dict()["param_groups"]})
        generator.set_state(tensors["generator"])
        best_sel, best_epoch, since, steps, samples = (meta[k] for k in ("best_sel", "best_epoch", "since", "steps",
                                                                         "samples"))
        done_epochs = meta["epoch"]
        for name in _Selection.LISTS:
            setattr(history, name, list(meta["history"].get(name, [])))
        history.initial_loss, history.stopped_early = meta["initial_loss"], meta["stopped_early"]
        history.settings["resumed_at"] = done_epochs
        start -= history.time[-1] if history.time else 0.0
    else:
        history.initial_loss = evaluate_loss(module, xt, yt, X_calibrate=xt, loss=loss)
        best_state = copy.deepcopy(module.state_dict())
        best_sel, best_epoch, since, steps, samples = math.inf, -1, 0, 0, 0

    def save(epoch: int) -> None:
        meta = {"trainer": fingerprint, "epoch": epoch, "best_sel": best_sel, "best_epoch": best_epoch,
                "since": since, "steps": steps, "samples": samples, "initial_loss": history.initial_loss,
                "stopped_early": history.stopped_early,
                "history": {name: list(getattr(history, name)) for name in _Selection.LISTS}}
        _save_adam(path, module, optimizer, best_state, generator, meta)

    epoch, saved_epoch = done_epochs, done_epochs
    with _SigintFlag(stop_on_sigint) as sigint:
        while epoch < epochs and not history.stopped_early:
            module.train()
            total = 0.0
            for idx in _batches(len(xt), batch_size, generator):
                idx = idx.to(xt.device)
                optimizer.zero_grad(set_to_none=True)
                batch_loss = loss_per_example(module(xt[idx]), yt[idx], loss, multilabel).mean()
                batch_loss.backward()
                optimizer.step()
                total += float(batch_loss.detach()) * len(idx)
                steps += 1
                if sigint.requested:
                    break
            if sigint.requested:  # a partial epoch is not judged; the last checkpoint stands
                history.interrupted, history.terminated = True, sigint.terminated
                break
            epoch += 1
            samples += len(xt)
            sel = evaluate_loss(module, sel_x, sel_y, X_calibrate=xt, loss=loss)
            samples += len(xt) + len(sel_x)
            if sel < best_sel:
                best_sel, best_epoch, since = sel, epoch, 0
                best_state = copy.deepcopy(module.state_dict())
            else:
                since += 1
            history.loss.append(total / len(xt))
            if val is not None:
                history.val_loss.append(best_sel)
            history.evals.append(steps)
            history.grad_steps.append(steps)
            history.samples.append(samples)
            history.time.append(time.perf_counter() - start)
            if hook is not None and hook.monitor is not None:  # the monitor's time leaves the clock
                start += hook.bind(module, xt)(history, lambda m, kept=best_state: m.load_state_dict(kept))
            stop = False
            if patience is not None and since >= patience:
                history.stopped_early = stop = True
            elif callback is not None and callback(history):
                stop = True
            if path is not None and (stop or epoch == epochs or epoch % every == 0):
                save(epoch)
                saved_epoch = epoch
            if stop:
                break
        if path is not None and saved_epoch != epoch and not history.interrupted:
            save(epoch)
    module.load_state_dict(best_state)
    calibrate_batch_norm(module, xt)
    history.best_loss, history.best_iteration = best_sel, best_epoch
    history.settings["steps"] = steps
    history.settings["wall_time_s"] = time.perf_counter() - start
    return history
