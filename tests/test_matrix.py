"""Every algorithm on every backend (issue #27): each cell runs, resumes from a mid-run checkpoint to the
uninterrupted run's result, and beats random search on a shifted function with the same budget.

numpy and numba resume bit for bit, torch (cpu) to the same result (``cmaes`` too since its state is arrays;
its ``implementation="cma"`` is refused in test_checkpoint.py). The CUDA cells skip without a GPU; with one,
the ask/tell loop runs under ``torch.cuda.set_sync_debug_mode("error")`` (a host-device synchronization
inside an iteration fails), except ``cmaes``: ``torch.linalg.eigh`` reads its error flag on the host, one
synchronization per eigendecomposition (every ``max(1, lambda / (c1 + c_mu) / D / 10)`` generations).
"""

from __future__ import annotations

import numpy as np
import pytest

import scpo
from scpo.backends import numba_backend, torch_backend

BACKENDS = {"numpy": scpo.algorithm_names(), "numba": sorted(c.name for c in numba_backend.ADAPTED),
            "torch": sorted(c.name for c in torch_backend.ADAPTED)}
CELLS = [(algorithm, backend) for backend in BACKENDS for algorithm in scpo.algorithm_names()]
ITERATIONS = 30
SLOW_STARTERS = {"openai-es": 200}  # population 8 and Adam's small steps: it needs more iterations to move


def problem() -> scpo.Problem:
    return scpo.problems.get("sphere", 5, shifted=True, seed=4)


def test_every_backend_runs_every_registered_algorithm():
    missing = {backend: sorted(set(scpo.algorithm_names()) - set(names)) for backend, names in BACKENDS.items()}
    assert missing == {"numpy": [], "numba": [], "torch": []}


@pytest.mark.parametrize(("algorithm", "backend"), CELLS, ids=[f"{a}-{b}" for a, b in CELLS])
def test_cell_runs_resumes_and_beats_random_search(tmp_path, algorithm, backend):
    # max_iter, not max_evals: a resume re-evaluates the saved best (one evaluation, counted), which under a
    # max_evals cap would cut the last batch one row shorter than the uninterrupted run's
    settings = dict(algorithm=algorithm, max_iter=SLOW_STARTERS.get(algorithm, ITERATIONS), seed=7, backend=backend)
    full = scpo.minimize(problem(), **settings)
    if algorithm != "random":  # the baseline itself
        random = scpo.minimize(problem(), algorithm="random", max_evals=full.nfev, seed=7, backend=backend)
        assert full.fun < random.fun, (full.fun, random.fun)
    path = tmp_path / "run.ck"
    half = full.nit // 2
    stopped = scpo.minimize(problem(), **settings, checkpoint=path, checkpoint_every=2,
                            callback=lambda p: p.nit >= half)
    assert stopped.nit < full.nit
    resumed = scpo.minimize(problem(), **settings, checkpoint=path, resume=True)
    assert np.array_equal(resumed.x, full.x) and resumed.fun == full.fun, (resumed.fun, full.fun)
    assert resumed.history["best"] == full.history["best"]


CUDA = [(algorithm, "torch") for algorithm in scpo.algorithm_names() if algorithm != "cmaes"]  # eigh: see above


@pytest.mark.parametrize(("algorithm", "backend"), CUDA, ids=[f"{a}-cuda" for a, _ in CUDA])
def test_cuda_cell_runs_without_a_synchronization_inside_an_iteration(algorithm, backend):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    target = problem()
    optimizer = scpo.make(target, algorithm, max_iter=6, seed=7, backend=backend, device="cuda", vectorized=True)
    evaluate = optimizer.evaluator()
    X = optimizer.ask(copy=False)  # the first ask and tell may set up (uniform draw, probes): outside the check
    optimizer.tell(evaluate(X), checked=evaluate.checked)
    torch.cuda.set_sync_debug_mode("error")
    try:
        while not optimizer.done:
            X = optimizer.ask(copy=False)
            optimizer.tell(evaluate(X), checked=evaluate.checked)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    result = optimizer.result()
    assert result.x.shape == (5,) and np.isfinite(result.fun)
