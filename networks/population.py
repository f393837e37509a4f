"""A network as a flat parameter vector, and a whole population of them evaluated in one pass.

The optimizer's decision vector is the concatenation of ``module.named_parameters()`` (in that
order, each flattened row-major). :func:`batched_loss` evaluates ``P`` such vectors on one batch:
a module made of DeepResNet's layers by the compiled population pass of
:mod:`networks.population_pass`, any other module ``torch.fx`` can trace into known layers and
functions (subclasses included) by :mod:`networks.fx_pass` (both a few batched matrix products per
layer, in chunks of members sized to a memory budget), anything else with
``torch.func.functional_call`` inside ``torch.vmap``. No Python loop over members on either path.

**Population mode** (what :func:`batched_loss` runs in): the module is in eval mode (dropout off),
except that every batch-norm layer normalizes with the statistics of the batch it sees, per member,
and its running buffers are neither read nor written. A random weight vector has no running
statistics of its own, so batch statistics are the only meaningful ones while searching; after
training, :func:`calibrate_batch_norm` computes the running statistics of the chosen weights on the
training set so that inference in eval mode is per-example (see :mod:`networks.training`).

Only modules whose buffers all belong to batch-norm layers are accepted: any other buffer would be
shared by every member, which is wrong in general, so it is refused with its name.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F
from torch.nn.modules.batchnorm import _BatchNorm

from features.torchutil import torch_threads
from networks.resnet import probabilities
from networks.workspace import equal_chunks, recycled_buffers

__all__ = [
    "DEFAULT_MEMORY_BUDGET_MB", "DTYPES", "LOSSES", "batched_loss", "members_per_chunk", "population_program",
    "resolve_dtype", "calibrate_batch_norm", "flat_size", "load_flat", "loss_per_example",
    "parameter_bounds", "population_mode", "to_flat",
]

LOSSES = ("mse", "ce", "bce")


def _params(module: nn.Module) -> list[tuple[str, torch.Tensor]]:
    params = list(module.named_parameters())
    if not params:
        raise ValueError(f"{type(module).__name__} has no parameters to optimize")
    return params


def flat_size(module: nn.Module) -> int:
    """Number of entries of the flat vector: all parameters of ``module`` (shared ones once)."""
    return sum(p.numel() for _, p in _params(module))


def to_flat(module: nn.Module, as_numpy: bool = True):
    """The parameters as one vector: float64 numpy array by default, else a detached torch tensor."""
    flat = torch.cat([p.detach().reshape(-1) for _, p in _params(module)])
    return flat.cpu().double().numpy() if as_numpy else flat.clone()


def _as_tensor(values, like: torch.Tensor) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        return values.detach().to(device=like.device, dtype=like.dtype)
    return torch.as_tensor(np.asarray(values), dtype=like.dtype, device=like.device)


def load_flat(module: nn.Module, vector) -> nn.Module:
    """Copy a flat vector (numpy or torch) into ``module``'s parameters in place; returns ``module``."""
    params = _params(module)
    size = sum(p.numel() for _, p in params)
    flat = _as_tensor(vector, params[0][1])
    if flat.dim() != 1 or flat.numel() != size:
        raise ValueError(f"vector must have shape ({size},) for {type(module).__name__}, got {tuple(flat.shape)}")
    if not torch.isfinite(flat).all():
        raise ValueError(f"vector has {int((~torch.isfinite(flat)).sum())} non-finite entries")
    with torch.no_grad():
        offset = 0
        for _, p in params:
            n = p.numel()
            p.copy_(flat[offset:offset + n].view_as(p))
            offset += n
    return module


def parameter_bounds(module: nn.Module, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-parameter search box scaled to each layer ("scaled" bounds of the trainers).

    Convolution and linear weights: ``+-scale * sqrt(6 / fan_in)`` (He-uniform, ReLU gain);
    batch-norm scales: ``[0, 2 * scale]``; every other 1-D parameter (shifts, biases): ``+-scale``.
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    lower, upper = [], []
    bn_weights = {id(m.weight) for m in module.modules() if isinstance(m, _BatchNorm) and m.affine}
    for _, p in _params(module):
        if p.dim() >= 2:
            fan_in = p[0].numel()
            b = scale * np.sqrt(6.0 / fan_in)
            lo, hi = -b, b
        elif id(p) in bn_weights:
            lo, hi = 0.0, 2.0 * scale
        else:
            lo, hi = -scale, scale
        lower.append(np.full(p.numel(), lo))
        upper.append(np.full(p.numel(), hi))
    return np.concatenate(lower), np.concatenate(upper)


def _check_buffers(module: nn.Module) -> None:
    bn_buffers = set()
    for prefix, m in module.named_modules():
        if isinstance(m, _BatchNorm):
            bn_buffers.update(f"{prefix}.{b}" if prefix else b for b, _ in m.named_buffers(recurse=False))
    others = [name for name, _ in module.named_buffers() if name not in bn_buffers]
    if others:
        raise ValueError(
            f"{type(module).__name__} has buffer {others[0]!r} outside batch norm; population evaluation "
            "supports only batch-norm buffers (they would be shared by every member)"
        )


@contextlib.contextmanager
def population_mode(module: nn.Module):
    """Eval mode, except batch norm uses batch statistics and leaves its running buffers alone.

    Restores every submodule's ``training`` flag and batch norm's ``track_running_stats`` on exit.
    """
    _check_buffers(module)
    saved = [(m, m.training) for m in module.modules()]
    bns = [(m, m.track_running_stats) for m in module.modules() if isinstance(m, _BatchNorm)]
    try:
        module.eval()
        for m, _ in bns:
            m.train()
            m.track_running_stats = False  # forward then passes running_mean=None: batch stats, no update
        yield module
    finally:
        for m, flag in saved:
            m.training = flag
        for m, flag in bns:
            m.track_running_stats = flag


def _check_loss(loss: str) -> None:
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")


def loss_per_example(logits: torch.Tensor, y: torch.Tensor, loss: str, multilabel: bool) -> torch.Tensor:
    """Loss of each row, ``(..., n_classes) -> (...)``.

    ``mse``: the paper's fitness, the squared distance between the output probabilities (softmax, or
    sigmoid when ``multilabel``) and the target, summed over tags (the multi-class Brier score).
    ``ce``: cross-entropy matching the link (softmax cross-entropy, or binary cross-entropy averaged
    over tags when ``multilabel``). ``bce``: binary cross-entropy over sigmoid outputs, averaged over
    tags. For the softmax link a multi-hot target is normalized to sum to 1 (a tweet with two of the
    kept tags wants half the mass on each); an all-zero target row contributes 0 to ``ce``.
    """
    _check_loss(loss)
    if loss == "bce" or (loss == "ce" and multilabel):
        return F.binary_cross_entropy_with_logits(logits, y, reduction="none").mean(-1)
    if not multilabel:
        y = y / y.sum(-1, keepdim=True).clamp_min(1.0)
    if loss == "ce":
        return -(y * torch.log_softmax(logits, dim=-1)).sum(-1)
    return (probabilities(logits, multilabel) - y).pow(2).sum(-1)


def _multilabel(module: nn.Module, multilabel: bool | None) -> bool:
    return bool(getattr(module, "multilabel", False)) if multilabel is None else bool(multilabel)


def _data(x, y, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    xt, yt = _as_tensor(x, like), _as_tensor(y, like)
    if len(xt) != len(yt):
        raise ValueError(f"x has {len(xt)} rows but y has {len(yt)}")
    if len(xt) < 2:
        raise ValueError(f"need at least 2 examples per batch (batch norm statistics), got {len(xt)}")
    return xt, yt


DTYPES = {"float32": torch.float32, "float64": torch.float64}
DEFAULT_MEMORY_BUDGET_MB = 256.0
CACHE_BYTES = 6 << 20  # members per chunk keep each thread's widest activation near this size. Measured with the
# chunks' buffers recycled (networks.workspace; 2-core EPYC, 32 MB L3, one thread, ms per call at 4 / 6 /
# 8 / 16 MB): DeepResNet width 8, P = 64, batch 2,048: 234 / 206 / 226 / 252; width 16: 467 / 426 / 439 /
# 496; digits MLP 64-256-256-10, P = 256: 759 / 778 / 776 / 801; small MLPs and batch 256 alike within
# 5 %; experiments/chunk_cache.py reruns it (results/chunk_cache.txt: 6 MB within 8 % of the best
# everywhere). Before the recycling, 16 MB was best: each chunk's fresh outputs were page-faulted in.
# Per thread: batched_loss's two threads at 6 MB in all ran DeepResNet P = 64, batch 2,048 in 136 ms,
# at 6 MB each in 112 ms (experiments/bench_population.py).
LARGE_MEMBER_BYTES = 4 << 20  # but half of it where one member's widest activation exceeds this (an L2):
# scpo train at batch 6,869 ran 171 s / 586 MB peak RSS with 1-member chunks vs 199 s / 919 MB with 3
SPLIT_MIN_BATCH = 128  # below this batch the ops are too short for one Python thread per core: the
# threads queue on the GIL between ops (P = 64, batch 32, 2 cores: 5.7 ms split in two threads,
# 4.5 ms in one), so the chunks run in the calling thread on one torch thread (torch's own threads
# were faster on a quiet box, 2.7 ms, but 50 ms when the other core was busy: a barrier per op)
PATHS = ("auto", "fast", "vmap")
_FALLBACK_WARNED: set[str] = set()
_POOLS: dict[int, ThreadPoolExecutor] = {}


def resolve_dtype(dtype, default: torch.dtype) -> torch.dtype:
    """``None`` -> ``default``; ``"float32"``/``"float64"`` or the torch dtype; anything else refused."""
    if dtype is None:
        return default
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    if dtype in DTYPES.values():
        return dtype
    raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")


def _check_budget(memory_budget_mb) -> float:
    if isinstance(memory_budget_mb, bool) or not isinstance(memory_budget_mb, (int, float, np.integer, np.floating)) \
            or not memory_budget_mb > 0 or not np.isfinite(memory_budget_mb):
        raise ValueError(f"memory_budget_mb must be a positive number, got {memory_budget_mb!r}")
    return float(memory_budget_mb)


def _resnet_layers(module: nn.Module) -> bool:
    """Whether ``module`` holds the layers the banded/per-tap pass of :mod:`networks.population_pass`
    was built and tuned for (DeepResNet, its blocks, ``Conv1d``)."""
    from networks.resnet import DeepResNet, ResidualBlock

    return any(type(m) in (DeepResNet, ResidualBlock, nn.Conv1d) for m in module.modules())


def population_program(module: nn.Module, x_shape: tuple[int, ...]):
    """The population pass of ``module`` for inputs ``x_shape``, or the exception saying why there is none.

    DeepResNet's layers (``Conv1d`` signals, residual blocks) take the compiled pass of
    :mod:`networks.population_pass` (``program.kind == "compiled"``); any other module, subclasses
    included, the ``torch.fx`` pass of :mod:`networks.fx_pass` (``"fx"``; faster for MLPs and 2-D
    convolutions), each trying the other when it cannot take the module."""
    from networks.fx_pass import compile_fx
    from networks.population_pass import Unsupported, compile_population

    order = (compile_population, compile_fx) if _resnet_layers(module) else (compile_fx, compile_population)
    reasons = {}
    for compile_ in order:
        try:
            return compile_(module, tuple(x_shape))
        except Unsupported as exc:
            reasons[compile_] = exc
    return reasons[compile_fx]  # the general pass's reason


def members_per_chunk(program, batch: int, itemsize: int, memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
                      chunk_size: int | None = None, module_name: str = "the module", workers: int = 1) -> int:
    """Members evaluated together: as many as fit ``memory_budget_mb`` (estimated by
    ``program.bytes_per_member``), at most ``chunk_size``, and by default no more than keep the widest
    activation of each of ``workers`` threads near :data:`CACHE_BYTES` (the threads share the members
    in flight: :func:`_run_chunks`). A budget below one member is refused, naming what it needs."""
    budget = _check_budget(memory_budget_mb) * 2**20
    need = program.bytes_per_member(batch, itemsize)
    if need > budget:
        raise ValueError(
            f"memory_budget_mb={memory_budget_mb:g} is too small: one member of {module_name} needs "
            f"{need / 2**20:,.1f} MB at batch {batch:,} ({program.max_features:,} activations per example in its "
            f"widest layer); raise memory_budget_mb or lower the batch size"
        )
    fit = int(budget // need)
    if chunk_size is not None:
        return max(1, min(fit, int(chunk_size)))
    widest = max(1, batch * program.max_features * itemsize)
    per_thread = (CACHE_BYTES if widest <= LARGE_MEMBER_BYTES else CACHE_BYTES // 2) // widest
    return max(1, min(fit, max(1, per_thread) * workers))


def _target_t(yt: torch.Tensor, loss: str, multilabel: bool) -> torch.Tensor:
    """The target as :func:`loss_per_example` reads it, classes first: ``(n_classes, B)``."""
    if loss != "bce" and not multilabel:  # the softmax link wants a target summing to 1
        yt = yt / yt.sum(-1, keepdim=True).clamp_min(1.0)
    return yt.t().contiguous()


def _loss_t(logits_t: torch.Tensor, y_t: torch.Tensor, loss: str, multilabel: bool) -> torch.Tensor:
    """:func:`loss_per_example` of logits ``(p, n_classes, B)`` against :func:`_target_t`'s target,
    ``(p, B)``: the reductions over classes run along dimension 1 of the contiguous layout (a softmax
    over the strided last dimension of the transposed view is 3x slower)."""
    if loss == "bce" or (loss == "ce" and multilabel):
        return F.binary_cross_entropy_with_logits(logits_t, y_t.expand_as(logits_t), reduction="none").mean(1)
    if loss == "ce":
        return -(torch.log_softmax(logits_t, dim=1).mul_(y_t)).sum(1)
    probs = torch.sigmoid(logits_t) if multilabel else torch.softmax(logits_t, dim=1)
    return probs.sub_(y_t).square_().sum(1)


def _split_workers(device: torch.device, batch: int) -> int:
    """The Python threads :func:`_run_chunks` splits the members among: torch's thread count on the CPU
    from :data:`SPLIT_MIN_BATCH` examples, else 1."""
    threads = torch.get_num_threads()
    return threads if device.type == "cpu" and batch >= SPLIT_MIN_BATCH else 1


def _run_chunks(program, W: torch.Tensor, x_t: torch.Tensor, yt: torch.Tensor, loss: str, ml: bool,
                chunk: int) -> torch.Tensor:
    """Losses of every member, chunk by chunk. With ``torch.get_num_threads() = n > 1`` on the CPU the
    members are split in ``n`` groups run by ``n`` Python threads (torch releases the GIL), each op
    single-threaded: on a shared machine one descheduled OpenMP thread stalls every op's barrier,
    while independent threads keep going. Below :data:`SPLIT_MIN_BATCH` examples the ops are too
    short for that (the threads wait on the GIL) and the chunks run here on one thread. ``chunk``
    (the per-call member count from the budget) is divided among the threads, so the memory in
    flight stays within the budget."""

    y_t = _target_t(yt, loss, ml)

    def run(part: torch.Tensor, size: int) -> torch.Tensor:
        out = []
        with torch.no_grad(), recycled_buffers():
            for piece in equal_chunks(part, size):
                out.append(_loss_t(program.logits_t(piece, x_t), y_t, loss, ml).mean(1))
        return torch.cat(out)

    threads = torch.get_num_threads()
    if W.device.type == "cpu" and threads > 1 and x_t.shape[-1] < SPLIT_MIN_BATCH:
        with torch_threads(1):  # short ops: no OpenMP barrier per op either (a loaded box stalls it)
            return run(W, chunk)
    workers = min(_split_workers(W.device, x_t.shape[-1]), len(W), chunk)
    if workers <= 1:
        return run(W, chunk)
    size = max(1, chunk // workers)
    pool = _POOLS.get(workers)
    if pool is None:
        pool = _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="population-pass")

    def task(part: torch.Tensor) -> torch.Tensor:
        torch.set_num_threads(1)
        return run(part, size)

    try:
        return torch.cat(list(pool.map(task, torch.tensor_split(W, workers))))
    finally:
        torch.set_num_threads(threads)


def batched_loss(module: nn.Module, weights, x, y, loss: str = "mse", multilabel: bool | None = None,
                 chunk_size: int | None = None, dtype=None, memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
                 path: str = "auto") -> torch.Tensor:
    """Mean loss over the batch ``(x, y)`` of every member of a population, shape ``(P,)``.

    ``weights`` is ``(P, flat_size(module))`` (numpy or torch, cast to ``dtype`` and the module's
    device). Population mode: batch norm uses each member's batch statistics, dropout is off, and
    the module's buffers and parameters are unchanged. ``multilabel`` defaults to the module's
    ``multilabel`` attribute. ``dtype``: ``None`` (the module's), ``"float32"`` or ``"float64"``.

    ``path="auto"``: a module a population pass takes (:func:`population_program`: DeepResNet's
    layers, or any module ``torch.fx`` traces into the layers of :mod:`networks.fx_pass`) runs it,
    in chunks of whole members sized to ``memory_budget_mb`` (so batch-norm statistics are always
    over the whole batch); anything else runs ``torch.vmap`` over ``functional_call``
    (``chunk_size`` members per call) and warns once per module type. ``"fast"`` refuses a module
    it cannot compile; ``"vmap"`` forces the fallback.
    ``chunk_size`` caps the members per call on both paths. Returns a detached tensor.
    """
    _check_loss(loss)
    if path not in PATHS:
        raise ValueError(f"path must be one of {', '.join(PATHS)}, got {path!r}")
    params = _params(module)
    names = [n for n, _ in params]
    shapes = [p.shape for _, p in params]
    sizes = [p.numel() for _, p in params]
    dt = resolve_dtype(dtype, params[0][1].dtype)
    like = torch.empty(0, dtype=dt, device=params[0][1].device)
    W = _as_tensor(weights, like)
    if W.dim() == 1:
        W = W.unsqueeze(0)
    if W.dim() != 2 or W.shape[1] != sum(sizes):
        raise ValueError(f"weights must have shape (P, {sum(sizes)}), got {tuple(W.shape)}")
    xt, yt = _data(x, y, like)
    ml = _multilabel(module, multilabel)
    _check_buffers(module)
    _check_budget(memory_budget_mb)
    name = type(module).__name__
    if path != "vmap":
        program = population_program(module, tuple(xt.shape))
        if not isinstance(program, Exception):
            chunk = members_per_chunk(program, len(xt), xt.element_size(), memory_budget_mb, chunk_size, name,
                                      workers=_split_workers(xt.device, len(xt)))
            x_t = xt.reshape(len(xt), -1).t().contiguous()
            return _run_chunks(program, W, x_t, yt, loss, ml, chunk)
        if path == "fast":
            raise ValueError(f"{name} cannot take the population pass: {program}")
        if name not in _FALLBACK_WARNED:
            _FALLBACK_WARNED.add(name)
            warnings.warn(f"batched_loss: {name} is not made of the layers the population pass compiles "
                          f"({program}); using the slower vmap path", RuntimeWarning, stacklevel=2)
    target = module if dt == params[0][1].dtype else copy.deepcopy(module).to(dt)

    def member_loss(flat: torch.Tensor) -> torch.Tensor:
        tensors = {n: t.view(s) for n, t, s in zip(names, torch.split(flat, sizes), shapes, strict=True)}
        logits = functional_call(target, tensors, (xt,))
        return loss_per_example(logits, yt, loss, ml).mean()

    with torch.no_grad(), population_mode(target):
        fit = _vmap_members(target, xt, memory_budget_mb, name)
        return torch.vmap(member_loss, chunk_size=fit if chunk_size is None else min(fit, chunk_size))(W)


def _vmap_members(module: nn.Module, xt: torch.Tensor, memory_budget_mb: float, name: str) -> int:
    """Members per ``vmap`` call within ``memory_budget_mb``: one probe forward on two rows counts every
    submodule's output (twice: a layer's input and output are alive together) and the input, per example."""
    elems = [0]

    def count(_module, _inputs, output) -> None:
        if isinstance(output, torch.Tensor):
            elems[0] += output.numel()

    hooks = [m.register_forward_hook(count) for m in module.modules()]
    try:
        module(xt[:2])
    finally:
        for hook in hooks:
            hook.remove()
    need = (2 * elems[0] // 2 + xt[0].numel()) * xt.element_size() * len(xt)
    budget = memory_budget_mb * 2**20
    if need > budget:
        raise ValueError(f"memory_budget_mb={memory_budget_mb:g} is too small: one member of {name} needs about "
                         f"{need / 2**20:,.1f} MB at batch {len(xt):,}; raise memory_budget_mb or lower the batch size")
    return max(1, int(budget // need))


def calibrate_batch_norm(module: nn.Module, x, chunk_size: int = 4096) -> nn.Module:
    """Set every batch-norm layer's running statistics to those of ``x`` under the current weights.

    Resets the running buffers and forwards ``x`` in train mode with a cumulative average
    (``momentum=None``), in chunks of ``chunk_size`` rows; with one chunk the statistics are exactly
    the training set's. Leaves the module in eval mode. A module without batch norm is unchanged.
    """
    bns = [m for m in module.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    module.eval()
    if not bns:
        return module
    like = next(iter(module.parameters()))
    xt = _as_tensor(x, like)
    if len(xt) < 2:
        raise ValueError(f"need at least 2 rows to calibrate batch norm, got {len(xt)}")
    saved = [m.momentum for m in bns]
    try:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
            m.train()
        n_chunks = max(1, -(-len(xt) // chunk_size))
        with torch.no_grad():
            for part in torch.tensor_split(xt, n_chunks):
                if len(part) > 1:
                    module(part)
    finally:
        for m, mom in zip(bns, saved, strict=True):
            m.momentum = mom
        module.eval()
    return module
