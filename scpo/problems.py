"""F1-F13, the classical benchmark functions of the SCA and PO papers, over whole populations.

Each function maps ``(N, D) -> (N,)``. ``get(name, dim, shifted=True, seed=s)`` moves the
optimum off the diagonal ``x = c * (1, ..., 1)`` by a seeded offset that keeps it inside
the bounds: on the unshifted functions every optimum lies on that diagonal, which rewards
algorithms (and bugs) that collapse coordinates together.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from scpo import engineering as designs
from scpo.problem import Problem

Array = Any  # a (N, D) numpy array, or a torch tensor with xp=torch
SCHWEFEL226_X = 420.968746
SCHWEFEL226_F = -418.982887272433799  # per dimension


# Each function is written once over an array module ``xp``: numpy here, torch in
# ``scpo.backends.torch_problems`` (``xp=torch``), with the same operations in the same order.


def _positions(X: Array, xp: ModuleType) -> Array:
    """1..D: integers for numpy (as the papers' formulas), X's dtype and device for torch."""
    if xp is np:
        return np.arange(1, X.shape[1] + 1)
    return xp.arange(1, X.shape[1] + 1, dtype=X.dtype, device=X.device)


def sphere(X: Array, xp: ModuleType = np) -> Array:
    return (X**2).sum(axis=1)


def schwefel222(X: Array, xp: ModuleType = np) -> Array:
    A = xp.abs(X)
    return A.sum(axis=1) + A.prod(axis=1)


def schwefel12(X: Array, xp: ModuleType = np) -> Array:
    return (xp.cumsum(X, axis=1) ** 2).sum(axis=1)


def schwefel221(X: Array, xp: ModuleType = np) -> Array:
    return xp.amax(xp.abs(X), axis=1)


def rosenbrock(X: Array, xp: ModuleType = np) -> Array:
    head, tail = X[:, :-1], X[:, 1:]
    return (100.0 * (tail - head**2) ** 2 + (head - 1.0) ** 2).sum(axis=1)


def step(X: Array, xp: ModuleType = np) -> Array:
    return (xp.floor(X + 0.5) ** 2).sum(axis=1)


def quartic(X: Array, xp: ModuleType = np) -> Array:
    """F7 without its noise (``make_quartic`` and the torch backend add it from their own generators)."""
    return (_positions(X, xp) * X**4).sum(axis=1)


def make_quartic(rng: np.random.Generator) -> Callable:
    """F7 adds U[0, 1) noise; the noise comes from the problem's own seeded generator."""

    def noisy_quartic(X: np.ndarray) -> np.ndarray:
        return quartic(X) + rng.random(X.shape[0])

    noisy_quartic.__name__ = "quartic"
    return noisy_quartic


def schwefel226(X: Array, xp: ModuleType = np) -> Array:
    return (-X * xp.sin(xp.sqrt(xp.abs(X)))).sum(axis=1)


def rastrigin(X: Array, xp: ModuleType = np) -> Array:
    return (X**2 - 10.0 * xp.cos(2.0 * math.pi * X) + 10.0).sum(axis=1)


def ackley(X: Array, xp: ModuleType = np) -> Array:
    d = X.shape[1]
    return (
        -20.0 * xp.exp(-0.2 * xp.sqrt((X**2).sum(axis=1) / d))
        - xp.exp(xp.cos(2.0 * math.pi * X).sum(axis=1) / d)
        + 20.0
        + math.e
    )


def griewank(X: Array, xp: ModuleType = np) -> Array:
    return (X**2).sum(axis=1) / 4000.0 - xp.cos(X / xp.sqrt(_positions(X, xp))).prod(axis=1) + 1.0


def _penalty(X: Array, a: float, k: float, m: float, xp: ModuleType = np) -> Array:
    return (k * xp.where(X > a, (X - a) ** m, 0.0) + k * xp.where(X < -a, (-X - a) ** m, 0.0)).sum(axis=1)


def penalized1(X: Array, xp: ModuleType = np) -> Array:
    d = X.shape[1]
    Y = 1.0 + (X + 1.0) / 4.0
    inner = ((Y[:, :-1] - 1.0) ** 2 * (1.0 + 10.0 * xp.sin(math.pi * Y[:, 1:]) ** 2)).sum(axis=1)
    core = 10.0 * xp.sin(math.pi * Y[:, 0]) ** 2 + inner + (Y[:, -1] - 1.0) ** 2
    return math.pi / d * core + _penalty(X, 10.0, 100.0, 4, xp)


def penalized2(X: Array, xp: ModuleType = np) -> Array:
    inner = ((X[:, :-1] - 1.0) ** 2 * (1.0 + xp.sin(3.0 * math.pi * X[:, 1:]) ** 2)).sum(axis=1)
    last = (X[:, -1] - 1.0) ** 2 * (1.0 + xp.sin(2.0 * math.pi * X[:, -1]) ** 2)
    core = xp.sin(3.0 * math.pi * X[:, 0]) ** 2 + inner + last
    return 0.1 * core + _penalty(X, 5.0, 100.0, 4, xp)


FUNCTIONS: dict[str, Callable] = {
    f.__name__: f for f in (sphere, schwefel222, schwefel12, schwefel221, rosenbrock, step, quartic,
                            schwefel226, rastrigin, ackley, griewank, penalized1, penalized2)
}


@dataclass(frozen=True)
class Spec:
    """What the literature states about one benchmark function."""

    function: Callable
    lb: float
    ub: float
    x_opt: float  # the optimum's coordinate (every optimum here lies on the diagonal)
    f_opt_per_dim: float = 0.0
    max_shift: float = 0.2  # largest offset as a share of the range
    rotatable: bool = True


SPECS: dict[str, Spec] = {
    "sphere": Spec(sphere, -100, 100, 0.0),
    "schwefel222": Spec(schwefel222, -10, 10, 0.0, rotatable=False),
    "schwefel12": Spec(schwefel12, -100, 100, 0.0),
    "schwefel221": Spec(schwefel221, -100, 100, 0.0, rotatable=False),
    "rosenbrock": Spec(rosenbrock, -30, 30, 1.0),
    "step": Spec(step, -100, 100, 0.0, rotatable=False),
    "quartic": Spec(sphere, -1.28, 1.28, 0.0, rotatable=False),  # function built per problem (noise)
    # Beyond +-500 the Schwefel function has deeper valleys; a small shift keeps the true optimum.
    "schwefel226": Spec(schwefel226, -500, 500, SCHWEFEL226_X, SCHWEFEL226_F, max_shift=0.1, rotatable=False),
    "rastrigin": Spec(rastrigin, -5.12, 5.12, 0.0),
    "ackley": Spec(ackley, -32, 32, 0.0),
    "griewank": Spec(griewank, -600, 600, 0.0),
    "penalized1": Spec(penalized1, -50, 50, -1.0, rotatable=False),
    "penalized2": Spec(penalized2, -50, 50, 1.0, rotatable=False),
}
ALIASES = {f"f{i}": name for i, name in enumerate(SPECS, start=1)}


def names() -> list[str]:
    """Benchmark names in F1..F13 order."""
    return list(SPECS)


def get(name: str, dim: int, shifted: bool = False, rotated: bool = False, seed: int = 0) -> Problem:
    """Benchmark ``name`` (or ``f1``..``f13``) in ``dim`` dimensions; unshifted (the classical
    function) unless ``shifted=True``. (``scpo optimize`` and ``scpo benchmark`` shift by default;
    ``seed`` is their ``--instance``, apart from the algorithm's seed.)

    ``shifted`` moves the optimum by a seeded offset ``o`` (``f(x - o)``), drawn so that
    the optimum stays at least 10 % of the range away from the bounds. ``rotated`` applies
    a seeded random orthogonal matrix around the optimum (only where the function is not
    separable by design; others raise).
    """
    key = ALIASES.get(str(name).lower(), str(name).lower())
    if key not in SPECS:
        raise ValueError(f"unknown problem {name!r}; choose from {', '.join(names())}")
    if not isinstance(dim, int | np.integer) or isinstance(dim, bool) or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    if key in ("rosenbrock", "penalized1", "penalized2") and dim < 2:
        raise ValueError(f"{key} needs dim >= 2, got {dim}")
    spec = SPECS[key]
    rng = np.random.default_rng(seed)
    noise = np.random.default_rng([seed, 7]) if key == "quartic" else None
    base = make_quartic(noise) if noise is not None else spec.function
    x_opt = np.full(dim, spec.x_opt)
    offset = np.zeros(dim)
    if shifted:
        span = spec.ub - spec.lb
        low = np.maximum(spec.lb + 0.1 * span - spec.x_opt, -spec.max_shift * span)
        high = np.minimum(spec.ub - 0.1 * span - spec.x_opt, spec.max_shift * span)
        offset = rng.uniform(low, high, size=dim)
    rotation = None
    if rotated:
        if not spec.rotatable:
            raise ValueError(f"{key} is not offered rotated (its optimum or bounds assume separability)")
        q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
        rotation = q * np.sign(np.diag(r))
    objective = Benchmark(key, base, x_opt, offset, rotation, noise, shift_seed=seed if shifted else None,
                          rotation_seed=seed if rotated else None)
    label = key + ("-shifted" if shifted else "") + ("-rotated" if rotated else "")
    return Problem(
        objective, spec.lb, spec.ub, dim=dim, vectorized=True, name=label,
        f_opt=spec.f_opt_per_dim * dim, x_opt=x_opt + offset,
    )


class Benchmark:
    """``base`` with its optimum moved by ``offset`` and the space rotated around it.

    A plain callable on numpy populations; it also carries what defines it (``key``,
    ``offset``, ``rotation``, F7's ``noise`` generator, and the seeds that drew them) so that
    the numba and torch backends evaluate the same function with their own kernels, and a
    checkpoint can tell one shifted problem from another.
    """

    def __init__(self, key: str, base: Callable, x_opt: np.ndarray, offset: np.ndarray,
                 rotation: np.ndarray | None, noise: np.random.Generator | None = None,
                 shift_seed: int | None = None, rotation_seed: int | None = None) -> None:
        self.key, self.base, self.noise = key, base, noise
        self.shift_seed, self.rotation_seed = shift_seed, rotation_seed
        self.x_opt, self.offset, self.rotation = x_opt, offset, rotation
        self.centre = x_opt + offset
        self.__name__ = key

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if self.rotation is None and not self.offset.any():
            return self.base(X)
        if self.rotation is None:
            return self.base(X - self.offset)
        return self.base((X - self.centre) @ self.rotation.T + self.x_opt)


def engineering_names() -> list[str]:
    """The constrained engineering design problems (:mod:`scpo.engineering`)."""
    return designs.names()


def engineering(name: str) -> Problem:
    """Constrained engineering design problem ``name`` (spring, welded_beam, pressure_vessel, speed_reducer,
    three_bar_truss) as a :class:`Problem`; formulations and best-known values in :mod:`scpo.engineering`."""
    return designs.get(name)
