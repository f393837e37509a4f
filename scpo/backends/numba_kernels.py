"""Numba kernels: SCA, PO and SCPO updates fused per coordinate, with a counter-based generator.

Every kernel loops ``prange`` over rows and, inside a row, over coordinates; the update of
one coordinate is the scalar form of the numpy equations (``sca_move``, ``campaign_move``,
``scpo_case1``), operation for operation, so that with the same random numbers the results
agree with numpy to rounding. Two kinds of kernel share those scalar functions:

- ``*_drawn`` kernels take the random numbers as arrays laid out exactly as the numpy
  reference draws them: used to check equivalence, and by ``draws="numpy"``.
- ``*_counter`` kernels draw inside the loop from a counter-based generator: splitmix64's
  output function applied to ``stream + k * golden``, where ``stream`` is a per-(call, row)
  key and ``k`` the draw's slot in that row. A draw depends only on (run seed, kernel call,
  row, slot), never on the thread that computes it, so results are identical for any
  thread count, and an agent that cannot use a draw (SCPO's d2, d3, d4 when it did not
  improve) does not pay for it.

Uniforms: ``hi32``/``lo32``/``mid31`` cut one 64-bit output into independent 32/32/31-bit
uniforms plus a spare low bit (SCA's r4 < 0.5, a fair coin); ``u53`` is a full-precision
uniform. ``wave`` turns 32 bits into sin or cos of a uniform angle with a branch-free
polynomial (libm's sin does not vectorize; the polynomial is within 5e-16 of it in float64, and of
degree 9, within float32 rounding, in float32).
Everything is written branch-free (every case computed, then selected, as the numpy code
does with np.where) so that the loops over coordinates vectorize. Arithmetic is in the
population's dtype (``typed`` casts the random numbers and constants): float64 arrays give
the numpy equations to rounding; float32 arrays are computed in float32, as the torch backend
does, which fits twice the lanes in a vector register (SCPO's campaign about 2x faster) on top of
halving the memory traffic. A float32 uniform is the 32-bit one rounded to the float32 grid,
so it can be exactly 1 (probability 2^-25); every update is continuous in it on [0, 1]. No
fast-math here: the same inputs give the same bits on any machine and any vector width.
"""

from __future__ import annotations

from functools import partial

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from scpo.algorithms.scpo_hybrid import DENOMINATOR_GUARD as GUARD
from scpo.backends.threads import restore_torch_threads, torch_threads

# error_model="numpy": no ZeroDivisionError checks in the loops (they stop vectorization).
scalar = partial(njit, cache=True, error_model="numpy")
inlined = partial(njit, cache=True, error_model="numpy", inline="always")  # composite steps: so that
# LLVM sees one loop body (a call it declines to inline stops vectorization)
kernel = partial(njit, parallel=True, cache=True, error_model="numpy")


def typed(value, like):
    """``value`` as the floating type of ``like`` (float32 or float64): constants and random numbers
    in float32 kernels stay float32 (numba would otherwise promote the arithmetic to float64)."""
    return value


@overload(typed, inline="always")
def _typed(value, like):
    cast = np.float32 if like == types.float32 else np.float64
    return lambda value, like: cast(value)


PARALLEL_MIN = 1_000_000  # coordinates; below this one thread beats waking (and waiting for) the others


def launch(kernel, work: int, *args):
    """Run ``kernel``; on fewer than PARALLEL_MIN coordinates, on one thread (the same result). torch's
    thread count, which shares the OpenMP runtime, is left as it was (:mod:`scpo.backends.threads`)."""
    if work >= PARALLEL_MIN:
        return kernel(*args)
    threads, before = numba.get_num_threads(), torch_threads()
    numba.set_num_threads(1)
    try:
        return kernel(*args)
    finally:
        numba.set_num_threads(threads)
        restore_torch_threads(before)


GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # splitmix64's increment
MIX1, MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
SH30, SH27, SH31, SH32, SH11, SH1 = (np.uint64(s) for s in (30, 27, 31, 32, 11, 1))
ONE, LOW32, LOW31 = np.uint64(1), np.uint64(0xFFFFFFFF), np.uint64(0x7FFFFFFF)


# ---- counter-based generator --------------------------------------------------------------

@scalar()
def mix64(z):
    """splitmix64's output function (a bijection of 64-bit integers with full avalanche)."""
    z = (z ^ (z >> SH30)) * MIX1
    z = (z ^ (z >> SH27)) * MIX2
    return z ^ (z >> SH31)


@scalar()
def row_stream(key, row):
    return mix64(key + np.uint64(row + 1) * GOLDEN)


@scalar()
def draw(stream, slot):
    """Output number ``slot + 1`` of the splitmix64 sequence that starts at ``stream``."""
    return mix64(stream + (np.uint64(slot) + ONE) * GOLDEN)


@scalar()
def u53(z):
    return np.float64(z >> SH11) * 2.0**-53


@scalar()
def hi32(z):
    return np.float64(z >> SH32) * 2.0**-32


@scalar()
def lo32(z):
    return np.float64(z & LOW32) * 2.0**-32


@scalar()
def mid31(z):
    return np.float64((z >> SH1) & LOW31) * 2.0**-31


@kernel()
def fill_uniform(key, lb, ub, out):
    """out[i, j] = lb[j] + (ub[j] - lb[j]) * u, one 53-bit draw per coordinate (numpy's uniform)."""
    N, D = out.shape
    for i in prange(N):
        stream = row_stream(key, i)
        for j in range(D):
            out[i, j] = lb[j] + (ub[j] - lb[j]) * u53(draw(stream, j))


# ---- scalar updates (the numpy equations, one coordinate at a time, branch-free) ------------

# sin(x) = x * P(x^2) on [0, pi/2]: a Chebyshev fit (mpmath, 40 digits) of sin(sqrt(y))/sqrt(y) on
# [0, (pi/2)^2]; the absolute error against libm is below 5e-16 (tests check it).
S0, S1, S2, S3 = 0.9999999999999999, -0.16666666666666072, 0.008333333333282756, -0.00019841269824861897
S4, S5, S6, S7 = 2.7557316609073673e-06, -2.505188194671259e-08, 1.6048168318165643e-10, -7.374387503862757e-13
# float32: degree 9 suffices (a least-squares fit of sin on Chebyshev nodes, absolute error 3.4e-9, far
# below float32's half-ulp at 1, 6e-8; evaluated in float32 the error is that rounding). Three fewer
# multiply-adds on the longest dependency chain of SCPO's improved move: about 10 % of its time here.
F0, F1, F2 = 0.9999999765111134, -0.16666647591776154, 0.008332899193665328
F3, F4 = -0.00019800863505818088, 2.5904263802595286e-06
HALF_PI = np.pi / 2
ANGLE = HALF_PI * 2.0**-30  # one step of wave's 30-bit position in a quadrant (exact: a power-of-2 scaling)
U32_1, U32_3, U32_30, LOW30 = np.uint32(1), np.uint32(3), np.uint32(30), np.uint32(0x3FFFFFFF)


@scalar()
def clip(x, lo, hi):
    """``x`` clipped to ``[lo, hi]``, in the floating type of ``x`` (the kernels pass bounds already cast
    to it: a float64 bound would widen the loop's arithmetic and halve its vector lanes)."""
    lo, hi = typed(lo, x), typed(hi, x)
    return lo if x < lo else (hi if x > hi else x)


@inlined()
def _sin_quarter64(x):
    y = x * x
    return x * (S0 + y * (S1 + y * (S2 + y * (S3 + y * (S4 + y * (S5 + y * (S6 + y * S7)))))))


@inlined()
def _sin_quarter32(x):
    y = x * x
    f0, f1, f2, f3, f4 = typed(F0, x), typed(F1, x), typed(F2, x), typed(F3, x), typed(F4, x)
    return x * (f0 + y * (f1 + y * (f2 + y * (f3 + y * f4))))


def sin_quarter(x):
    """sin(x) on [0, pi/2] as an odd polynomial, degree 15 in float64 and 9 in float32: vectorizes,
    unlike libm's sin."""
    return _sin_quarter64.py_func(x)


@overload(sin_quarter, inline="always")
def _sin_quarter(x):
    if x == types.float32:
        return lambda x: _sin_quarter32(x)
    return lambda x: _sin_quarter64(x)


@inlined()
def wave(z, like):
    """sin(d2) or cos(d2) (by bit 0 of ``z``, SCA's r4 < 0.5) of the angle d2 ~ U[0, 2 pi) in the top
    32 bits of ``z``: 2 bits of quadrant, 30 of position in it. cos is sin a quadrant later. In the
    floating type of ``like``."""
    top = np.uint32(z >> SH32)  # 32-bit lanes from here: twice as many per vector, cheap conversions
    quadrant = ((top >> U32_30) + (np.uint32(z) & U32_1)) & U32_3
    x = typed(np.int32(top & LOW30), like) * typed(ANGLE, like)
    odd = (quadrant & U32_1) == U32_1
    value = sin_quarter(typed(HALF_PI, like) - x if odd else x)
    return -value if quadrant >= np.uint32(2) else value


LN2, SQRT_HALF = np.log(2.0), np.sqrt(0.5)


@inlined()
def _halve_below(u, e, power, like):
    """One step of -ln's range reduction: ``u`` below 2^-power is scaled by 2^power, ``e`` counts it."""
    small = u < typed(2.0**-power, like)
    return (u * typed(2.0**power, like) if small else u), (e + typed(power, like) if small else e)


@inlined()
def radius(z, like):
    """sqrt(-2 ln u) for u = (bits 1-31 of ``z`` + 1/2) / 2^31 in (0, 1): Box-Muller's radius, branch-free so
    that the loop vectorizes (libm's log does not): u scaled into [sqrt(1/2), sqrt(2)) by powers of 2, then
    ln u = 2 atanh(t), t = (u - 1) / (u + 1), |t| <= 0.172, atanh's series to t^13 (relative error of the
    radius below 1e-12 in float64, tested)."""
    u = (typed(np.float64((z >> SH1) & LOW31), like) + typed(0.5, like)) * typed(2.0**-31, like)
    e = typed(0.0, like)
    u, e = _halve_below(u, e, 16.0, like)
    u, e = _halve_below(u, e, 8.0, like)
    u, e = _halve_below(u, e, 4.0, like)
    u, e = _halve_below(u, e, 2.0, like)
    u, e = _halve_below(u, e, 1.0, like)  # u in [1/2, 1)
    below = u < typed(SQRT_HALF, like)  # into [sqrt(1/2), sqrt(2)): ln u near 0 keeps its relative accuracy
    u, e = (u + u if below else u), (e + typed(1.0, like) if below else e)
    t = (u - typed(1.0, like)) / (u + typed(1.0, like))
    t2 = t * t
    series = typed(1 / 13, like)
    series = series * t2 + typed(1 / 11, like)
    series = series * t2 + typed(1 / 9, like)
    series = series * t2 + typed(1 / 7, like)
    series = series * t2 + typed(1 / 5, like)
    series = series * t2 + typed(1 / 3, like)
    series = series * t2 + typed(1.0, like)
    log_u = typed(2.0, like) * t * series - e * typed(LN2, like)
    return np.sqrt(typed(-2.0, like) * log_u)


@kernel()
def fill_normal(key, out):
    """Standard normals by Box-Muller, two per 64-bit draw: draw k of row i gives the radius (bits 1-31,
    :func:`radius`, at most 6.7) and the angle (top 32 bits); r sin and r cos (:func:`wave`, bit 0 says which
    comes first) go to coordinates k and k + D // 2 (an odd D's last coordinate has its own draw). The two
    halves are written through separate row views, so that the loop vectorizes. In ``out``'s dtype."""
    N, D = out.shape
    half = D // 2
    for i in prange(N):
        stream = row_stream(key, i)
        like = out[i, 0]
        first, second = out[i, :half], out[i, half:2 * half]
        for k in range(half):
            z = draw(stream, k)
            r = radius(z, like)
            first[k] = r * wave(z, like)
            second[k] = r * wave(z ^ ONE, like)
        if D % 2:
            z = draw(stream, half)
            out[i, D - 1] = radius(z, like) * wave(z, like)


@inlined()
def sca_coordinate(x, p, r1, w, r3):
    """X + r1 * w * |r3 * P - X| with w = sin(r2) or cos(r2): ``sca.sca_move``."""
    return x + r1 * w * abs(r3 * p - x)


@inlined()
def campaign_update(p, q, c, better, r, towards):
    """``po.campaign_move`` for one coordinate; ``towards`` is the improved case-1 move."""
    one = typed(1.0, r)
    up, down = q <= p, q >= p
    case1 = (up & (p <= c)) | (down & (p >= c))
    case2 = (up & (p >= c) & (c >= q)) | (down & (p <= c) & (c <= q))
    around_p = c + (r + r - one) * abs(p - c)  # improved case 2 == deteriorated case 1
    around_q = c + (r + r - one) * abs(q - c)  # case 3, both branches
    back_to_q = q + r * (p - q)  # deteriorated case 2
    if_improved = towards if case1 else (around_p if case2 else around_q)
    if_worse = around_p if case1 else (back_to_q if case2 else around_q)
    return if_improved if better else if_worse


@inlined()
def scpo_towards(p, c, g, r, d1, w, d3, printed):
    """``scpo_hybrid.scpo_case1`` (k = d1 w), falling back to PO's c + r (c - p) where |1 - k + d| < 1e-8."""
    one = typed(1.0, r)
    k = d1 * w
    denominator = one - k + r
    safe = abs(denominator) >= typed(GUARD, r)
    pull = (one if printed else r) * k * d3 * g
    update = ((one - k) * (one + r) * c + pull) / (denominator if safe else one)
    return update if safe else c + r * (c - p)


# ---- SCA ------------------------------------------------------------------------------------

@kernel()
def sca_drawn(X, P, r1, r2, r3, r4, U, lb, ub, greedy, out):
    """SCA with the reference's random arrays (r2, r3, r4 and, if greedy, the redraws U)."""
    N, D = X.shape
    lb, ub = lb.astype(out.dtype), ub.astype(out.dtype)  # the arithmetic's type (see clip)
    r1 = X.dtype.type(r1)
    for i in prange(N):
        for j in range(D):
            x = X[i, j]
            w = typed(np.sin(r2[i, j]) if r4[i, j] < 0.5 else np.cos(r2[i, j]), x)
            y = sca_coordinate(x, typed(P[j], x), r1, w, typed(r3[i, j], x))
            if greedy:
                out[i, j] = U[i, j] if (y < lb[j] or y > ub[j]) else y
            else:
                out[i, j] = clip(y, lb[j], ub[j])


@kernel()
def sca_counter(X, P, r1, key, lb, ub, greedy, out):
    """SCA, one 64-bit draw per coordinate: r2 (32 bits), r3 (31 bits), r4 < 0.5 (1 bit).
    Greedy (mealpy's variant) redraws a coordinate that left the box from a second one."""
    N, D = X.shape
    lb, ub = lb.astype(out.dtype), ub.astype(out.dtype)  # the arithmetic's type (see clip)
    r1 = X.dtype.type(r1)
    for i in prange(N):
        stream = row_stream(key, i)
        if greedy:
            for j in range(D):
                z, x = draw(stream, 2 * j), X[i, j]
                y = sca_coordinate(x, typed(P[j], x), r1, wave(z, x), typed(2.0 * mid31(z), x))
                redraw = lb[j] + (ub[j] - lb[j]) * typed(u53(draw(stream, 2 * j + 1)), x)
                out[i, j] = redraw if (y < lb[j]) | (y > ub[j]) else y
        else:
            for j in range(D):
                z, x = draw(stream, 2 * j), X[i, j]
                out[i, j] = clip(sca_coordinate(x, typed(P[j], x), r1, wave(z, x), typed(2.0 * mid31(z), x)), lb[j],
                                 ub[j])


# ---- PO and SCPO election campaign, party switching fused in ------------------------------
# Row i of ``out`` receives agent s = source[i]'s campaigned position (``po.apply_switch``;
# a ``diagonal`` row gets that position's coordinate 0 everywhere), clipped. Both stages
# (towards the party leader, then the constituency winner) are done in registers.

@inlined()
def _drawn_coordinate(s, j, p, q, c_a, c_b, better, r_a, r_b, sc_a, sc_b, scpo, G, d1, printed):
    r = typed(r_a[s, j], p)
    towards = c_a + r * (c_a - p)
    if scpo:
        w = typed(np.sin(sc_a[0, s, j]) if sc_a[2, s, j] < 0.5 else np.cos(sc_a[0, s, j]), p)
        towards = scpo_towards(p, c_a, typed(G[j], p), r, d1, w, typed(sc_a[1, s, j], p), printed)
    p = campaign_update(p, q, c_a, better, r, towards)
    r = typed(r_b[s, j], p)
    towards = c_b + r * (c_b - p)
    if scpo:
        w = typed(np.sin(sc_b[0, s, j]) if sc_b[2, s, j] < 0.5 else np.cos(sc_b[0, s, j]), p)
        towards = scpo_towards(p, c_b, typed(G[j], p), r, d1, w, typed(sc_b[1, s, j], p), printed)
    return campaign_update(p, q, c_b, better, r, towards)


@kernel()
def campaign_drawn(X, Q, leaders, winners, improved, source, diagonal, lb, ub,
                   r_a, r_b, sc_a, sc_b, scpo, G, d1, printed, out):
    """The campaign with the reference's arrays: each stage's r, and for SCPO (d2, d3, d4) as (3, N, D)."""
    N, D = X.shape
    lb, ub = lb.astype(out.dtype), ub.astype(out.dtype)  # the arithmetic's type (see clip)
    n = leaders.shape[0]
    d1 = X.dtype.type(d1)
    for i in prange(N):
        s = source[i]
        a, b, better = s // n, s % n, improved[s]
        if diagonal[i]:
            v = _drawn_coordinate(s, 0, X[s, 0], Q[s, 0], leaders[a, 0], winners[b, 0], better,
                                  r_a, r_b, sc_a, sc_b, scpo, G, d1, printed)
            for j in range(D):
                out[i, j] = clip(v, lb[j], ub[j])
        else:
            for j in range(D):
                v = _drawn_coordinate(s, j, X[s, j], Q[s, j], leaders[a, j], winners[b, j], better,
                                      r_a, r_b, sc_a, sc_b, scpo, G, d1, printed)
                out[i, j] = clip(v, lb[j], ub[j])


@inlined()
def _po_coordinate(stream, j, p, q, c_a, c_b, better):
    z = draw(stream, 3 * j)  # both stages' r, 32 bits each
    r = typed(hi32(z), p)
    p = campaign_update(p, q, c_a, better, r, c_a + r * (c_a - p))
    r = typed(lo32(z), p)
    return campaign_update(p, q, c_b, better, r, c_b + r * (c_b - p))


@inlined()
def _scpo_coordinate(stream, j, p, q, c_a, c_b, better, g, d1, printed):
    z = draw(stream, 3 * j)  # both stages' r; then per stage d2 (32 bits), d3 (31), d4 (1)
    r, w, g = typed(hi32(z), p), draw(stream, 3 * j + 1), typed(g, p)
    p = campaign_update(p, q, c_a, better, r,
                        scpo_towards(p, c_a, g, r, d1, wave(w, p), typed(2.0 * mid31(w), p), printed))
    r, w = typed(lo32(z), p), draw(stream, 3 * j + 2)
    return campaign_update(p, q, c_b, better, r,
                           scpo_towards(p, c_b, g, r, d1, wave(w, p), typed(2.0 * mid31(w), p), printed))


@kernel()
def po_campaign_counter(X, Q, leaders, winners, improved, source, diagonal, lb, ub, key, out):
    """PO's campaign drawing in the loop, keyed by the agent: one 64-bit draw per coordinate."""
    N, D = X.shape
    lb, ub = lb.astype(out.dtype), ub.astype(out.dtype)  # the arithmetic's type (see clip)
    n = leaders.shape[0]
    for i in prange(N):
        s = source[i]
        a, b, better = s // n, s % n, improved[s]
        stream = row_stream(key, s)
        if diagonal[i]:
            v = _po_coordinate(stream, 0, X[s, 0], Q[s, 0], leaders[a, 0], winners[b, 0], better)
            for j in range(D):
                out[i, j] = clip(v, lb[j], ub[j])
        else:
            for j in range(D):
                v = _po_coordinate(stream, j, X[s, j], Q[s, j], leaders[a, j], winners[b, j], better)
                out[i, j] = clip(v, lb[j], ub[j])


@kernel()
def scpo_campaign_counter(X, Q, leaders, winners, improved, source, diagonal, lb, ub, key, G, d1, printed, out):
    """SCPO's campaign drawing in the loop, keyed by the agent: one 64-bit draw per coordinate, and
    for an agent that improved (the only one that can take the SCA-substituted move) two more."""
    N, D = X.shape
    lb, ub = lb.astype(out.dtype), ub.astype(out.dtype)  # the arithmetic's type (see clip)
    n = leaders.shape[0]
    d1 = X.dtype.type(d1)
    for i in prange(N):
        s = source[i]
        a, b, better = s // n, s % n, improved[s]
        stream = row_stream(key, s)
        if diagonal[i]:
            if better:
                v = _scpo_coordinate(stream, 0, X[s, 0], Q[s, 0], leaders[a, 0], winners[b, 0], True, G[0], d1,
                                     printed)
            else:
                v = _po_coordinate(stream, 0, X[s, 0], Q[s, 0], leaders[a, 0], winners[b, 0], False)
            for j in range(D):
                out[i, j] = clip(v, lb[j], ub[j])
        elif better:
            for j in range(D):
                v = _scpo_coordinate(stream, j, X[s, j], Q[s, j], leaders[a, j], winners[b, j], True,
                                     G[j], d1, printed)
                out[i, j] = clip(v, lb[j], ub[j])
        else:  # a deteriorated agent's moves are PO's: no d2, d3, d4 needed
            for j in range(D):
                v = _po_coordinate(stream, j, X[s, j], Q[s, j], leaders[a, j], winners[b, j], False)
                out[i, j] = clip(v, lb[j], ub[j])


@scalar()
def switch_plan(fitness, n, moving, offsets, reference_bug):
    """``po.switch_plan`` compiled: the same sequential swaps, on indices only."""
    N = n * n
    source = np.arange(N)
    diagonal = np.zeros(N, dtype=np.bool_)
    f = fitness.astype(np.float64)
    for i in range(N):
        if not moving[i]:
            continue
        party = (i // n + offsets[i]) % n
        j = party * n + np.argmax(f[party * n : party * n + n])
        src_i, src_j, diag_i, diag_j = source[i], source[j], diagonal[i], diagonal[j]
        source[i], diagonal[i] = src_j, diag_j
        source[j], diagonal[j] = src_i, (True if reference_bug else diag_i)
        f[i], f[j] = f[j], f[i]
    return source, diagonal


@kernel()
def parliament_counter(X, winner_idx, other, key, lb, ub, out):
    """:func:`parliament` on the state's rows ``X[winner_idx]`` (no gathered copy), ``r[i, j]`` drawn in
    the loop: ``u53`` of output j of row i's stream, the numbers ``fill_uniform(key, 0, 1, r)`` gives."""
    n, D = winner_idx.shape[0], X.shape[1]
    lb, ub = lb.astype(out.dtype), ub.astype(out.dtype)  # the arithmetic's type (see clip)
    for i in prange(n):
        stream = row_stream(key, i)
        me, them = winner_idx[i], winner_idx[other[i]]
        for j in range(D):
            target = X[them, j]
            rate = typed(u53(draw(stream, j)), target)
            out[i, j] = clip(target + (rate + rate - typed(1.0, target)) * abs(target - X[me, j]), lb[j], ub[j])


@kernel()
def parliament(winners, other, r, lb, ub, out):
    """Each winner moves to w_other + (2r - 1)|w_other - w_self|, clipped (r drawn by the caller)."""
    n, D = winners.shape
    lb, ub = lb.astype(out.dtype), ub.astype(out.dtype)  # the arithmetic's type (see clip)
    for i in prange(n):
        o = other[i]
        for j in range(D):
            target = winners[o, j]
            rate = typed(r[i, j], target)
            out[i, j] = clip(target + (rate + rate - typed(1.0, target)) * abs(target - winners[i, j]), lb[j], ub[j])


# ---- evolution strategies -------------------------------------------------------------------

@kernel()
def es_sample(Z, centre, scale, lb, ub, mirrored, write_back, out):
    """The evolution strategies' candidates in one pass (:func:`scpo.algorithms.es_tools.sample_to_box`,
    operation for operation): ``t = scale * z``, then ``lb + clip(centre + t, 0, 1) * (ub - lb)`` clipped
    to the box, for ``t`` and, ``mirrored``, for ``-t`` in row ``i + N``; ``write_back`` stores ``t`` in
    ``Z``. Arithmetic in ``Z``'s dtype (``centre``, ``scale``, ``lb``, ``ub`` are given in it), stored in
    ``out``'s (a float64 reference rounded to a float32 population, as numba's other updates)."""
    n, D = Z.shape
    width = ub - lb
    for i in prange(n):
        for j in range(D):
            t = scale[j] * Z[i, j]
            if write_back:
                Z[i, j] = t
            y = clip(centre[j] + t, 0.0, 1.0) * width[j] + lb[j]
            out[i, j] = clip(y, lb[j], ub[j])
            if mirrored:
                y = clip(centre[j] - t, 0.0, 1.0) * width[j] + lb[j]
                out[n + i, j] = clip(y, lb[j], ub[j])


# ---- PSO and DE (the numpy equations in one pass; ``*_move`` take the draws, ``*_counter`` make them) ----

@kernel()
def pso_move(X, V, P, best, r1, r2, w, c1, c2, vmax, lb, ub, out):
    """PSO's ask (:meth:`scpo.algorithms.pso.PSO.ask`) operation for operation: the new velocity
    ``w V + c1 r1 (P - X) + c2 r2 (best - X)`` clipped to ``+-vmax``, added to ``X`` and clipped to the box.
    Scalars take the type of the array they multiply (numpy's rule for Python floats), arrays keep theirs,
    so float64 draws on a float32 population compute as numpy does there."""
    n, D = X.shape
    for i in prange(n):
        for j in range(D):
            x = X[i, j]
            a, b = r1[i, j], r2[i, j]
            v = (typed(w, V[i, j]) * V[i, j] + typed(c1, a) * a * (P[i, j] - x)) + typed(c2, b) * b * (best[j] - x)
            v = -vmax[j] if v < -vmax[j] else (vmax[j] if v > vmax[j] else v)
            y = x + v
            out[i, j] = lb[j] if y < lb[j] else (ub[j] if y > ub[j] else y)


@kernel()
def pso_counter(X, V, P, best, key, w, c1, c2, vmax, lb, ub, out):
    """:func:`pso_move` with r1 and r2 drawn here: one 64-bit draw per coordinate, its high 32 bits r1, its
    low 32 bits r2 (independent uniforms). In the population's dtype."""
    n, D = X.shape
    for i in prange(n):
        stream = row_stream(key, i)
        for j in range(D):
            x, z = X[i, j], draw(stream, j)
            a, b = typed(hi32(z), x), typed(lo32(z), x)
            v = (typed(w, x) * V[i, j] + typed(c1, x) * a * (P[i, j] - x)) + typed(c2, x) * b * (best[j] - x)
            v = -vmax[j] if v < -vmax[j] else (vmax[j] if v > vmax[j] else v)
            y = x + v
            out[i, j] = lb[j] if y < lb[j] else (ub[j] if y > ub[j] else y)


@kernel()
def pso_tell(X, candidates, better, V, P):
    """PSO's tell in place: ``V = candidates - X`` (the displacement made), and the personal bests ``P`` of the
    ``better`` rows replaced by their candidates."""
    n, D = X.shape
    for i in prange(n):
        improved = better[i]
        for j in range(D):
            y = candidates[i, j]
            V[i, j] = y - X[i, j]
            if improved:
                P[i, j] = y


@kernel()
def de_move(X, partners, U, jrand, F, CR, lb, ub, out):
    """DE/rand/1/bin's trial vectors (:meth:`scpo.algorithms.de.DE.ask`) operation for operation: mutant
    ``X[a] + F (X[b] - X[c])``, outside the box replaced by the midpoint of the bound and the target, taken
    where ``U < CR`` and at ``jrand``. F and CR take the type of the array they meet (numpy's and torch's
    rule for Python floats)."""
    n, D = X.shape
    for i in prange(n):
        a, b, c, k = partners[i, 0], partners[i, 1], partners[i, 2], jrand[i]
        for j in range(D):
            x = X[i, j]
            m = X[a, j] + typed(F, x) * (X[b, j] - X[c, j])
            if m < lb[j]:
                y = (lb[j] + x) / 2
            elif m > ub[j]:
                y = (ub[j] + x) / 2
            else:
                y = m
            u = U[i, j]
            out[i, j] = y if (u < typed(CR, u) or j == k) else x


@kernel()
def de_counter(X, partners, jrand, key, F, CR, lb, ub, out):
    """:func:`de_move` with the crossover's uniforms drawn here (32 bits per coordinate)."""
    n, D = X.shape
    for i in prange(n):
        stream = row_stream(key, i)
        a, b, c, k = partners[i, 0], partners[i, 1], partners[i, 2], jrand[i]
        for j in range(D):
            x = X[i, j]
            m = X[a, j] + typed(F, x) * (X[b, j] - X[c, j])
            y = (lb[j] + x) / 2 if m < lb[j] else ((ub[j] + x) / 2 if m > ub[j] else m)
            out[i, j] = y if (hi32(draw(stream, j)) < CR or j == k) else x
