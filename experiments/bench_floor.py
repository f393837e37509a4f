"""Every algorithm's update against the copy floor (issue #27 item 6): ``python experiments/bench_floor.py``.

At N=1,024 x D=10,000 float32 (40 MB per population array: out of every cache, so a copy is one read and
one write pass over memory), for every algorithm on numba and on torch cpu: one generation's update
(``ask`` + ``tell``; the objective's evaluation is done between them, outside the timing, so ``tell`` is
fed fitness computed beforehand) against one copy of the population (torch ``dst.copy_(src)``, numpy
``np.copyto``), each the minimum over ``--repeats`` generations / copies, and the ratio update / copy
side by side with a verdict (<= 20x: MET); the copies are timed right before each generation (interleaved,
the same load for both). One thread everywhere (``threads=1``: numba's kernels, torch's pool and the
copies), because the machine is shared. ``cmaes`` (full covariance, D^2 = 10^8 entries) runs in a
subprocess under a time limit and is reported as over it when it does not finish.

A full-covariance CMA-ES cannot meet a copy floor at this size: each generation multiplies the (N, D)
normals by a (D, D) matrix (N D^2 = 10^11 multiply-adds, seconds on one core) and, at N = 1,024, whose
learning rates make the lazy eigendecomposition run every generation, decomposes C (D^3). So ``cmaes`` has
its own section at ``--cmaes-shape`` (1,024 x 1,000): its update against its own floor, the work no
implementation can skip (the sampling product (N, D) @ (D, D), the rank-mu product (D, N) @ (N, D), one
``eigh`` of a (D, D) matrix) in the backend's library and precision (numpy float64 for numba, torch float32
for torch), with a verdict at <= 2x.

For the algorithms that draw (N, D) numbers per generation the floor below the floor is the draws: the
script also times one fill of the population with ``torch.randn``/``torch.rand`` (float32) and with numpy's
``standard_normal``/``random`` (float64: what ``draws="numpy"`` costs), so their rows can be read against
it; with the default (native) draws numba and torch cpu draw inside their kernels.

Writes the report to stdout and to ``experiments/results/bench_floor.txt``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

for _blas in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):  # one thread in numpy's BLAS
    os.environ[_blas] = "1"  # too (CMA-ES's products and eigh on numba), here and in the --one subprocesses

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import scpo  # noqa: E402
from scpo import problems  # noqa: E402

RESULTS = ROOT / "experiments" / "results" / "bench_floor.txt"
ALGORITHMS = ("sca", "po", "scpo", "pso", "de", "random", "openai-es", "snes", "pgpe", "sep-cmaes", "cmaes")
BACKENDS = ("numba", "torch")
GOAL = 20.0
SHAPE = (1024, 10_000)
CMAES_SHAPE = (1024, 1000)
CMAES_GOAL = 2.0


def shell(command: str) -> str:
    try:
        return subprocess.run(command, shell=True, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "(unavailable)"


def best_of(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def draw_fills(shape: tuple[int, int], repeats: int) -> dict[str, float]:
    """Seconds of one fill of the population with random numbers, the floor under the updates that draw
    (N, D) of them per generation: normal (the ES family; numba's ES draw numpy's float64 as the numpy
    reference does) and uniform (PSO draws 2 fills, DE 1; numba's draw numpy's float64 as the reference)."""
    import torch

    out = torch.empty(shape, dtype=torch.float32)
    generator = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)
    array = np.empty(shape)
    return {"torch.randn float32": best_of(lambda: torch.randn(shape, generator=generator, out=out), repeats),
            "torch.rand float32": best_of(lambda: torch.rand(shape, generator=generator, out=out), repeats),
            "numpy standard_normal float64": best_of(lambda: rng.standard_normal(shape, out=array), repeats),
            "numpy random float64": best_of(lambda: rng.random(shape, out=array), repeats)}


def update_time(algorithm: str, backend: str, shape: tuple[int, int], repeats: int) -> tuple[float, float]:
    """Min over ``repeats`` generations of their asks + tells (after the initial population and two warm-up
    generations; PO and SCPO take two ask/tell rounds per generation: campaign, parliament), objective
    excluded; and the min of one population copy timed right before each generation (interleaved, so that
    both see the same load)."""
    N, D = shape
    problem = problems.get("sphere", dim=D)
    optimizer = scpo.make(problem, algorithm, seed=0, pop_size=N, max_iter=repeats + 10, backend=backend,
                          dtype="float32", threads=1)
    evaluate = optimizer.evaluator()
    copy = copier(backend, shape)
    updates, copies = [], []
    for generation in range(repeats + 3):
        copies.append(copy())
        seconds, start_nit = 0.0, optimizer.run_state.nit
        while optimizer.run_state.nit == start_nit:
            start = time.perf_counter()
            candidates = optimizer.ask(copy=False)
            seconds += time.perf_counter() - start
            fitness = evaluate(candidates)
            start = time.perf_counter()
            optimizer.tell(fitness, checked=evaluate.checked)
            seconds += time.perf_counter() - start
        if generation >= 3:  # the initial population and two generations warm up (buffers, caches)
            updates.append(seconds)
    return min(updates), min(copies)


def matrix_floor(backend: str, shape: tuple[int, int], repeats: int) -> float:
    """Seconds of the work a full-covariance CMA-ES generation at ``shape`` cannot skip (one thread): the sampling
    product (N, D) @ (D, D), the rank-mu product (D, N) @ (N, D) (active CMA-ES weighs every sample) and one
    eigendecomposition of a symmetric positive definite (D, D) matrix (every generation at N = 1,024: the lazy
    schedule's gap is 1), in the backend's library and in the precision its CMA-ES keeps C in (numba runs the numpy
    reference: float64, as ``cma``; torch: the run's float32); the min over ``repeats``."""
    N, D = shape
    dtype = np.float32 if backend == "torch" else np.float64
    rng = np.random.default_rng(0)
    Z, B = rng.standard_normal((N, D), dtype=dtype), rng.standard_normal((D, D), dtype=dtype)
    C = B @ B.T / D + np.eye(D, dtype=dtype)
    if backend == "torch":
        import torch

        Zt, Bt, Ct = (torch.from_numpy(a) for a in (Z, B, C))
        step = lambda: (Zt @ Bt, Zt.T @ Zt, torch.linalg.eigh(Ct))  # noqa: E731
    else:
        step = lambda: (Z @ B, Z.T @ Z, np.linalg.eigh(C))  # noqa: E731
    step()
    return best_of(step, repeats)


def copier(backend: str, shape: tuple[int, int]):
    """A function that copies a float32 population once and returns the seconds it took."""
    source = np.random.default_rng(0).random(shape, dtype=np.float32)
    if backend == "torch":
        import torch

        src = torch.from_numpy(source)
        dst = torch.empty_like(src)
        step = lambda: dst.copy_(src)  # noqa: E731
    else:
        target = np.empty_like(source)
        step = lambda: np.copyto(target, source)  # noqa: E731
    step()  # touch the pages first

    def timed() -> float:
        start = time.perf_counter()
        step()
        return time.perf_counter() - start
    return timed


def update_in_subprocess(algorithm: str, backend: str, shape, repeats: int, limit: float) -> tuple | str:
    command = [sys.executable, __file__, "--one", algorithm, backend, str(shape[0]), str(shape[1]), str(repeats)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=limit)
    except subprocess.TimeoutExpired:
        return f"over {limit:.0f} s"
    if done.returncode != 0:
        return "failed: " + (done.stderr.strip().splitlines() or ["?"])[-1]
    return tuple(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shape", type=int, nargs=2, default=SHAPE, metavar=("N", "D"))
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS), choices=ALGORITHMS)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--cmaes-limit", type=float, default=90.0, help="seconds before cmaes's row gives up")
    parser.add_argument("--cmaes-shape", type=int, nargs=2, default=CMAES_SHAPE, metavar=("N", "D"),
                        help="where cmaes is timed against its own floor (a product and an eigh)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        name, backend, n, d, repeats = args.one
        print(json.dumps(update_time(name, backend, (int(n), int(d)), int(repeats))))
        return
    shape = tuple(args.shape)
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    scpo.backends.threads.set_threads(1)
    say(f"# update vs copy floor, {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    model = shell("lscpu | grep 'Model name'")
    say(f"machine: {model}; nproc {shell('nproc')}; one thread everywhere")
    say(f"load average at start: {shell('cat /proc/loadavg')}")
    say(f"N={shape[0]} x D={shape[1]} float32 ({shape[0] * shape[1] * 4 / 2**20:.0f} MB per array); "
        f"min of {args.repeats} generations (asks + tells, objective excluded) and of the copies timed right "
        "before each generation")
    fills = draw_fills(shape, args.repeats + 2)
    say("one fill of the population with draws (the floor of the algorithms that draw (N, D) numbers): "
        + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in fills.items()))
    say(f"\n{'algorithm':10s} {'backend':7s} {'copy ms':>8s} {'update ms':>10s} {'ratio':>8s}  "
        f"verdict (<= {GOAL:.0f}x)")
    for algorithm in args.algorithms:
        for backend in args.backends:
            if algorithm == "cmaes":
                timed = update_in_subprocess(algorithm, backend, shape, min(args.repeats, 2), args.cmaes_limit)
            else:
                timed = update_time(algorithm, backend, shape, args.repeats)
            if isinstance(timed, str):
                floor = min(copier(backend, shape)() for _ in range(args.repeats + 2))
                say(f"{algorithm:10s} {backend:7s} {floor * 1e3:8.2f} {timed:>10s} {'':>8s}  MISSED")
                continue
            update, floor = timed
            ratio = update / floor
            say(f"{algorithm:10s} {backend:7s} {floor * 1e3:8.2f} {update * 1e3:10.1f} {ratio:7.1f}x  "
                f"{'MET' if ratio <= GOAL else 'MISSED'}")
    if "cmaes" in args.algorithms:
        n, d = args.cmaes_shape
        say(f"\ncmaes against its own floor at N={n} x D={d} (a float32 run): the sampling product (N, D) @ (D, D), "
            "the rank-mu product (D, N) @ (N, D) and one (D, D) eigh, float64 for numba (the numpy reference keeps C "
            "in float64, as cma), float32 for torch")
        say(f"{'algorithm':10s} {'backend':7s} {'floor ms':>8s} {'update ms':>10s} {'ratio':>8s}  "
            f"verdict (<= {CMAES_GOAL:.0f}x)   copy ms  update/copy")
        for backend in args.backends:
            timed = update_in_subprocess("cmaes", backend, (n, d), args.repeats, args.cmaes_limit)
            floor = matrix_floor(backend, (n, d), args.repeats)
            if isinstance(timed, str):
                say(f"{'cmaes':10s} {backend:7s} {floor * 1e3:8.1f} {timed:>10s} {'':>8s}  MISSED")
                continue
            update, copy = timed
            ratio = update / floor
            say(f"{'cmaes':10s} {backend:7s} {floor * 1e3:8.1f} {update * 1e3:10.1f} {ratio:7.1f}x  "
                f"{'MET' if ratio <= CMAES_GOAL else 'MISSED':13s}  {copy * 1e3:8.2f} {update / copy:10.0f}x")
    say(f"load average at end: {shell('cat /proc/loadavg')}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
