"""scpo's evolution strategies against published implementations at the same population and budget.

Oracles: evotorch's ``SNES``, ``PGPE`` (ClipUp) and, for OpenAI-ES, ``PGPE`` with a fixed
stdev (``stdev_learning_rate=0``), Adam and centred ranks (evotorch has no class of that
name; this is the same algorithm), and ``cma`` with ``CMA_diagonal=True`` (and
``CMA_active=False``, as Ros & Hansen) for sep-CMA-ES. From D = 300 on, ``cma`` adapts its
step size by TPA (two-point adaptation), not by the CSA of Ros & Hansen; ``--cma-sigma csa``
forces CSA. Every run starts at the box centre
with the same initial step sizes and learning rates (converted from shares of the range);
the oracles' candidates are clipped to the box before evaluation, as ours are, and the best
fitness evaluated is reported. Both sides run ``max_evals // N - 1`` generations of N after
scpo's N-point initial population.

Verdict per (algorithm, problem, dim): the two-sided Mann-Whitney rank-sum test over seeds
at level 0.01; "agree" when it does not reject, else which side is better and by what
factor of the medians.

    PYTHONPATH=$PWD python experiments/bench_es.py [--seeds 10] [--dims 100,1000] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime
import logging
import platform
import time
import warnings

import numpy as np
from scipy.stats import mannwhitneyu

import scpo
from scpo.algorithms import create

PROBLEMS = ("sphere", "rosenbrock", "rastrigin")
ALGORITHMS = ("openai-es", "snes", "pgpe", "sep-cmaes")
# PGPE is compared with ClipUp on both sides (evotorch's PGPE default), not with our default Adam
COMPARED = {"pgpe": {"optimizer": "clipup"}}
LEVEL = 0.01


def budget(dim: int) -> int:
    return 20_000 if dim <= 200 else 60_000


class Tracked:
    """The problem's objective on clipped candidates, remembering the best value seen."""

    def __init__(self, problem):
        self.problem, self.best, self.nfev = problem, np.inf, 0

    def __call__(self, X: np.ndarray) -> np.ndarray:
        f = self.problem.evaluate(np.clip(X, self.problem.lb, self.problem.ub))
        f = np.where(np.isfinite(f), f, np.inf)
        self.best, self.nfev = min(self.best, float(f.min())), self.nfev + len(X)
        return f


def oracle(name: str, problem, seed: int, pop: int, generations: int, cma_sigma: str = "default") -> float:
    algo = create(name, **COMPARED.get(name, {}))
    span = float(problem.ub[0] - problem.lb[0])
    center = (problem.lb + problem.ub) / 2
    tracked = Tracked(problem)
    if name == "sep-cmaes":
        import cma

        es = cma.CMAEvolutionStrategy(center, algo.sigma0 * span, {
            "CMA_diagonal": True, "CMA_active": False, "popsize": pop, "seed": seed + 1, "verbose": -9,
            "tolfun": 0, "tolx": 0, "tolfunhist": 0, "tolflatfitness": 10**9, "tolstagnation": 10**9,
            "tolconditioncov": np.inf, "maxiter": np.inf, "maxfevals": np.inf,
            "bounds": [problem.lb.tolist(), problem.ub.tolist()],
            **({"AdaptSigma": cma.sigma_adaptation.CMAAdaptSigmaCSA} if cma_sigma == "csa" else {})})
        for _ in range(generations):
            X = es.ask()
            es.tell(X, tracked(np.asarray(X)).tolist())
        return tracked.best
    import torch
    from evotorch import Problem
    from evotorch.algorithms import PGPE, SNES

    logging.getLogger("evotorch").setLevel(logging.WARNING)

    torch.manual_seed(seed)
    ev_problem = Problem("min", lambda X: torch.as_tensor(tracked(X.detach().cpu().numpy())),
                         solution_length=problem.dim, initial_bounds=(problem.lb[0], problem.ub[0]),
                         dtype=torch.float64, vectorized=True, seed=seed)
    common = dict(popsize=pop, center_init=torch.as_tensor(center))
    if name == "snes":
        searcher = SNES(ev_problem, stdev_init=algo.sigma0 * span, **common)
    elif name == "pgpe":
        lr, max_speed = algo.speeds(problem.dim)
        searcher = PGPE(ev_problem, stdev_init=algo.sigma0 * span, center_learning_rate=lr * span,
                        stdev_learning_rate=algo.stdev_learning_rate, optimizer="clipup",
                        optimizer_config={"max_speed": max_speed * span, "momentum": algo.momentum},
                        stdev_max_change=algo.stdev_max_change, ranking_method="centered", **common)
    else:  # openai-es
        searcher = PGPE(ev_problem, stdev_init=algo.sigma * span, center_learning_rate=algo.learning_rate * span,
                        stdev_learning_rate=0.0, optimizer="adam", ranking_method="centered",
                        stdev_max_change=None, **common)
    searcher.run(generations)
    return tracked.best


def ours(name: str, problem, seed: int, max_evals: int) -> tuple[float, int, int]:
    result = scpo.minimize(problem, algorithm=name, max_evals=max_evals, seed=seed, **COMPARED.get(name, {}))
    return result.fun, result.pop_size, result.max_iter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="runs per cell for dim <= 200")
    parser.add_argument("--seeds-large", type=int, default=5, help="runs per cell for dim > 200")
    parser.add_argument("--dims", default="100,1000")
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    parser.add_argument("--cma-sigma", choices=("default", "csa"), default="default",
                        help="cma's step-size rule: its default (TPA from D = 300 on) or CSA, as Ros & Hansen")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", module="cma")  # its bound transform's chatter
    lines = [f"# bench_es.py  {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}  "
             f"{platform.node()} {platform.processor() or platform.machine()}, python {platform.python_version()}",
             f"# seeds 0..{args.seeds - 1} (dim <= 200), 0..{args.seeds_large - 1} (larger); budget 20,000 evaluations "
             f"(dim <= 200) or 60,000; cma step-size rule: {args.cma_sigma}",
             f"# shifted problems (problem seed = run seed); rank-sum level {LEVEL}",
             f"{'algorithm':10} {'problem':10} {'dim':>5} {'N':>3} {'evals':>6} {'scpo median':>12} "
             f"{'oracle median':>13} {'ratio':>8} {'p':>7}  verdict  (s ours/oracle)"]
    print("\n".join(lines), flush=True)
    for dim in map(int, args.dims.split(",")):
        for problem_name in args.problems.split(","):
            for name in args.algorithms.split(","):
                mine, theirs, t_mine, t_theirs = [], [], 0.0, 0.0
                for seed in range(args.seeds if dim <= 200 else args.seeds_large):
                    problem = scpo.problems.get(problem_name, dim, shifted=True, seed=seed)
                    start = time.perf_counter()
                    fun, pop, max_iter = ours(name, problem, seed, budget(dim))
                    t_mine += time.perf_counter() - start
                    mine.append(fun)
                    start = time.perf_counter()
                    theirs.append(oracle(name, problem, seed, pop, max_iter - 1, args.cma_sigma))
                    t_theirs += time.perf_counter() - start
                p = mannwhitneyu(mine, theirs, alternative="two-sided").pvalue
                a, b = float(np.median(mine)), float(np.median(theirs))
                ratio = a / b if b > 0 else np.inf
                verdict = "agree" if p >= LEVEL else ("scpo better" if a < b else "oracle better")
                line = (f"{name:10} {problem_name:10} {dim:5d} {pop:3d} {budget(dim):6d} {a:12.4g} {b:13.4g} "
                        f"{ratio:8.3g} {p:7.3f}  {verdict}  ({t_mine:.0f}/{t_theirs:.0f})")
                lines.append(line)
                print(line, flush=True)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
