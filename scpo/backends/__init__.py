"""Backends: where the population lives and which code computes one generation.

- ``numpy``: the reference. Every algorithm file is written for it; results for a seed are
  what the tests and the README report.
- ``numba``: SCA, PO, SCPO and random search as fused, parallel (``prange``) kernels that
  draw their random numbers in the loop from a counter-based generator, and F1-F13 compiled.
  Reproducible for a seed whatever the thread count; float64 or float32; cpu only.
- ``torch``: the same equations as tensor operations (``sca_move``, ``campaign_move``,
  ``scpo_case1`` with ``xp=torch``), on ``device="cpu"`` or ``"cuda"``, float64 or float32;
  the objective may be a torch function of the population tensor.

Updates: numpy's algorithms are functional (``tell`` returns a new state, the old one is
untouched); numba and torch may write into the arrays a state owns (rotating buffers,
winners' rows), never into arrays the user was given. The engine always keeps the state
``tell`` returns. ``Backend.evaluator`` chooses how a run evaluates: the compiled F1-F13 for
numba and torch, ``Problem.evaluate`` otherwise (:class:`scpo.backends.reference.Evaluator`).

``get(backend, device, dtype)`` validates the three settings (one-line ``ValueError``s
naming the value) and returns a :class:`Backend`; the engine talks to it only through
the methods of :class:`scpo.backends.reference.Backend`.
"""

from __future__ import annotations

import re

import numpy as np

from scpo.backends.reference import Backend

BACKENDS = ("numpy", "numba", "torch")
DTYPES = ("float64", "float32")
DRAWS = ("native", "numpy", "counter")

__all__ = ["BACKENDS", "DTYPES", "Backend", "get"]


def get(backend: str | Backend = "numpy", device: str = "cpu", dtype: str = "float64",
        draws: str = "native", step: str = "auto") -> Backend:
    """The backend ``backend`` on ``device`` computing in ``dtype``.

    ``draws="numpy"`` makes numba and torch take every random number from the run's numpy
    Generator in the reference's order (slow; for equivalence checks): with the same seed
    they then reproduce the numpy backend to rounding. ``draws="counter"``: every random number
    is a pure function of (seed, iteration, phase, index) computed on the backend's own device
    (:mod:`scpo.draws`): one seed gives the same run on every backend, to float rounding. ``step`` (torch only): how a
    generation is computed, ``"auto"`` (fused numba kernels on the cpu with native draws,
    tensor operations otherwise), ``"fused"``, ``"eager"`` or ``"compiled"`` (``torch.compile``);
    see :mod:`scpo.backends.torch_backend`.
    """
    if isinstance(backend, Backend):
        if draws not in ("native", backend.draws):  # an explicit choice the backend object would ignore
            raise ValueError(f"draws {draws!r} conflicts with the given backend object's draws {backend.draws!r}: "
                             f"make it with scpo.backends.get(..., draws={draws!r})")
        return backend
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    dtype = dtype_name(dtype)
    device = device_name(device)
    if draws not in DRAWS:
        raise ValueError(f"unknown draws {draws!r}; choose from {', '.join(DRAWS)}")
    if backend != "torch" and step != "auto":
        raise ValueError(f"step {step!r} needs backend='torch'; backend {backend!r} has one implementation")
    if backend != "torch" and device != "cpu":
        raise ValueError(f"device {device!r} needs backend='torch'; backend {backend!r} runs on the cpu")
    if backend == "numpy":
        if dtype != "float64":
            raise ValueError(f"dtype {dtype!r} needs backend='numba' or 'torch'; the numpy reference is float64")
        return Backend(device, dtype, draws)
    if backend == "numba":
        from scpo.backends.numba_backend import NumbaBackend

        return NumbaBackend(device, dtype, draws)
    from scpo.extras import require

    require("torch", "backend='torch'")  # without the nn extra: one line naming it, not "No module named 'torch'"
    from scpo.backends.torch_backend import TorchBackend

    return TorchBackend(device, dtype, draws, step)


def check_draws(draws: str, algorithm) -> None:
    """Refuse ``draws="counter"`` for an algorithm whose numbers do not come from the context: ``cmaes`` with
    ``implementation="cma"`` (the cma package draws its own samples)."""
    if draws == "counter" and getattr(algorithm, "pycma", False):
        raise ValueError(f"draws='counter' is not available for {algorithm.name!r} with implementation='cma' "
                         "(the cma package draws its own samples); use implementation='own' or draws='native'")


def dtype_name(dtype) -> str:
    """'float64' or 'float32' from a string, a numpy dtype or a torch dtype."""
    name = dtype if isinstance(dtype, str) else str(dtype).removeprefix("torch.")
    if not isinstance(dtype, str):
        try:
            name = np.dtype(dtype).name
        except TypeError:
            pass
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    return name


def device_name(device) -> str:
    name = str(device)
    if not re.fullmatch(r"cpu|cuda(:\d+)?", name):
        raise ValueError(f"unknown device {device!r}; choose from cpu, cuda, cuda:N")
    return name
