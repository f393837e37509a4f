"""F1-F13 compiled with numba: one pass over each row, rows in parallel (``problems`` has the numpy forms).

``evaluate(code, X, offset, out)`` writes ``f(X[i] - offset)`` for every row; rotation is a
matrix product done before (BLAS), and F7's noise is added after from the problem's own
generator, so both stay exactly as the numpy problem draws them. Sums run left to right
instead of numpy's pairwise order, and sin/cos of multiples of pi (Rastrigin, Ackley, the
penalized functions) use an exact reduction and the kernels' polynomial, which vectorizes:
values agree with numpy to rounding.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from scpo.backends.numba_kernels import inlined, launch, scalar, sin_quarter

CODES = {name: code for code, name in enumerate((
    "sphere", "schwefel222", "schwefel12", "schwefel221", "rosenbrock", "step", "quartic",
    "schwefel226", "rastrigin", "ackley", "griewank", "penalized1", "penalized2",
))}


@inlined()
def sinpi(x):
    """sin(pi x): x - round(x) is exact, so the polynomial sees an argument in [0, pi/2]."""
    n = np.floor(x + 0.5)
    r = x - n
    s = sin_quarter(np.pi * abs(r))
    s = -s if r < 0 else s
    return -s if n % 2 != 0 else s


@inlined()
def cospi(x):
    """cos(pi x) = +-sin(pi/2 - pi |x - round(x)|)."""
    n = np.floor(x + 0.5)
    c = sin_quarter(np.pi / 2 - np.pi * abs(x - n))
    return -c if n % 2 != 0 else c


@scalar()
def _penalty(x, a, k):
    if x > a:
        return k * (x - a) ** 4
    if x < -a:
        return k * (-x - a) ** 4
    return 0.0


@njit(cache=True, error_model="numpy", fastmath={"reassoc"})  # sums may be vectorized (reordered)
def _row(code, x, off):  # noqa: C901  (one branch per function)
    d = x.shape[0]
    if code == 0:  # sphere
        s = 0.0
        for j in range(d):
            y = x[j] - off[j]
            s += y * y
        return s
    if code == 1:  # schwefel 2.22
        s, prod = 0.0, 1.0
        for j in range(d):
            a = abs(x[j] - off[j])
            s += a
            prod *= a
        return s + prod
    if code == 2:  # schwefel 1.2
        s, running = 0.0, 0.0
        for j in range(d):
            running += x[j] - off[j]
            s += running * running
        return s
    if code == 3:  # schwefel 2.21
        m = 0.0
        for j in range(d):
            m = max(m, abs(x[j] - off[j]))
        return m
    if code == 4:  # rosenbrock
        s = 0.0
        for j in range(d - 1):
            head, tail = x[j] - off[j], x[j + 1] - off[j + 1]
            s += 100.0 * (tail - head**2) ** 2 + (head - 1.0) ** 2
        return s
    if code == 5:  # step
        s = 0.0
        for j in range(d):
            v = math.floor(x[j] - off[j] + 0.5)
            s += v * v
        return s
    if code == 6:  # quartic without its noise
        s = 0.0
        for j in range(d):
            s += (j + 1) * (x[j] - off[j]) ** 4
        return s
    if code == 7:  # schwefel 2.26
        s = 0.0
        for j in range(d):
            y = x[j] - off[j]
            s += -y * math.sin(math.sqrt(abs(y)))
        return s
    if code == 8:  # rastrigin
        s = 0.0
        for j in range(d):
            y = x[j] - off[j]
            s += y**2 - 10.0 * cospi(2.0 * y) + 10.0
        return s
    if code == 9:  # ackley
        squares, waves = 0.0, 0.0
        for j in range(d):
            y = x[j] - off[j]
            squares += y * y
            waves += cospi(2.0 * y)
        return -20.0 * math.exp(-0.2 * math.sqrt(squares / d)) - math.exp(waves / d) + 20.0 + math.e
    if code == 10:  # griewank
        squares, prod = 0.0, 1.0
        for j in range(d):
            y = x[j] - off[j]
            squares += y * y
            prod *= math.cos(y / math.sqrt(j + 1.0))
        return squares / 4000.0 - prod + 1.0
    if code == 11:  # penalized 1
        inner, penalty = 0.0, 0.0
        for j in range(d):
            y = x[j] - off[j]
            penalty += _penalty(y, 10.0, 100.0)
            if j + 1 < d:
                head = 1.0 + (y + 1.0) / 4.0
                tail = 1.0 + (x[j + 1] - off[j + 1] + 1.0) / 4.0
                inner += (head - 1.0) ** 2 * (1.0 + 10.0 * sinpi(tail) ** 2)
        first = 1.0 + (x[0] - off[0] + 1.0) / 4.0
        last = 1.0 + (x[d - 1] - off[d - 1] + 1.0) / 4.0
        core = 10.0 * sinpi(first) ** 2 + inner + (last - 1.0) ** 2
        return math.pi / d * core + penalty
    # penalized 2
    inner, penalty = 0.0, 0.0
    for j in range(d):
        y = x[j] - off[j]
        penalty += _penalty(y, 5.0, 100.0)
        if j + 1 < d:
            inner += (y - 1.0) ** 2 * (1.0 + sinpi(3.0 * (x[j + 1] - off[j + 1])) ** 2)
    first, last = x[0] - off[0], x[d - 1] - off[d - 1]
    tail = (last - 1.0) ** 2 * (1.0 + sinpi(2.0 * last) ** 2)
    core = sinpi(3.0 * first) ** 2 + inner + tail
    return 0.1 * core + penalty


@njit(parallel=True, cache=True, error_model="numpy")
def evaluate(code, X, offset, out):
    for i in prange(X.shape[0]):
        out[i] = _row(code, X[i], offset)


def objective(benchmark, X: np.ndarray) -> np.ndarray:
    """A ``problems.Benchmark`` evaluated by the kernel: same transform, same noise draws."""
    offset = benchmark.offset
    if benchmark.rotation is not None:
        X = (X - benchmark.centre) @ benchmark.rotation.T + benchmark.x_opt
        offset = np.zeros_like(offset)
    out = np.empty(X.shape[0])
    launch(evaluate, X.size, CODES[benchmark.key], X, offset.astype(X.dtype, copy=False), out)
    if benchmark.noise is not None:
        out += benchmark.noise.random(X.shape[0])
    return out
