"""The torch backend: the reference equations on tensors, on cpu or cuda, float64 or float32.

How a generation of SCA, PO and SCPO is computed (``step``, :data:`STEPS`):

- ``"fused"`` (the default on the cpu with native draws): the numba backend's fused kernels
  (:mod:`scpo.backends.numba_kernels`) run on zero-copy numpy views of the tensors: both
  campaign stages, party switching and clipping in one pass over the population, random
  numbers drawn inside the loop from the counter-based generator keyed by the run's seed.
  Eager tensor code cannot come close on a cpu: each of the ~50 whole-population operations of
  a campaign is a pass over memory plus an allocation (measured: 400-1,000x a copy of the
  population), while the fused pass is a few times one copy. The tensors the user gets are
  still torch tensors; with a given seed the run is the numba backend's run.
- ``"eager"`` (the default on cuda): ``sca_move``, ``campaign_move`` and ``scpo_case1``, the
  numpy reference's own functions called with ``xp=torch``; draws from a seeded
  ``torch.Generator`` on the device. PO's campaign runs on the population viewed as (parties,
  constituencies, D), so leaders and winners broadcast instead of being copied to (N, D).
- ``"compiled"``: the eager step's arithmetic (draws given) through ``torch.compile``.

Everything stays on ``device``: draws, the objective (F1-F13 as torch functions, or the user's
torch function), the best so far and the history. PO/SCPO's party switching is a sequential
chain of swaps (each one changes the next least-fit member): on cuda with triton (which ships
with torch's cuda builds) it is one single-program triton kernel over the N fitness values
(:func:`switch_plan_device`), so no value goes to the host inside an iteration; without triton
the index plan is made on the host (one N-float copy down per iteration). ``draws="numpy"``
takes every random number from the run's numpy Generator in the reference's order (eager
step): the run then matches the numpy backend to rounding; ``draws="counter"`` (eager step) computes
every number on the device from the counter-based generator of :mod:`scpo.draws`, so a seed gives the
run of the numpy and numba backends with the same draws. The evolution strategies
(OpenAI-ES, SNES, PGPE, sep-CMA-ES) are their numpy classes with ``xp = torch`` and normal
draws from the torch generator: the update functions are the same code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import torch

from scpo.algorithms.base import Algorithm, Context
from scpo.algorithms.cmaes import CMAES
from scpo.algorithms.de import DE, DEState
from scpo.algorithms.es_tools import Sampler
from scpo.algorithms.openai_es import OpenAIES
from scpo.algorithms.pgpe import PGPE
from scpo.algorithms.po import PO, POState, campaign_move
from scpo.algorithms.pso import PSO, PSOState
from scpo.algorithms.random_search import RandomSearch
from scpo.algorithms.sca import SCA, SCAState, sca_move
from scpo.algorithms.scpo_hybrid import SCPO, case1_update
from scpo.algorithms.sep_cmaes import SepCMAES
from scpo.algorithms.snes import SNES
from scpo.backends import torch_problems
from scpo.backends.numba_backend import (
    NumbaBackend,
    NumbaContext,
    NumbaDE,
    NumbaPSO,
    NumbaRandom,
    NumbaSCA,
    _Campaign,
    es_sample,
    parliament_tell,
    run_key,
)
from scpo.backends.reference import Backend, Evaluator, adapt_by_type
from scpo.draws import CounterDraws
from scpo.problem import ObjectiveError
from scpo.problems import Benchmark

STEPS = ("auto", "fused", "eager", "compiled")


@dataclass
class TorchContext(Context):
    generator: torch.Generator | None = None
    device: torch.device | None = None
    dtype: torch.dtype = torch.float64
    native: bool = True
    lb_np: np.ndarray | None = None  # the bounds as numpy, for draws="numpy" and the fused kernels
    ub_np: np.ndarray | None = None
    step: str = "eager"  # "fused", "eager" or "compiled" (resolved from the backend's ``step``)
    key: int = 0  # the fused kernels' counter-generator key
    pool: list = field(default_factory=list)  # spare (N, D) buffers of the fused step, shared by all contexts
    normals: dict = field(default_factory=dict)  # the fused step's normals buffers (NumbaContext.normal)

    def scalar(self, value: float):
        """``value`` as the step takes it: a float (eager), a 0-d tensor (compiled: a changing float would
        recompile the graph every iteration; ``torch.full`` fills on the device, no host copy)."""
        return torch.full((), value, dtype=self.dtype, device=self.device) if self.step == "compiled" else value

    def numba(self) -> NumbaContext:
        """This context as the numba kernels read it: numpy views of the tensors, no copy."""
        best = None if self.best_x is None else self.best_x.numpy()
        return NumbaContext(self.rng, self.lb_np, self.ub_np, self.max_iter, self.t, best, key=self.key,
                            dtype=np.dtype(str(self.dtype).removeprefix("torch.")).type, pool=self.pool,
                            normals=self.normals)

    def tensor(self, array) -> torch.Tensor:
        return torch.as_tensor(array, dtype=self.dtype, device=self.device)

    def random(self, shape, phase: str) -> torch.Tensor:
        """U[0, 1) of ``shape``: from the torch generator, from numpy's in the reference order, or (draws=
        "counter") the counter-based numbers of ``phase`` computed on the device (:mod:`scpo.draws`)."""
        if self.draws is not None:
            return self.draws.random(shape, self.t, phase).to(self.dtype)
        if self.native:
            return torch.rand(shape, generator=self.generator, dtype=self.dtype, device=self.device)
        return self.tensor(self.rng.random(shape))

    def uniform(self, shape, phase: str) -> torch.Tensor:
        if self.native or self.draws is not None:
            return self.random(shape, phase).mul_(self.ub - self.lb).add_(self.lb)
        assert self.lb_np is not None and self.ub_np is not None  # set by TorchBackend.context
        return self.tensor(self.rng.uniform(self.lb_np, self.ub_np, shape))

    def normal(self, shape, phase: str) -> torch.Tensor:
        if self.draws is not None:
            return self.draws.normal(shape, self.t, phase).to(self.dtype)
        if self.native and self.step == "fused":  # numba's kernel normals (numba's run; faster than randn here)
            return torch.from_numpy(self.numba().normal(shape, phase))
        if self.native:
            return torch.randn(shape, generator=self.generator, dtype=self.dtype, device=self.device)
        return self.tensor(self.rng.standard_normal(shape))

    def integers(self, low: int, high: int, size: int, phase: str) -> torch.Tensor:
        if self.draws is not None:
            return self.draws.integers(low, high, size, self.t, phase)
        if self.native:
            return torch.randint(low, high, (size,), generator=self.generator, device=self.device)
        return torch.as_tensor(self.rng.integers(low, high, size=size), device=self.device)


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, device: str = "cpu", dtype: str = "float64", draws: str = "native", step: str = "auto"):
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {device!r} is not available: torch.cuda.is_available() is False")
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}; choose from {', '.join(STEPS)}")
        if step == "fused" and (device != "cpu" or draws != "native"):
            raise ValueError(f"step='fused' runs numba kernels on the cpu with native draws, not on device "
                             f"{device!r} with draws {draws!r}: use step='eager' or 'compiled'")
        super().__init__(device, dtype, draws)
        if step == "auto":
            step = "fused" if device == "cpu" and draws == "native" else "eager"
        self.step = step
        self.torch_device, self.torch_dtype = torch.device(device), getattr(torch, dtype)

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, step={self.step!r})"

    def context(self, seed, problem, max_iter) -> TorchContext:
        generator = torch.Generator(device=self.torch_device)
        generator.manual_seed(int(np.random.SeedSequence([seed, 0x7042]).generate_state(1, np.uint64)[0]) >> 1)
        as_tensor = lambda a: torch.as_tensor(a, dtype=self.torch_dtype, device=self.torch_device)  # noqa: E731
        return TorchContext(
            np.random.default_rng(seed), as_tensor(problem.lb), as_tensor(problem.ub), max_iter,
            best_f=as_tensor(np.inf), generator=generator, device=self.torch_device, dtype=self.torch_dtype,
            native=self.draws == "native", lb_np=problem.lb, ub_np=problem.ub, step=self.step, key=run_key(seed),
            draws=CounterDraws(seed, torch, self.torch_device) if self.draws == "counter" else None,
        )

    def adapt(self, algorithm):
        return adapt_by_type(algorithm, ADAPTED, self.name)

    def initial_population(self, ctx: Context, shape: tuple[int, int]) -> torch.Tensor:
        assert isinstance(ctx, TorchContext)  # made by context()
        if ctx.step == "fused":  # the numba backend's draws: the same run as backend="numba" for a seed
            return _tensor(NumbaBackend.initial_population(self, ctx.numba(), shape))
        return ctx.uniform(shape, "init")

    def copy(self, X):
        return X.clone()

    def warm_up(self, algorithm, problem) -> float:
        """The fused step's numba kernels compiled before the clock starts (see ``NumbaBackend.warm_up``);
        the eager and compiled steps have nothing compiled ahead."""
        from scpo.backends import numba_backend

        base = next((cls for cls in type(algorithm).__mro__ if cls in numba_backend.ADAPTED), None)
        if not _fused(algorithm, TorchContext(np.random.default_rng(0), None, None, 0, step=self.step)) or base is None:
            return 0.0
        start = time.perf_counter()
        twin: Algorithm = object.__new__(numba_backend.ADAPTED[base])
        twin.__dict__.update(algorithm.__dict__)
        numba_backend.warm_run(NumbaBackend("cpu", self.dtype), twin.for_population(4), problem, None,
                               np.dtype(self.dtype).type)
        return time.perf_counter() - start

    array_module = torch

    def constant(self, values: np.ndarray) -> torch.Tensor:
        """On the device, so rounding a population there moves nothing to the host."""
        dtype = torch.bool if values.dtype == bool else self.torch_dtype
        return torch.as_tensor(np.array(values), dtype=dtype, device=self.torch_device)  # a copy: the mask is read-only

    def read_only(self, X):
        return X  # a tensor cannot be made read-only: edited candidates go back with tell(candidates=)

    def as_population(self, X: np.ndarray):
        return torch.as_tensor(X, dtype=self.torch_dtype, device=self.torch_device)

    def evaluator(self, problem, counters):
        if isinstance(problem.objective, Benchmark) and problem.vectorized is True and problem.executor == "serial":
            return Evaluator(torch_problems.objective(problem.objective, self.torch_device, self.torch_dtype),
                             "torch", False)
        if not (problem.vectorized is True and problem.executor == "serial" and problem.timeout is None
                and problem.on_error == "raise"):  # per-row, parallel or guarded: the fitness comes back checked
            return Evaluator(lambda X: self.as_population(problem.evaluate(X.clone(), counters)), "problem", True)

        copy = not problem.reads_input_only

        def evaluate(X):  # a torch function of the population: nothing leaves the device
            try:
                return problem.objective(X.clone() if copy else X)
            except Exception as exc:
                raise ObjectiveError(f"objective {problem.name!r} raised {type(exc).__name__}: {exc}") from exc

        return Evaluator(evaluate, "torch-function", False)

    def check_fitness(self, run, problem, fitness, n: int):
        if not torch.is_tensor(fitness):
            return self.as_population(problem.check_fitness(fitness, n, run.counters))
        if fitness.is_complex():  # a cast would drop the imaginary part
            raise ObjectiveError(f"objective {problem.name!r} returned complex values of shape {tuple(fitness.shape)} "
                                 f"for {n} candidates, expected {n} real numbers")
        if tuple(fitness.shape) != (n,):
            if fitness.numel() == n and fitness.ndim == 2 and 1 in fitness.shape:
                fitness = fitness.reshape(n)
            else:
                raise ObjectiveError(
                    f"objective {problem.name!r} returned shape {tuple(fitness.shape)} for {n} candidates, "
                    f"expected ({n},)"
                )
        fitness = fitness.detach().to(device=self.torch_device, dtype=self.torch_dtype)
        if self.step == "fused":  # cpu: numpy on the same memory (a small torch op costs ~15 us, numpy's ~2)
            values = fitness.numpy()
            finite = np.isfinite(values)
            if finite.all():
                return torch.from_numpy(values.copy())
            run.device_nonfinite = run.device_nonfinite + int(np.count_nonzero(~finite))
            return torch.from_numpy(np.where(finite, values, np.inf))
        finite = torch.isfinite(fitness)
        run.device_nonfinite = run.device_nonfinite + (~finite).sum()  # stays on the device: no sync
        return torch.where(finite, fitness, torch.inf)

    def update_best(self, run, candidates, fitness) -> None:
        if self.step == "fused":  # cpu: numpy views, as in check_fitness
            values = fitness.numpy()
            i = int(values.argmin())
            if run.best_x is None or values[i] < run.best_fitness.numpy():
                run.best_fitness = torch.from_numpy(values[i : i + 1].copy()).reshape(())
                run.best_x = torch.from_numpy(candidates.numpy()[i].copy())
            return
        best = torch.argmin(fitness).reshape(1)  # index_select, not t[0-d tensor]: no device sync
        value, row = fitness.index_select(0, best)[0], candidates.index_select(0, best)[0]
        if run.best_x is None:
            run.best_fitness, run.best_x = value, row
            return
        better = value < run.best_fitness
        run.best_fitness = torch.where(better, value, run.best_fitness)
        run.best_x = torch.where(better, row, run.best_x)

    def pending_nonfinite(self, run) -> int:
        return int(run.device_nonfinite)

    def to_numpy(self, value):
        return value.detach().cpu().numpy() if torch.is_tensor(value) else value

    def to_float(self, value) -> float:
        return float(value)

    def floats(self, values: list) -> list[float]:
        """Host floats of a list of 0-d tensors and floats (a resumed history starts with floats): one read."""
        tensors = [v.reshape(()).to(torch.float64) for v in values if torch.is_tensor(v)]
        if not tensors:
            return [float(v) for v in values]
        host = iter(torch.stack(tensors).cpu().tolist())
        return [next(host) if torch.is_tensor(v) else float(v) for v in values]

    def restore(self, value):
        """A checkpoint's numpy array (or number) as a tensor on the device, its dtype kept."""
        if isinstance(value, np.ndarray):
            return torch.from_numpy(np.array(value)).to(self.torch_device)
        return torch.as_tensor(value, dtype=self.torch_dtype, device=self.torch_device)

    def generator_state(self, settings) -> dict[str, np.ndarray]:
        return {"torch_generator": settings.generator.get_state().numpy()}

    def load_generator_state(self, settings, arrays: dict[str, np.ndarray]) -> None:
        settings.generator.set_state(torch.from_numpy(np.array(arrays["torch_generator"])))


def as_numpy(state):
    """The state with every tensor field as a numpy view of the same memory (cpu; no copy)."""
    return replace(state, **{f.name: getattr(state, f.name).numpy() for f in fields(state)
                             if torch.is_tensor(getattr(state, f.name))})


def as_tensors(state):
    """The state with every numpy field as a tensor on the same memory (no copy)."""
    return replace(state, **{f.name: _tensor(getattr(state, f.name)) for f in fields(state)
                             if isinstance(getattr(state, f.name), np.ndarray)})


def _fused(algorithm, ctx: TorchContext) -> bool:
    """Whether this step runs the numba kernels (which have no ``variant="invariant"``)."""
    return ctx.step == "fused" and getattr(algorithm, "variant", None) != "invariant"


class TorchSCA(SCA):
    def ask(self, state: SCAState, ctx: Context) -> torch.Tensor:
        assert isinstance(ctx, TorchContext)
        if _fused(self, ctx):
            return _tensor(NumbaSCA.ask(self, as_numpy(state), ctx.numba()))
        shape = tuple(state.X.shape)
        r1 = self.a - ctx.t * self.a / ctx.max_iter
        r2 = ctx.random(shape, "sca.r2").mul_(2 * np.pi)
        r3 = ctx.random(shape, "sca.r3").mul_(2)
        r4 = ctx.random(shape, "sca.r4")
        moved = _stage(ctx)(_sca_step)(state.X, ctx.best_x, ctx.scalar(r1), r2, r3, r4, self.variant == "invariant")
        if not self.greedy:
            return torch.clamp(moved, ctx.lb, ctx.ub)
        outside = (moved < ctx.lb) | (moved > ctx.ub)
        return torch.where(outside, ctx.uniform(shape, "sca.redraw"), moved)

    def tell(self, state: SCAState, candidates: torch.Tensor, fitness: torch.Tensor,
             ctx: Context) -> tuple[SCAState, bool]:
        assert isinstance(ctx, TorchContext)
        if _fused(self, ctx):
            state, done = NumbaSCA.tell(self, as_numpy(state), candidates.numpy(), fitness.numpy(), ctx.numba())
            return as_tensors(state), done
        if not self.greedy:
            return SCAState(candidates, fitness), True
        better = fitness < state.fitness
        X = torch.where(better[:, None], candidates, state.X)
        return SCAState(X, torch.where(better, fitness, state.fitness)), True


class _TorchPO(PO):
    """PO's generation on tensors; ``campaign_stage`` (PO's or SCPO's) comes from the subclass."""

    def init(self, X: torch.Tensor, fitness: torch.Tensor, ctx: Context) -> POState:
        state = POState(X, fitness, X, fitness, X[:0], torch.zeros(0, dtype=torch.long, device=X.device))
        return self._form_government(state)

    def _form_government(self, state: POState) -> POState:
        if isinstance(state.fitness, np.ndarray):  # the fused step's tell, on numpy views
            return PO._form_government(self, state)
        n = self.n_parties
        by_party = state.fitness.reshape(n, n)  # row = party, column = constituency
        ids = torch.arange(n, device=by_party.device)
        leader_idx = ids * n + torch.argmin(by_party, dim=1)
        winner_idx = torch.argmin(by_party, dim=0) * n + ids
        return replace(state, leader_pos=state.X[leader_idx], winner_idx=winner_idx)

    def _campaign(self, state: POState, ctx: Context) -> torch.Tensor:
        assert isinstance(ctx, TorchContext)
        if _fused(self, ctx):
            return _tensor(_Campaign._campaign(self, as_numpy(state), ctx.numba()))
        n, (N, D) = self.n_parties, state.X.shape
        improved = (state.fitness_last >= state.fitness).reshape(n, n, 1)
        winners = state.X[state.winner_idx]  # copied before the first stage moves them
        X: torch.Tensor = state.X.reshape(n, n, D)  # [party, constituency]
        Q: torch.Tensor = state.X_last.reshape(n, n, D)
        for stage, centres in enumerate((state.leader_pos[:, None, :], winners[None, :, :])):
            X = self.campaign_stage(X, Q, centres, improved, ctx, stage)
        X = X.reshape(N, D)
        psr = (1 - (ctx.t - 1) / ctx.max_iter) * self.lambda_max  # the reference's 0-based t
        if ctx.native or ctx.draws is not None:  # drawn on the device: nothing crosses to the host
            moving = ctx.random((N,), "switch.moving") < psr
            offsets = ctx.integers(1, n, N, "switch.offsets")
        else:
            moving = ctx.rng.random(N) < psr
            offsets = ctx.rng.integers(1, n, size=N)
        source, diagonal = switch_plan_device(state.fitness, n, moving, offsets, self.reference_switch_bug)
        moved = X.index_select(0, source)
        if self.reference_switch_bug:  # a diagonal row is the source's first coordinate everywhere
            moved = torch.where(diagonal[:, None], moved[:, :1], moved)
        return torch.clamp(moved, ctx.lb, ctx.ub)

    def _parliament(self, state: POState, ctx: Context) -> torch.Tensor:
        assert isinstance(ctx, TorchContext)
        if _fused(self, ctx):
            return _tensor(_Campaign._parliament(self, as_numpy(state), ctx.numba()))
        n = self.n_parties
        winners = state.X[state.winner_idx]
        other = (torch.arange(n, device=winners.device) + ctx.integers(1, n, n, "parliament.other")) % n
        target = winners[other]
        r = ctx.random(tuple(winners.shape), "parliament.r")
        return torch.clamp(target + (2 * r - 1) * torch.abs(target - winners), ctx.lb, ctx.ub)

    def tell(self, state: POState, candidates: torch.Tensor, fitness: torch.Tensor,
             ctx: Context) -> tuple[POState, bool]:
        assert isinstance(ctx, TorchContext)
        if state.phase == "campaign" and _fused(self, ctx):
            if state.X_last is not state.X:
                last: torch.Tensor = state.X_last
                ctx.numba().release(last.numpy())  # the fused step writes its next campaign there
            state, done = super().tell(as_numpy(state), candidates.numpy(), fitness.numpy(), ctx)
            return as_tensors(state), done  # numpy's bookkeeping on the same memory: fewer small-op dispatches
        if state.phase == "campaign":
            return super().tell(state, candidates, fitness, ctx)
        if _fused(self, ctx):  # numpy's in-place writes on the same memory: fewer small-op dispatches
            parliament_tell(as_numpy(state), candidates.numpy(), fitness.numpy())
            return replace(state, phase="campaign"), True
        w = state.winner_idx  # in place: these tensors are the state's own
        current = state.fitness[w]
        better = fitness < current
        state.X[w] = torch.where(better[:, None], candidates, state.X[w])
        state.fitness[w] = torch.where(better, fitness, current)
        return replace(state, phase="campaign"), True


class TorchPO(_TorchPO, PO):
    def campaign_stage(self, X: torch.Tensor, Q: torch.Tensor, centres: torch.Tensor, improved: torch.Tensor,
                       ctx: Context, stage: int = 0) -> torch.Tensor:
        assert isinstance(ctx, TorchContext)
        return _stage(ctx)(_po_stage)(X, Q, centres, improved, ctx.random(tuple(X.shape), f"campaign{stage}.r"))


def _sca_step(X, best, r1, r2, r3, r4, invariant: bool):
    return sca_move(X, best, r1, r2, r3, r4, xp=torch, invariant=invariant)


def _po_stage(X, Q, centres, improved, r):
    return campaign_move(X, Q, centres, improved, r, xp=torch)


def _scpo_stage(variant, X, Q, centres, improved, best, r, d1, d2, d3, d4):
    update, safe = case1_update(variant, centres, best, r, d1, d2, d3, d4, xp=torch)
    po_case1 = centres + r * (centres - X)
    return campaign_move(X, Q, centres, improved, r, torch.where(safe, update, po_case1), xp=torch)


class TorchSCPO(_TorchPO, SCPO):
    def campaign_stage(self, X: torch.Tensor, Q: torch.Tensor, centres: torch.Tensor, improved: torch.Tensor,
                       ctx: Context, stage: int = 0) -> torch.Tensor:
        assert isinstance(ctx, TorchContext)
        shape = tuple(X.shape)
        r = ctx.random(shape, f"campaign{stage}.r")
        d1 = self.a - ctx.t * self.a / ctx.max_iter
        d2 = ctx.random(shape, f"campaign{stage}.d2").mul_(2 * np.pi)
        d3 = ctx.random(shape, f"campaign{stage}.d3").mul_(2)
        d4 = ctx.random(shape, f"campaign{stage}.d4")
        return _stage(ctx)(_scpo_stage)(self.variant, X, Q, centres, improved, ctx.best_x, r, ctx.scalar(d1), d2, d3,
                                        d4)


def _stage(ctx: TorchContext):
    """``function`` itself (eager), or compiled by ``torch.compile`` once per function (step="compiled")."""
    if ctx.step != "compiled":
        return lambda function: function
    return _compiled


_COMPILED: dict = {}


def _compiled(function):
    if function not in _COMPILED:
        _COMPILED[function] = torch.compile(function, dynamic=False)
    return _COMPILED[function]


# ---- party switching on the device -----------------------------------------------------------

def switch_plan_device(fitness: torch.Tensor, n: int, moving: torch.Tensor, offsets: torch.Tensor,
                       reference_bug: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`scpo.algorithms.po.switch_plan` (the reference's sequential swaps) for tensors.

    On cuda with triton: one single-program kernel walks the N agents in order, the party's
    fitness in registers, so no value leaves the device. Elsewhere: the compiled host plan
    (a cpu tensor needs no copy; a cuda one costs one N-float copy down per iteration).
    """
    if fitness.is_cuda and _triton_switch() is not None:
        return _triton_switch()(fitness, n, moving, offsets, reference_bug)
    from scpo.backends import numba_kernels as K

    host = lambda t: t.cpu().numpy() if torch.is_tensor(t) else np.asarray(t)  # noqa: E731
    source, diagonal = K.switch_plan(host(fitness), n, host(moving), host(offsets), reference_bug)
    return torch.as_tensor(source, device=fitness.device), torch.as_tensor(diagonal, device=fitness.device)


def _triton_switch():
    """The triton switch plan, or None where triton is missing (cpu-only torch builds)."""
    if "triton" not in _COMPILED:
        try:
            from scpo.backends import triton_switch
            _COMPILED["triton"] = triton_switch.switch_plan
        except ImportError:
            _COMPILED["triton"] = None
    return _COMPILED["triton"]


class TorchRandom(RandomSearch):
    def ask(self, pop_size: int, ctx: Context) -> torch.Tensor:
        assert isinstance(ctx, TorchContext)
        if _fused(self, ctx):
            return _tensor(NumbaRandom.ask(self, pop_size, ctx.numba()))
        return ctx.uniform((pop_size, ctx.lb.numel()), "uniform")

    def tell(self, pop_size: int, candidates: torch.Tensor, fitness: torch.Tensor, ctx: Context) -> tuple[int, bool]:
        assert isinstance(ctx, TorchContext)
        if _fused(self, ctx):
            ctx.numba().release(candidates.numpy())
        return pop_size, True


class _TorchES(Sampler):
    """The evolution strategies' own update functions with ``xp=torch``; only the draws differ."""

    xp = torch  # the draws: ctx.normal (TorchContext's, on the device)

    def sample_box(self, centre, scale, Z, ctx: Context, mirrored: bool = False, write_back: bool = False):
        """With the fused step (the cpu's default), numba's sampling kernel on the tensors' memory (the same
        numbers as the whole-tensor expression, in one pass instead of five); otherwise the tensor code."""
        assert isinstance(ctx, TorchContext)  # made by TorchBackend.context()
        if not _on_kernels(ctx, Z):
            return super().sample_box(centre, scale, Z, ctx, mirrored, write_back)
        host = Z.numpy()
        return _tensor(es_sample(host, centre, scale, ctx, mirrored, write_back, host.dtype, ctx.numba()))

    def tell(self, state, candidates, fitness, ctx: Context):
        """The ES's tell; then, on the fused step, its candidates' buffer goes back to the pool (dead once told)."""
        assert isinstance(ctx, TorchContext)  # made by TorchBackend.context()
        told = super().tell(state, candidates, fitness, ctx)  # type: ignore[misc]
        if _on_kernels(ctx, candidates) and not getattr(self, "pycma", False):
            ctx.numba().release(candidates.numpy())
        return told


def _torch_es(cls):
    return type(f"Torch{cls.__name__}", (_TorchES, cls), {})


class TorchPSO(PSO):
    """PSO's update in tensor operations on the device (the numpy reference's equations)."""

    def init(self, X, fitness, ctx: Context) -> PSOState:
        assert isinstance(ctx, TorchContext)  # made by TorchBackend.context()
        return PSOState(X, torch.zeros_like(X), X, fitness)

    def ask(self, state: PSOState, ctx: Context) -> torch.Tensor:
        assert isinstance(ctx, TorchContext)  # made by TorchBackend.context()
        if _on_kernels(ctx, state.X, state.V, state.P, ctx.best_x):  # numba's pass, its draws: numba's run
            return _tensor(NumbaPSO.ask(self, as_numpy(state), ctx.numba()))
        shape = tuple(state.X.shape)
        r1, r2 = ctx.random(shape, "pso.r1"), ctx.random(shape, "pso.r2")
        V = (self.inertia(ctx) * state.V + self.c1 * r1 * (state.P - state.X)
             + self.c2 * r2 * (ctx.best_x - state.X))
        vmax = self.vmax_fraction * (ctx.ub - ctx.lb)
        return torch.clamp(state.X + torch.clamp(V, -vmax, vmax), ctx.lb, ctx.ub)

    def tell(self, state: PSOState, candidates, fitness, ctx: Context):
        assert isinstance(ctx, TorchContext)  # made by TorchBackend.context()
        if _on_kernels(ctx, state.X, state.V, state.P, candidates):
            told, done = NumbaPSO.tell(self, as_numpy(state), candidates.numpy(), fitness.numpy(), ctx.numba())
            return as_tensors(told), done
        better = fitness < state.P_fitness
        P = torch.where(better[:, None], candidates, state.P)
        return PSOState(candidates, candidates - state.X, P, torch.where(better, fitness, state.P_fitness)), True


def _on_kernels(ctx: TorchContext, *tensors) -> bool:
    """Whether this step runs numba's kernels on the tensors' memory: the fused step (the cpu's default),
    the tensors on the cpu and contiguous."""
    return ctx.step == "fused" and all(t.device.type == "cpu" and t.is_contiguous() for t in tensors)


class TorchDE(DE):
    """DE/rand/1/bin in tensor operations on the device: three distinct partners per target (the three
    smallest of n - 1 uniform keys, a uniform 3-subset), the JADE repair, binomial crossover."""

    def ask(self, state: DEState, ctx: Context) -> torch.Tensor:
        assert isinstance(ctx, TorchContext)  # made by TorchBackend.context()
        X = state.X
        if _on_kernels(ctx, X):  # numba's pass, its draws: numba's run
            return _tensor(NumbaDE.ask(self, as_numpy(state), ctx.numba()))
        n, dim = X.shape
        offsets = torch.topk(ctx.random((n, n - 1), "de.partners"), 3, dim=1, largest=False).indices + 1  # distinct
        r = (torch.arange(n, device=X.device)[:, None] + offsets) % n
        mutant = X[r[:, 0]] + self.F * (X[r[:, 1]] - X[r[:, 2]])
        mutant = torch.where(mutant < ctx.lb, (ctx.lb + X) / 2, mutant)
        mutant = torch.where(mutant > ctx.ub, (ctx.ub + X) / 2, mutant)
        cross = ctx.random((n, dim), "de.cross") < self.CR
        cross[torch.arange(n, device=X.device), ctx.integers(0, dim, n, "de.forced")] = True
        return torch.where(cross, mutant, X)

    def tell(self, state: DEState, candidates, fitness, ctx: Context):
        assert isinstance(ctx, TorchContext)  # made by TorchBackend.context()
        if _on_kernels(ctx, state.X, candidates):
            told, done = NumbaDE.tell(self, as_numpy(state), candidates.numpy(), fitness.numpy(), ctx.numba())
            return as_tensors(told), done
        keep = fitness <= state.fitness
        return DEState(torch.where(keep[:, None], candidates, state.X), torch.where(keep, fitness, state.fitness)), True


class TorchCMAES(_TorchES, CMAES):
    """Our CMA-ES with ``xp=torch`` (the numpy class's update, eigendecomposition on the device; the own restart
    point drawn from the torch generator every generation, so restarting is a ``where``, not a host read).
    ``implementation="cma"`` drives ``cma`` on the host: each generation's samples go to the device and their
    fitness comes back (one copy each way per generation, a synchronization on a GPU)."""

    def normal(self, shape, ctx: Context) -> torch.Tensor:
        assert isinstance(ctx, TorchContext)  # made by TorchBackend.context()
        return ctx.normal(shape, "normal")

    def restart_point(self, dim: int, ctx: Context) -> torch.Tensor:
        assert isinstance(ctx, TorchContext)  # made by TorchBackend.context()
        return ctx.random((dim,), "restart")

    def start(self, pop_size: int, ctx: Context):
        assert isinstance(ctx, TorchContext)  # made by TorchBackend.context()
        return super().start(pop_size, _host_context(ctx) if self.pycma else ctx)

    def init(self, X, fitness, ctx: Context):
        assert isinstance(ctx, TorchContext)  # made by TorchBackend.context()
        if self.pycma:
            return super().init(_host(X), _host(fitness), _host_context(ctx))
        return super().init(X, fitness, ctx)

    def ask(self, state, ctx: Context) -> torch.Tensor:
        assert isinstance(ctx, TorchContext)  # made by TorchBackend.context()
        if self.pycma:
            return ctx.tensor(super().ask(state, _host_context(ctx)))
        return super().ask(state, ctx)

    def tell(self, state, candidates, fitness, ctx: Context):
        assert isinstance(ctx, TorchContext)  # made by TorchBackend.context()
        if self.pycma:
            return super().tell(state, _host(candidates), _host(fitness), _host_context(ctx))
        return super().tell(state, candidates, fitness, ctx)

    def center(self, state, ctx: Context):
        assert isinstance(ctx, TorchContext)  # made by TorchBackend.context()
        return super().center(state, _host_context(ctx) if self.pycma else ctx)


def _tensor(array: np.ndarray) -> torch.Tensor:
    """``array`` as a tensor sharing its memory: the tensor it is a whole view of (``tensor.numpy()``, as the
    fused step's states and pooled buffers are), else ``torch.from_numpy``. Wrapping such a view anew would
    make each generation's tensor hold the previous one through the view's base, so that every buffer a run
    ever made (the engine's copies included) stayed alive: 0.5 MB per generation at 64 x 2,000 float32."""
    base = array.base
    if (isinstance(base, torch.Tensor) and base.is_contiguous() and array.flags.c_contiguous
            and tuple(base.shape) == array.shape and base.data_ptr() == array.ctypes.data
            and base.numpy().dtype == array.dtype):
        return base
    return torch.from_numpy(array)


def _cpu_view(tensor: Any) -> np.ndarray:
    """The numpy view of a cpu tensor's memory (no copy): what numba's kernels read and write."""
    return tensor.numpy()


def _host(tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy() if torch.is_tensor(tensor) else np.asarray(tensor)


def _host_context(ctx: TorchContext) -> Context:
    """The numpy view an algorithm written over numpy arrays reads: bounds, best so far, the run's Generator."""
    best = None if ctx.best_x is None else _host(ctx.best_x)
    return Context(ctx.rng, ctx.lb_np, ctx.ub_np, ctx.max_iter, ctx.t, best, float(_host(ctx.best_f)))


ADAPTED: dict[type, type] = {
    SCA: TorchSCA, PO: TorchPO, SCPO: TorchSCPO, RandomSearch: TorchRandom, PSO: TorchPSO, DE: TorchDE,
    CMAES: TorchCMAES, **{cls: _torch_es(cls) for cls in (OpenAIES, SNES, PGPE, SepCMAES)}}
