"""draws="counter": every random number a pure function of (seed, key), the same on numpy, numba and torch.

The generator (scpo.draws) gives the same 64 bits, hence the same uniforms, on numpy, in numba's kernel and
on torch (cpu, cuda); a run of any algorithm with one seed is then the same run on every backend, to float
rounding (libm's sin/cos/log may round apart by an ulp: 1e-9 relative is far above that after 10 iterations
on a problem without fitness ties, far below any real divergence, which is O(1)); and it resumes from a
checkpoint bit for bit, as the key derives from the iteration.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from _cli import invoke
from _host_guard import run_refusing_host_transfers, run_with_cuda_syncs_refused
from scipy import stats

import scpo
from scpo import backends, problems
from scpo.backends import numba_kernels as K
from scpo.draws import GOLDEN, MASK, CounterDraws, call_key, mix64, run_key

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
ALGORITHMS = ["sca", "po", "scpo", "random", "pso", "de", "openai-es", "snes", "pgpe", "sep-cmaes", "cmaes"]
KEYS = [(seed, t, phase) for seed in (0, 1, 2**40 + 7) for t in (0, 1, 999) for phase in ("init", "campaign1.d2")]


def oracle(key: int, i: int, j: int) -> float:
    """Element [i, j] of a call with ``key``, on Python integers: the definition."""
    stream = mix64((key + (i + 1) * GOLDEN) & MASK)
    return (mix64((stream + (j + 1) * GOLDEN) & MASK) >> 11) * 2.0**-53


@pytest.mark.parametrize("seed, t, phase", KEYS)
def test_uniforms_are_bit_identical_on_numpy_numba_and_torch(seed, t, phase):
    shape = (7, 13)
    on_numpy = CounterDraws(seed).random(shape, t, phase)
    on_torch = CounterDraws(seed, torch, torch.device("cpu")).random(shape, t, phase).numpy()
    in_kernel = np.empty(shape)
    key = call_key(run_key(seed), t, phase)
    K.fill_uniform(np.uint64(key), np.zeros(shape[1]), np.ones(shape[1]), in_kernel)  # numba's own generator
    assert on_numpy.dtype == np.float64 and on_numpy.tobytes() == on_torch.tobytes() == in_kernel.tobytes()
    assert on_numpy[0, 0] == oracle(key, 0, 0) and on_numpy[6, 12] == oracle(key, 6, 12)
    assert on_numpy.min() >= 0 and on_numpy.max() < 1


def test_keys_separate_seeds_iterations_and_phases():
    draws = CounterDraws(0)
    first = draws.random((4, 5), 3, "r")
    for other in (CounterDraws(1).random((4, 5), 3, "r"), draws.random((4, 5), 4, "r"),
                  draws.random((4, 5), 3, "s")):
        assert not np.isin(first, other).any()
    assert np.array_equal(first, draws.random((4, 5), 3, "r"))  # no stream: asking again gives the same
    assert np.array_equal(draws.random((2, 2, 5), 3, "r").reshape(4, 5), first)  # rows: all axes but the last


def test_uniforms_normals_and_integers_have_their_distributions():
    for xp, device in ((np, None), (torch, torch.device("cpu"))):
        draws = CounterDraws(11, xp, device)
        as_numpy = (lambda a: a) if xp is np else (lambda a: a.numpy())  # noqa: E731
        u = as_numpy(draws.random((200, 100), 5, "u")).ravel()
        z = as_numpy(draws.normal((200, 100), 5, "z")).ravel()
        k = as_numpy(draws.integers(3, 10, 20_000, 5, "k"))
        assert stats.kstest(u, "uniform").pvalue > 1e-3
        assert stats.kstest(z, "norm").pvalue > 1e-3
        assert k.min() == 3 and k.max() == 9 and k.dtype == np.int64
        assert stats.chisquare(np.bincount(k - 3)).pvalue > 1e-3
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.02  # neighbouring slots: no visible dependence


def final_state(optimizer) -> dict[str, np.ndarray]:
    state = optimizer.run_state.algorithm_state
    if not dataclasses.is_dataclass(state):  # random search: its state is the population size
        return {"pop_size": np.array(float(state))}
    return {f.name: np.asarray(optimizer.impl.to_numpy(getattr(state, f.name)), dtype=float)
            for f in dataclasses.fields(state) if hasattr(getattr(state, f.name), "shape")}


def counter_run(algorithm: str, backend, dtype: str = "float64"):
    problem = problems.get("rastrigin", 6, shifted=True, seed=2)  # shifted: no mirrored-sample fitness ties
    optimizer = scpo.make(problem, algorithm, seed=7, pop_size=16, max_iter=10, backend=backend, dtype=dtype,
                          draws="counter")
    return optimizer, optimizer.run()


def assert_same_run(got, expected, rtol=1e-9):
    (opt_a, res_a), (opt_b, res_b) = got, expected
    np.testing.assert_allclose(res_a.fun, res_b.fun, rtol=rtol)
    np.testing.assert_allclose(res_a.x, res_b.x, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(res_a.history["best"], res_b.history["best"], rtol=rtol)
    state_a, state_b = final_state(opt_a), final_state(opt_b)
    assert state_a.keys() == state_b.keys() and state_a
    for name in state_a:
        np.testing.assert_allclose(state_a[name], state_b[name], rtol=rtol, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_one_seed_gives_the_same_run_on_numpy_numba_and_torch(algorithm):
    reference = counter_run(algorithm, "numpy")
    assert_same_run(counter_run(algorithm, "numba"), reference)
    # cmaes: numpy's and torch's LAPACKs give eigenvectors that differ in the last bits, and every sample goes
    # through them; over 10 generations that grows to ~1e-7 (measured 4e-8 on the best f)
    assert_same_run(counter_run(algorithm, "torch"), reference, rtol=1e-6 if algorithm == "cmaes" else 1e-9)
    native = scpo.make(problems.get("rastrigin", 6, shifted=True, seed=2), algorithm, seed=7, pop_size=16,
                       max_iter=10).run()
    assert native.fun != reference[1].fun  # counter draws are not the numpy Generator's


@pytest.mark.parametrize("algorithm", ["scpo", "de", "snes"])
def test_float32_counter_runs_stay_close_to_float64(algorithm):
    reference = counter_run(algorithm, "numpy")[1]
    for backend in ("numba", "torch"):
        run = counter_run(algorithm, backend, "float32")[1]
        assert np.isfinite(run.fun) and np.isclose(run.fun, reference.fun, rtol=0.05)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_torch_counter_draws_move_no_values_between_host_and_tensors(algorithm, monkeypatch):
    """The cpu stand-in for the cuda no-sync test (test_backends' eager-loop test, with counter draws): inside
    an iteration no tensor value is read on the host and no tensor is built from host values; the counter
    generator's constants are kernel arguments. Party switching is exempt (the host plan on the cpu)."""
    optimizer = scpo.make(problems.get("rastrigin", 24, seed=0), algorithm, seed=0, pop_size=16, max_iter=6,
                          backend="torch", dtype="float32", draws="counter")
    run_refusing_host_transfers(optimizer, monkeypatch)


@cuda
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_cuda_counter_run_is_the_cpu_run_without_host_round_trips(algorithm):
    reference = counter_run(algorithm, "numpy")
    problem = problems.get("rastrigin", 6, shifted=True, seed=2)
    optimizer = scpo.make(problem, algorithm, seed=7, pop_size=16, max_iter=10, draws="counter",
                          backend=backends.get("torch", device="cuda", draws="counter"))
    run_with_cuda_syncs_refused(optimizer, warmup_rounds=1)
    assert_same_run((optimizer, optimizer.result()), reference)


@pytest.mark.parametrize("backend", ["numpy", "numba", "torch"])
@pytest.mark.parametrize("algorithm", ["scpo", "de", "pgpe"])
def test_counter_run_resumes_from_a_checkpoint_bit_for_bit(tmp_path, backend, algorithm):
    problem = problems.get("rastrigin", 6, shifted=True, seed=2)
    settings = dict(algorithm=algorithm, max_iter=12, seed=5, pop_size=16, backend=backend, draws="counter")
    full = scpo.minimize(problem, **settings)
    path = tmp_path / "run.ck"
    stopped = scpo.minimize(problem, **settings, checkpoint=path, checkpoint_every=3, callback=lambda p: p.nit >= 7)
    assert stopped.nit < 12 and path.exists()
    resumed = scpo.minimize(problem, **settings, checkpoint=path, resume=True)
    assert resumed.fun == full.fun and np.array_equal(resumed.x, full.x)
    assert resumed.history["best"] == full.history["best"]
    with pytest.raises(ValueError, match="draws"):  # a native-draws run does not resume a counter checkpoint
        scpo.minimize(problem, **{**settings, "draws": "native"}, checkpoint=path, resume=True)


def test_bad_draws_and_cmaes_through_cma_are_one_line_value_errors():
    problem = problems.get("sphere", 3)
    with pytest.raises(ValueError, match=r"^unknown draws 'counters'; choose from native, numpy, counter$"):
        scpo.make(problem, "sca", draws="counters")
    for backend in ("numpy", "numba", "torch"):
        refusal = r"^draws='counter' is not available for 'cmaes' with implementation='cma'"
        with pytest.raises(ValueError, match=refusal) as info:
            scpo.make(problem, "cmaes", backend=backend, draws="counter", implementation="cma")
        assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="step='fused'"):
        backends.get("torch", draws="counter", step="fused")
    assert backends.get("torch", draws="counter").step == "eager"
    with pytest.raises(ValueError, match=r"^draws 'counter' conflicts with the given backend object's draws 'numpy'"):
        scpo.make(problem, "sca", backend=backends.get("numba", draws="numpy"), draws="counter")
    given = backends.get("numba", draws="counter")
    assert scpo.make(problem, "sca", backend=given).impl is given  # draws= left out: the object's own


def test_counter_draws_with_restarts_are_the_same_on_numpy_and_numba():
    problem = problems.get("rastrigin", 4, shifted=True, seed=1)
    runs = [scpo.minimize(problem, algorithm="snes", max_evals=600, seed=3, restarts="ipop", backend=backend,
                          draws="counter", stagnation=5) for backend in ("numpy", "numba")]
    assert runs[0].restarts >= 1
    np.testing.assert_allclose(runs[0].fun, runs[1].fun, rtol=1e-9)


def test_cli_draws_counter_gives_the_numpy_run_on_numba(tmp_path):
    found = {}
    for backend in ("numpy", "numba"):
        done = invoke("optimize", "rastrigin", "--algo", "scpo", "--dim", "4", "--evals", "400", "--seed", "3",
                      "--backend", backend, "--draws", "counter", "--quiet", "--out", backend, "--json",
                      f"{backend}.json", cwd=tmp_path)
        assert done.exit_code == 0, done.output
        found[backend] = json.loads((tmp_path / f"{backend}.json").read_text())
        assert found[backend]["draws"] == "counter"
    np.testing.assert_allclose(found["numba"]["best_fitness"], found["numpy"]["best_fitness"], rtol=1e-9)
    bad = invoke("optimize", "sphere", "--dim", "3", "--evals", "100", "--draws", "dice", "--quiet", "--out", "b",
                 cwd=tmp_path)
    assert bad.exit_code == 2 and "'dice'" in bad.output and "Traceback" not in bad.output


def test_numba_fills_counter_uniforms_in_its_kernel_with_the_same_bits(monkeypatch):
    """The numba backend's context draws counter uniforms with ``fill_uniform`` (parallel), not numpy's
    array code, and gets the numpy context's numbers, for 2-d, 1-d and 3-d shapes."""
    problem = problems.get("sphere", 5)
    numba_ctx = backends.get("numba", draws="counter").context(4, problem, 10)
    numpy_ctx = backends.get("numpy", draws="counter").context(4, problem, 10)
    numba_ctx.t = numpy_ctx.t = 6
    calls, kernel = [], K.fill_uniform
    monkeypatch.setattr(K, "fill_uniform", lambda *args: calls.append(args) or kernel(*args))
    for shape in ((16, 5), (16,), (2, 3, 5)):
        assert numba_ctx.random(shape, "r").tobytes() == numpy_ctx.random(shape, "r").tobytes()
        assert numba_ctx.uniform((4, 5), "u").tobytes() == numpy_ctx.uniform((4, 5), "u").tobytes()
    assert len(calls) == 6
