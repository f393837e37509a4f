"""What the evolution strategies share: the unit box, default sizes, fitness shaping, optimizers.

The strategies search in the unit box ``u in [0, 1]^D`` with ``x = lb + u (ub - lb)``, so
their step sizes and learning rates are shares of the range and one setting fits boxes
whose sides differ. Every function takes the array module ``xp`` (numpy, or torch for
tensors), so one formulation serves both backends.

Their ``tell`` updates the distribution from the samples its ``ask`` drew (kept in the state),
not from the candidates: with ``Optimizer.tell(fitness, candidates=X)`` (repaired or rounded
points) the fitness is attributed to the drawn samples and ``X`` only becomes the best so far.
Integral coordinates (``integrality=``) work the same way: the engine evaluates the rounded
samples, and the distribution moves on the continuous ones, each credited with its rounded
point's fitness.
"""

from __future__ import annotations

import math
from typing import Any, Literal, get_args

import numpy as np

from scpo.algorithms.base import Context, check_positive_int

Start = Literal["center", "mean", "best"]  # where the mean starts (the init option)
STARTS: tuple[str, ...] = get_args(Start)


def default_population(dim: int, even: bool = False) -> int:
    """``4 + floor(3 ln D)`` (Hansen's rule, also SNES's); rounded up to even for mirrored pairs."""
    n = 4 + int(math.floor(3 * math.log(dim)))
    return n + (n % 2) if even else n


def population(pop_size: int | None, dim: int | None, name: str, even: bool = False) -> int:
    if pop_size is None:
        if dim is None:
            raise ValueError(f"{name} needs the dimension for its default pop_size; give pop_size")
        return default_population(dim, even)
    pop_size = check_positive_int("pop_size", pop_size, minimum=2)
    if even and pop_size % 2:
        raise ValueError(f"pop_size must be even for {name} (mirrored pairs), got {pop_size}")
    return pop_size


def check_number(label: str, value: Any, low: float = 0.0, high: float = math.inf, low_open: bool = True) -> float:
    """A finite float in ``(low, high]`` (or ``[low, high]``), else a one-line ValueError."""
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise ValueError(f"{label} must be a number in {bracket}{low}, {high}], got {value!r}")
    return float(value)


def check_choice(label: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{label} must be one of {', '.join(choices)}, got {value!r}")
    return value


_DEVICE_CONSTANTS: dict[tuple, Any] = {}  # small constants (weights, scales) already on a device


def like(values: np.ndarray, ref, xp=np):
    """Constant numpy ``values`` as an array of ``ref``'s kind (dtype and device for torch).

    A tensor is made once per (values, dtype, device) and reused, never modified: copying the
    constant again every iteration would be a host-to-device transfer, a synchronisation on
    cuda, inside the loop."""
    if xp is np:
        return values
    values = np.asarray(values)
    key = (values.tobytes(), values.shape, values.dtype.str, ref.dtype, str(ref.device))
    if key not in _DEVICE_CONSTANTS:
        if len(_DEVICE_CONSTANTS) >= 256:
            _DEVICE_CONSTANTS.clear()
        _DEVICE_CONSTANTS[key] = xp.as_tensor(values, dtype=ref.dtype, device=ref.device)
    return _DEVICE_CONSTANTS[key]


def to_unit(X, ctx: Context):
    return (X - ctx.lb) / (ctx.ub - ctx.lb)


def to_box(U, ctx: Context):
    """Candidates in the problem's box: unit-box points clipped to ``[0, 1]``, mapped, and clipped to
    the box again: ``lb + 1 * (ub - lb)`` can round past ``ub`` (lb = -42.3383157, ub = 3.93038105
    gives 3.930381050000001 in float64), and the objective must never see a point outside the box."""
    return (ctx.lb + U.clip(0.0, 1.0) * (ctx.ub - ctx.lb)).clip(ctx.lb, ctx.ub)


def sample_to_box(centre, scale, Z, ctx: Context, xp=np, mirrored: bool = False, write_back: bool = False):
    """The candidates ``to_box(centre + scale * Z)`` (``mirrored``: the rows of ``Z`` then of ``-Z``), made
    in one (N, D) array with no other (N, D) temporary: the same operations in the same order as the
    whole-array expression, so the same numbers, at a fraction of the memory traffic (at 1,024 x 10,000
    each temporary is a pass over memory and a fresh allocation). ``write_back``: ``Z`` itself becomes
    ``scale * Z`` (PGPE keeps the scaled perturbations)."""
    T = xp.multiply(Z, scale, out=Z) if write_back else Z * scale
    if mirrored:
        half = T.shape[0]
        U = empty((2 * half, T.shape[1]), T, xp)
        xp.add(T, centre, out=U[:half])
        xp.subtract(centre, T, out=U[half:])  # centre + (-T), exactly
    elif write_back:
        U = T + centre
    else:
        U = T
        U += centre
    return unit_to_box_(U, ctx, xp)


class Sampler:
    """The evolution strategies' sampling step, which a backend may replace by a fused kernel
    (:mod:`scpo.backends.numba_kernels`' ``es_sample``, the same numbers)."""

    xp: Any = np

    def sample_box(self, centre, scale, Z, ctx: Context, mirrored: bool = False, write_back: bool = False):
        return sample_to_box(centre, scale, Z, ctx, self.xp, mirrored, write_back)


def unit_to_box_(Y, ctx: Context, xp=np):
    """``to_box(Y)`` computed in ``Y`` itself (which it returns)."""
    _clip_(Y, 0.0, 1.0, xp)
    Y *= ctx.ub - ctx.lb
    Y += ctx.lb
    return _clip_(Y, ctx.lb, ctx.ub, xp)


def _clip_(Y, low, high, xp):
    if xp is np:
        return np.clip(Y, low, high, out=Y)
    return Y.clamp_(low, high)


def empty(shape: tuple[int, ...], ref, xp=np):
    """An uninitialised array of ``ref``'s dtype (and device)."""
    return np.empty(shape, dtype=ref.dtype) if xp is np else xp.empty(shape, dtype=ref.dtype, device=ref.device)


def weighted_sum(w, A, xp=np):
    """``sum_k w_k A_k`` over the rows of ``A`` (a matrix-vector product: no (N, D) temporary,
    unlike ``(w[:, None] * A).sum(0)``). ``w`` takes ``A``'s dtype: float64 weights against float32 samples
    would make numpy convert the whole of ``A`` to float64 first (7x the product's time at 1,024 x 10,000)."""
    return (w.astype(A.dtype, copy=False) if xp is np else w.to(A.dtype)) @ A


def weighted_square_sum(w, A, xp=np, block: int = 2**17):
    """``sum_k w_k A_k**2``, squaring about ``block`` entries (whole rows, at least 4) at a time into one
    reused buffer and accumulating in place: no (N, D) temporary written and read back, and no fresh
    allocation per block (on a busy machine page faults cost more than the arithmetic)."""
    N, D = A.shape
    rows = min(N, max(4, block // D))
    if xp is np:
        buffer, part, total = np.empty((rows, D), A.dtype), np.empty(D, A.dtype), np.zeros(D, A.dtype)
        for start in range(0, N, rows):
            block_rows = A[start:start + rows]
            square = np.multiply(block_rows, block_rows, out=buffer[:block_rows.shape[0]])
            total += np.matmul(w[start:start + rows].astype(A.dtype, copy=False), square, out=part)
        return total
    buffer, total = empty((rows, D), A, xp), xp.zeros(D, dtype=A.dtype, device=A.device)
    for start in range(0, N, rows):
        block_rows = A[start:start + rows]
        square = xp.mul(block_rows, block_rows, out=buffer[:block_rows.shape[0]])
        total.addmv_(square.T, w[start:start + rows].to(A.dtype))
    return total


def start_point(X, fitness, ctx: Context, how: str, xp=np):
    """The initial centre in the unit box: the box centre, or the mean or the best of the
    engine's evaluated uniform initial population ``X``."""
    U = to_unit(X, ctx)
    if how == "center":
        return xp.ones_like(U[0]) * 0.5
    if how == "mean":
        return U.mean(0)
    return U[int(xp.argmin(fitness))]


def starts_without_population(algorithm) -> bool:
    """Whether the strategy starts from its centre without an evaluated initial population: at ``x0``
    (``Optimizer(x0=)``) or at the box centre (``init="center"``, the default), the engine's uniform
    population would be evaluated and thrown away; ``"mean"`` and ``"best"`` need it."""
    return algorithm.x0_unit is not None or algorithm.init_how == "center"


def check_start(algorithm, x0) -> None:
    """``x0`` is the start: with ``init="mean"`` or ``"best"`` (starts taken from an evaluated initial
    population) it would contradict it."""
    if x0 is not None and algorithm.init_how != "center":
        raise ValueError(f"x0 sets {algorithm.name}'s start, init={algorithm.init_how!r} another: leave init "
                         "at 'center' (the default) with x0")


def vector(values: np.ndarray, ref, xp=np):
    """A copy of numpy ``values`` in ``ref``'s kind (dtype and device for torch), owned by a state."""
    if xp is np:
        return np.array(values, dtype=float)
    return xp.as_tensor(np.asarray(values, dtype=float), device=ref.device).to(ref.dtype).clone()


def zeros(shape: tuple[int, ...], ref, xp=np):
    return np.zeros(shape) if xp is np else xp.zeros(shape, dtype=ref.dtype, device=ref.device)


def start_centre(algorithm, ctx: Context, xp=np):
    """The initial centre in the unit box when no population is evaluated: ``x0`` or the box centre."""
    dim = ctx.lb.shape[0]
    return vector(np.full(dim, 0.5) if algorithm.x0_unit is None else algorithm.x0_unit, ctx.lb, xp)


def step_scale(step: np.ndarray) -> float:
    """One number for a per-coordinate step (its root mean square): the global step of sep-CMA-ES and
    ``cma``, whose diagonal then carries the ratios."""
    return float(np.sqrt(np.mean(np.square(step))))


def fitness_order(fitness, xp=np):
    """Indices best (lowest loss) first; ties keep their index order, so runs are reproducible."""
    return xp.argsort(fitness, kind="stable") if xp is np else xp.argsort(fitness, stable=True)


def centered_ranks(fitness, xp=np):
    """Salimans et al.'s shaping: ranks scaled to ``[-0.5, 0.5]``, lowest loss ``-0.5``.
    Tied values (e.g. several ``+inf``) share their average rank, so the shaped values sum
    to zero and two failed mirrored samples push the centre nowhere."""
    n = fitness.shape[0]
    ascending = fitness[xp.argsort(fitness)]
    below = xp.searchsorted(ascending, fitness, side="left")
    up_to = xp.searchsorted(ascending, fitness, side="right")
    return (below + up_to - 1) * like(np.array(0.5 / (n - 1)), fitness, xp) - 0.5


Shaping = Literal["centered", "raw", "normalized"]  # fitness shaping of the evolution strategies
SHAPINGS: tuple[str, ...] = get_args(Shaping)


def finite_fitness(fitness, xp=np):
    """``fitness`` with non-finite values (a failed candidate: +inf) replaced by the worst finite one
    (0 when none is finite), so value-based shaping never turns into NaN."""
    ok = xp.isfinite(fitness)  # no branch on the values: no synchronisation on a device
    worst = xp.where(ok, fitness, -math.inf).max()
    return xp.where(ok, fitness, xp.where(xp.isfinite(worst), worst, 0.0))


def shape_fitness(fitness, how: str, xp=np):
    """The losses an evolution strategy's update weighs its samples by, lower is better:
    ``"centered"``: :func:`centered_ranks` (Salimans et al.; invariant to any increasing map of the
    loss, the robust default); ``"raw"``: the loss itself (non-finite values as the worst finite one);
    ``"normalized"``: the loss standardised to mean 0 and standard deviation 1 over the population
    (all zero when every sample ties). Value-based shaping follows the loss's scale and outliers."""
    if how == "centered":
        return centered_ranks(fitness, xp)
    fitness = finite_fitness(fitness, xp)
    if how == "raw":
        return fitness
    centred = fitness - fitness.mean()
    big = xp.abs(centred).max()
    z = centred / xp.where(big > 0, big, 1.0)  # scaled first: squaring a loss near 1e200 would overflow
    std = xp.sqrt((z * z).mean())
    return z / xp.where(std > 0, std, 1.0)


def decayed_fitness(fitness, candidates, weight_decay: float, xp=np):
    """``fitness + weight_decay * mean(x**2)`` per candidate ``x`` (the problem's units): an L2 penalty
    that pulls the distribution towards ``x = 0`` whatever the fitness shaping (as evosax's shaper)."""
    if not weight_decay:
        return fitness
    return fitness + weight_decay * (candidates * candidates).mean(1)


def decay_target(ctx: Context, xp=np):
    """``x = 0`` in the unit box, clipped to it: where a gradient-form weight decay pulls the centre."""
    return (-ctx.lb / (ctx.ub - ctx.lb)).clip(0.0, 1.0)


def adam(grad, m, v, t: int, lr: float, beta1: float, beta2: float, eps: float = 1e-8, xp=np):
    """Kingma & Ba's step for gradient ``grad`` at step ``t >= 1``: (step to subtract, m, v)."""
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad * grad
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return lr * m_hat / (xp.sqrt(v_hat) + eps), m, v


def clipup(grad, velocity, lr: float, max_speed: float, momentum: float, xp=np):
    """ClipUp (Toklu et al. 2020): the normalised gradient feeds a heavy-ball velocity whose
    norm is clipped to ``max_speed``; returns the velocity, which is also the step (to add)."""
    norm = xp.sqrt((grad * grad).sum())
    velocity = momentum * velocity + lr * grad / xp.where(norm > 0, norm, 1.0)
    speed = xp.sqrt((velocity * velocity).sum())
    return velocity * (max_speed / speed.clip(min=max_speed))
