"""Neuroevolution of any ``nn.Module``: a supervised problem over its flat weights, for every scpo algorithm.

:class:`SupervisedProblem` is a :class:`scpo.Problem` whose decision vector is the module's parameters
flattened in ``named_parameters()`` order (:func:`networks.population.to_flat`), and whose fitness is the
loss of each member of the population on the data (or on one seeded minibatch per evaluation call)::

    problem = SupervisedProblem(model, X, y, loss="cross_entropy", minibatch_size=256, seed=0)
    result = scpo.minimize(problem, algorithm="snes", x0=problem.x0, max_evals=20_000, seed=0)
    problem.accuracy(result.center), problem.loss(result.x)

The engine stays ignorant of networks: this module only hands it a vectorized objective and a box.
"""

from __future__ import annotations

import copy
import logging
import numbers
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F
from torch.nn.modules.batchnorm import _BatchNorm

from features.torchutil import torch_threads
from networks.population import (
    DEFAULT_MEMORY_BUDGET_MB,
    PATHS,
    _check_budget,
    load_flat,
    members_per_chunk,
    parameter_bounds,
    population_mode,
    population_program,
    resolve_dtype,
    to_flat,
)
from networks.workspace import equal_chunks, recycled_buffers
from scpo.problem import Problem

__all__ = ["LOSSES", "GymProblem", "SupervisedProblem"]

_LOG = logging.getLogger(__name__)

# name -> (torch.nn.functional loss of one member's outputs and the batch's targets, mean reduction;
# whether integer labels stay class indices (True) or become one-hot / 0-1 targets of the outputs' shape)
LOSSES: dict[str, tuple[Callable, bool]] = {
    "cross_entropy": (F.cross_entropy, True),
    "ce": (F.cross_entropy, True),
    "nll": (F.nll_loss, True),
    "mse": (F.mse_loss, False),
    "l1": (F.l1_loss, False),
    "smooth_l1": (F.smooth_l1_loss, False),
    "bce": (F.binary_cross_entropy_with_logits, False),
}


def _short(value) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _tensor(values, name: str) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        return values.detach()
    try:
        array = np.asarray(values)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array or tensor, got {_short(values)}") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, got dtype {array.dtype}")
    return torch.as_tensor(array)


class SupervisedProblem(Problem):
    """Minimize a network's loss on ``(X, y)`` over its flat weights; any ``nn.Module``, any input shape.

    ``X``: ``(N, ...)``, floats (cast to the evaluation dtype) or integers (token ids, kept as ``long``).
    ``y``: ``(N, ...)``; **integer class labels** (index the outputs' class dimension, dim 1 as in
    torch; for a one-output network they are the 0/1 targets themselves) or float targets of the
    outputs' shape (one-hot, probabilities, regression values; ``(N,)`` for ``(N, 1)`` outputs is fine).

    ``loss``: a name in :data:`LOSSES`, each ``torch.nn.functional``'s loss with its mean reduction on
    one member's outputs: ``"cross_entropy"`` / ``"ce"`` (labels or probabilities), ``"nll"`` (outputs
    are log-probabilities; labels), ``"mse"``, ``"l1"``, ``"smooth_l1"``, ``"bce"`` (with logits);
    for the last four integer labels are one-hot encoded, so labels and their one-hot rows give the
    same loss. Or a callable ``loss(outputs, targets) -> scalar`` on one member's outputs ``(B, ...)``
    and the batch's targets (as given: labels stay integers): it is applied to all members at once
    with ``torch.vmap`` (any ``torch.nn.functional`` loss works), or member by member, once it has
    failed under ``vmap`` (data-dependent Python control flow).

    ``minibatch_size``: ``None`` evaluates every call on all ``N`` examples; ``B`` draws, for each
    call of the objective (one ``ask`` of the engine: a generation, or each of PO/SCPO's two phases),
    ``B`` distinct rows that every member of that call is scored on. Call ``k`` (``generation``,
    counted from 0) uses ``numpy.random.default_rng([seed, k]).choice(N, B, replace=False)``
    (:meth:`batch_indices`), so runs are reproducible and the draw does not depend on the population.
    The serial executor only: parallel workers would each keep their own call counter. The counter is
    not part of an engine checkpoint: on resuming, set ``problem.generation`` to the calls already made
    to continue the same sequence.

    Bounds (``bounds``): the box is centred on the module's current weights ``w0``, so ``x0``
    (:attr:`x0`, the weights at construction, float64) is also the box centre, where SNES, PGPE,
    OpenAI-ES and sep-CMA-ES start by default (pass ``x0=problem.x0`` to say so, and for ``cmaes``,
    which otherwise starts from the best of a uniform population). ``"scaled"``
    (default, with ``bound_scale=1``): half-width ``sqrt(6 / fan_in)`` for weight matrices and
    kernels (He-uniform's bound, about 2.4 times PyTorch's default initial range), 1 for biases
    and other 1-D parameters (batch-norm scales included): :func:`networks.population.parameter_bounds`'
    widths, times ``bound_scale``. A number ``r``: ``[w0 - r, w0 + r]`` for every weight. A pair
    ``(lb, ub)`` (scalars or ``(D,)`` arrays): that absolute box, which must contain ``w0``.

    Evaluation: population mode (:func:`networks.population.population_mode`: dropout off, batch
    norm normalizes with each member's batch statistics; buffers other than batch norm's are
    refused). ``path="auto"``: a module a population pass takes
    (:func:`networks.population.population_program`: any module ``torch.fx`` traces into the layers
    and functions of :mod:`networks.fx_pass`, subclasses included, or DeepResNet's layers) runs it;
    anything else ``torch.vmap`` over ``torch.func.functional_call``. :attr:`pass_kind` says which
    ran (``"fx"``, ``"compiled"`` or ``"vmap"``) and :attr:`pass_reason` why a module fell back
    (also logged at INFO). Both run in chunks of members sized to ``memory_budget_mb``
    (the vmap path estimates a member's activations from one probe forward at construction);
    ``chunk_size`` caps the members per chunk. ``num_threads``: torch's intra-op threads while
    evaluating (``None``: unchanged; 1 is often faster for small networks on a shared machine).
    ``dtype``: ``None`` (the module's), ``"float32"`` or ``"float64"``. The module's own parameters
    are never changed, except by :meth:`load`.

    :meth:`loss` and :meth:`accuracy` score one weight vector (``result.x``, ``result.center``) on
    all the data, or on ``X=``/``y=`` given (held-out data).
    """

    reads_input_only = True  # the population is only read: the torch backend passes it without a copy

    def __init__(self, module: nn.Module, X, y, loss: str | Callable = "cross_entropy",
                 minibatch_size: int | None = None, *, seed: int = 0, bounds="scaled", bound_scale: float = 1.0,
                 dtype=None, memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB, chunk_size: int | None = None,
                 path: str = "auto", num_threads: int | None = None, name: str | None = None):
        if not isinstance(module, nn.Module):
            raise ValueError(f"module must be a torch.nn.Module, got {_short(module)}")
        if path not in PATHS:
            raise ValueError(f"path must be one of {', '.join(PATHS)}, got {path!r}")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {_short(seed)}")
        if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral)
                                       or chunk_size < 1):
            raise ValueError(f"chunk_size must be a positive integer or None, got {_short(chunk_size)}")
        self.module = module
        params = list(module.named_parameters())
        if not params:
            raise ValueError(f"{type(module).__name__} has no parameters to optimize")
        self._names = [n for n, _ in params]
        self._shapes = [p.shape for _, p in params]
        self._sizes = [p.numel() for _, p in params]
        self.dtype = resolve_dtype(dtype, params[0][1].dtype)
        self.device = params[0][1].device
        self.memory_budget_mb = _check_budget(memory_budget_mb)
        self.chunk_size = chunk_size
        with torch_threads(num_threads):  # checks it
            pass
        self.num_threads = num_threads
        self.seed = int(seed)
        self.generation = 0  # objective calls so far: the next call draws batch_indices(generation)
        self.last_batch: np.ndarray | None = None  # the rows of the last call's minibatch (None: all rows)
        self._target = module if self.dtype == params[0][1].dtype else copy.deepcopy(module).to(self.dtype)

        self.X = self._inputs(X, "X")
        self.loss_name, self._loss_fn, self._labels_as_indices = self._resolve_loss(loss)
        self._custom = not isinstance(loss, str)
        self._out_shape, self._bytes_per_example = self._probe()
        self.y = self._targets(y, len(self.X), "y")
        n = len(self.X)
        if minibatch_size is not None:
            if isinstance(minibatch_size, bool) or not isinstance(minibatch_size, numbers.Integral) \
                    or not 1 <= minibatch_size <= n:
                raise ValueError(f"minibatch_size must be an integer in [1, {n}] (the rows of X) or None, "
                                 f"got {_short(minibatch_size)}")
            if minibatch_size < 2 and self._has_batch_norm():
                raise ValueError(f"minibatch_size={minibatch_size}: batch norm needs at least 2 rows per batch")
            minibatch_size = int(minibatch_size)
        self.minibatch_size = minibatch_size
        self._program = None
        self.pass_reason = "path='vmap' asked for"
        if path != "vmap" and not self.X.is_floating_point():
            self.pass_reason = f"integer inputs ({self.X.dtype}): the population pass takes float inputs"
        elif path != "vmap":
            program = population_program(self._target, tuple(self.X.shape))
            if not isinstance(program, Exception):
                self._program = program
            elif path == "fast":
                raise ValueError(f"{type(module).__name__} cannot take the population pass: {program}")
            else:
                self.pass_reason = str(program)
        self.path = "fast" if self._program is not None else "vmap"
        self.pass_kind = self._program.kind if self._program is not None else "vmap"
        if self._program is not None:
            self.pass_reason = ""
        else:
            _LOG.info("SupervisedProblem: %s runs the vmap fallback: %s", type(module).__name__, self.pass_reason)
        self._vmap_loss_ok = True

        w0 = to_flat(module)
        lb, ub = self._box(bounds, bound_scale, w0)
        self.x0 = w0
        label = name or f"{type(module).__name__}/{self.loss_name}"
        super().__init__(objective=self._population_loss, lb=lb, ub=ub, vectorized=True, name=label)

    # ----------------------------------------------------------------- construction

    def _inputs(self, X, name: str) -> torch.Tensor:
        xt = _tensor(X, name)
        if xt.dim() < 1 or len(xt) < 1:
            raise ValueError(f"{name} must have at least one row, got shape {tuple(xt.shape)}")
        if xt.is_floating_point():
            xt = xt.to(dtype=self.dtype)
            if not torch.isfinite(xt).all():
                raise ValueError(f"{name} has {int((~torch.isfinite(xt)).sum())} non-finite entries")
        elif xt.dtype == torch.bool:
            xt = xt.to(dtype=self.dtype)
        else:
            xt = xt.long()
        return xt.to(self.device)

    @staticmethod
    def _resolve_loss(loss) -> tuple[str, Callable, bool]:
        if callable(loss):
            return getattr(loss, "__name__", type(loss).__name__), loss, True
        if isinstance(loss, str) and loss in LOSSES:  # (a str is not callable)
            fn, indices = LOSSES[loss]
            return loss, fn, indices
        raise ValueError(f"loss must be one of {', '.join(LOSSES)} or a callable (outputs, targets) -> scalar, "
                         f"got {_short(loss)}")

    def _has_batch_norm(self) -> bool:
        return any(isinstance(m, _BatchNorm) for m in self.module.modules())

    def _probe(self) -> tuple[tuple[int, ...], int]:
        """One forward of the module's own weights on the first rows: the outputs' shape per example,
        and the bytes of activations one example costs one member (every submodule's outputs)."""
        rows = self.X[:2] if len(self.X) >= 2 else self.X
        if len(rows) < 2 and self._has_batch_norm():
            raise ValueError("batch norm needs at least 2 rows of X")
        elems = [0]

        def count(_module, _inputs, output) -> None:
            if isinstance(output, torch.Tensor):
                elems[0] += output.numel()

        hooks = [m.register_forward_hook(count) for m in self._target.modules()]
        try:
            with torch.no_grad(), population_mode(self._target):
                out = self._target(rows)
        except ValueError:
            raise
        except Exception as exc:  # the module cannot take X: say so in one line
            raise ValueError(f"{type(self.module).__name__} cannot take X of shape {tuple(self.X.shape)}: "
                             f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
        finally:
            for hook in hooks:
                hook.remove()
        if not isinstance(out, torch.Tensor) or out.dim() < 1 or len(out) != len(rows):
            raise ValueError(f"{type(self.module).__name__} must return one tensor with a row per example, "
                             f"got {type(out).__name__}")
        itemsize = torch.empty(0, dtype=self.dtype).element_size()
        per_example = 2 * elems[0] * itemsize // len(rows) + self.X[0].numel() * itemsize
        return tuple(out.shape[1:]), max(1, int(per_example))

    @property
    def n_classes(self) -> int:
        """Size of the outputs' class dimension (1 for one output per example)."""
        return int(self._out_shape[0]) if self._out_shape else 1

    def _targets(self, y, n: int, name: str) -> torch.Tensor:
        yt = _tensor(y, name)
        if yt.dim() < 1 or len(yt) != n:
            raise ValueError(f"{name} has {len(yt) if yt.dim() else 'no'} rows but X has {n}")
        out = self._out_shape
        single = out in ((), (1,))
        integer = not yt.is_floating_point() and yt.dtype != torch.bool
        if self._custom:  # the callable gets the targets as given: labels stay integers
            return yt.long().to(self.device) if integer else yt.to(device=self.device, dtype=self.dtype)
        if integer:
            yt = yt.long()
            if single:
                bad = yt[(yt != 0) & (yt != 1)]
                if len(bad):
                    raise ValueError(f"{name} has label {int(bad[0])} but {type(self.module).__name__} has one "
                                     "output per example: labels must be 0 or 1")
            else:
                low, high = int(yt.min()), int(yt.max())
                if low < 0 or high >= self.n_classes:
                    raise ValueError(f"{name} has class label {low if low < 0 else high} but "
                                     f"{type(self.module).__name__} outputs {self.n_classes} classes (0..."
                                     f"{self.n_classes - 1})")
                if tuple(yt.shape[1:]) != tuple(out[1:]):
                    raise ValueError(f"{name}'s labels have shape {tuple(yt.shape)}; outputs {(n, *out)} need "
                                     f"labels of shape {(n, *out[1:])}")
            yt = yt.to(self.device)
            if self._labels_as_indices and not single:
                return yt
            if single:
                return yt.to(self.dtype).reshape(n, *out)
            return F.one_hot(yt, self.n_classes).movedim(-1, 1).to(self.dtype)
        yt = yt.to(device=self.device, dtype=self.dtype)
        if self._loss_fn is F.nll_loss:
            raise ValueError(f"loss 'nll' needs integer class labels, got {name} of dtype float")
        if tuple(yt.shape[1:]) != tuple(out):
            if yt.numel() == n * int(np.prod(out, dtype=int)) and single:
                return yt.reshape(n, *out)
            raise ValueError(f"{name} has shape {tuple(yt.shape)} but the outputs are {(n, *out)}: give float "
                             "targets of the outputs' shape, or integer class labels")
        return yt

    def _box(self, bounds, bound_scale, w0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(bounds, str):
            if bounds != "scaled":
                raise ValueError(f"bounds must be 'scaled', a radius r or a pair (lb, ub), got {bounds!r}")
            lo, hi = parameter_bounds(self.module, bound_scale)
            half = (hi - lo) / 2
            return w0 - half, w0 + half
        if isinstance(bounds, numbers.Real) and not isinstance(bounds, bool):
            if not 0 < bounds < np.inf:
                raise ValueError(f"bounds radius must be a positive number, got {bounds!r}")
            return w0 - float(bounds), w0 + float(bounds)
        try:
            lb, ub = bounds
        except (TypeError, ValueError):
            raise ValueError(f"bounds must be 'scaled', a radius r or a pair (lb, ub), got {_short(bounds)}") from None
        lb = np.broadcast_to(np.asarray(lb, dtype=float), w0.shape).copy()
        ub = np.broadcast_to(np.asarray(ub, dtype=float), w0.shape).copy()
        outside = np.flatnonzero((w0 < lb) | (w0 > ub))
        if outside.size:
            i = int(outside[0])
            raise ValueError(f"bounds leave the module's weight {i} ({w0[i]:.4g}) outside [{lb[i]:.4g}, {ub[i]:.4g}]: "
                             "widen them, or use bounds='scaled' or a radius (boxes centred on the weights)")
        return lb, ub

    # ----------------------------------------------------------------- evaluation

    def batch_indices(self, generation: int) -> np.ndarray | None:
        """The rows objective call ``generation`` scores every member on (``None``: all rows)."""
        if self.minibatch_size is None:
            return None
        rng = np.random.default_rng([self.seed, int(generation)])
        return np.sort(rng.choice(len(self.X), self.minibatch_size, replace=False))

    def _weights(self, population) -> torch.Tensor:
        if isinstance(population, torch.Tensor):
            W = population.detach().to(device=self.device, dtype=self.dtype)
        else:
            W = torch.as_tensor(np.asarray(population, dtype=float), dtype=self.dtype, device=self.device)
        if W.dim() == 1:
            W = W.unsqueeze(0)
        D = sum(self._sizes)
        if W.dim() != 2 or W.shape[1] != D:
            raise ValueError(f"weights must have shape (P, {D}) or ({D},), got {tuple(W.shape)}")
        return W

    def _chunk(self, batch: int) -> int:
        if self._program is not None:
            itemsize = torch.empty(0, dtype=self.dtype).element_size()
            return members_per_chunk(self._program, batch, itemsize, self.memory_budget_mb, self.chunk_size,
                                     type(self.module).__name__)
        need = self._bytes_per_example * batch
        budget = self.memory_budget_mb * 2**20
        if need > budget:
            raise ValueError(f"memory_budget_mb={self.memory_budget_mb:g} is too small: one member of "
                             f"{type(self.module).__name__} needs about {need / 2**20:,.1f} MB at batch {batch:,}; "
                             "raise memory_budget_mb or set a minibatch_size")
        fit = max(1, int(budget // need))
        return fit if self.chunk_size is None else min(fit, self.chunk_size)

    def _outputs(self, W: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``(p, B, ...)`` of a chunk of members ``W (p, D)`` on inputs ``x (B, ...)``."""
        if self._program is not None:
            return self._program.outputs(W, x)
        names, sizes, shapes = self._names, self._sizes, self._shapes

        def member(flat: torch.Tensor) -> torch.Tensor:
            tensors = {n: t.view(s) for n, t, s in zip(names, torch.split(flat, sizes), shapes, strict=True)}
            return functional_call(self._target, tensors, (x,))

        with population_mode(self._target):
            return torch.vmap(member)(W)

    def _member_losses(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The loss of each member's outputs ``(p, B, ...)``: one ``vmap``, or (a callable that fails
        under ``vmap``) one call per member. Cross-entropy / NLL on class labels is one call with the classes
        in dimension 1 (``(p, C, B)``, torch's layout for extra dimensions): the population pass's narrow
        last layer gives that tensor contiguous, where a log-softmax over the last dimension of its
        transposed view is several times slower."""
        if not self._custom and self._loss_fn in (F.cross_entropy, F.nll_loss) and outputs.dim() == 3 \
                and targets.dim() == 1 and not targets.is_floating_point():
            p, b = outputs.shape[:2]
            values = self._loss_fn(outputs.transpose(1, 2), targets.expand(p, b), reduction="none")
            return values.mean(1)
        if self._vmap_loss_ok:
            try:
                values = torch.vmap(self._loss_fn, in_dims=(0, None))(outputs, targets)
            except Exception:
                if not self._custom:
                    raise
                self._vmap_loss_ok = False
            else:
                return values.reshape(len(outputs), -1).mean(1) if values.dim() > 1 else values.reshape(-1)
        return torch.stack([torch.as_tensor(self._loss_fn(o, targets)).reshape(()) for o in outputs])

    def _scores(self, W: torch.Tensor, x: torch.Tensor, y: torch.Tensor, what: Callable) -> torch.Tensor:
        out = []
        with torch.no_grad(), torch_threads(self.num_threads), recycled_buffers():
            for piece in equal_chunks(W, self._chunk(len(x))):
                out.append(what(self._outputs(piece, x), y).to(W.dtype))
        return torch.cat(out)

    def _population_loss(self, population):
        """The objective: each member's loss on this call's minibatch (all rows without one)."""
        W = self._weights(population)
        rows = self.batch_indices(self.generation)
        self.generation += 1
        self.last_batch = rows
        if rows is None:
            x, y = self.X, self.y
        else:
            index = torch.as_tensor(rows, device=self.device)
            x, y = self.X[index], self.y[index]
        losses = self._scores(W, x, y, self._member_losses)
        if isinstance(population, torch.Tensor):
            return losses.to(device=population.device, dtype=population.dtype if population.is_floating_point()
                             else torch.float64)
        return losses.double().cpu().numpy()

    def _data(self, X, y) -> tuple[torch.Tensor, torch.Tensor]:
        if (X is None) != (y is None):
            raise ValueError("give both X and y (held-out data), or neither (the problem's data)")
        if X is None:
            return self.X, self.y
        x = self._inputs(X, "X")
        return x, self._targets(y, len(x), "y")

    def loss(self, w, X=None, y=None) -> float:
        """The loss of one weight vector ``w (D,)`` on all the problem's rows (or on ``X``, ``y``)."""
        x, yt = self._data(X, y)
        return float(self._scores(self._weights(w)[:1], x, yt, self._member_losses)[0])

    def _correct(self, outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Share of correct predictions of each member: argmax over the class dimension (dim 1 of an
        example's outputs, torch's), or a positive logit for a one-output network."""
        p = len(outputs)
        if self._out_shape in ((), (1,)):
            pred = outputs.reshape(p, len(y), -1) > 0
            truth = y.reshape(1, len(y), -1) > 0.5
        else:
            pred = outputs.argmax(2)
            truth = (y if not y.is_floating_point() else y.argmax(1)).unsqueeze(0)
        return (pred == truth).reshape(p, -1).to(outputs.dtype).mean(1)

    def accuracy(self, w, X=None, y=None) -> float:
        """Share of rows of the problem's data (or ``X``, ``y``) that one weight vector ``w`` classifies right."""
        x, yt = self._data(X, y)
        return float(self._scores(self._weights(w)[:1], x, yt, self._correct)[0])

    def load(self, w) -> nn.Module:
        """Copy weight vector ``w`` into the module (in place) and return it, e.g. ``problem.load(result.center)``."""
        return load_flat(self.module, w)

    def __repr__(self) -> str:
        return (f"SupervisedProblem({type(self.module).__name__}, {len(self.X)} rows, loss={self.loss_name!r}, "
                f"minibatch_size={self.minibatch_size}, dim={self.dim}, path={self.path!r})")


class GymProblem(Problem):
    """Reinforcement learning as a :class:`scpo.Problem`: a policy network's flat weights -> minus its mean
    episode return in a gymnasium environment (returns are maximised by minimising their negation).

    ``env_id``: a registered gymnasium id (the ``gym`` extra: ``pip install scpo[gym]``); ``module``: the
    policy, ``(B, obs_dim) -> (B, outputs)``: for a discrete action space the action is the argmax of its
    ``n`` outputs, for a box the outputs are the action, clipped to its bounds. One objective call runs
    the whole population at once: one vectorized environment of ``P x episodes`` copies, stepped together,
    with every member's network evaluated in one batched call per step: the ``torch.fx`` pass of
    :mod:`networks.fx_pass` with each member on its own observations (``pass_kind == "fx"``), or, for a
    policy it cannot trace, ``torch.func.functional_call`` under ``vmap`` (``"vmap"``). An episode ends at
    termination, truncation (the environment's time limit) or ``max_steps``; a finished copy's later rewards
    are ignored.

    Episodes are seeded: call ``k`` (a generation) resets episode ``e`` of every member with the seed
    ``(seed, k, e)``, so the members of a generation meet the same starting states (common random numbers)
    and a run is reproducible. ``observation_normalization=True`` (default off, as in EvoTorch, so that a
    policy evolved with the defaults runs as it is) standardises observations by running statistics of
    every observation seen so far (``obs_mean``, ``obs_std``; use them when running the policy later).

    The box and ``x0`` (the module's current weights, the box's centre) are those of
    :class:`SupervisedProblem` (``bounds="scaled"``, a radius or a pair). :meth:`episode_return` scores one
    weight vector (e.g. ``result.center``) on fresh seeded episodes.
    """

    reads_input_only = True

    def __init__(self, env_id: str, module: nn.Module, episodes: int = 1, max_steps: int | None = None, *,
                 observation_normalization: bool = False, seed: int = 0, bounds="scaled", bound_scale: float = 1.0,
                 name: str | None = None):
        try:
            import gymnasium
        except ImportError:
            raise ValueError("GymProblem needs gymnasium: pip install scpo[gym]") from None
        if not isinstance(module, nn.Module) or not list(module.parameters()):
            raise ValueError(f"module must be a torch.nn.Module with parameters, got {_short(module)}")
        for label, value, low in (("episodes", episodes, 1), ("max_steps", max_steps, 1), ("seed", seed, 0)):
            if value is None and label == "max_steps":
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise ValueError(f"{label} must be an integer >= {low}, got {_short(value)}")
        try:
            probe = gymnasium.make(env_id)
        except Exception as exc:  # gymnasium's own errors name the id; keep them to one line
            raise ValueError(f"env_id {env_id!r}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
        self.env_id, self.module, self.episodes, self.max_steps = env_id, module, int(episodes), max_steps
        self.observation_space, self.action_space = probe.observation_space, probe.action_space
        probe.close()
        self.discrete = isinstance(self.action_space, gymnasium.spaces.Discrete)
        if not self.discrete and not isinstance(self.action_space, gymnasium.spaces.Box):
            raise ValueError(f"env_id {env_id!r}: action space {self.action_space} is neither Discrete nor Box")
        self.observation_normalization, self.seed = bool(observation_normalization), int(seed)
        obs_dim = int(np.prod(self.observation_space.shape))
        self.obs_count, self.obs_mean, self.obs_m2 = 0, np.zeros(obs_dim), np.zeros(obs_dim)
        self.generation = 0
        self._envs: dict[int, object] = {}
        self._params = dict(module.named_parameters())
        self._shapes = {k: p.shape for k, p in self._params.items()}
        self._dtype = next(iter(self._params.values())).dtype
        w0 = to_flat(module)
        lb, ub = SupervisedProblem._box(self, bounds, bound_scale, w0)
        self.x0 = w0
        self._program = self._member_program(obs_dim)
        self.pass_kind = "fx" if self._program is not None else "vmap"  # how the policies run each step
        outputs = self._forward(torch.as_tensor(w0[None], dtype=self._dtype),
                                torch.zeros((1, 1, obs_dim), dtype=self._dtype)).shape[-1]
        wanted = self.action_space.n if self.discrete else int(np.prod(self.action_space.shape))
        if outputs != wanted:
            raise ValueError(f"module gives {outputs} outputs, the action space {self.action_space} needs {wanted}")
        super().__init__(objective=self._population_loss, lb=lb, ub=ub, vectorized=True,
                         name=name or f"{env_id}/{type(module).__name__}")

    @property
    def obs_std(self) -> np.ndarray:
        """Running standard deviation of the observations seen (1 where there is no spread yet)."""
        if self.obs_count < 2:
            return np.ones_like(self.obs_mean)
        std = np.sqrt(self.obs_m2 / (self.obs_count - 1))
        return np.where(std > 1e-8, std, 1.0)

    def _member_program(self, obs_dim: int):
        """The ``torch.fx`` pass of the policy with each member on its own observations (one batched product
        per layer: a step of 32 CartPole policies 4-16-2 is 4x faster: experiments/workspace_faults.py),
        if it traces and agrees with the ``vmap`` path on a seeded probe; ``None`` (the ``vmap`` path) otherwise."""
        from networks.fx_pass import compile_fx
        from networks.population_pass import Unsupported

        gen = torch.Generator().manual_seed(0)
        w0 = torch.as_tensor(self.x0, dtype=self._dtype)
        W = torch.stack([w0, w0 + 0.1 * torch.randn(w0.shape, generator=gen, dtype=torch.float64).to(self._dtype)])
        obs = torch.randn((2, 3, obs_dim), generator=gen, dtype=torch.float64).to(self._dtype)
        try:
            program = compile_fx(self.module, (3, obs_dim))
            with torch.no_grad():
                got = program.member_outputs(W, obs)
            expected = self._vmap_forward(W, obs)
        except (Unsupported, RuntimeError, ValueError, TypeError):
            return None
        tol = 1e-9 if self._dtype == torch.float64 else 1e-4
        if got.shape != expected.shape or not torch.allclose(got, expected, rtol=tol, atol=tol):
            return None
        return program

    def _forward(self, W: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        """Outputs of every member ``W[i]`` on its own observations ``obs[i]``: ``(P, B, obs) -> (P, B, out)``."""
        if self._program is not None:
            with torch.no_grad():
                return self._program.member_outputs(W, obs)
        return self._vmap_forward(W, obs)

    def _vmap_forward(self, W: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        def member(flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            params, offset = {}, 0
            for key, shape in self._shapes.items():
                size = int(np.prod(shape))
                params[key] = flat[offset: offset + size].reshape(shape)
                offset += size
            return functional_call(self.module, params, (x,))

        with torch.no_grad():
            return torch.vmap(member)(W, obs)

    def _environment(self, copies: int):
        if copies not in self._envs:
            import gymnasium

            self._envs = {copies: gymnasium.make_vec(self.env_id, num_envs=copies, vectorization_mode="sync")}
        return self._envs[copies]

    def _normalise(self, obs: np.ndarray, alive: np.ndarray) -> np.ndarray:
        if not self.observation_normalization:
            return obs
        seen = obs[alive]
        if len(seen):  # Chan et al.'s merge of the running moments with this step's
            n, mean = len(seen), seen.mean(0)
            total = self.obs_count + n
            delta = mean - self.obs_mean
            self.obs_m2 = self.obs_m2 + ((seen - mean) ** 2).sum(0) + delta**2 * self.obs_count * n / total
            self.obs_mean, self.obs_count = self.obs_mean + delta * n / total, total
        return (obs - self.obs_mean) / self.obs_std

    def returns(self, W, generation: int) -> np.ndarray:
        """Mean return of every member of ``W`` ``(P, D)`` over ``episodes`` episodes seeded by ``generation``."""
        W = torch.as_tensor(np.asarray(W, dtype=float), dtype=self._dtype)
        P, E = len(W), self.episodes
        env = self._environment(P * E)
        seeds = [int(s) for s in np.random.SeedSequence([self.seed, int(generation)]).generate_state(E)]
        obs, _ = env.reset(seed=[seeds[e] for _ in range(P) for e in range(E)])
        total, alive = np.zeros(P * E), np.ones(P * E, dtype=bool)
        limit = self.max_steps or np.inf
        steps = 0
        while alive.any() and steps < limit:
            x = self._normalise(np.asarray(obs, dtype=float).reshape(P * E, -1), alive)
            out = self._forward(W, torch.as_tensor(x, dtype=self._dtype).reshape(P, E, -1)).reshape(P * E, -1)
            if self.discrete:
                action = out.argmax(-1).numpy()
            else:
                low, high = self.action_space.low.reshape(-1), self.action_space.high.reshape(-1)
                action = np.clip(out.double().numpy(), low, high).reshape((P * E, *self.action_space.shape))
            obs, reward, terminated, truncated, _ = env.step(action)
            total += np.where(alive, reward, 0.0)
            alive &= ~(np.asarray(terminated) | np.asarray(truncated))
            steps += 1
        return total.reshape(P, E).mean(1)

    def _population_loss(self, population) -> np.ndarray:
        generation, self.generation = self.generation, self.generation + 1
        return -self.returns(population, generation)

    def episode_return(self, w, episodes: int = 10, seed: int = 12345) -> float:
        """Mean return of one weight vector over ``episodes`` fresh episodes (seeded by ``seed``, apart from the
        generations' seeds); running observation statistics are used, not updated."""
        saved = (self.episodes, self.seed, self.observation_normalization)
        stats = (self.obs_count, self.obs_mean.copy(), self.obs_m2.copy())
        try:
            self.episodes, self.seed = int(episodes), int(seed)
            return float(self.returns(np.asarray(w, dtype=float)[None], 0)[0])
        finally:
            self.episodes, self.seed, self.observation_normalization = saved
            self.obs_count, self.obs_mean, self.obs_m2 = stats

    def __repr__(self) -> str:
        return (f"GymProblem({self.env_id!r}, {type(self.module).__name__}, episodes={self.episodes}, "
                f"max_steps={self.max_steps}, observation_normalization={self.observation_normalization}, "
                f"dim={self.dim})")

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs = {}
        super().close()
