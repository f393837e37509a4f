"""F1-F13 as torch functions of a population tensor ``(N, D) -> (N,)`` (``problems`` has the numpy forms)."""

from __future__ import annotations

import math

import torch


def _index(X):
    return torch.arange(1, X.shape[1] + 1, dtype=X.dtype, device=X.device)


def sphere(X):
    return (X**2).sum(dim=1)


def schwefel222(X):
    A = X.abs()
    return A.sum(dim=1) + A.prod(dim=1)


def schwefel12(X):
    return (torch.cumsum(X, dim=1) ** 2).sum(dim=1)


def schwefel221(X):
    return X.abs().amax(dim=1)


def rosenbrock(X):
    head, tail = X[:, :-1], X[:, 1:]
    return (100.0 * (tail - head**2) ** 2 + (head - 1.0) ** 2).sum(dim=1)


def step(X):
    return (torch.floor(X + 0.5) ** 2).sum(dim=1)


def quartic(X):  # without F7's noise, which the caller adds from its own generator
    return (_index(X) * X**4).sum(dim=1)


def schwefel226(X):
    return (-X * torch.sin(torch.sqrt(X.abs()))).sum(dim=1)


def rastrigin(X):
    return (X**2 - 10.0 * torch.cos(2.0 * math.pi * X) + 10.0).sum(dim=1)


def ackley(X):
    d = X.shape[1]
    return (
        -20.0 * torch.exp(-0.2 * torch.sqrt((X**2).sum(dim=1) / d))
        - torch.exp(torch.cos(2.0 * math.pi * X).sum(dim=1) / d)
        + 20.0
        + math.e
    )


def griewank(X):
    return (X**2).sum(dim=1) / 4000.0 - torch.cos(X / torch.sqrt(_index(X))).prod(dim=1) + 1.0


def _penalty(X, a, k, m):
    zero = torch.zeros((), dtype=X.dtype, device=X.device)
    return (k * torch.where(X > a, (X - a) ** m, zero) + k * torch.where(X < -a, (-X - a) ** m, zero)).sum(dim=1)


def penalized1(X):
    d = X.shape[1]
    Y = 1.0 + (X + 1.0) / 4.0
    inner = ((Y[:, :-1] - 1.0) ** 2 * (1.0 + 10.0 * torch.sin(math.pi * Y[:, 1:]) ** 2)).sum(dim=1)
    core = 10.0 * torch.sin(math.pi * Y[:, 0]) ** 2 + inner + (Y[:, -1] - 1.0) ** 2
    return math.pi / d * core + _penalty(X, 10.0, 100.0, 4)


def penalized2(X):
    inner = ((X[:, :-1] - 1.0) ** 2 * (1.0 + torch.sin(3.0 * math.pi * X[:, 1:]) ** 2)).sum(dim=1)
    last = (X[:, -1] - 1.0) ** 2 * (1.0 + torch.sin(2.0 * math.pi * X[:, -1]) ** 2)
    core = torch.sin(3.0 * math.pi * X[:, 0]) ** 2 + inner + last
    return 0.1 * core + _penalty(X, 5.0, 100.0, 4)


FUNCTIONS = {f.__name__: f for f in (sphere, schwefel222, schwefel12, schwefel221, rosenbrock, step, quartic,
                                     schwefel226, rastrigin, ackley, griewank, penalized1, penalized2)}


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
