"""Issue #27 item 6: updates near the copy floor. The ES family's asks and tells make no (N, D) temporaries
beyond what they return and keep; the fused numba kernels (ES sampling, PSO's and DE's asks) give the
numbers of the whole-array code they replace; the benchmarks' plumbing (experiments/bench_floor.py,
bench_engine.py --peers) runs without the peers' venvs."""

from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path

import numba
import numpy as np
import pytest
import torch
from scipy import stats

import scpo
from scpo import problems
from scpo.algorithms import es_tools as es
from scpo.algorithms.base import Context
from scpo.algorithms.de import DE, DEState
from scpo.algorithms.pso import PSO, PSOState
from scpo.backends.numba_backend import STEP, NumbaContext, NumbaDE, NumbaPSO, es_sample, mix64, three_distinct

ROOT = Path(__file__).resolve().parents[1]


def _context(D: int, rng_seed: int = 0, numba: bool = False, dtype=np.float64, native: bool = False):
    lb, ub = np.linspace(-5.0, -1.0, D), np.linspace(1.0, 7.0, D)
    rng = np.random.default_rng(rng_seed)
    if numba:
        return NumbaContext(rng, lb, ub, 10, 3, None, dtype=dtype, native=native, key=12345)
    return Context(rng, lb, ub, 10, 3, None)


@pytest.mark.parametrize("mirrored", [False, True])
@pytest.mark.parametrize("write_back", [False, True])
def test_es_sampling_gives_the_whole_array_numbers(mirrored, write_back):
    """sample_to_box (in place) and numba's es_sample are to_box(centre + scale * Z), bit for bit, in float64
    and (torch's arithmetic) float32; write_back leaves scale * Z in Z."""
    rng = np.random.default_rng(1)
    N, D = 12, 7
    Z = rng.standard_normal((N, D)) * 4  # far enough to hit both clips
    centre, scale = rng.random(D), rng.random(D) + 0.1
    ctx = _context(D)
    T = scale * Z
    expected = es.to_box(centre + (np.concatenate([T, -T]) if mirrored else T), ctx)
    generic_Z, kernel_Z = Z.copy(), Z.copy()
    generic = es.sample_to_box(centre, scale, generic_Z, ctx, np, mirrored, write_back)
    kernel = es_sample(kernel_Z, centre, scale, ctx, mirrored, write_back, np.float64)
    np.testing.assert_array_equal(generic, expected)
    np.testing.assert_array_equal(kernel, expected)
    for after in (generic_Z, kernel_Z):
        np.testing.assert_array_equal(after, T if write_back else Z)
    # float32, as the torch backend computes
    Z32, c32, s32 = (torch.from_numpy(a.astype(np.float32)) for a in (Z, centre, scale))
    tctx = Context(None, torch.from_numpy(ctx.lb.astype(np.float32)), torch.from_numpy(ctx.ub.astype(np.float32)),
                   10, 3, None)
    T32 = s32 * Z32
    expected32 = es.to_box(c32 + (torch.cat([T32, -T32]) if mirrored else T32), tctx)
    kernel32 = es_sample(Z32.numpy().copy(), c32.numpy(), s32.numpy(), tctx, mirrored, write_back, np.float32)
    np.testing.assert_array_equal(kernel32, expected32.numpy())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pso_and_de_kernels_give_the_reference_numbers(dtype):
    """NumbaPSO/NumbaDE's fused asks: the numpy reference's draws and numbers (bit for bit), float64 and float32
    populations (float32: computed as numpy computes on float32 arrays with float64 draws, then rounded)."""
    N, D = 9, 11
    rng = np.random.default_rng(2)
    X, V, P = (rng.uniform(-6, 8, (N, D)).astype(dtype) for _ in range(3))
    best = X[3].copy()
    for reference, fused, state in ((PSO(), NumbaPSO(), PSOState(X, V, P, rng.random(N))),
                                    (DE(), NumbaDE(), DEState(X, rng.random(N)))):
        ctx_ref, ctx_numba = _context(D, 5), _context(D, 5, numba=True, dtype=dtype)
        ctx_ref.best_x = ctx_numba.best_x = best
        expected = np.asarray(reference.ask(state, ctx_ref), dtype=dtype)
        np.testing.assert_array_equal(fused.ask(state, ctx_numba), expected)
        assert ctx_ref.rng.random() == ctx_numba.rng.random()  # the same draws, in the same order


def _counter_uniforms(ctx: NumbaContext, shape) -> tuple[np.ndarray, np.ndarray]:
    """The high and low 32 bits of the kernels' draw (row i, slot j) of this step, as uniforms, from the
    Python version of the generator (numba_backend.mix64): what pso_counter and de_counter must use."""
    key, golden, mask = int(ctx.call_key(STEP)), 0x9E3779B97F4A7C15, (1 << 64) - 1
    high, low = np.empty(shape), np.empty(shape)
    for i in range(shape[0]):
        stream = mix64((key + (i + 1) * golden) & mask)
        for j in range(shape[1]):
            z = mix64((stream + (j + 1) * golden) & mask)
            high[i, j], low[i, j] = (z >> 32) * 2.0**-32, (z & 0xFFFFFFFF) * 2.0**-32
    return high, low


def test_pso_and_de_counter_kernels_are_the_reference_equations_on_the_counter_draws():
    """Native draws: PSO's r1/r2 and DE's crossover uniforms come from the kernel's generator (no (N, D) array
    drawn on the host); given those numbers (recomputed here in Python), the candidates are the reference's."""
    N, D = 9, 11
    rng = np.random.default_rng(2)
    X, V, P = (rng.uniform(-6, 8, (N, D)) for _ in range(3))
    best = X[3].copy()
    ctx = _context(D, 5, numba=True, native=True)
    ctx.best_x = best
    r1, r2 = _counter_uniforms(ctx, (N, D))
    pso = PSO()
    velocity = np.clip(pso.inertia(ctx) * V + pso.c1 * r1 * (P - X) + pso.c2 * r2 * (best - X),
                       -0.2 * (ctx.ub - ctx.lb), 0.2 * (ctx.ub - ctx.lb))
    expected = np.clip(X + velocity, ctx.lb, ctx.ub)
    np.testing.assert_allclose(NumbaPSO().ask(PSOState(X, V, P, rng.random(N)), ctx), expected, rtol=1e-14)

    de, twin = DE(), np.random.default_rng(7)
    ctx = _context(D, 7, numba=True, native=True)
    partners, jrand = three_distinct(twin, N), twin.integers(0, D, N)
    U, _ = _counter_uniforms(ctx, (N, D))
    mutant = X[partners[:, 0]] + de.F * (X[partners[:, 1]] - X[partners[:, 2]])
    mutant = np.where(mutant < ctx.lb, (ctx.lb + X) / 2, np.where(mutant > ctx.ub, (ctx.ub + X) / 2, mutant))
    cross = (U < de.CR) | (np.arange(D) == jrand[:, None])
    np.testing.assert_array_equal(NumbaDE().ask(DEState(X, rng.random(N)), ctx), np.where(cross, mutant, X))


def test_three_distinct_partners_are_uniform():
    """DE's partners under native draws: distinct, never the target, every ordered triple equally likely
    (chi-square over the 4 x 3 x 2 triples of n = 5, 48,000 rows; p > 1e-4 for this fixed seed)."""
    n = 5
    rng = np.random.default_rng(11)
    partners = np.concatenate([three_distinct(rng, n) for _ in range(48_000 // n)])
    target = np.tile(np.arange(n), 48_000 // n)
    assert np.all(partners != target[:, None])
    assert np.all((partners[:, 0] != partners[:, 1]) & (partners[:, 0] != partners[:, 2])
                  & (partners[:, 1] != partners[:, 2]))
    offsets = (partners - target[:, None]) % n  # in 1..4
    codes = (offsets[:, 0] - 1) * 16 + (offsets[:, 1] - 1) * 4 + (offsets[:, 2] - 1)
    counts = np.bincount(codes, minlength=64)
    observed = counts[counts > 0]
    assert observed.size == 24
    assert stats.chisquare(observed).pvalue > 1e-4


def _peaks(algorithm: str, N: int = 256, D: int = 2000) -> tuple[float, float]:
    """Peak memory above the start of a numpy ask and of a tell, in (N, D) float64 arrays."""
    optimizer = scpo.make(problems.get("sphere", D), algorithm, seed=0, pop_size=N, max_iter=10)
    evaluate = optimizer.evaluator()
    for _ in range(2):
        optimizer.tell(evaluate(optimizer.ask(copy=False)))
    array = N * D * 8
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        candidates = optimizer.ask(copy=False)
        ask = tracemalloc.get_traced_memory()[1] - before
        fitness = evaluate(candidates)
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        optimizer.tell(fitness)
        tell = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return ask / array, tell / array


@pytest.mark.parametrize("algorithm", ["snes", "sep-cmaes", "pgpe", "openai-es"])
def test_es_updates_make_no_population_sized_temporaries(algorithm):
    """An ES ask holds its new draws and the candidates it returns, nothing else of size (N, D) (before: 3 to 5
    whole-array temporaries); its tell reduces over the samples without an (N, D) temporary (before: a gathered
    copy and one product array at least)."""
    ask, tell = _peaks(algorithm)
    assert ask < 2.2, f"ask peaked at {ask:.2f} population arrays"
    assert tell < 0.5, f"tell peaked at {tell:.2f} population arrays"


def test_bench_floor_plumbing(tmp_path, capsys):
    """experiments/bench_floor.py on a tiny shape: a row per (algorithm, backend) with its ratio and verdict."""
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        import bench_floor
    finally:
        sys.path.remove(str(ROOT / "experiments"))
    out = tmp_path / "floor.txt"
    threads = (numba.get_num_threads(), torch.get_num_threads())
    try:
        bench_floor.main(["--shape", "16", "40", "--repeats", "1", "--algorithms", "snes", "pso",
                          "--backends", "numba", "torch", "--out", str(out)])
    finally:  # the script sets one thread process-wide
        numba.set_num_threads(threads[0])
        torch.set_num_threads(threads[1])
    text = out.read_text()
    for algorithm in ("snes", "pso"):
        for backend in ("numba", "torch"):
            assert any(line.split()[:2] == [algorithm, backend] and ("MET" in line or "MISSED" in line)
                       for line in text.splitlines()), text


def test_bench_peers_says_skipped_for_a_missing_venv(tmp_path):
    """A peer whose venv is missing is a row saying so, not a failure."""
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        import bench_engine
    finally:
        sys.path.remove(str(ROOT / "experiments"))
    assert bench_engine.peer_python("mealpy", tmp_path) is None
    assert bench_engine.peer_python("evox", tmp_path) is None
    rows = bench_engine.peer_rows("mealpy", None, {"algorithm": "pso"})
    assert rows == [{"name": "mealpy", "note": "skipped (venv missing)"}]


def test_kernel_normals_are_standard_normal():
    """fill_normal's Box-Muller: the branch-free radius is sqrt(-2 ln u) to 1e-12 relative; the numbers pass
    Kolmogorov-Smirnov against N(0, 1) in float64 and float32 (fixed key: a deterministic check), and a
    native numba context writes them into one array per shape, in the run's dtype, the same numbers for the
    same (run, iteration, phase)."""
    from scpo.backends import numba_kernels as K

    z = np.random.default_rng(4).integers(0, 2**63, 50_000, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    u = (((z >> np.uint64(1)) & np.uint64(0x7FFFFFFF)).astype(np.float64) + 0.5) * 2.0**-31
    radius = numba.njit(lambda zs: np.array([K.radius(v, 1.0) for v in zs]))(z)
    np.testing.assert_allclose(radius, np.sqrt(-2 * np.log(u)), rtol=1e-12, atol=0)
    for dtype, width in ((np.float64, 500), (np.float32, 501)):  # an odd width: its last column's own draw
        out = np.empty((40, width), dtype)
        K.fill_normal(np.uint64(99), out)
        assert out.dtype == dtype
        assert stats.kstest(out.ravel().astype(np.float64), "norm").pvalue > 1e-3
        assert stats.kstest(out[:, -1].astype(np.float64), "norm").pvalue > 1e-3
        # Box-Muller's pair (coordinates k and k + width // 2) is independent: no correlation, nor of squares
        first, second = out[:, :250].ravel().astype(np.float64), out[:, 250:500].ravel().astype(np.float64)
        assert abs(np.corrcoef(first, second)[0, 1]) < 0.03
        assert abs(np.corrcoef(first**2, second**2)[0, 1]) < 0.03
        ctx = _context(500, numba=True, dtype=dtype, native=True)
        first = ctx.normal((40, 500), "normal")
        kept = first.copy()
        assert first.dtype == dtype
        again = ctx.normal((40, 500), "normal")
        assert again is first  # one array per shape, written again: no allocation per generation
        np.testing.assert_array_equal(again, kept)
        assert not np.array_equal(ctx.normal((40, 500), "other"), kept)
