"""One peer library's run, for ``experiments/bench_engine.py --peers``; runs inside that library's own venv.

``python peer_runner.py '{"library": "mealpy", "algorithm": "pso", "function": "rastrigin", "dim": 30,
"pop": 100, "generations": 100, "seed": 0, "repeats": 1, "shift": [...]}'`` prints one JSON line: ``seconds`` (the best
of ``repeats`` whole runs, the import and the problem's construction excluded, the objective included),
``f`` (that run's final best) and ``name`` (the peer's class), or ``{"missing": reason}`` when the peer has
no such algorithm. Imports only numpy and the peer (and torch for EvoX): it must not need scpo, whose pins
the peers' venvs do not follow. One thread: the caller sets ``OMP_NUM_THREADS=1`` and friends, and torch's
pool is set to 1 here.
"""

from __future__ import annotations

import json
import math
import sys
import time

import numpy as np

BOUNDS = {"sphere": 100.0, "rastrigin": 5.12}  # F1 and F9: [-b, b]^D, as scpo.problems
MEALPY = {"sca": [("SCA", "OriginalSCA"), ("SCA", "DevSCA")], "pso": [("PSO", "OriginalPSO")],
          "de": [("DE", "OriginalDE")], "cmaes": [("ES", "CMA_ES")]}
NEVERGRAD = {"pso": "PSO", "de": "DE", "cmaes": "CMA", "sep-cmaes": "DiagonalCMA", "random": "RandomSearch"}
EVOX = {"pso": ["PSO"], "de": ["DE"], "cmaes": ["CMAES"], "openai-es": ["OpenES"], "snes": ["SNES", "SeparableNES"]}


def objective_rows(name: str, shift):
    """The function on an (n, D) batch (numpy), its optimum moved to ``shift`` (scpo's shifted problem)."""
    o = np.asarray(shift, dtype=float)
    if name == "sphere":
        return lambda X: np.sum((X - o) ** 2, axis=1)
    return lambda X: np.sum((X - o) ** 2 - 10.0 * np.cos(2.0 * np.pi * (X - o)) + 10.0, axis=1)


def run_mealpy(spec: dict) -> list[dict]:
    import mealpy

    dim, bound = spec["dim"], BOUNDS[spec["function"]]
    batch = objective_rows(spec["function"], spec["shift"])
    problem = {"obj_func": lambda x: float(batch(x[None, :])[0]), "bounds": mealpy.FloatVar(lb=[-bound] * dim,
               ub=[bound] * dim), "minmax": "min", "log_to": None}
    rows = []
    for module, cls in MEALPY.get(spec["algorithm"], []):
        best_t, best_f = math.inf, math.nan
        for _ in range(spec["repeats"]):
            model = getattr(getattr(mealpy, module), cls)(epoch=spec["generations"], pop_size=spec["pop"])
            start = time.perf_counter()
            result = model.solve(problem, seed=spec["seed"])
            seconds = time.perf_counter() - start
            if seconds < best_t:
                best_t, best_f = seconds, float(result.target.fitness)
        rows.append({"name": f"mealpy {cls}", "seconds": best_t, "f": best_f})
    return rows


def run_nevergrad(spec: dict) -> list[dict]:
    import nevergrad as ng

    name = NEVERGRAD.get(spec["algorithm"])
    if name is None:
        return []
    dim, pop, bound = spec["dim"], spec["pop"], BOUNDS[spec["function"]]
    batch = objective_rows(spec["function"], spec["shift"])
    best_t, best_f = math.inf, math.nan
    for _ in range(spec["repeats"]):
        parametrization = ng.p.Array(shape=(dim,), lower=-bound, upper=bound)
        parametrization.random_state = np.random.RandomState(spec["seed"])
        optimizer = ng.optimizers.registry[name](parametrization=parametrization,
                                                 budget=pop * spec["generations"], num_workers=pop)
        start = time.perf_counter()
        best = math.inf
        for _ in range(spec["generations"]):  # a generation: pop asks, one batch evaluation, pop tells
            candidates = [optimizer.ask() for _ in range(pop)]
            values = batch(np.stack([c.value for c in candidates]))
            for candidate, value in zip(candidates, values, strict=True):
                optimizer.tell(candidate, float(value))
            best = min(best, float(values.min()))
        seconds = time.perf_counter() - start
        if seconds < best_t:
            best_t, best_f = seconds, best
    return [{"name": f"nevergrad {name}", "seconds": best_t, "f": best_f}]


def run_evox(spec: dict) -> list[dict]:
    import torch
    from evox import algorithms
    from evox.core import Problem
    from evox.workflows import EvalMonitor, StdWorkflow

    class Shifted(Problem):
        """F1 or F9 of ``x - shift`` on a (n, D) tensor: scpo's shifted problem."""

        def __init__(self, function: str, shift: torch.Tensor):
            super().__init__()
            self.rastrigin, self.shift = function == "rastrigin", shift

        def evaluate(self, pop: torch.Tensor) -> torch.Tensor:
            z = pop - self.shift
            if self.rastrigin:
                return (z * z - 10.0 * torch.cos(2.0 * math.pi * z) + 10.0).sum(1)
            return (z * z).sum(1)

    torch.set_num_threads(1)
    rows = []
    for name in EVOX.get(spec["algorithm"], []):
        try:
            rows.append(_evox_row(spec, name, algorithms, Shifted, EvalMonitor, StdWorkflow, torch))
        except Exception as error:  # noqa: BLE001  (the row says why; the others still run)
            rows.append({"name": f"evox {name}", "note": f"failed: {type(error).__name__}: {str(error)[:60]}"})
    return rows


def _evox_row(spec, name, algorithms, Shifted, EvalMonitor, StdWorkflow, torch) -> dict:  # noqa: N803
    dim, pop, bound = spec["dim"], spec["pop"], BOUNDS[spec["function"]]
    lb, ub = -bound * torch.ones(dim), bound * torch.ones(dim)
    centre, sigma = torch.zeros(dim), 0.1 * 2 * bound  # the box centre; 0.1 of the range, as scpo's ES
    best_t, best_f = math.inf, math.nan
    for _ in range(spec["repeats"]):
        torch.manual_seed(spec["seed"])
        cls = getattr(algorithms, name)
        if name in ("PSO", "DE"):
            algorithm = cls(pop_size=pop, lb=lb, ub=ub)
        elif name == "CMAES":
            algorithm = cls(mean_init=centre, sigma=sigma, pop_size=pop)
        elif name == "OpenES":
            algorithm = cls(pop_size=pop, center_init=centre, learning_rate=0.01 * 2 * bound, noise_stdev=sigma,
                            optimizer="adam")
        elif name == "SNES":
            algorithm = cls(pop_size=pop, center_init=centre, sigma=sigma)
        else:  # SeparableNES
            algorithm = cls(init_mean=centre, init_std=sigma * torch.ones(dim), pop_size=pop)
        monitor = EvalMonitor()
        problem = Shifted(spec["function"], torch.tensor(spec["shift"], dtype=torch.float32))
        workflow = StdWorkflow(algorithm, problem, monitor)
        start = time.perf_counter()
        workflow.init_step()
        for _ in range(spec["generations"] - 1):
            workflow.step()
        seconds = time.perf_counter() - start
        if seconds < best_t:
            best_t, best_f = seconds, float(monitor.get_best_fitness())
    return {"name": f"evox {name}", "seconds": best_t, "f": best_f}


def main() -> None:
    spec = json.loads(sys.argv[1])
    run = {"mealpy": run_mealpy, "nevergrad": run_nevergrad, "evox": run_evox}[spec["library"]]
    print(json.dumps(run(spec)))


if __name__ == "__main__":
    main()
