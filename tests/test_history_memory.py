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
