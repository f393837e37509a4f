"""F1-F13 on torch population tensors ``(N, D) -> (N,)``: ``scpo.problems``' functions with ``xp=torch``."""

from __future__ import annotations

import functools

import torch

from scpo import problems

FUNCTIONS = {name: functools.partial(function, xp=torch) for name, function in problems.FUNCTIONS.items()}


def objective(benchmark, device, dtype):
    """A ``problems.Benchmark`` as a torch function on ``device``: its shift and rotation are
    moved there once; F7's noise comes from a torch generator seeded from the problem's."""
    function = FUNCTIONS[benchmark.key]
    as_tensor = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
    offset, centre, x_opt = as_tensor(benchmark.offset), as_tensor(benchmark.centre), as_tensor(benchmark.x_opt)
    shifted = bool(benchmark.offset.any())
    rotation_t = None if benchmark.rotation is None else as_tensor(benchmark.rotation).T.contiguous()
    noise = None
    if benchmark.noise is not None:
        noise = torch.Generator(device=device)
        noise.manual_seed(int(benchmark.noise.bit_generator.state["state"]["state"]) & (2**63 - 1))

    def evaluate(X):
        if rotation_t is not None:
            X = (X - centre) @ rotation_t + x_opt
        elif shifted:
            X = X - offset
        f = function(X)
        if noise is not None:
            f = f + torch.rand(X.shape[0], generator=noise, dtype=f.dtype, device=f.device)
        return f

    return evaluate
