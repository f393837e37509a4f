"""Output buffers recycled across the chunks of one population call.

A population pass evaluates its members a chunk at a time, and each chunk's layers write outputs of
the same shapes as the previous chunk's. Allocated afresh, every such output of a few MB comes
from the C allocator's ``mmap`` and its pages are faulted in again on first write: at 85k weights,
population 256 (digits, 1,347 examples, chunks of 12) that is 170,000 page faults and about a third
of a generation's time spent in the kernel, and the freed blocks fragment the heap, so the peak
resident memory grows too. Inside :func:`recycled_buffers`, :func:`empty` hands out (the first
elements of) a buffer of about the requested size that no live tensor uses any more (torch's storage
use count tells), so the chunks after the first write into memory already mapped. A buffer still
read by anything (a view kept by the caller, the value of a later layer) is never handed out. Outside
the context, :func:`empty` is ``torch.empty``. The pool is per thread (the chunk loop may run in
several) and dies with the context.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["baddbmm", "bmm", "empty", "equal_chunks", "mm", "recycled_buffers"]

_LOCAL = threading.local()
SLACK = 2  # a free buffer serves a request of at least 1/SLACK of its size: the callers split their members
# into chunks of equal size (torch.tensor_split), so the last chunks are at most one member short and write
# into the first chunks' buffers, and the pool never holds more than one chunk's outputs
_USE_COUNT = getattr(torch._C, "_storage_Use_Count", None)  # absent in a future torch: no recycling


def _unused(buf: torch.Tensor) -> bool:
    """Whether only the pool holds ``buf``'s memory (the count includes the temporary storage object)."""
    return _USE_COUNT(buf.untyped_storage()._cdata) <= 2


@contextmanager
def recycled_buffers() -> Iterator[None]:
    """Recycle :func:`empty`'s buffers in this thread until the context exits (nested: the outer pool)."""
    if getattr(_LOCAL, "pool", None) is not None or _USE_COUNT is None:
        yield
        return
    _LOCAL.pool = []
    try:
        yield
    finally:
        _LOCAL.pool = None


def equal_chunks(W: torch.Tensor, most: int) -> tuple[torch.Tensor, ...]:
    """``W``'s rows in the fewest chunks of at most ``most`` rows, their sizes differing by one at most
    (10 rows, 3 at most: 3, 3, 2, 2; ``torch.split`` would end on a chunk of 1, whose outputs the pool could
    not fit into the others' buffers)."""
    return torch.tensor_split(W, max(1, math.ceil(len(W) / most)))


def _new(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """A fresh buffer (in a pool, flat: recycled ones are handed out as views of their first elements)."""
    return torch.empty(shape, dtype=like.dtype, device=like.device)


def empty(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """An uninitialised contiguous tensor of ``shape`` with ``like``'s dtype and device: when a pool is open,
    the first elements of a free buffer of at most :data:`SLACK` times its size, else a new buffer."""
    pool = getattr(_LOCAL, "pool", None)
    if pool is None:
        return _new(shape, like)
    n = math.prod(shape)
    fits = [buf for buf in pool if n <= buf.numel() <= SLACK * n and buf.dtype == like.dtype
            and buf.device == like.device and _unused(buf)]
    if fits:  # the snuggest: a chunk's outputs reuse the larger chunk's before them
        buf = min(fits, key=lambda b: b.numel())
    else:
        buf = _new((n,), like)
        pool.append(buf)
    return buf[:n].view(shape)  # a new tensor on the storage: it counts as a use while the caller holds it


def _recycle(*tensors: torch.Tensor) -> bool:
    """Whether a product may write into a recycled buffer: a pool is open, and autograd records nothing
    (``out=`` products are not differentiable)."""
    if getattr(_LOCAL, "pool", None) is None:
        return False
    return not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))


def mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for matrices, into a recycled buffer when :func:`_recycle` allows."""
    if not _recycle(a, b):
        return torch.mm(a, b)
    return torch.mm(a, b, out=empty((a.shape[0], b.shape[1]), a))


def bmm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for batches of matrices, into a recycled buffer when :func:`_recycle` allows."""
    if not _recycle(a, b):
        return torch.bmm(a, b)
    return torch.bmm(a, b, out=empty((a.shape[0], a.shape[1], b.shape[2]), a))


def baddbmm(bias: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``bias + a @ b`` for batches of matrices (``bias`` broadcast), into a recycled buffer when
    :func:`_recycle` allows."""
    if not _recycle(bias, a, b):
        return torch.baddbmm(bias, a, b)
    return torch.baddbmm(bias, a, b, out=empty((a.shape[0], a.shape[1], b.shape[2]), a))
