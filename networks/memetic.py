"""Memetic (Lamarckian) refinement and random-subspace search for population training.

Two additions to :func:`networks.training.train_population`, kept here so the trainer stays a loop:

* :class:`Subspace`: the optimizer searches ``z`` in ``R^k`` and the network gets
  ``W = W0 + A z``, ``W0`` the module's initial flat weights and ``A (D, k)`` a fixed Gaussian
  projection with entries ``N(0, 1/k)``, regenerated from its seed (checkpoints and saved
  settings store the seed, never the matrix). With ``z`` uniform in ``[-b, b]^k`` each weight moves
  from ``W0`` by a zero-mean offset of standard deviation ``b / sqrt(3)`` whatever ``k`` is, so the
  bounds of ``z`` read as a per-weight step size (default ``b = 1``: offsets of about 0.58, the
  scale of the He-initialized convolution weights). ``W`` itself is not clipped.
* :class:`AdamRefiner`: an observer that, after each engine iteration, gives the best
  ``members`` of the population ``steps`` Adam steps on seeded minibatches (all members on the
  same minibatch), evaluates the refined members on the current fitness batch, and writes back
  (``Optimizer.replace_members``) those that got better. By default (``adam="fresh"``) Adam starts
  fresh at every refinement: a slot's occupant moves between refinements, so its old moments
  would belong to another point (keeping them while a member stays at its refined point was
  measured: almost no change with SCPO, whose campaign moves every member; README, Fidelity).
  ``adam="continued"`` keeps the refined points and their moments outside the population as Adam
  chains, which go on from where they were unless the population offers a better member. All
  members take their steps together: one ``torch.vmap`` over ``functional_call`` per step, no
  loop over members. Inside a subspace the gradient reaches ``z`` through
  ``W = W0 + A z`` (autograd gives ``A^T grad_W``).

Refinement runs in population mode (:func:`networks.population.population_mode`): batch norm
normalizes with each member's minibatch statistics, as the fitness does. The members refined are
the best by the fitness the algorithm's state holds; with ``resample="per-iteration"`` a member
the iteration did not re-evaluate (a DE target that survived) carries a fitness from an older
batch, so its write-back test compares losses on different batches.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

import scpo.observers
from networks.population import loss_per_example, population_mode

__all__ = ["REFINERS", "REFINE_ADAM", "AdamMoments", "AdamRefiner", "Subspace", "check_refinable",
           "population_members", "subspace_projection"]

REFINERS = ("adam",)
REFINE_ADAM = ("fresh", "continued")  # Adam's state between refinements (AdamRefiner)
# Refinable: algorithms that take replaced members (Optimizer.replace_members). CMA-ES and the evolution
# strategies keep a distribution, not members. Random search keeps no population either, but takes
# refined points (its best so far): its refined members are the best of each fresh random population,
# the ablation of the memetic schedule without the population's own moves.


def check_refinable(algorithm: str) -> None:
    """Refuse, with one line naming it, an algorithm that keeps no members to refine."""
    from scpo.algorithms import create
    from scpo.algorithms.base import Algorithm

    if algorithm == "adam":
        raise ValueError("refine needs a population optimizer; optimizer 'adam' is already gradient training")
    try:
        impl = create(algorithm)
    except (KeyError, ValueError):
        raise ValueError(f"refine: unknown algorithm {algorithm!r}") from None
    if type(impl).replace_members is Algorithm.replace_members:
        raise ValueError(f"refine needs an algorithm with a population of members (sca, po, scpo, pso, de, "
                         f"random); "
                         f"{algorithm!r} has none to replace")


def population_members(state: Any, evaluated=None) -> tuple[np.ndarray, np.ndarray]:
    """The members and their fitness in an algorithm's state (PSO: the personal bests); for random
    search, whose state is only its population size, the last ``evaluated`` (candidates, fitness)."""
    if isinstance(state, int | np.integer) and evaluated is not None:
        return np.asarray(evaluated[0]), np.asarray(evaluated[1])
    if hasattr(state, "fitness") and hasattr(state, "X"):
        return np.asarray(state.X), np.asarray(state.fitness)
    if hasattr(state, "P_fitness"):
        return np.asarray(state.P), np.asarray(state.P_fitness)
    raise ValueError(f"refine: the algorithm state {type(state).__name__} holds no population members")


# --------------------------------------------------------------------------- subspace


def subspace_projection(dim: int, k: int, seed: int) -> np.ndarray:
    """The fixed projection ``A (dim, k)``: entries ``N(0, 1/k)`` from ``numpy.random.default_rng(seed)``."""
    for name, value in (("dim", dim), ("k", k), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if name == "seed" else 1):
            raise ValueError(f"subspace_projection: {name} must be an integer >= {0 if name == 'seed' else 1}, "
                             f"got {value!r}")
    return np.random.default_rng(int(seed)).standard_normal((int(dim), int(k))) / math.sqrt(k)


class Subspace:
    """``W = W0 + A z``: the map from the optimizer's ``z (k,)`` to a network's flat weights ``(D,)``.

    ``w0`` is the module's initial flat vector (``networks.population.to_flat``); ``A`` comes
    from :func:`subspace_projection` with ``seed``. :meth:`weights` maps numpy rows (float64),
    :meth:`torch_weights` tensors (for the fitness pass and gradients).
    """

    def __init__(self, w0, k: int, seed: int = 0):
        w0 = np.asarray(w0, dtype=float).reshape(-1)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"subspace must be an integer >= 1, got {k!r}")
        if k > w0.size:
            raise ValueError(f"subspace={k} exceeds the {w0.size} weights of the network; choose k <= {w0.size}")
        self.w0, self.k, self.seed = w0, int(k), int(seed)
        self.A = subspace_projection(w0.size, self.k, self.seed)
        self._torch: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def dim(self) -> int:
        """D, the network's weight count."""
        return self.w0.size

    def weights(self, Z) -> np.ndarray:
        """``W0 + A z`` for ``z (k,)`` or rows ``Z (P, k)`` (float64)."""
        Z = np.asarray(Z, dtype=float)
        return self.w0 + Z @ self.A.T

    def torch_weights(self, Z: torch.Tensor) -> torch.Tensor:
        """``W0 + A z`` on tensors (any leading shape), in ``Z``'s dtype and device; differentiable."""
        key = (Z.dtype, Z.device)
        if key not in self._torch:
            self._torch[key] = (torch.as_tensor(self.w0, dtype=Z.dtype, device=Z.device),
                                torch.as_tensor(self.A, dtype=Z.dtype, device=Z.device))
        w0, A = self._torch[key]
        return w0 + Z @ A.T


# --------------------------------------------------------------------------- refinement


class AdamMoments:
    """Adam's state for rows ``(m, d)``: first and second moments and each row's step count."""

    def __init__(self, m1: torch.Tensor, m2: torch.Tensor, steps: torch.Tensor):
        self.m1, self.m2, self.steps = m1, m2, steps

    @classmethod
    def fresh(cls, Z: torch.Tensor) -> AdamMoments:
        return cls(torch.zeros_like(Z), torch.zeros_like(Z), torch.zeros((len(Z), 1), dtype=Z.dtype, device=Z.device))

    def reset(self, rows) -> None:
        """Fresh moments for ``rows`` (a chain that restarts elsewhere)."""
        for tensor in (self.m1, self.m2, self.steps):
            tensor[rows] = 0


def adam_steps(module: nn.Module, Z: torch.Tensor, x: torch.Tensor, y: torch.Tensor, loss: str, multilabel: bool,
               steps: int, lr: float, batch_size: int, rng: np.random.Generator, lb: torch.Tensor, ub: torch.Tensor,
               to_weights: Callable[[torch.Tensor], torch.Tensor] | None = None,
               moments: AdamMoments | None = None) -> torch.Tensor:
    """``steps`` Adam steps for every row of ``Z (m, d)`` at once, projected onto ``[lb, ub]``.

    Each step draws ``batch_size`` rows of ``(x, y)`` without replacement from ``rng`` (the same rows
    for every member: common random numbers); the loss of a member is the mean ``loss`` of the
    network with weights ``to_weights(z)`` (identity when ``None``) in population mode. Adam is
    elementwise, so one Adam over the stacked rows with the summed loss is each member's own Adam.
    Adam is written out (``torch.optim.Adam``'s defaults: betas 0.9, 0.999, eps 1e-8, bias
    correction): constructing a ``torch.optim`` optimizer imports ``torch._dynamo`` (seconds), once
    per process, which would dominate a short memetic run.

    ``moments``: Adam's state per row, continued and updated in place (``None``: fresh moments).
    """
    params = list(module.named_parameters())
    names, shapes, sizes = [n for n, _ in params], [p.shape for _, p in params], [p.numel() for _, p in params]
    Z = Z.detach().clone().requires_grad_(True)
    if moments is None:
        moments = AdamMoments.fresh(Z)
    m1, m2, taken = moments.m1, moments.m2, moments.steps
    # one host read per call: rows that all share a step count (fresh ones) get scalar bias corrections
    first = int(taken[0, 0]) if len(taken) and bool((taken == taken[0, 0]).all()) else None
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    n = len(x)
    rows = min(batch_size, n)

    def member_loss(z: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        flat = z if to_weights is None else to_weights(z)
        tensors = {k: t.view(s) for k, t, s in zip(names, torch.split(flat, sizes), shapes, strict=True)}
        return loss_per_example(functional_call(module, tensors, (xb,)), yb, loss, multilabel).mean()

    batched = torch.vmap(member_loss, in_dims=(0, None, None))
    with population_mode(module):
        for i in range(steps):
            at = torch.as_tensor(np.sort(rng.choice(n, rows, replace=False)), device=x.device)
            (grad,) = torch.autograd.grad(batched(Z, x[at], y[at]).sum(), Z)
            with torch.no_grad():
                taken.add_(1)  # per row: a continued row's bias correction goes on from its own count
                m1.mul_(beta1).add_(grad, alpha=1 - beta1)
                m2.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                if first is not None:  # the arithmetic of torch.optim.Adam
                    step = first + i + 1
                    denominator = (m2 / (1 - beta2**step)).sqrt_().add_(eps)
                    Z.addcdiv_(m1, denominator, value=-lr / (1 - beta1**step))
                else:
                    denominator = (m2 / (1 - beta2**taken)).sqrt_().add_(eps)
                    Z.addcdiv_(m1 / (1 - beta1**taken), denominator, value=-lr)
                Z.copy_(torch.minimum(torch.maximum(Z, lb), ub))
    return Z.detach()


class AdamRefiner(scpo.observers.Observer):
    """Lamarckian refinement after every iteration (see the module docstring).

    ``fitness_of(Z, x, y)`` is the trainer's fitness (numpy rows in, numpy losses out) and ``batch``
    its current fitness batch (a list the trainer updates in place); ``selection`` is the trainer's
    selection observer, told about the refined members (examples, iteration best) and credited with
    the gradient steps (``None``: the refiner counts them itself, ``grad_steps``). ``rng`` draws the
    refinement minibatches (checkpointed through :meth:`state`). ``last`` holds the latest
    refinement: member indices, refined vectors, their fitness, and which were written back.

    ``adam="fresh"``: each refinement starts Adam anew at the best members. ``adam="continued"``:
    the refiner keeps ``members`` Adam chains (point, moments, step count) between iterations.
    Chain ``j`` goes on from its own refined point with its own moments unless the population's
    ``j``-th best member is better on the current fitness batch (the algorithm's moves found a
    better point): then it restarts there with fresh moments. Its refined point is written into
    that member's slot where it is better. So a population that never finds better points leaves
    one unbroken Adam run per chain, and one that does redirects the chains.
    """

    def __init__(self, module: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str, multilabel: bool,
                 steps: int, members: int, lr: float, batch_size: int, rng: np.random.Generator,
                 lb: np.ndarray, ub: np.ndarray, fitness_of, batch: list, selection=None,
                 to_weights: Callable[[torch.Tensor], torch.Tensor] | None = None, adam: str = "fresh"):
        if adam not in REFINE_ADAM:
            raise ValueError(f"refine_adam must be one of {', '.join(REFINE_ADAM)}, got {adam!r}")
        self.adam = adam
        self.chains: np.ndarray | None = None  # continued: the chains' points (m, d), float64
        self.chains_f: np.ndarray | None = None  # ... their fitness on chains_batch
        self.chains_batch = None  # the fitness batch tensor chains_f was measured on
        self.moments: AdamMoments | None = None
        self.restarts = 0  # continued: chains moved to a better population member
        self.module, self.x, self.y, self.loss, self.multilabel = module, x, y, loss, multilabel
        self.steps, self.members, self.lr, self.batch_size, self.rng = steps, members, lr, batch_size, rng
        like = next(iter(module.parameters()))
        self.lb = torch.as_tensor(lb, dtype=like.dtype, device=like.device)
        self.ub = torch.as_tensor(ub, dtype=like.dtype, device=like.device)
        self.lb_np, self.ub_np = np.asarray(lb, dtype=float), np.asarray(ub, dtype=float)
        self.fitness_of, self.batch, self.selection, self.to_weights = fitness_of, batch, selection, to_weights
        self.accepted = 0  # refined members written back (their refined fitness was better)
        self.grad_steps = 0
        self.last: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def on_evaluation(self, opt, candidates, fitness) -> None:
        self.evaluated = (candidates, fitness)  # random search's members: its latest population

    def on_iteration(self, opt) -> None:
        if opt.run_state.stop_message is not None:
            return
        X, fitness = population_members(opt.state, getattr(self, "evaluated", None))
        m = min(self.members, len(X))
        idx = np.argsort(fitness, kind="stable")[:m]
        like = next(iter(self.module.parameters()))
        start, moments, evaluations = X[idx], None, m
        if self.adam == "continued":
            start, moments, evaluations = self._chain_starts(X[idx], fitness[idx], like)
        Z0 = torch.as_tensor(start, dtype=like.dtype, device=like.device)
        Z = adam_steps(self.module, Z0, self.x, self.y, self.loss, self.multilabel, self.steps, self.lr,
                       self.batch_size, self.rng, self.lb, self.ub, self.to_weights, moments)
        Z = np.clip(Z.cpu().numpy().astype(float), self.lb_np, self.ub_np)
        f = self.fitness_of(Z, *self.batch)
        if self.adam == "continued":
            self.chains, self.chains_f, self.chains_batch = Z, f, self.batch[0]
        self.grad_steps += m * self.steps
        if self.selection is not None:
            self.selection.grad_steps += m * self.steps
            self.selection.samples += m * self.steps * min(self.batch_size, len(self.x))
            self.selection.on_evaluation(opt, Z, f)  # the refined fitness evaluations: examples, iteration best
        better = f < fitness[idx]
        self.accepted += int(better.sum())
        self.last = (idx, Z, f, better)
        opt.replace_members(idx[better], Z[better], f[better], evaluations=evaluations)

    def _chain_starts(self, best: np.ndarray, best_f: np.ndarray, like: torch.Tensor):
        """Where the chains go on from (their own points, or better members), their moments, and
        the evaluations spent (the refined points, plus the chains re-measured on a new batch)."""
        m = len(best)
        if self.chains is None or len(self.chains) != m:
            self.moments = AdamMoments.fresh(torch.as_tensor(best, dtype=like.dtype, device=like.device))
            return best, self.moments, m
        evaluations = m
        if self.chains_batch is not self.batch[0]:  # the fitness batch was redrawn: compare on this one
            self.chains_f, self.chains_batch = self.fitness_of(self.chains, *self.batch), self.batch[0]
            evaluations += m
        restart = best_f < self.chains_f
        if restart.any():
            self.moments.reset(torch.as_tensor(restart, device=like.device))
            self.restarts += int(restart.sum())
        return np.where(restart[:, None], best, self.chains), self.moments, evaluations

    def state(self) -> dict[str, Any]:
        """JSON-able state for a checkpoint: the minibatch generator and the counts."""
        return {"rng": self.rng.bit_generator.state, "accepted": self.accepted, "grad_steps": self.grad_steps,
                "restarts": self.restarts, "chains_on_batch": self.chains_batch is self.batch[0]}

    def arrays(self) -> dict[str, np.ndarray]:
        """The continued chains for a checkpoint (none for fresh Adam, or before the first refinement)."""
        if self.chains is None:
            return {}
        return {"chains": self.chains, "chains_f": self.chains_f, "chains_m1": self.moments.m1.cpu().numpy(),
                "chains_m2": self.moments.m2.cpu().numpy(), "chains_steps": self.moments.steps.cpu().numpy()}

    def restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> None:
        self.rng.bit_generator.state = meta["rng"]
        self.accepted, self.grad_steps = int(meta["accepted"]), int(meta["grad_steps"])
        self.restarts = int(meta.get("restarts", 0))
        if arrays and "chains" in arrays:
            like = next(iter(self.module.parameters()))
            self.chains, self.chains_f = np.asarray(arrays["chains"]), np.asarray(arrays["chains_f"])
            # restored after the trainer's batch, which is the one chains_f was measured on unless it was redrawn since
            self.chains_batch = self.batch[0] if meta.get("chains_on_batch", True) else None
            self.moments = AdamMoments(*(torch.as_tensor(arrays[f"chains_{name}"], dtype=like.dtype, device=like.device)
                                         for name in ("m1", "m2", "steps")))
