"""numba and torch backends: same equations as numpy (to 1e-12 on the same draws), same statistics
on their own draws, reproducible, thread-count independent (numba), and clear errors."""

from __future__ import annotations

import numba
import numpy as np
import pytest
import torch
from _host_guard import run_refusing_host_transfers, run_with_cuda_syncs_refused
from scipy.stats import mannwhitneyu

import scpo
from scpo import backends, problems
from scpo.algorithms.po import switch_plan
from scpo.backends import numba_kernels as K
from scpo.backends import numba_problems, torch_problems

CASES = [("sca", {}), ("sca", {"greedy": True}), ("po", {}), ("po", {"reference_switch_bug": True}),
         ("scpo", {}), ("scpo", {"variant": "printed"}), ("random", {})]
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def as_numpy(X):
    return X.cpu().numpy() if torch.is_tensor(X) else np.asarray(X)


# ---- settings ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(backend="gpu"), "unknown backend 'gpu'"),
    (dict(backend="torch", device="tpu"), "unknown device 'tpu'"),
    (dict(backend="numba", dtype="float16"), "unknown dtype 'float16'"),
    (dict(backend="numba", device="cuda"), "device 'cuda' needs backend='torch'"),
    (dict(backend="numpy", dtype="float32"), "dtype 'float32' needs backend='numba' or 'torch'"),
    (dict(backend="numba", algorithm="scpo", variant="invariant"), "variant='invariant' has no numba implementation"),
])
def test_bad_settings_are_one_line_value_errors(kwargs, message):
    settings = dict(algorithm="sca", max_iter=2, pop_size=4, seed=0) | kwargs
    assert settings["algorithm"] in scpo.algorithm_names()
    with pytest.raises(ValueError, match=message) as error:
        scpo.minimize(problems.get("sphere", 3), **settings)
    assert "\n" not in str(error.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_a_device_is_a_clear_error():
    with pytest.raises(ValueError, match="device 'cuda' is not available"):
        scpo.minimize(problems.get("sphere", 3), algorithm="sca", max_iter=2, backend="torch", device="cuda")


def test_dtype_and_device_spellings():
    assert backends.dtype_name(np.float32) == "float32" and backends.dtype_name(torch.float64) == "float64"
    result = scpo.minimize(problems.get("sphere", 5), algorithm="scpo", pop_size=9, max_iter=3, seed=0,
                           backend="torch", dtype=torch.float32, device="cpu")
    assert result.dtype == "float32" and result.device == "cpu" and result.x.dtype == np.float32


# ---- equivalence on the same draws ------------------------------------------------------------

@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("algorithm, options", CASES)
def test_one_step_matches_numpy_on_the_same_draws(backend, algorithm, options):
    """draws="numpy" feeds the reference's random numbers to the backend's own update code."""
    problem = problems.get("rastrigin", 7, shifted=True, seed=2)
    pop = 16 if algorithm in ("po", "scpo") else 10
    ref = scpo.make(algorithm, problem, seed=11, pop_size=pop, max_iter=6, **options)
    other = scpo.make(algorithm, problem, seed=11, pop_size=pop, max_iter=6,
                      backend=backends.get(backend, draws="numpy"), **options)
    for _ in range(5):  # initial population, then (campaign and parliament) or two SCA steps
        X_ref, X = ref.ask(), as_numpy(other.ask())
        np.testing.assert_allclose(X, X_ref, rtol=1e-12, atol=1e-12)
        fitness = problem.evaluate(X_ref)
        ref.tell(fitness)
        other.tell(torch.as_tensor(fitness) if backend == "torch" else fitness)
    assert ref.nit == other.nit >= 2


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_whole_run_on_numpy_draws_matches_numpy(backend):
    problem = problems.get("griewank", 6, shifted=True, seed=1)
    settings = dict(algorithm="scpo", pop_size=9, max_iter=6, seed=3)
    ref = scpo.minimize(problem, **settings)
    got = scpo.minimize(problem, **settings, backend=backends.get(backend, draws="numpy"))
    np.testing.assert_allclose(got.x, ref.x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got.history["best"], ref.history["best"], rtol=1e-12)


# counter-based draws, replayed in numpy: the fused kernels are the *_drawn kernels plus the generator
GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def mix64(z):
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def counter_draws(key, rows, slots):
    with np.errstate(over="ignore"):
        stream = mix64(np.uint64(key) + (np.arange(rows, dtype=np.uint64) + np.uint64(1)) * GOLDEN)
        return mix64(stream[:, None] + (np.arange(slots, dtype=np.uint64) + np.uint64(1)) * GOLDEN)


def hi32(z):
    return (z >> np.uint64(32)).astype(float) * 2.0**-32


def lo32(z):
    return (z & np.uint64(0xFFFFFFFF)).astype(float) * 2.0**-32


def angle_scale_choice(w):
    """What one packed draw means: d2 ~ U[0, 2 pi) (32 bits), 2 * U (31 bits), d4 < 0.5 (1 bit)."""
    quadrant = (w >> np.uint64(62)).astype(float)
    fraction = ((w >> np.uint64(32)) & np.uint64(0x3FFFFFFF)).astype(float) * 2.0**-30
    scale = 2 * ((w >> np.uint64(1)) & np.uint64(0x7FFFFFFF)).astype(float) * 2.0**-31
    return np.pi / 2 * (quadrant + fraction), scale, np.where(w & np.uint64(1), 0.75, 0.25)


def test_fused_sca_kernel_is_the_drawn_kernel_plus_the_counter_generator():
    rng = np.random.default_rng(0)
    X, P = rng.uniform(-2, 2, (7, 40)), rng.uniform(-2, 2, 40)
    lb, ub = np.full(40, -2.0), np.full(40, 2.0)
    key = np.uint64(123456789)
    z = counter_draws(key, 7, 80)
    r2, r3, r4 = angle_scale_choice(z[:, 0::2])
    for greedy in (False, True):
        U = lb + (ub - lb) * ((z[:, 1::2] >> np.uint64(11)).astype(float) * 2.0**-53)
        fused, drawn = np.empty_like(X), np.empty_like(X)
        K.sca_counter(X, P, 1.3, key, lb, ub, greedy, fused)
        K.sca_drawn(X, P, 1.3, r2, r3, r4, U, lb, ub, greedy, drawn)
        np.testing.assert_allclose(fused, drawn, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("scpo_update", [False, True])
def test_fused_campaign_kernel_is_the_drawn_kernel_plus_the_counter_generator(scpo_update):
    rng = np.random.default_rng(1)
    n, D = 4, 30
    N = n * n
    X, Q = rng.uniform(-1, 1, (N, D)), rng.uniform(-1, 1, (N, D))
    leaders, winners, G = rng.uniform(-1, 1, (n, D)), rng.uniform(-1, 1, (n, D)), rng.uniform(-1, 1, D)
    improved = rng.random(N) < 0.5
    source, diagonal = switch_plan(rng.random(N), n, rng.random(N) < 0.7, rng.integers(1, n, N), True)
    assert diagonal.any() and (source != np.arange(N)).any()
    lb, ub = np.full(D, -1.5), np.full(D, 1.5)
    key = np.uint64(987654321)
    z = counter_draws(key, N, 3 * D)
    r_a, r_b = hi32(z[:, 0::3]), lo32(z[:, 0::3])
    sc_a, sc_b = (np.stack(angle_scale_choice(z[:, k::3])) for k in (1, 2))
    common = (X, Q, leaders, winners, improved, source, diagonal, lb, ub)
    fused, drawn = np.empty_like(X), np.empty_like(X)
    if scpo_update:
        K.scpo_campaign_counter(*common, key, G, 0.9, False, fused)
    else:
        K.po_campaign_counter(*common, key, fused)
    K.campaign_drawn(*common, r_a, r_b, sc_a, sc_b, scpo_update, G, 0.9, False, drawn)
    np.testing.assert_allclose(fused, drawn, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel", ["sca", "po", "scpo"])
def test_float32_kernels_compute_in_float32_to_the_float64_kernels(kernel):
    """float32 populations are updated in float32 arithmetic (twice the SIMD lanes): the float64
    kernel's result on the same inputs to float32 rounding, not that result rounded."""
    rng = np.random.default_rng(2)
    n, D = 8, 500
    N = n * n
    X, Q = rng.uniform(-1, 1, (N, D)).astype(np.float32), rng.uniform(-1, 1, (N, D)).astype(np.float32)
    leaders, winners = rng.uniform(-1, 1, (n, D)).astype(np.float32), rng.uniform(-1, 1, (n, D)).astype(np.float32)
    G = rng.uniform(-1, 1, D).astype(np.float32)
    lb, ub = np.full(D, -1.5), np.full(D, 1.5)
    common = (rng.random(N) < 0.5, np.arange(N), np.zeros(N, dtype=bool), lb, ub, np.uint64(55))
    outputs = {}
    for dtype in (np.float32, np.float64):
        arrays = [A.astype(dtype) for A in (X, Q, leaders, winners, G)]
        out = np.empty((N, D), dtype)
        if kernel == "sca":
            K.sca_counter(arrays[0], arrays[4], 1.3, np.uint64(55), lb, ub, False, out)
        elif kernel == "po":
            K.po_campaign_counter(*arrays[:4], *common, out)
        else:
            K.scpo_campaign_counter(*arrays[:4], *common, arrays[4], 0.9, False, out)
        outputs[dtype] = out
    single, double = outputs[np.float32], outputs[np.float64]
    close = np.isclose(single, double, rtol=2e-5, atol=2e-5)  # a two-stage move may flip a case on a tie
    assert close.mean() > 0.999
    assert (single != double.astype(np.float32)).mean() > 0.01  # float32 arithmetic, not float64 rounded


def test_sin_polynomials_are_libm_to_their_precision():
    """wave's sin on [0, pi/2]: degree 15 within 5e-16 of libm in float64, degree 9 within float32 rounding."""
    evaluate = numba.njit(lambda xs: [K.sin_quarter(x) for x in xs])
    angles = np.linspace(0, np.pi / 2, 20001)
    assert np.abs(np.array(evaluate(angles)) - np.sin(angles)).max() < 5e-16
    single = angles.astype(np.float32)
    error = np.abs(np.array(evaluate(single), dtype=np.float64) - np.sin(single.astype(np.float64)))
    assert error.max() < 2e-7 and error.max() > 1e-9  # float32 arithmetic: rounding-limited, not degree-limited


def test_fused_parliament_kernel_is_the_drawn_kernel_plus_the_counter_generator():
    rng = np.random.default_rng(3)
    n, D = 5, 40
    X = rng.uniform(-1, 1, (n * n, D))
    winner_idx, other = rng.permutation(n * n)[:n], (np.arange(n) + rng.integers(1, n, n)) % n
    lb, ub = np.full(D, -0.8), np.full(D, 0.8)
    for dtype in (np.float64, np.float32):
        Xd = X.astype(dtype)
        r = np.empty((n, D))
        K.fill_uniform(np.uint64(77), np.zeros(D), np.ones(D), r)
        fused, drawn = np.empty((n, D), dtype), np.empty((n, D), dtype)
        K.parliament_counter(Xd, winner_idx, other, np.uint64(77), lb, ub, fused)
        K.parliament(Xd[winner_idx], other, r, lb, ub, drawn)
        np.testing.assert_array_equal(fused, drawn)


def test_compiled_switch_plan_is_the_reference():
    rng = np.random.default_rng(4)
    for bug in (False, True):
        for _ in range(20):
            n = int(rng.integers(2, 7))
            args = (rng.random(n * n), n, rng.random(n * n) < 0.6, rng.integers(1, n, n * n))
            for ours, ref in zip(K.switch_plan(*args, bug), switch_plan(*args, bug), strict=True):
                np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("name", problems.names())
def test_numba_and_torch_problems_match_numpy(name):
    rng = np.random.default_rng(5)
    variants = [dict(), dict(shifted=True, seed=3)]
    if problems.SPECS[name].rotatable:
        variants.append(dict(shifted=True, rotated=True, seed=3))
    for kwargs in variants:
        problem = problems.get(name, 9, **kwargs)
        X = rng.uniform(problem.lb, problem.ub, (12, 9))
        reference = problem.objective(X)
        compiled = numba_problems.objective(problems.get(name, 9, **kwargs).objective, X)
        tensor = torch_problems.objective(problem.objective, torch.device("cpu"), torch.float64)(torch.as_tensor(X))
        if name == "quartic":  # the same noise draws for numba; torch's come from its own generator
            np.testing.assert_allclose(compiled, reference, rtol=1e-12)
            noise = tensor.numpy() - problems.make_quartic(_Zero())(X - problem.objective.offset)
            assert np.all((noise >= 0) & (noise < 1)) and noise.std() > 0
            continue
        np.testing.assert_allclose(compiled, reference, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(tensor.numpy(), reference, rtol=1e-12, atol=1e-9)


class _Zero:
    def random(self, n):
        return np.zeros(n)


# ---- the backends' own draws ----------------------------------------------------------------

def test_counter_generator_is_uniform_and_keyed():
    out = np.empty((1000, 1000))
    K.fill_uniform(np.uint64(42), np.zeros(1000), np.ones(1000), out)
    assert abs(out.mean() - 0.5) < 2e-3 and abs(out.var() - 1 / 12) < 2e-3
    assert 0.0 <= out.min() and out.max() < 1.0
    assert abs(np.corrcoef(out[:, :-1].ravel(), out[:, 1:].ravel())[0, 1]) < 5e-3
    assert abs(np.corrcoef(out[:-1].ravel(), out[1:].ravel())[0, 1]) < 5e-3
    other = np.empty_like(out)
    K.fill_uniform(np.uint64(43), np.zeros(1000), np.ones(1000), other)
    assert not np.any(other == out)
    waves = np.empty((200, 500))  # sin/cos of uniform angles: mean 0, mean square 1/2
    K.sca_counter(np.zeros((200, 500)), np.ones(500), 1.0, np.uint64(7), np.full(500, -9.0), np.full(500, 9.0),
                  False, waves)  # X = 0, P = 1: moves to wave * r3 with r3 ~ U[0, 2): mean 0, E[.^2] = 2/3
    assert abs(waves.mean()) < 0.01 and abs((waves**2).mean() - 2 / 3) < 0.01


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_same_seed_same_run_other_seed_other_run(backend):
    problem = problems.get("ackley", 8, shifted=True, seed=0)
    a, b, c = (scpo.minimize(problem, algorithm="scpo", pop_size=16, max_iter=8, seed=s, backend=backend)
               for s in (1, 1, 2))
    assert np.array_equal(a.x, b.x) and a.history["best"] == b.history["best"]
    assert not np.array_equal(a.x, c.x)


def test_numba_results_do_not_depend_on_the_thread_count(monkeypatch):
    monkeypatch.setattr(K, "PARALLEL_MIN", 1000)  # every kernel runs parallel
    problem = problems.get("rastrigin", 300, shifted=True, seed=0)
    before = numba.get_num_threads()
    runs = {}
    try:
        for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(threads)
            runs[threads] = [scpo.minimize(problem, algorithm=a, pop_size=64, max_iter=3, seed=9, backend="numba")
                             for a in ("scpo", "sca")]
    finally:
        numba.set_num_threads(before)
    first = next(iter(runs.values()))
    for results in runs.values():
        for r, f in zip(results, first, strict=True):
            assert np.array_equal(r.x, f.x) and r.history["best"] == f.history["best"]


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["sca", "po", "scpo"])
def test_final_fitness_distributions_agree_across_backends(algorithm):
    problem = problems.get("rastrigin", 10, shifted=True, seed=7)
    finals = {b: [scpo.minimize(problem, algorithm=algorithm, pop_size=16, max_iter=25, seed=s, backend=b).fun
                  for s in range(20)] for b in ("numpy", "numba", "torch")}
    for backend in ("numba", "torch"):
        assert mannwhitneyu(finals["numpy"], finals[backend]).pvalue > 0.01, (backend, finals)


def test_float32_runs_in_float32_and_still_optimizes():
    problem = problems.get("sphere", 20, shifted=True, seed=1)
    for backend in ("numba", "torch"):
        result = scpo.minimize(problem, algorithm="scpo", pop_size=16, max_iter=40, seed=0, backend=backend,
                               dtype="float32")
        assert result.x.dtype == np.float32 and result.fun < 0.05 * problem.evaluate(problem.lb[None])[0]


def test_numba_checkpoint_resumes_bit_for_bit_and_another_backend_refuses_it(tmp_path):
    problem = problems.get("rastrigin", 12, shifted=True, seed=3)
    settings = dict(algorithm="scpo", max_iter=20, seed=5, pop_size=16, backend="numba")
    full = scpo.minimize(problem, **settings)
    path = tmp_path / "run.ck"
    scpo.minimize(problem, **settings, checkpoint=path, checkpoint_every=3, callback=lambda p: p.nit >= 10)
    resumed = scpo.minimize(problem, **settings, checkpoint=path, checkpoint_every=3, resume=True)
    assert np.array_equal(resumed.x, full.x) and resumed.history["best"] == full.history["best"]
    with pytest.raises(ValueError, match="taken on backend 'numba' and this run is on backend 'torch'") as caught:
        scpo.minimize(problem, **{**settings, "backend": "torch"}, checkpoint=path, resume=True)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("algorithm", "step", "dtype"), [
    ("scpo", "fused", "float64"), ("sca", "eager", "float32"), ("snes", "auto", "float64"),
    ("random", "eager", "float64"), ("pgpe", "auto", "float32"),
])
def test_torch_checkpoint_resumes_to_the_same_result(tmp_path, algorithm, step, dtype):
    """torch on the cpu (issue #27 item 3): the state's tensors, the best so far and torch's own generator
    are saved; a resumed run ends where the uninterrupted one does (the resume re-evaluates the best: +1)."""
    problem = problems.get("rastrigin", 6, shifted=True, seed=3)
    backend = scpo.backends.get("torch", "cpu", dtype, step=step)
    settings = dict(algorithm=algorithm, max_iter=16, seed=5, backend=backend)
    full = scpo.minimize(problem, **settings)
    path = tmp_path / "run.ck"
    stopped = scpo.minimize(problem, **settings, checkpoint=path, checkpoint_every=3, callback=lambda p: p.nit >= 7)
    assert stopped.nit < full.nit
    resumed = scpo.minimize(problem, **settings, checkpoint=path, resume=True)
    assert np.array_equal(resumed.x, full.x) and resumed.fun == full.fun and resumed.nfev == full.nfev + 1
    assert resumed.history["best"] == full.history["best"]


def generation_peak_bytes(backend, N=256, D=2000):
    import tracemalloc

    problem = problems.get("sphere", D)
    optimizer = scpo.make("scpo", problem, seed=0, pop_size=N, max_iter=8, backend=backend)
    evaluate = optimizer.evaluator()
    for _ in range(7):  # warm up: numba's three rotating buffers exist after the first iterations
        optimizer.tell(evaluate(optimizer.ask(copy=False)))
    tracemalloc.start()
    while not optimizer.done:
        optimizer.tell(evaluate(optimizer.ask(copy=False)))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / (N * D * 8)


def test_numba_generation_allocates_no_population_sized_arrays():
    # only (parties, D) arrays (leaders, winners, parliament) and O(N) vectors; numpy makes dozens of (N, D)
    assert generation_peak_bytes("numba") < 0.5 < 5 < generation_peak_bytes("numpy")


# ---- torch specifics --------------------------------------------------------------------------

def test_torch_objective_receives_tensors_and_results_come_back_as_numpy():
    seen = []

    def sphere(X):
        seen.append(type(X))
        return (X**2).sum(dim=1)

    result = scpo.minimize(sphere, [(-5, 5)] * 4, algorithm="sca", pop_size=8, max_iter=30, seed=0, backend="torch")
    assert set(seen) == {torch.Tensor} and isinstance(result.x, np.ndarray) and result.fun < 1.0
    assert all(isinstance(v, float) for v in result.history["best"])


def test_torch_objective_errors_and_nonfinite_are_reported():
    with pytest.raises(scpo.ObjectiveError, match="raised RuntimeError"):
        scpo.minimize(lambda X: X @ torch.ones(3), [(-1, 1)] * 4, algorithm="sca", max_iter=2, backend="torch")
    result = scpo.minimize(lambda X: torch.where(X[:, 0] > 0, torch.nan, X[:, 0]), [(-1, 1)] * 2,
                           algorithm="sca", pop_size=10, max_iter=3, seed=0, backend="torch")
    assert result.nonfinite > 0 and np.isfinite(result.fun)


@cuda
@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["sca", "po", "scpo", "random"])
def test_cuda_runs_and_matches_cpu_statistics(algorithm):
    """Final fitness over 20 seeds on cuda (float32) against the numpy reference: same distribution."""
    problem = problems.get("rastrigin", 10, shifted=True, seed=7)
    settings = dict(algorithm=algorithm, pop_size=16, max_iter=25)
    gpu = [scpo.minimize(problem, **settings, seed=s, backend="torch", device="cuda", dtype="float32")
           for s in range(20)]
    cpu = [scpo.minimize(problem, **settings, seed=s).fun for s in range(20)]
    assert all(r.device == "cuda" and r.evaluator == "torch" for r in gpu)
    finals = [r.fun for r in gpu]
    assert mannwhitneyu(cpu, finals).pvalue > 0.01, (cpu, finals)
    assert 0.5 < np.median(finals) / np.median(cpu) < 2.0, (cpu, finals)


# ---- the torch backend's steps (issue #15) --------------------------------------------------------

def test_torch_step_settings_are_validated():
    for kwargs, message in [(dict(step="fast"), "unknown step 'fast'"),
                            (dict(step="fused", draws="numpy"), "step='fused' runs numba kernels on the cpu")]:
        with pytest.raises(ValueError, match=message):
            backends.get("torch", **kwargs)
    with pytest.raises(ValueError, match="step 'eager' needs backend='torch'"):
        backends.get("numba", step="eager")
    assert backends.get("torch").step == "fused"  # cpu, native draws
    assert backends.get("torch", draws="numpy").step == "eager"


@pytest.mark.parametrize("algorithm, options", CASES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_fused_step_is_the_numba_run(algorithm, options, dtype):
    """On the cpu the torch backend runs the numba kernels on views of its tensors: for a seed, the
    numba backend's positions to rounding (the objectives are different code, float32 sums may round
    apart and flip a comparison, so float32 is checked on the first iterations)."""
    problem = problems.get("rastrigin", 12, shifted=True, seed=3)
    settings = dict(algorithm=algorithm, pop_size=16, max_iter=4 if dtype == "float32" else 20, seed=5,
                    dtype=dtype, **options)
    fused = scpo.minimize(problem, backend="torch", **settings)
    native = scpo.minimize(problem, backend="numba", **settings)
    assert fused.x.dtype == np.dtype(dtype) and fused.nfev == native.nfev
    np.testing.assert_allclose(fused.x, native.x, rtol=0, atol=1e-12 if dtype == "float64" else 1e-5)
    np.testing.assert_allclose(fused.fun, native.fun, rtol=1e-5 if dtype == "float32" else 1e-12)


def test_torch_fused_step_allocates_no_population_sized_arrays():
    """The fused step writes into pooled buffers (as numba does): after warm-up an iteration creates no
    new (N, D) storage; the candidates handed out are views of the same few buffers."""
    problem = scpo.Problem(lambda X: (X * X).sum(1), -1.0, 1.0, dim=50)
    optimizer = scpo.make(problem, "scpo", pop_size=64, max_iter=30, seed=0, backend="torch")
    seen = set()
    for iteration in range(20):
        for _ in range(1 if optimizer.state is None else 2):
            X = optimizer.ask(copy=False)
            if X.shape[0] == 64 and iteration >= 3:
                seen.add(X.data_ptr())
            optimizer.tell((X * X).sum(1))
    assert len(seen) <= 3, len(seen)


@pytest.mark.parametrize("seed", range(4))
def test_device_switch_plan_is_the_reference(seed):
    """The tensor entry point of party switching (host plan on the cpu) gives the reference's sequential
    swaps, ties (first largest) and +inf fitness included, with and without the authors' bug."""
    from scpo.backends.torch_backend import switch_plan_device

    rng = np.random.default_rng(seed)
    for n in (2, 3, 5, 8):
        fitness = rng.integers(0, 4, n * n).astype(float)
        fitness[rng.random(n * n) < 0.1] = np.inf
        moving, offsets = rng.random(n * n) < rng.random(), rng.integers(1, n, n * n)
        for bug in (False, True):
            expected = switch_plan(fitness, n, moving, offsets, bug)
            got = switch_plan_device(torch.tensor(fitness), n, torch.tensor(moving), torch.tensor(offsets), bug)
            assert np.array_equal(as_numpy(got[0]), expected[0]) and np.array_equal(as_numpy(got[1]), expected[1])


def test_triton_switch_kernel_in_the_interpreter_is_the_reference():
    """The cuda kernel of party switching, run by triton's interpreter on the cpu (where triton is
    installed; torch's cuda builds ship it, the cpu build does not)."""
    pytest.importorskip("triton")
    import subprocess
    import sys
    code = (
        "import numpy as np, torch\n"
        "from scpo.backends import triton_switch\n"
        "from scpo.algorithms.po import switch_plan\n"
        "rng = np.random.default_rng(1)\n"
        "for trial in range(12):\n"
        "    n = int(rng.integers(2, 7)); f = rng.integers(0, 4, n * n).astype(float)\n"
        "    f[rng.random(n * n) < 0.1] = np.inf\n"
        "    moving, offsets, bug = rng.random(n * n) < 0.6, rng.integers(1, n, n * n), bool(trial % 2)\n"
        "    s, d = triton_switch.switch_plan(torch.tensor(f), n, torch.tensor(moving), torch.tensor(offsets), bug)\n"
        "    es, ed = switch_plan(f, n, moving, offsets, bug)\n"
        "    assert (s.numpy() == es).all() and (d.numpy() == ed).all(), trial\n"
        "print('same')\n")
    import os
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TRITON_INTERPRET": "1"})
    assert done.returncode == 0 and "same" in done.stdout, done.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["sca", "po", "scpo"])
def test_torch_eager_step_on_its_own_draws_agrees_with_numpy(algorithm):
    """The eager step (cuda's, and the cpu's with step='eager'): torch.Generator draws, device-side
    switching draws; final fitness distributed as the reference's."""
    problem = problems.get("rastrigin", 10, shifted=True, seed=7)
    settings = dict(algorithm=algorithm, pop_size=16, max_iter=25)
    eager = backends.get("torch", step="eager")
    ours = [scpo.minimize(problem, **settings, seed=s, backend=eager).fun for s in range(20)]
    reference = [scpo.minimize(problem, **settings, seed=s).fun for s in range(20)]
    assert mannwhitneyu(reference, ours).pvalue > 0.01, (reference, ours)


@pytest.mark.slow
def test_torch_compiled_step_is_the_eager_step():
    """step='compiled' puts the eager step's arithmetic through torch.compile: the same draws give the
    same run (the graph is compiled once; d1 changing every iteration is a tensor, not a recompile)."""
    problem = problems.get("rastrigin", 6, shifted=True, seed=7)
    settings = dict(algorithm="scpo", pop_size=9, max_iter=6, seed=2)
    eager = scpo.minimize(problem, **settings, backend=backends.get("torch", step="eager"))
    compiled = scpo.minimize(problem, **settings, backend=backends.get("torch", step="compiled"))
    np.testing.assert_allclose(compiled.x, eager.x, rtol=1e-12, atol=1e-12)


TORCH_LOOP_ALGORITHMS = ["sca", "po", "scpo", "random", "openai-es", "snes", "pgpe", "sep-cmaes", "cmaes"]


@pytest.mark.parametrize("algorithm", TORCH_LOOP_ALGORITHMS)
def test_torch_eager_loop_moves_no_values_between_host_and_tensors(algorithm, monkeypatch):
    """The cpu stand-in for the cuda no-sync test: inside an iteration of the eager step no tensor
    value is read on the host (item, bool, float, numpy, ...) and no tensor is built from host
    values (torch.as_tensor / tensor / from_numpy of an array or number); on cuda each would be a
    synchronisation. Party switching is exempt here: on the cpu it is the compiled host plan by
    design, on cuda the triton kernel (checked by the cuda tests)."""
    problem = problems.get("rastrigin", 24, seed=0)
    backend = backends.get("torch", dtype="float32", step="eager")
    optimizer = scpo.make(problem, algorithm, seed=0, pop_size=16, max_iter=6, backend=backend)
    run_refusing_host_transfers(optimizer, monkeypatch)


# ---- cuda (skipped without a GPU) ------------------------------------------------------------------

@cuda
def test_fused_step_is_refused_on_cuda():
    with pytest.raises(ValueError, match="step='fused' runs numba kernels on the cpu"):
        backends.get("torch", device="cuda", step="fused")
    assert backends.get("torch", device="cuda").step == "eager"


@cuda
@pytest.mark.parametrize("algorithm, options", CASES)
def test_cuda_on_numpy_draws_matches_numpy(algorithm, options):
    """draws='numpy' on the gpu: the reference's random numbers, the reference's run (float64, to 1e-9)."""
    problem = problems.get("rastrigin", 8, shifted=True, seed=1)
    settings = dict(algorithm=algorithm, pop_size=16, max_iter=8, seed=4, **options)
    gpu = scpo.minimize(problem, **settings, backend=backends.get("torch", device="cuda", draws="numpy"))
    ref = scpo.minimize(problem, **settings)
    np.testing.assert_allclose(gpu.x, ref.x, rtol=0, atol=1e-9)


@cuda
@pytest.mark.parametrize("algorithm", TORCH_LOOP_ALGORITHMS)
@pytest.mark.parametrize("step", ["eager", "compiled"])
def test_cuda_loop_makes_no_host_device_transfers(algorithm, step):
    """No synchronising call inside an iteration, party switching (the triton kernel) included."""
    problem = problems.get("rastrigin", 64, seed=0)
    backend = backends.get("torch", device="cuda", dtype="float32", step=step)
    optimizer = scpo.make(problem, algorithm, seed=0, pop_size=64, max_iter=8, backend=backend)
    run_with_cuda_syncs_refused(optimizer, warmup_rounds=3)  # initial population, one iteration: compile, warm up
    assert np.isfinite(optimizer.result().fun)


@cuda
@pytest.mark.parametrize("seed", range(3))
def test_cuda_triton_switch_plan_is_the_reference(seed):
    from scpo.backends.torch_backend import switch_plan_device

    rng = np.random.default_rng(seed)
    for n in (2, 5, 8, 32):
        fitness = rng.integers(0, 6, n * n).astype(np.float32)
        moving, offsets = rng.random(n * n) < 0.7, rng.integers(1, n, n * n)
        for bug in (False, True):
            got = switch_plan_device(torch.tensor(fitness, device="cuda"), n, torch.tensor(moving, device="cuda"),
                                     torch.tensor(offsets, device="cuda"), bug)
            expected = switch_plan(fitness, n, moving, offsets, bug)
            assert got[0].is_cuda and np.array_equal(as_numpy(got[0]), expected[0])
            assert np.array_equal(as_numpy(got[1]), expected[1])
