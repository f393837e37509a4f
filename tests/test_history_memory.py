"""The history of a torch cpu run holds host floats, not one 0-d tensor per iteration.

Each kept 0-d tensor is a few small C++ allocations that outlive the generation's large arrays and pin
glibc's heap between them: a torch cpu SNES run of a 2.4k-weight network grew by about 1 MB per generation
(2.2 GB after 1,200 generations, 485 MB once the history is settled every 64 iterations).
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scpo
from scpo.observers import SETTLE_EVERY

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("constrained", [False, True])
def test_torch_cpu_history_keeps_at_most_one_block_of_tensors(constrained):
    constraints = (lambda X: 0.5 - X.sum(axis=1)) if constrained else None
    problem = scpo.Problem(lambda X: ((X - 0.3) ** 2).sum(axis=1), -5.0, 5.0, dim=5, vectorized=True,
                           constraints=constraints)
    iterations = 3 * SETTLE_EVERY + 10
    optimizer = scpo.make(problem, "snes", backend="torch", seed=0, pop_size=8, max_iter=iterations)
    result = optimizer.run()
    history = optimizer.history
    tensors = [v for v in history.best + history.violation if torch.is_tensor(v)]
    assert len(history.best) == iterations and len(tensors) < 2 * SETTLE_EVERY
    assert history.settled >= 3 * SETTLE_EVERY  # settled as the run went, not only at the end
    assert all(isinstance(v, float) for v in history.best[:history.settled])
    best = np.array(result.history["best"])
    assert np.all(np.diff(best) <= 0) and best[-1] == pytest.approx(result.fun)
    if constrained:
        assert len(result.history["violation"]) == iterations


def test_neuroevolution_does_not_import_the_text_stack():
    """``networks.neuro`` (through ``features.torchutil``) loads neither scikit-learn nor pandas: the package
    ``features`` loads its exports on first use. They took about 110 MB of resident memory in every
    neuroevolution run (issue #28's memory goal), for code the run never calls."""
    code = ("import sys, networks.neuro; import features; "
            "print(sorted(m for m in ('sklearn', 'pandas', 'features.text') if m in sys.modules)); "
            "features.build_dataset; print('features.text' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded, text_after = done.stdout.split("\n")[:2]
    assert loaded == "[]", loaded
    assert text_after == "True"  # the exports still load when asked for


@pytest.mark.parametrize("algorithm", ["sca", "scpo", "pso", "de", "snes", "pgpe"])
def test_torch_fused_step_keeps_no_chain_of_old_populations(algorithm):
    """torch cpu's fused step hands numba's buffers back and forth as tensors: re-wrapping a ``tensor.numpy()``
    view made each generation's tensor hold the previous one, so every buffer of the run (the engine's copies
    included) stayed alive (0.5 MB per generation at 64 x 2,000). The population-shaped tensors alive do not
    grow with the generations."""
    import gc

    from scpo import problems

    N, D = 16, 37  # a width no other test uses: only this run's tensors are counted
    optimizer = scpo.make(problems.get("sphere", D), algorithm, max_iter=400, pop_size=N, seed=0, threads=1,
                          backend=scpo.backends.get("torch", dtype="float32"))
    evaluate = optimizer.evaluator()

    def population_tensors() -> int:
        gc.collect()
        # type(), not isinstance(): the latter raises on a dead weakref.proxy that another test left in gc
        return sum(1 for o in gc.get_objects()
                   if issubclass(type(o), torch.Tensor) and o.dim() == 2 and o.shape[1] == D)

    counts = []
    for generation in range(120):
        optimizer.tell(evaluate(optimizer.ask(copy=False)))
        if generation in (40, 119):
            counts.append(population_tensors())
    assert counts[1] - counts[0] < 20, counts  # the chain grew by one or two per generation: 79 or more
