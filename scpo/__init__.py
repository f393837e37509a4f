"""scpo: population-based optimization on whole-population arrays.

SCA, PO and their hybrid SCPO exactly as the authors' reference code behaves, plus
reference algorithms, behind one ask/tell engine and a scipy-style ``minimize``.
"""

from scpo import executors, observers, options, problems
from scpo.algorithms import names as algorithm_names
from scpo.engine import Optimizer, OptimizeResult, Progress, RunState, make, minimize
from scpo.executors import ExecutorError
from scpo.problem import ObjectiveError, Problem

__version__ = "0.1.0"  # fallback of `scpo --version` when the package is not installed; keep = pyproject

def __getattr__(name: str) -> object:
    """``scpo.bias`` (the structural-bias test, :func:`scpo.bias.run_bias`) on first use: it loads scipy.stats
    and matplotlib, which ``import scpo`` does not need."""
    if name == "bias":
        import importlib

        return importlib.import_module(f"scpo.{name}")
    raise AttributeError(f"module 'scpo' has no attribute {name!r}")


__all__ = [
    "ExecutorError", "ObjectiveError", "OptimizeResult", "Optimizer", "Problem", "Progress", "RunState",
    "__version__", "algorithm_names", "executors", "make", "minimize", "observers", "options", "problems",
]
