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

import scpo
from scpo import problems
from scpo.algorithms import es_tools as es
from scpo.algorithms.base import Context
from scpo.algorithms.de import DE, DEState
from scpo.algorithms.pso import PSO, PSOState
from scpo.backends.numba_backend import NumbaContext, NumbaDE, NumbaPSO, es_sample

ROOT = Path(__file__).resolve().parents[1]


def _context(D: int, rng_seed: int = 0, numba: bool = False, dtype=np.float64):
    lb, ub = np.linspace(-5.0, -1.0, D), np.linspace(1.0, 7.0, D)
    rng = np.random.default_rng(rng_seed)
    if numba:
        return NumbaContext(rng, lb, ub, 10, 3, None, dtype=dtype)
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
