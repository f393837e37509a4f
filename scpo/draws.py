"""Counter-based draws (``draws="counter"``): every random number a pure function of (seed, key), on any backend.

A draw is splitmix64's output function (:func:`mix64`, the numba kernels' generator,
:mod:`scpo.backends.numba_kernels`) applied to a counter: element ``[i, j]`` of a call's array is
``mix64(mix64(key + (i + 1) * golden) + (j + 1) * golden)``, where ``key`` hashes (run seed, iteration,
phase) on the host and ``(i, j)`` is the element's (row, slot). Nothing is consumed from a stream, so:

- numpy (uint64 arithmetic), torch on cpu or cuda (int64 with wrap-around multiply and masked logical
  shifts, computed on the device: no host round trip) and numba's ``fill_uniform`` kernel give the same
  64 bits for a key, and so the same uniforms (the top 53 bits times 2^-53, exact in float64);
- a run's numbers depend on its seed alone, not on the backend, the thread count or the order in which
  an implementation asks for them: one seed gives the same run on every backend, to float rounding
  (the algorithms' arithmetic differs in rounding only: libm's sin/cos/log, fused operations);
- checkpoint/resume needs no generator state: the key derives from the iteration.

An algorithm asks through its context: ``ctx.random(shape, phase)``, ``ctx.uniform(shape, phase)`` (in the
box), ``ctx.normal(shape, phase)`` and ``ctx.integers(low, high, size, phase)``. ``phase`` names the
draw inside one iteration (two draws of one iteration need two names); with the other draws (``"native"``,
``"numpy"``) the context takes the numbers from the run's numpy Generator in call order and ignores it.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

MASK = (1 << 64) - 1
GOLDEN, MIX1, MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def mix64(z: int) -> int:
    """splitmix64's output function on Python ints (a bijection of 64-bit integers with full avalanche)."""
    z = ((z ^ (z >> 30)) * MIX1) & MASK
    z = ((z ^ (z >> 27)) * MIX2) & MASK
    return z ^ (z >> 31)


def run_key(seed: int) -> int:
    """The run's 64-bit key (the numba backend's, :func:`scpo.backends.numba_backend.run_key`)."""
    return int(np.random.SeedSequence([seed, 0x5C90]).generate_state(1, np.uint64)[0])


def call_key(key: int, t: int, phase: str) -> int:
    """The key of one draw: run key, iteration ``t`` and ``phase`` hashed together (host integers)."""
    tag = ((t & 0xFFFFFFFF) << 32) | zlib.crc32(phase.encode())
    return mix64((key + mix64((tag + GOLDEN) & MASK) * GOLDEN) & MASK)


def _signed(value: int) -> int:
    """A 64-bit pattern as torch's int64 holds it."""
    return value - (1 << 64) if value >= 1 << 63 else value


class _Numpy:
    """The generator's arithmetic on numpy uint64 arrays (wrapping, logical shifts)."""

    @staticmethod
    def counter(n: int, device: Any) -> np.ndarray:
        return np.arange(1, n + 1, dtype=np.uint64)

    @staticmethod
    def constant(value: int, device: Any) -> np.ndarray:
        return np.array(value, dtype=np.uint64)

    @staticmethod
    def shift(z: np.ndarray, s: int) -> np.ndarray:
        return z >> np.uint64(s)

    @staticmethod
    def u53(z: np.ndarray) -> np.ndarray:
        return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


class _Torch:
    """The same arithmetic on torch int64 tensors: + and * wrap, >> is arithmetic, so it is masked."""

    @staticmethod
    def counter(n: int, device: Any):
        import torch

        return torch.arange(1, n + 1, dtype=torch.int64, device=device)

    @staticmethod
    def constant(value: int, device: Any) -> int:
        return _signed(value)  # a Python scalar: an argument of the kernel, no copy to the device

    @staticmethod
    def shift(z, s: int):
        return (z >> s) & ((1 << (64 - s)) - 1)

    @staticmethod
    def u53(z):
        import torch

        return ((z >> 11) & ((1 << 53) - 1)).to(torch.float64) * 2.0**-53


def bits(key: int, rows: int, cols: int, ops: Any = _Numpy, device: Any = None):
    """(rows, cols) 64-bit draws: ``[i, j] = mix64(mix64(key + (i + 1) golden) + (j + 1) golden)``,
    numba's ``draw(row_stream(key, i), j)``."""
    golden = ops.constant(GOLDEN, device)

    def mix(z):
        z = (z ^ ops.shift(z, 30)) * ops.constant(MIX1, device)
        z = (z ^ ops.shift(z, 27)) * ops.constant(MIX2, device)
        return z ^ ops.shift(z, 31)

    streams = mix(ops.counter(rows, device) * golden + ops.constant(key, device))
    return mix(streams[:, None] + ops.counter(cols, device)[None, :] * golden)


class CounterDraws:
    """The counter-based generator of one run on one array module (``xp``: numpy or torch, on ``device``)."""

    def __init__(self, seed: int, xp: Any = np, device: Any = None):
        self.key, self.xp, self.device = run_key(seed), xp, device
        self.ops = _Numpy if xp is np else _Torch

    def random(self, shape, t: int, phase: str):
        """U[0, 1) in float64, of ``shape`` (rows: all axes but the last; slots: the last)."""
        shape = tuple(int(s) for s in shape)
        cols = shape[-1] if shape else 1
        rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        return self.ops.u53(bits(call_key(self.key, t, phase), rows, cols, self.ops, self.device)).reshape(shape)

    def normal(self, shape, t: int, phase: str):
        """Standard normals in float64 (Box-Muller on two uniforms of the phase: ``phase/radius``, ``phase/angle``)."""
        xp = self.xp
        radius = xp.sqrt(-2.0 * xp.log1p(-self.random(shape, t, phase + "/radius")))
        return radius * xp.cos((2 * np.pi) * self.random(shape, t, phase + "/angle"))

    def integers(self, low: int, high: int, size: int, t: int, phase: str):
        """``size`` integers uniform in ``[low, high)`` (int64): ``low + floor(u (high - low))``."""
        u = self.random((int(size),), t, phase)
        if self.xp is np:
            return low + np.floor(u * (high - low)).astype(np.int64)
        return low + (u * (high - low)).floor().to(self.xp.int64)
