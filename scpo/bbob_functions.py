"""COCO's 24 noiseless BBOB functions in numpy, evaluated on a whole population at once.

``cocoex.BareProblem`` evaluates one row at a time in C (about 24 us per row at d = 40, whole batch
or not), which made the full BBOB setting (d = 2..40, 15 instances, 10^4 x d evaluations) cost hours
per algorithm. These are the same functions, written from the published definitions (Hansen, Finck,
Ros, Auger 2009, INRIA RR-6829) with COCO's instance generator (its legacy uniform generator, its
Box-Muller Gaussians, its Gram-Schmidt rotations, ``xopt`` and ``fopt`` from the instance seed) and
COCO's order of the transformations, so that a function agrees with ``cocoex.BareProblem("bbob", f,
d, i)`` to rounding (checked in ``tests/test_bbob_functions.py`` at random points, inside and outside
[-5, 5]^d, and at the optimum). ``scpo.bbob.run_bbob(..., coco=False)`` evaluates with them on large
calls (``scpo.bbob.BatchEvaluator``): per transcendental numpy costs what COCO's C does (no SIMD
sin/log/exp on AVX2), so the gain is in the rotations and the loop, and it needs whole populations of
about a thousand numbers to pay for numpy's cost per call.

``VECTORIZED``: the functions implemented here (all 24); a function left out falls back on cocoex.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np

VECTORIZED = frozenset(range(1, 25))  # the per-function switch: a function not listed is evaluated by cocoex


# ---------------------------------------------------------------------------- COCO's instance generator


@lru_cache(maxsize=4096)
def _uniform(n: int, seed: int) -> tuple[float, ...]:
    """COCO's legacy uniform generator (a Park-Miller LCG behind a 32-slot shuffle table), ``n`` numbers."""
    seed = max(abs(int(seed)), 1)
    table = [0] * 32
    for i in range(39, -1, -1):
        seed = 16807 * (seed % 127773) - 2836 * (seed // 127773)
        if seed < 0:
            seed += 2147483647
        if i < 32:
            table[i] = seed
    current = table[0]
    out = []
    for _ in range(n):
        seed = 16807 * (seed % 127773) - 2836 * (seed // 127773)
        if seed < 0:
            seed += 2147483647
        k = current // 67108865
        current = table[k]
        table[k] = seed
        value = current / 2.147483647e9
        out.append(value if value != 0.0 else 1e-99)
    return tuple(out)


def uniform(n: int, seed: int) -> np.ndarray:
    return np.array(_uniform(int(n), int(seed)))


def gauss(n: int, seed: int) -> np.ndarray:
    """COCO's Gaussians: Box-Muller on ``2 n`` uniforms (scalar libm calls, as COCO's C)."""
    u = _uniform(2 * n, seed)
    g = [math.sqrt(-2 * math.log(u[i])) * math.cos(2 * math.pi * u[n + i]) for i in range(n)]
    return np.array([v if v != 0.0 else 1e-99 for v in g])


@lru_cache(maxsize=512)
def rotation(seed: int, dim: int) -> np.ndarray:
    """COCO's random rotation: Gaussian matrix (column-major fill), Gram-Schmidt over its columns."""
    B = gauss(dim * dim, seed).reshape(dim, dim).T.copy()
    for i in range(dim):
        for j in range(i):
            B[:, i] -= float(np.dot(B[:, i], B[:, j])) * B[:, j]
        B[:, i] /= math.sqrt(float(np.dot(B[:, i], B[:, i])))
    B.setflags(write=False)
    return B


def compute_xopt(seed: int, dim: int) -> np.ndarray:
    x = 8 * np.floor(1e4 * uniform(dim, seed)) / 1e4 - 4
    x[x == 0.0] = -1e-5
    return x


def compute_fopt(function: int, instance: int) -> float:
    rseed = {4: 3, 18: 17}.get(function, function) + 10000 * instance
    ratio = gauss(1, rseed)[0] / gauss(1, rseed + 1)[0]
    return min(1000.0, max(-1000.0, math.floor(100.0 * 100.0 * ratio + 0.5) / 100.0))


# ---------------------------------------------------------------------------- transformations (rows = points)


def _ramp(dim: int) -> np.ndarray:
    """i / (d - 1), i = 0..d-1."""
    return np.arange(dim) / (dim - 1.0)


def t_osz(x: np.ndarray) -> np.ndarray:
    """T_osz, the oscillation (elementwise).

    COCO computes ``sign(x) exp(t + 0.49 (sin(c1 t) + sin(c2 t)))^0.1`` with ``t = log|x| / 0.1``; that is
    ``x exp(0.049 (sin(c1 t) + sin(c2 t)))``: one exp instead of an exp and a power (equal to rounding)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        positive = x > 0
        t = np.log(np.abs(x)) / 0.1
        wave = np.sin(np.where(positive, 1.0, 0.55) * t) + np.sin(np.where(positive, 0.79, 0.31) * t)
        out = x * np.exp(0.049 * wave)
    return np.where(x == 0, 0.0, out)


def t_asy(x: np.ndarray, beta: float) -> np.ndarray:
    dim = x.shape[-1]
    with np.errstate(invalid="ignore", over="ignore"):
        exponent = 1.0 + (beta * np.arange(dim)) / (dim - 1.0) * np.sqrt(np.maximum(x, 0.0))
        return np.where(x > 0, np.maximum(x, 0.0) ** exponent, x)


def penalty(x: np.ndarray, bound: float = 5.0) -> np.ndarray:
    """f_pen: the squared distance outside [-bound, bound]^d."""
    excess = np.maximum(np.abs(x) - bound, 0.0)
    return np.sum(excess * excess, axis=-1)


def _rotations(rseed: int, dim: int, condition: float) -> np.ndarray:
    """R Lambda Q (R from ``rseed + 1e6``, Q from ``rseed``, Lambda = diag(sqrt(condition)^(i/(d-1))))."""
    R, Q = rotation(rseed + 1000000, dim), rotation(rseed, dim)
    return (R * np.sqrt(condition) ** _ramp(dim)) @ Q


def _rastrigin(z: np.ndarray) -> np.ndarray:
    return 10.0 * (z.shape[-1] - np.sum(np.cos(2 * np.pi * z), axis=-1)) + np.sum(z * z, axis=-1)


def _rosenbrock(z: np.ndarray) -> np.ndarray:
    a, b = z[:, :-1], z[:, 1:]
    return 100.0 * np.sum((a * a - b) ** 2, axis=-1) + np.sum((a - 1.0) ** 2, axis=-1)


def _ellipsoid(z: np.ndarray) -> np.ndarray:
    return np.sum(1e6 ** _ramp(z.shape[-1]) * z * z, axis=-1)


# ---------------------------------------------------------------------------- the 24 functions


class BBOBFunction:
    """BBOB function ``function`` in dimension ``dim``, instance ``instance``: ``f(X)`` on rows ``X`` (n, d).

    ``best_value()`` is COCO's ``f_opt`` and ``best_parameter`` its optimum (where defined); the id is
    COCO's (``bbob_f001_i01_d02``)."""

    def __init__(self, function: int, dim: int, instance: int):
        if function not in range(1, 25):
            raise ValueError(f"unknown BBOB function {function!r}; choose from 1-24")
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 2:
            raise ValueError(f"BBOB dimension must be an integer >= 2, got {dim!r}")
        if isinstance(instance, bool) or not isinstance(instance, int | np.integer) or instance < 1:
            raise ValueError(f"BBOB instance must be an integer >= 1, got {instance!r}")
        self.function, self.dimension, self.instance = int(function), int(dim), int(instance)
        self.id = f"bbob_f{self.function:03d}_i{self.instance:02d}_d{self.dimension:02d}"
        self.fopt = compute_fopt(self.function, self.instance)
        self.optimum = self.fopt  # COCO's best_value(): f_opt, except where its raw function is not 0 at x_opt
        rseed = {4: 3, 18: 17}.get(self.function, self.function) + 10000 * self.instance
        self._f: Callable[[np.ndarray], np.ndarray] = getattr(self, f"_setup_f{self.function}")(rseed, self.dimension)

    def __str__(self) -> str:
        return self.id

    def __repr__(self) -> str:
        return f"BBOBFunction({self.function}, {self.dimension}, {self.instance})"

    def best_value(self) -> float:
        return self.optimum

    def __call__(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        single = X.ndim == 1
        X = np.atleast_2d(X)
        if X.shape[-1] != self.dimension:
            raise ValueError(f"{self.id} takes points of dimension {self.dimension}, got shape {X.shape}")
        with np.errstate(over="ignore", invalid="ignore"):
            f = self._f(X)
        return f[0] if single else f

    # each _setup_fN computes the instance's data and returns the population evaluator

    def _setup_f1(self, rseed, d):
        xopt = compute_xopt(rseed, d)
        self.best_parameter = xopt
        return lambda X: np.sum((X - xopt) ** 2, axis=-1) + self.fopt

    def _setup_f2(self, rseed, d):
        xopt = compute_xopt(rseed, d)
        self.best_parameter = xopt
        return lambda X: _ellipsoid(t_osz(X - xopt)) + self.fopt

    def _setup_f3(self, rseed, d):
        xopt = compute_xopt(rseed, d)
        self.best_parameter = xopt
        scale = 10.0 ** (0.5 * _ramp(d))
        return lambda X: _rastrigin(scale * t_asy(t_osz(X - xopt), 0.2)) + self.fopt

    def _setup_f4(self, rseed, d):
        xopt = compute_xopt(rseed, d)
        xopt[::2] = np.abs(xopt[::2])
        self.best_parameter = xopt
        base = np.sqrt(10.0) ** _ramp(d)
        even = (np.arange(d) % 2 == 0)

        def f(X):
            z = t_osz(X - xopt)
            z = np.where((z > 0) & even, 10.0 * base, base) * z
            return _rastrigin(z) + self.fopt + 100.0 * penalty(X)
        return f

    def _setup_f5(self, rseed, d):
        xopt = compute_xopt(rseed, d)
        s = np.where(xopt > 0, 1.0, -1.0) * np.sqrt(100.0) ** _ramp(d)
        best = np.where(xopt < 0, -5.0, 5.0)
        self.best_parameter = best

        def f(X):
            z = np.where(X * best < 25.0, X, best)
            return np.sum(5.0 * np.abs(s) - s * z, axis=-1) + self.fopt
        return f

    def _setup_f6(self, rseed, d):
        xopt = compute_xopt(rseed, d)
        self.best_parameter = xopt
        M = _rotations(rseed, d, 10.0)

        def f(X):
            z = (X - xopt) @ M.T
            raw = np.sum(np.where(xopt * z > 0, 1e4, 1.0) * z * z, axis=-1)
            return t_osz(raw) ** 0.9 + self.fopt
        return f

    def _setup_f7(self, rseed, d):
        xopt = compute_xopt(rseed, d)
        self.best_parameter = xopt
        R, Q = rotation(rseed + 1000000, d), rotation(rseed, d)
        scale = np.sqrt(10.0 ** _ramp(d))
        weights = 100.0 ** _ramp(d)

        def f(X):
            z = scale * ((X - xopt) @ Q.T)
            first = z[:, 0].copy()
            z = np.where(np.abs(z) > 0.5, np.floor(z + 0.5), np.floor(10.0 * z + 0.5) / 10.0)
            z = z @ R.T
            core = np.sum(weights * z * z, axis=-1)
            return 0.1 * np.maximum(np.abs(first) * 1e-4, core) + penalty(X) + self.fopt
        return f

    def _setup_f8(self, rseed, d):
        xopt = 0.75 * compute_xopt(rseed, d)
        self.best_parameter = xopt
        factor = max(1.0, math.sqrt(d) / 8.0)
        return lambda X: _rosenbrock(factor * (X - xopt) + 1.0) + self.fopt

    def _setup_f9(self, rseed, d):
        R = rotation(rseed, d)
        factor = max(1.0, math.sqrt(d) / 8.0)
        M = factor * R
        self.best_parameter = R.sum(axis=0) / (2.0 * factor)
        return lambda X: _rosenbrock(X @ M.T + 0.5) + self.fopt

    def _setup_f10(self, rseed, d):
        xopt = compute_xopt(rseed, d)
        self.best_parameter = xopt
        R = rotation(rseed + 1000000, d)
        return lambda X: _ellipsoid(t_osz((X - xopt) @ R.T)) + self.fopt

    def _setup_f11(self, rseed, d):
        xopt = compute_xopt(rseed, d)
        self.best_parameter = xopt
        R = rotation(rseed + 1000000, d)

        def f(X):
            z = t_osz((X - xopt) @ R.T)
            return 1e6 * z[:, 0] ** 2 + np.sum(z[:, 1:] ** 2, axis=-1) + self.fopt
        return f

    def _setup_f12(self, rseed, d):
        xopt = compute_xopt(rseed + 1000000, d)
        self.best_parameter = xopt
        R = rotation(rseed + 1000000, d)

        def f(X):
            z = t_asy((X - xopt) @ R.T, 0.5) @ R.T
            return z[:, 0] ** 2 + 1e6 * np.sum(z[:, 1:] ** 2, axis=-1) + self.fopt
        return f

    def _setup_f13(self, rseed, d):
        xopt = compute_xopt(rseed, d)
        self.best_parameter = xopt
        M = _rotations(rseed, d, 10.0)

        def f(X):
            z = (X - xopt) @ M.T
            return 100.0 * np.sqrt(np.sum(z[:, 1:] ** 2, axis=-1)) + z[:, 0] ** 2 + self.fopt
        return f

    def _setup_f14(self, rseed, d):
        xopt = compute_xopt(rseed, d)
        self.best_parameter = xopt
        R = rotation(rseed + 1000000, d)
        exponent = 2.0 + 4.0 * _ramp(d)
        return lambda X: np.sqrt(np.sum(np.abs((X - xopt) @ R.T) ** exponent, axis=-1)) + self.fopt

    def _setup_f15(self, rseed, d):
        xopt = compute_xopt(rseed, d)
        self.best_parameter = xopt
        R = rotation(rseed + 1000000, d)
        M = _rotations(rseed, d, 10.0)
        return lambda X: _rastrigin(t_asy(t_osz((X - xopt) @ R.T), 0.2) @ M.T) + self.fopt

    def _setup_f16(self, rseed, d):
        xopt = compute_xopt(rseed, d)
        self.best_parameter = xopt
        R = rotation(rseed + 1000000, d)
        M = _rotations(rseed, d, 1.0 / 100.0)
        k = np.arange(12)
        ak, bk = 0.5 ** k, 3.0 ** k
        f0 = float(np.sum(ak * np.cos(2 * np.pi * bk * 0.5)))

        def f(X):
            z = t_osz((X - xopt) @ R.T) @ M.T
            # cos(2 pi 3^k (z + 1/2)) by the triple-angle recurrence cos 3a = 4 cos^3 a - 3 cos a: one cosine per
            # coordinate instead of twelve; the error grows as 3^k eps, weighted by 0.5^k (below 1e-13 in all)
            c = np.cos(2 * np.pi * (z + 0.5))
            total = np.sum(c, axis=-1)
            for a in ak[1:]:
                c = (4.0 * c * c - 3.0) * c
                total += a * np.sum(c, axis=-1)
            return 10.0 * (total / d - f0) ** 3 + self.fopt + 10.0 / d * penalty(X)
        return f

    def _schaffers(self, rseed, d, condition):
        xopt = compute_xopt(rseed, d)
        self.best_parameter = xopt
        R = rotation(rseed + 1000000, d)
        M = (np.sqrt(condition) ** _ramp(d))[:, None] * rotation(rseed, d)

        def f(X):
            z = t_asy((X - xopt) @ R.T, 0.5) @ M.T
            s = z[:, :-1] ** 2 + z[:, 1:] ** 2
            core = np.sum(s**0.25 * (1.0 + np.sin(50.0 * s**0.1) ** 2), axis=-1)
            return (core / (d - 1.0)) ** 2 + self.fopt + 10.0 * penalty(X)
        return f

    def _setup_f17(self, rseed, d):
        return self._schaffers(rseed, d, 10.0)

    def _setup_f18(self, rseed, d):
        return self._schaffers(rseed, d, 1000.0)

    def _setup_f19(self, rseed, d):
        factor = max(1.0, math.sqrt(d) / 8.0)
        M = factor * rotation(rseed, d)
        self.best_parameter = rotation(rseed, d).sum(axis=0) / (2.0 * factor)

        def f(X):
            z = X @ M.T + 0.5
            a, b = z[:, :-1], z[:, 1:]
            s = 100.0 * (a * a - b) ** 2 + (1.0 - a) ** 2
            return 10.0 + 10.0 * np.sum(s / 4000.0 - np.cos(s), axis=-1) / (d - 1) + self.fopt
        return f

    def _setup_f20(self, rseed, d):
        sign = np.where(uniform(d, rseed) < 0.5, -1.0, 1.0)
        xopt = sign * (0.5 * 4.2096874637)
        self.best_parameter = sign * (0.5 * 4.2096874633)
        twice = 2.0 * np.abs(xopt)
        scale = np.sqrt(10.0) ** _ramp(d)
        total = 0.0  # COCO's best value: its raw function at 420.96874633 (summed as its C loop), plus f_opt
        for _ in range(d):
            total += 420.96874633 * math.sin(math.sqrt(420.96874633))
        self.optimum = 0.01 * (0.0 + 418.9828872724339 - total / d) + self.fopt

        def f(X):
            x = 2.0 * (sign * X)
            z = x.copy()
            z[:, 1:] += 0.25 * (x[:, :-1] - twice[:-1])
            z = 100.0 * (scale * (z - twice) + twice)
            pen = penalty(z, 500.0)
            core = np.sum(z * np.sin(np.sqrt(np.abs(z))), axis=-1)
            return 0.01 * (pen + 418.9828872724339 - core / d) + self.fopt
        return f

    def _gallagher(self, rseed, d, peaks):
        R = rotation(rseed, d)
        top, b, c = (math.sqrt(1000.0), 10.0, 5.0) if peaks == 101 else (1000.0, 9.8, 4.9)
        order = np.argsort(uniform(peaks - 1, rseed), kind="stable")
        conditions = np.concatenate([[top], 1000.0 ** (order / (peaks - 2.0))])
        heights = np.concatenate([[10.0], np.arange(peaks - 1) / (peaks - 2.0) * 8.0 + 1.1])
        scales = np.empty((peaks, d))
        for i in range(peaks):
            ranks = np.argsort(uniform(d, rseed + 1000 * i), kind="stable")
            scales[i] = conditions[i] ** (ranks / (d - 1.0) - 0.5)
        u = uniform(d * peaks, rseed)
        Y = b * u.reshape(peaks, d) - c
        centres = Y @ R.T  # (peaks, d): R y_i
        centres[0] *= 0.8
        self.best_parameter = 0.8 * (b * u[:d] - c)
        fac = -0.5 / d

        # sum_j s_ij (t_j - c_ij)^2 expanded into matrix products: (t^2) s^T - 2 t (s c)^T + sum_j s_ij c_ij^2
        weighted = scales * centres
        offset = np.sum(weighted * centres, axis=-1)

        def f(X):
            t = X @ R.T
            q = np.maximum((t * t) @ scales.T - 2.0 * (t @ weighted.T) + offset, 0.0)
            best = np.maximum(np.max(heights * np.exp(fac * q), axis=-1), 0.0)
            return t_osz(10.0 - best) ** 2 + penalty(X) + self.fopt
        return f

    def _setup_f21(self, rseed, d):
        return self._gallagher(rseed, d, 101)

    def _setup_f22(self, rseed, d):
        return self._gallagher(rseed, d, 21)

    def _setup_f23(self, rseed, d):
        xopt = compute_xopt(rseed, d)
        self.best_parameter = xopt
        M = _rotations(rseed, d, 100.0)
        powers = 2.0 ** np.arange(1, 33)
        weights = np.arange(1, d + 1)

        def f(X):
            z = (X - xopt) @ M.T
            v = z[:, :, None] * powers
            terms = np.sum(np.abs(v - np.floor(v + 0.5)) / powers, axis=-1)
            prod = np.prod(1.0 + weights * terms, axis=-1)
            return 10.0 / d / d * (-1.0 + prod ** (10.0 / d**1.2)) + self.fopt + penalty(X)
        return f

    def _setup_f24(self, rseed, d):
        sign = np.where(gauss(d, rseed) < 0, -1.0, 1.0)
        self.best_parameter = 1.25 * sign
        R, Q = rotation(rseed + 1000000, d), rotation(rseed, d)
        M = R @ ((10.0 ** _ramp(d))[:, None] * Q)
        mu0, s = 2.5, 1.0 - 0.5 / (math.sqrt(d + 20.0) - 4.1)
        mu1 = -math.sqrt((mu0 * mu0 - 1.0) / s)

        def f(X):
            xhat = 2.0 * sign * X
            z = (xhat - mu0) @ M.T
            first = np.sum((xhat - mu0) ** 2, axis=-1)
            second = d + s * np.sum((xhat - mu1) ** 2, axis=-1)
            return (np.minimum(first, second) + 10.0 * (d - np.sum(np.cos(2 * np.pi * z), axis=-1))
                    + 1e4 * penalty(X) + self.fopt)
        return f


@lru_cache(maxsize=256)
def bbob_function(function: int, dim: int, instance: int) -> BBOBFunction:
    """The (cached) vectorized function: building an instance draws its rotations once."""
    return BBOBFunction(function, dim, instance)
