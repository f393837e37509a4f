"""Engine benchmark (``make bench``): our numpy, numba and torch backends against mealpy 3.0.3.

(a) SCA on Rastrigin d=30, pop 50, 500 iterations; (b) d=1000, pop 100, 100 iterations: wall
time of a whole run, objective included, with ratios to mealpy's ``OriginalSCA`` and
``DevSCA``. (c) SCPO with 1,024 agents (32 parties; PO needs a square) x 10,000 dimensions,
ours only: the optimizer's own update per iteration (ask + tell, objective excluded and
shown apart) against a memory floor measured in the same process (one read and one write
pass over the population array, ``np.copyto``), with the process's peak memory. Each (c)
configuration runs in its own process so that peaks do not mix. Numba's compile time is
reported apart: once cold (empty cache, in a subprocess), once as the cache load.

Times are the best of several runs unless a run is too long to repeat (mealpy, numpy and
torch in (c)); the machine's load average is printed because the machine may be shared.
Writes the report to stdout and to ``experiments/results/bench_engine.txt``.

``--checkpoint``: only the checkpoint section (SCPO, Rastrigin d=100, pop 100, 1500
iterations, numpy: the run the checkpoint tests kill and resume), the same run without
checkpoints, with the default adaptive interval, and every 25 and every 1 iterations, side by
side with the ratio; written to ``experiments/results/bench_checkpoint.txt``.

``--peers``: every algorithm on every backend (numpy, numba, torch cpu) against mealpy, nevergrad and EvoX on
the same problems (shifted F1 sphere and F9 Rastrigin, D=30 with 100 generations and D=1000 with 20, pop
100, seed 0), side by side in one run: time per generation (whole run, objective included, over the
generations) as a ratio to scpo's numpy row of the same algorithm, and the final best f. The peers run as
subprocesses (``experiments/peer_runner.py``) in their own venvs, because their pins conflict with ours
and with each other; ``--venvs`` names the folder that holds them (default ``.venv-peers/`` in the repo
root; ``make peer-venvs`` makes it). A missing venv gives "skipped (venv missing)" in that peer's rows.
The venvs, exactly (python 3.11)::

    python3 -m venv .venv-peers/mealpy
    .venv-peers/mealpy/bin/pip install mealpy==3.0.3 'numpy<=1.26.0'
    python3 -m venv .venv-peers/evox
    .venv-peers/evox/bin/pip install torch==2.13.0
    .venv-peers/evox/bin/pip install evox==1.4.0 evotorch==0.6.1

nevergrad runs from this interpreter when it imports here (it is in the main venv), else from
``.venv-peers/nevergrad`` (``pip install nevergrad==1.0.12``). One thread for everyone (``threads=1``
for scpo; OMP/MKL/OpenBLAS/NUMBA_NUM_THREADS=1 and ``torch.set_num_threads(1)`` for the peers); times
are the best of 3 runs for scpo (2 at D=1000) and of 1 for the peers (their runs take seconds to
minutes); written to ``experiments/results/bench_peers.txt``; ``--peers --quick``: D=5, 3 generations.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import scpo  # noqa: E402
from scpo import problems  # noqa: E402

RESULTS = ROOT / "experiments" / "results" / "bench_engine.txt"
CHECKPOINT_RESULTS = ROOT / "experiments" / "results" / "bench_checkpoint.txt"
PEERS_RESULTS = ROOT / "experiments" / "results" / "bench_peers.txt"
OURS = [("numpy", {}), ("numba", {}), ("torch", {}), ("numba", {"greedy": True})]
C_CONFIGS = [  # (backend, dtype, threads: None = all)
    ("numba", "float64", None), ("numba", "float64", 1), ("numba", "float32", None),
    ("numpy", "float64", None), ("torch", "float64", None), ("torch", "float32", None),
]
C_SHAPE = (1024, 10_000)


def shell(command: str) -> str:
    try:
        return subprocess.run(command, shell=True, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "(unavailable)"


def best_of(function, repeats: int) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return min(times), value


# ---- mealpy -------------------------------------------------------------------------------------

def mealpy_run(name: str, dim: int, pop: int, epochs: int) -> tuple[float, float]:
    from mealpy import SCA, FloatVar

    def rastrigin(x):  # the per-vector form mealpy calls, as cheap as numpy makes it
        return float(np.sum(x**2 - 10.0 * np.cos(2.0 * np.pi * x) + 10.0))

    problem = {"obj_func": rastrigin, "bounds": FloatVar(lb=[-5.12] * dim, ub=[5.12] * dim), "minmax": "min",
               "log_to": None}
    model = getattr(SCA, name)(epoch=epochs, pop_size=pop)
    start = time.perf_counter()
    best = model.solve(problem, seed=0)
    return time.perf_counter() - start, float(best.target.fitness)


# ---- (a) and (b) ----------------------------------------------------------------------------------

def ours_run(backend: str, options: dict, dim: int, pop: int, iters: int, repeats: int):
    problem = problems.get("rastrigin", dim=dim)
    run = lambda: scpo.minimize(problem, algorithm="sca", pop_size=pop, max_iter=iters, seed=0,  # noqa: E731
                                backend=backend, **options)
    start = time.perf_counter()
    scpo.minimize(problem, algorithm="sca", pop_size=pop, max_iter=3, seed=0, backend=backend, **options)
    first = time.perf_counter() - start  # numba: loading the compiled kernels from the cache
    seconds, result = best_of(run, repeats)
    return seconds, float(result.fun), first


def overhead_split(dim: int, pop: int, iters: int) -> dict[str, float]:
    """Where a numba SCA run's time goes: kernels, objective, and the engine around them."""
    from scpo.backends import numba_kernels as K
    from scpo.backends import numba_problems

    problem = problems.get("rastrigin", dim=dim)
    total, _ = best_of(lambda: scpo.minimize(problem, algorithm="sca", pop_size=pop, max_iter=iters, seed=0,
                                             backend="numba"), 5)
    X = np.random.default_rng(0).uniform(-5.12, 5.12, (pop, dim))
    out, P = np.empty_like(X), X[0].copy()
    step = lambda: [K.launch(K.sca_counter, X.size, X, P, 1.0, np.uint64(i), problem.lb, problem.ub, False, out)  # noqa: E731
                    for i in range(iters)]
    evaluate = lambda: [numba_problems.objective(problem.objective, X) for _ in range(iters)]  # noqa: E731
    kernel, _ = best_of(step, 5)
    objective, _ = best_of(evaluate, 5)
    return {"total": total, "kernel": kernel, "objective": objective, "engine": total - kernel - objective}


# ---- (c), one configuration per process -----------------------------------------------------------

def case_c(backend: str, dtype: str, iterations: int) -> dict:
    N, D = C_SHAPE
    problem = problems.get("rastrigin", dim=D)
    optimizer = scpo.make(problem, "scpo", seed=0, pop_size=N, max_iter=iterations + 3, backend=backend, dtype=dtype)
    evaluate = optimizer.evaluator()
    sync = _sync(optimizer)
    updates, objectives, update_peaks, objective_peaks = [], [], [], []
    for iteration in range(iterations + 3):  # init and two iterations warm up (numba's buffers, caches)
        update = objective = update_peak = objective_peak = 0.0
        for _ in range(1 if optimizer.state is None else 2):
            with Phase() as asking:
                candidates = optimizer.ask(copy=False)
                sync()
            with Phase() as evaluating:
                fitness = evaluate(candidates)
                sync()
            with Phase() as telling:
                optimizer.tell(fitness, checked=evaluate.checked)
                sync()
            update += asking.seconds + telling.seconds
            objective += evaluating.seconds
            update_peak = max(update_peak, asking.peak_mb, telling.peak_mb)
            objective_peak = max(objective_peak, evaluating.peak_mb)
        if iteration >= 3:
            updates.append(update)
            objectives.append(objective)
            update_peaks.append(update_peak)
            objective_peaks.append(objective_peak)
    resident = _proc_status_mb("VmRSS")
    del optimizer, candidates, fitness
    floor = memory_floor((N, D), dtype)
    return {"backend": backend, "dtype": dtype, "floor_ms": floor * 1e3, "update_ms": [u * 1e3 for u in updates],
            "objective_ms": [o * 1e3 for o in objectives], "array_mb": N * D * np.dtype(dtype).itemsize / 2**20,
            "update_peak_mb": max(update_peaks), "objective_peak_mb": max(objective_peaks), "resident_mb": resident}


class Phase:
    """Times a block and measures how far the process's resident memory rises above where it started
    (Linux: the peak counter VmHWM is reset through /proc/self/clear_refs, outside the timing)."""

    def __enter__(self):
        self.rss = _proc_status_mb("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
        except OSError:
            pass
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        self.peak_mb = max(0.0, _proc_status_mb("VmHWM") - self.rss)
        return False


def _proc_status_mb(key: str) -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory_floor(shape, dtype) -> float:
    """Seconds for one read and one write pass over a population array (best of 7)."""
    source = np.random.default_rng(0).random(shape).astype(dtype)
    target = np.empty_like(source)
    np.copyto(target, source)  # touch the pages first
    return best_of(lambda: np.copyto(target, source), 7)[0]


def _sync(optimizer):
    if optimizer.backend == "torch" and optimizer.device.startswith("cuda"):
        import torch

        return torch.cuda.synchronize
    return lambda: None


def run_case_c(backend: str, dtype: str, threads: int | None, iterations: int) -> dict:
    command = [sys.executable, __file__, "--case-c", backend, dtype, str(iterations)]
    env = dict(os.environ) if threads is None else dict(os.environ, NUMBA_NUM_THREADS=str(threads),
                                                         OMP_NUM_THREADS=str(threads))
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    label = f"{backend} {dtype}" + ("" if threads is None else f" {threads} thr")
    if done.returncode != 0:
        return {"label": label, "error": done.stderr.strip().splitlines()[-1]}
    return {"label": label, **json.loads(done.stdout.strip().splitlines()[-1])}


def numba_cold_compile() -> float:
    """Seconds to compile every kernel (a)-(c) use, with an empty cache, in a fresh process."""
    code = ("import time, scpo; from scpo import problems; t = time.perf_counter()\n"
            "for a in ('sca', 'po', 'scpo', 'random'):\n"
            "    for d in ('float64', 'float32'):\n"
            "        scpo.minimize(problems.get('rastrigin', 8), algorithm=a, pop_size=9, max_iter=2, seed=0,"
            " backend='numba', dtype=d)\n"
            "print(time.perf_counter() - t)")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env)
    return float(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else float("nan")


def rng_costs(dtype=np.float64) -> dict[str, float]:
    """ns per coordinate, one thread, 10^7 coordinates of ``dtype``: a copy, one counter draw (fill_uniform),
    and the fused SCPO campaign for agents that did not / did improve (1 vs 3 draws, sin and a division);
    float32 populations are computed in float32 (numba_kernels' docstring)."""
    import numba

    from scpo.backends import numba_kernels as K

    N, D = C_SHAPE
    n = 32
    rng = np.random.default_rng(0)
    X, Q = rng.random((N, D)).astype(dtype), rng.random((N, D)).astype(dtype)
    out = np.empty_like(X)
    leaders, winners, G = (rng.random(shape).astype(dtype) for shape in ((n, D), (n, D), D))
    lb, ub = np.zeros(D), np.ones(D)
    source, diagonal = np.arange(N), np.zeros(N, bool)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        per = lambda f: best_of(f, 5)[0] / (N * D) * 1e9  # noqa: E731
        campaign = lambda improved: (lambda: K.scpo_campaign_counter(  # noqa: E731
            X, Q, leaders, winners, improved, source, diagonal, lb, ub, np.uint64(1), G, 1.0, False, out))
        return {"copy": per(lambda: np.copyto(out, X)),
                "draw": per(lambda: K.fill_uniform(np.uint64(1), lb, ub, out)),
                "po": per(campaign(np.zeros(N, bool))), "scpo": per(campaign(np.ones(N, bool)))}
    finally:
        numba.set_num_threads(threads)


# ---- checkpoints --------------------------------------------------------------------------------

def bench_checkpoint(out: Path, repeats: int = 3) -> None:
    """Run time with and without checkpoints (best of ``repeats``, interleaved), and the ratio."""
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    problem = problems.get("rastrigin", dim=100, shifted=True, seed=3)
    settings = dict(algorithm="scpo", pop_size=100, max_iter=1500, seed=3)
    say(f"# checkpoint cost, {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    say(f"date: {shell('date')}")
    say(f"uname -a: {shell('uname -a')}")
    model = shell("lscpu | grep 'Model name'")
    say(f"nproc: {shell('nproc')}; {model}")
    say(f"load average at start: {shell('cat /proc/loadavg')}")
    say("SCPO on shifted Rastrigin d=100, pop 100 (10 parties), 1500 iterations, numpy backend; "
        f"wall s of the whole run, best of {repeats} (interleaved); the checkpoint on a local disk, fsynced")
    modes = [("no checkpoints", None), ("adaptive (default)", "auto"), ("every 25 iterations", 25),
             ("every iteration", 1)]
    times: dict[str, list[float]] = {label: [] for label, _ in modes}
    saves: dict[str, int] = {}
    saving: dict[str, list[float]] = {label: [] for label, _ in modes}
    with tempfile.TemporaryDirectory(dir=ROOT / "experiments" / "results") as folder:
        for repeat in range(repeats):
            for label, every in modes:
                path = Path(folder) / f"run{repeat}-{label.split()[0]}.ck"
                optimizer = scpo.make(problem, **settings)
                checkpointer = None
                if every is not None:
                    optimizer.enable_checkpoints(path, None if every == "auto" else every)
                    checkpointer = optimizer.observers[-1]
                start = time.perf_counter()
                optimizer.run()
                times[label].append(time.perf_counter() - start)
                saves[label] = 0 if checkpointer is None else checkpointer.saves
                saving[label].append(0.0 if checkpointer is None else checkpointer.seconds)
    base = min(times["no checkpoints"])
    say(f"{'':24s} {'wall s':>8s} {'ratio':>7s} {'saves':>6s} {'in saves s':>10s} {'share':>6s}")
    for label, _ in modes:
        best = min(times[label])
        k = int(np.argmin(times[label]))
        share = saving[label][k] / times[label][k]
        say(f"{label:24s} {best:8.3f} {best / base:7.3f} {saves[label]:6d} {saving[label][k]:10.3f} {share:6.1%}")
    say("(ratio: wall time over the run without checkpoints, noisy on a shared machine; in saves: the seconds "
        "spent inside the saves of that run, and their share of its wall time)")
    say("(before this change a checkpoint rewrote the whole history inside the .npz: the issue measured 2.3x the "
        "run time at the default interval of 25; now the history is appended to a sidecar, so a save costs "
        "O(state), and the adaptive default saves when the time since the last save is >= 39x that save's cost)")
    say(f"load average at end: {shell('cat /proc/loadavg')}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


# ---- peers: mealpy, nevergrad, EvoX --------------------------------------------------------------

PEER_ALGORITHMS = ("sca", "po", "scpo", "pso", "de", "random", "openai-es", "snes", "pgpe", "sep-cmaes", "cmaes")
PEER_BACKENDS = ("numpy", "numba", "torch")
PEER_PROBLEMS = (("sphere", 30, 100, 100), ("rastrigin", 30, 100, 100), ("sphere", 1000, 100, 20),
                 ("rastrigin", 1000, 100, 20))  # (function, D, pop, generations)
PEER_HAS = {  # which of our algorithms each peer offers (experiments/peer_runner.py's tables)
    "mealpy": ("sca", "pso", "de", "cmaes"),
    "nevergrad": ("pso", "de", "cmaes", "sep-cmaes", "random"),
    "evox": ("pso", "de", "cmaes", "openai-es", "snes")}
PEER_LIMIT = 600  # seconds for one peer run before its row says it failed
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                     "NUMBA_NUM_THREADS")}


def peer_python(library: str, venvs: Path) -> str | None:
    """The interpreter that runs ``library``: its venv's, or (nevergrad) this one when it imports here."""
    if library == "nevergrad":
        try:
            import nevergrad  # noqa: F401

            return sys.executable
        except ImportError:
            pass
    python = venvs / library / "bin" / "python"
    return str(python) if python.exists() else None


def peer_rows(library: str, python: str | None, spec: dict) -> list[dict]:
    """The peer's rows for one (algorithm, problem): name, seconds, f; or one row saying why there is none."""
    if python is None:
        return [{"name": library, "note": "skipped (venv missing)"}]
    command = [python, str(ROOT / "experiments" / "peer_runner.py"), json.dumps({"library": library, **spec})]
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, **ONE_THREAD),
                              timeout=PEER_LIMIT)
    except subprocess.TimeoutExpired:
        return [{"name": library, "note": f"failed: over {PEER_LIMIT} s"}]
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if "Error" in line] or done.stderr.splitlines() or ["?"]
        return [{"name": library, "note": "failed: " + errors[-1][:90]}]
    return json.loads(done.stdout.strip().splitlines()[-1])


def ours_peer_run(algorithm: str, backend: str, problem, pop: int, generations: int, repeats: int) -> dict:
    run = lambda: scpo.minimize(problem, algorithm=algorithm, pop_size=pop, max_iter=generations,  # noqa: E731
                                seed=0, backend=backend, threads=1)
    scpo.minimize(problem, algorithm=algorithm, pop_size=pop, max_iter=2, seed=0, backend=backend, threads=1)
    seconds, result = best_of(run, repeats)
    return {"name": f"scpo {backend}", "seconds": seconds, "f": float(result.fun)}


def bench_peers(out: Path, venvs: Path, quick: bool = False) -> str:
    """The peers table (module docstring); ``quick``: D=5, pop 16, 3 generations, one run each (plumbing)."""
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    pythons = {library: peer_python(library, venvs) for library in PEER_HAS}
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    say(f"# scpo against mealpy, nevergrad and EvoX, {now}")
    say(f"date: {shell('date')}")
    model = shell("lscpu | grep 'Model name'")
    say(f"nproc: {shell('nproc')}; {model}; one thread for everyone (threads=1; OMP/MKL/OpenBLAS/NUMBA_NUM_THREADS=1 "
        "and torch.set_num_threads(1) in the peers' processes); the machine is shared with other jobs")
    say("peers: " + "; ".join(f"{library} {python or '(venv missing)'}" for library, python in pythons.items()))
    say(f"load average at start: {shell('cat /proc/loadavg')}")
    say("s/gen: a whole run's wall time (objective included, imports and set-up excluded) over its generations; "
        "best of 3 runs for scpo (2 at D=1000), 1 for the peers; x numpy: that time over scpo numpy's for the "
        "same algorithm (below 1: faster). Problems: scpo.problems.get(name, D, shifted=True, seed=0), the same "
        "shift given to every peer (at the box centre every ES would start on the optimum). Peers' own default "
        "settings; their ES start at the box centre with sigma 0.1 of the range (scpo's default); mealpy's "
        "epochs exclude its initial population (one evaluation of the population fewer than ours).")
    problems_run = (("sphere", 5, 16, 3), ("rastrigin", 5, 16, 3)) if quick else PEER_PROBLEMS
    for function, dim, pop, generations in problems_run:
        problem = problems.get(function, dim=dim, shifted=True, seed=0)
        repeats = 1 if quick else (3 if dim <= 100 else 2)
        spec = {"function": function, "dim": dim, "pop": pop, "generations": generations, "seed": 0,
                "repeats": 1, "shift": problem.objective.offset.tolist()}
        say(f"\n## shifted {function}, D={dim}, pop {pop}, {generations} generations")
        say(f"{'algorithm':10s} {'implementation':26s} {'s/gen':>10s} {'x numpy':>9s} {'final f':>11s}  note")
        for algorithm in PEER_ALGORITHMS:
            rows = []
            for backend in PEER_BACKENDS:
                try:
                    rows.append(ours_peer_run(algorithm, backend, problem, pop, generations, repeats))
                except Exception as error:  # noqa: BLE001  (a row that failed says so; the table goes on)
                    rows.append({"name": f"scpo {backend}", "note": f"failed: {str(error).splitlines()[0][:90]}"})
            for library, offered in PEER_HAS.items():
                if algorithm in offered:
                    rows.extend(peer_rows(library, pythons[library], {"algorithm": algorithm, **spec}))
            base = rows[0].get("seconds")
            for row in rows:
                if "seconds" not in row:
                    say(f"{algorithm:10s} {row['name']:26s} {'':>10s} {'':>9s} {'':>11s}  {row['note']}")
                    continue
                ratio = f"{row['seconds'] / base:8.2f}x" if base else ""
                say(f"{algorithm:10s} {row['name']:26s} {row['seconds'] / generations:10.2e} {ratio:>9s} "
                    f"{row['f']:11.4g}")
            if not any(algorithm in offered for offered in PEER_HAS.values()):
                say(f"{algorithm:10s} {'(no peer offers it)':26s}")
    say(f"\nload average at end: {shell('cat /proc/loadavg')}")
    text = "\n".join(lines) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text


# ---- report -------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="mealpy OriginalSCA in (b): 10 epochs, scaled x10")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--case-c", nargs=3, metavar=("BACKEND", "DTYPE", "ITERATIONS"), help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", action="store_true", help="only the checkpoint-cost section")
    parser.add_argument("--peers", action="store_true", help="only the table against mealpy, nevergrad and EvoX")
    parser.add_argument("--venvs", type=Path, default=ROOT / ".venv-peers", help="the peers' venvs (--peers)")
    args = parser.parse_args()
    if args.peers:
        bench_peers(PEERS_RESULTS if args.out == RESULTS else args.out, args.venvs, quick=args.quick)
        return
    if args.checkpoint:
        bench_checkpoint(CHECKPOINT_RESULTS if args.out == RESULTS else args.out)
        return
    if args.case_c:
        print(json.dumps(case_c(args.case_c[0], args.case_c[1], int(args.case_c[2]))))
        return
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    import mealpy
    import numba
    import torch

    say(f"# scpo engine benchmark, {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    say(f"date: {shell('date')}")
    say(f"uname -a: {shell('uname -a')}")
    model = shell("lscpu | grep 'Model name'")
    say(f"nproc: {shell('nproc')}; {model}")
    numba.set_num_threads(numba.get_num_threads())  # starts the threading layer, so that it can be named
    say(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__} "
        f"({numba.get_num_threads()} threads, {numba.threading_layer()} layer), "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), mealpy {mealpy.__version__}")
    say(f"load average at start: {shell('cat /proc/loadavg')}")

    cold = numba_cold_compile()
    say(f"\nnumba compile, cold (empty cache, every kernel below, float64 and float32): {cold:.1f} s; "
        f"cached afterwards (cache=True)")

    results = {}
    for label, dim, pop, iters, repeats in (("a", 30, 50, 500, 5), ("b", 1000, 100, 100, 3)):
        say(f"\n## ({label}) SCA, Rastrigin d={dim}, pop {pop}, {iters} iterations (wall s, whole run incl. objective)")
        rows = {}
        for name in ("OriginalSCA", "DevSCA"):
            epochs = iters
            if args.quick and label == "b" and name == "OriginalSCA":
                seconds, fun = mealpy_run(name, dim, pop, 10)
                seconds, name_shown = seconds * iters / 10, f"mealpy {name} (10 epochs x {iters // 10}, quick)"
            else:
                seconds, fun = mealpy_run(name, dim, pop, epochs)
                name_shown = f"mealpy {name}"
            rows[name] = (name_shown, seconds, fun, None)
        for backend, options in OURS:
            seconds, fun, first = ours_run(backend, options, dim, pop, iters, repeats)
            shown = f"scpo {backend}" + (" greedy=True" if options else "")
            rows[shown] = (shown, seconds, fun, first)
        original, dev = rows["OriginalSCA"][1], rows["DevSCA"][1]
        say(f"{'':38s} {'wall s':>9s} {'vs Orig.':>9s} {'vs Dev':>8s} {'best f':>10s}  note")
        for shown, seconds, fun, first in rows.values():
            note = f"first call {first:.2f} s (kernels from the cache)" if "numba" in shown else ""
            say(f"{shown:38s} {seconds:9.4f} {original / seconds:8.1f}x {dev / seconds:7.1f}x {fun:10.3g}  {note}")
        ours = {k: v for k, v in rows.items() if k.startswith("scpo") and "greedy" not in k}
        fastest = min(ours, key=lambda k: ours[k][1])
        results[label] = (fastest, ours[fastest][1], original, dev)
        say("(mealpy's epochs exclude the initial population, our SCA's iterations include it: "
            f"{iters + 1} vs {iters} population evaluations; mealpy's OriginalSCA is the greedy variant)")
        if label == "a":
            split = overhead_split(dim, pop, iters)
            say(f"numba run split: kernels {split['kernel'] * 1e3:.1f} ms, objective "
                f"{split['objective'] * 1e3:.1f} ms, engine (ask/tell, checks, history) "
                f"{split['engine'] * 1e3:.1f} ms of {split['total'] * 1e3:.1f} ms")
            fastest_backend = fastest.split()[1]
            say(f"MUST-SHOW: minimize(scpo.problems.get('rastrigin', dim=30), algorithm='sca', pop_size=50, "
                f"max_iter=500, seed=0, backend='{fastest_backend}') {ours[fastest][1]:.4f} s vs mealpy "
                f"OriginalSCA(epoch=500, pop_size=50).solve {original:.2f} s: {original / ours[fastest][1]:.0f}x "
                "(same process)")

    N, D = C_SHAPE
    say(f"\n## (c) SCPO, pop {N} (32 parties) x dim {D}, Rastrigin: the optimizer's update per iteration "
        "(ask + tell: campaign, switching, parliament, bookkeeping), objective apart")
    say(f"{'backend':20s} {'floor ms':>8s} {'update ms best/median':>21s} {'x floor':>8s} {'objective ms':>12s}"
        f" {'(N,D) MB':>8s} {'resident MB':>11s} {'update peak':>18s} {'objective peak':>15s}")
    c_rows = []
    for backend, dtype, threads in C_CONFIGS:
        row = run_case_c(backend, dtype, threads, 8 if backend == "numba" else 1)
        c_rows.append(row)
        if "error" in row:
            say(f"{row['label']:22s} failed: {row['error']}")
            continue
        best, median = min(row["update_ms"]), float(np.median(row["update_ms"]))
        array = row["array_mb"]
        say(f"{row['label']:20s} {row['floor_ms']:8.2f} {best:9.1f} / {median:9.1f} {best / row['floor_ms']:7.1f}x "
            f"{np.median(row['objective_ms']):12.1f} {array:8.0f} {row['resident_mb']:11.0f} "
            f"{row['update_peak_mb']:6.0f} MB {row['update_peak_mb'] / array:4.1f}x "
            f"{row['objective_peak_mb']:6.0f} MB {row['objective_peak_mb'] / array:4.1f}x")
    say("(update/objective peak: how far resident memory rose above its level at the start of an ask, tell or "
        "evaluation, in MB and in (N, D) arrays: the temporaries. Resident: the whole process after the run, "
        "population state included: numba keeps three rotating (N, D) buffers, numpy and torch two.)")
    costs, costs32 = rng_costs(), rng_costs(np.float32)
    say("Random numbers (numba, counter-based: splitmix64's mixer on (run key, iteration, phase, agent, slot)): "
        "SCA 1 draw of 64 bits per coordinate (r2 32 bits, r3 31, r4 1); PO 1 per coordinate per iteration "
        "(both stages' r, 32 bits each); SCPO adds 2 per coordinate (d2, d3, d4 of each stage) for agents that "
        "improved, the only ones the SCA-substituted move can apply to. numpy draws 3 doubles per coordinate for "
        "SCA, 2 (PO) or 8 (SCPO) per coordinate per iteration.")
    say(f"Cost, one thread, float64, ns per coordinate: copy (the floor) {costs['copy']:.2f}; one draw + scale "
        f"(fill_uniform) {costs['draw']:.2f}; SCPO campaign, agent did not improve (1 draw) {costs['po']:.2f}; "
        f"agent improved (3 draws, sin/cos polynomial, division, both stages) {costs['scpo']:.2f}. float32: "
        f"copy {costs32['copy']:.2f}, SCPO campaign not improved {costs32['po']:.2f}, improved "
        f"{costs32['scpo']:.2f}.")
    say("Reproducibility: numba runs depend on the seed only (draws keyed by agent and slot, never by thread: "
        "identical bits for any thread count, tested); torch on the cpu (step='fused', its default there) runs "
        "the same kernels and draws, the numba run for a seed; its eager and compiled steps (cuda's default) draw "
        "from a seeded torch.Generator, reproducible for a given seed, device, dtype and thread count.")

    say("\n## Goals")
    a = results["a"]
    say(f"(a) fastest ({a[0]}) {a[1]:.4f} s: {a[2] / a[1]:.0f}x mealpy OriginalSCA (goal >= 50x: "
        f"{'MET' if a[2] / a[1] >= 50 else 'MISSED'}), {a[3] / a[1]:.1f}x DevSCA (goal >= 10x: "
        f"{'MET' if a[3] / a[1] >= 10 else 'MISSED'})")
    b = results["b"]
    say(f"(b) fastest ({b[0]}) {b[1]:.4f} s: {b[2] / b[1]:.0f}x OriginalSCA, {b[3] / b[1]:.1f}x DevSCA (no goal set)")
    for row in c_rows:
        if "error" not in row:
            ratio = min(row["update_ms"]) / row["floor_ms"]
            median = float(np.median(row["update_ms"])) / row["floor_ms"]
            say(f"(c) {row['label']}: update {ratio:.1f}x the memory floor, best iteration (median {median:.1f}x); "
                f"goal <= 10x: {'MET' if ratio <= 10 else 'MISSED'}{'' if median <= 10 else ' (not at the median)'}")
    say(f"load average at end: {shell('cat /proc/loadavg')}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
