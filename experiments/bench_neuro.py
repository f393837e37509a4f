"""Neuroevolution side by side: scpo's SNES against EvoTorch, EvoX and evosax on the same networks (CPU, one thread).

Three tasks (issue #28): sklearn's digits with an MLP 64-32-10 (2,410 weights, population 64) and an MLP
64-256-256-10 (85,002 weights, population 256), trained full batch on a fixed 75% split with cross-entropy
and scored by test accuracy; CartPole-v1 (gymnasium) with a tanh policy 4-16-2 (114 weights, population 32,
40 generations, one seeded episode per member per generation), scored by the mean return of 20 seeded
test episodes (>= 475: solved). Every library runs SNES from the same initial weights (torch's default
initialisation, seed 0) with the same population, initial step and learning rates (what differs is in
each worker's docstring and the table's notes), each in its own subprocess with its own venv, one
thread (``torch.set_num_threads(1)``, ``OMP/MKL/OPENBLAS_NUM_THREADS=1``, XLA's CPU client single-threaded),
so that the peak resident memory (each subprocess's high-water mark) compares. The trained centre of
every run is scored here, with one numpy forward for all.

Rows: scpo with the network as an ``nn.Sequential`` and as an ``nn.Module`` subclass; EvoTorch in its
fastest configuration for the task (``--evotorch all`` runs both: ``SupervisedNE`` / ``GymNE``, and a plain
vectorized ``Problem``; measured fastest: the vectorized Problem on the small MLP and CartPole, SupervisedNE
on the 85k MLP); EvoX 1.4 (torch); evosax (jax). Peers run with the python of ``--peers`` (default
``.venv-peers``, ``make peer-venvs``): ``evox/`` (EvoTorch and EvoX), ``jax/`` (evosax); a missing venv gives
a "skipped (venv missing)" row. Time per generation: the median CPU time of the generations after the first
``WARMUP``, as a ratio to scpo's Sequential row (CartPole: CPU time per 1,000 member-steps); ``--repeats N``
keeps each row's fastest of N interleaved runs. ``--device cuda``: every library on the GPU (digits tasks),
timed by the wall clock after each generation's GPU work, the GPU's peak memory beside the RSS.

    PYTHONPATH=$PWD .venv/bin/python experiments/bench_neuro.py --repeats 2 --out experiments/results/bench_neuro.md
    PYTHONPATH=$PWD .venv/bin/python experiments/bench_neuro.py --quick        # smoke run, tiny sizes
    PYTHONPATH=$PWD .venv/bin/python experiments/bench_neuro.py --device cuda --repeats 2   # where a GPU is
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent / "neuro_peers"
sys.path[:0] = [str(ROOT), str(HERE)]

import common  # noqa: E402

WARMUP = 2  # generations left out of the median (compilation, first allocations)
SOLVED = 475.0
TEST_EPISODES = 20
TEST_SEED = 10_000
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                 "NUMBA_NUM_THREADS": "1", "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false "
                 "intra_op_parallelism_threads=1", "JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": ""}


@dataclass
class Task:
    name: str
    kind: str  # "digits" or "cartpole"
    sizes: list[int]
    activation: str
    pop: int
    generations: int
    sigma: float
    evotorch: str = "vectorized"  # EvoTorch's fastest configuration here (measured with --evotorch all)

    @property
    def dim(self) -> int:
        return sum(a * b + b for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True))


@dataclass
class Row:
    label: str
    worker: str  # file in neuro_peers/
    venv: str | None  # None: this python (scpo's); else the folder in --peers
    options: dict = field(default_factory=dict)


NOTES = """What differs between the libraries (everything else is the same: initial weights, population, sigma,
the paper's NES utilities, centre rate 1, step rate (3 + ln D) / (5 sqrt D), float32, full-batch cross-entropy):
- random streams: each library draws its own samples (the runs are alike in law, not bit for bit);
- scpo searches a box of +-100 around the initial weights (never reached: no clipping, as the others);
- EvoX: `weight_type="recomb"` (the NES utilities; its default "temp" is a softmax weighting);
- CartPole: GymNE seeds its episodes itself; every other row resets all members of generation k with the
  seed `SeedSequence([0, k])` (scpo's `GymProblem` rule), in gymnasium's sync vector env of 32 copies; the
  policy of all members is one `torch.vmap` of `functional_call` per step (scpo, EvoTorch's vectorized
  Problem, EvoX) or one jitted `jax.vmap` (evosax)."""


def tasks(quick: bool) -> list[Task]:
    if quick:
        return [Task("digits MLP 64-8-10", "digits", [64, 8, 10], "relu", 8, 4, 0.05),
                Task("CartPole-v1, policy 4-4-2", "cartpole", [4, 4, 2], "tanh", 4, 3, 0.1)]
    return [Task("digits MLP 64-32-10", "digits", [64, 32, 10], "relu", 64, 300, 0.05),
            Task("digits MLP 64-256-256-10", "digits", [64, 256, 256, 10], "relu", 256, 8, 0.05, "native"),
            Task("CartPole-v1, policy 4-16-2", "cartpole", [4, 16, 2], "tanh", 32, 40, 0.1)]


def rows(task: Task, quick: bool, scpo_only: bool, evotorch: str = "fastest") -> list[Row]:
    """scpo's two rows, then the peers'; EvoTorch in its fastest configuration for the task (``evotorch="all"``:
    both, to measure which is fastest)."""
    out = [Row("scpo, nn.Sequential", "scpo_worker.py", None, {"style": "sequential"}),
           Row("scpo, nn.Module subclass", "scpo_worker.py", None, {"style": "subclass"})]
    if quick or scpo_only:
        return out
    native = "SupervisedNE" if task.kind == "digits" else "GymNE"
    modes = ("native", "vectorized") if evotorch == "all" else (task.evotorch,)
    labels = {"native": f"EvoTorch 0.6.1, {native}", "vectorized": "EvoTorch 0.6.1, vectorized Problem"}
    return out + [Row(labels[mode], "evotorch_worker.py", "evox", {"mode": mode}) for mode in modes] + [
                  Row("EvoX 1.4.0", "evox_worker.py", "evox", {}),
                  Row("evosax 0.3.2 (jax)", "evosax_worker.py", "jax", {})]


def prepare(folder: Path, task: Task) -> tuple[Path, Path, dict]:
    """The shared data split and initial weights, written once for every worker."""
    import torch
    from torchnets import network

    torch.manual_seed(0)
    net = network(task.sizes, task.activation, "sequential")
    w0 = torch.nn.utils.parameters_to_vector(net.parameters()).detach().double().numpy()
    x0_path = folder / f"x0-{task.dim}.npy"
    np.save(x0_path, w0)
    data_path = folder / "digits.npz"
    held: dict = {}
    if task.kind == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        X, y = load_digits(return_X_y=True)
        X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
        np.savez(data_path, X_train=X_train, y_train=y_train)
        held = {"X_train": X_train, "y_train": y_train, "X_test": X_test, "y_test": y_test}
    return x0_path, data_path, held


def score(task: Task, w: np.ndarray, held: dict) -> float:
    """Test accuracy, or the mean return of ``TEST_EPISODES`` seeded episodes: the same code for every library."""
    if task.kind == "digits":
        pred = common.mlp_numpy(w, held["X_test"], task.sizes, task.activation).argmax(1)
        return float((pred == held["y_test"]).mean())
    import gymnasium

    env = gymnasium.make_vec("CartPole-v1", num_envs=TEST_EPISODES, vectorization_mode="sync")
    obs, _ = env.reset(seed=[TEST_SEED + i for i in range(TEST_EPISODES)])
    total, alive = np.zeros(TEST_EPISODES), np.ones(TEST_EPISODES, dtype=bool)
    while alive.any():
        action = common.mlp_numpy(w, obs, task.sizes, task.activation).argmax(1)
        obs, reward, terminated, truncated, _ = env.step(action)
        total += np.where(alive, reward, 0.0)
        alive &= ~(terminated | truncated)
    env.close()
    return float(total.mean())


def run_row(row: Row, task: Task, folder: Path, x0_path: Path, data_path: Path, peers: Path,
            timeout: float, backend: str = "torch", seed: int = 0, device: str = "cpu") -> dict:
    """Run one worker in its own process; its JSON line, or ``{"skipped": why}``."""
    if row.venv is None:
        python = sys.executable
    else:
        python = str(peers / row.venv / "bin" / "python")
        if not Path(python).exists():
            return {"skipped": "venv missing"}
    tag = f"{row.worker[:-3]}-{row.options.get('style', row.options.get('mode', ''))}-{task.dim}-{seed}"
    spec = {"task": task.kind, "env": "CartPole-v1", "sizes": task.sizes, "activation": task.activation,
            "pop": task.pop, "generations": task.generations, "sigma": task.sigma, "seed": seed,
            "radius": 100.0, "x0": str(x0_path), "data": str(data_path), "out": str(folder / f"{tag}.npy"),
            "style": "sequential", "backend": backend, "device": device, **row.options}
    spec_path = folder / f"{tag}.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    env = {**os.environ, **SINGLE_THREAD}
    if device == "cuda":  # the GPU visible, jax free to pick it (a worker without one reports its row skipped)
        env.pop("CUDA_VISIBLE_DEVICES")
        env["JAX_PLATFORMS"] = ""
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    started = time.perf_counter()
    try:
        proc = subprocess.run([python, str(HERE / row.worker), str(spec_path)], capture_output=True, text=True,
                              env=env, timeout=timeout, cwd=str(ROOT))
    except subprocess.TimeoutExpired:
        return {"skipped": f"timed out after {timeout:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"skipped": f"failed: {last[:160]}"}
    out = json.loads(lines[-1])
    if "skipped" in out:  # the library has no build for the device asked for
        return out
    out["wall_s"] = time.perf_counter() - started
    out["center"] = np.load(spec["out"])
    return out


def machine() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
        name = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        name = platform.processor() or "unknown CPU"
    return f"{name}, {os.cpu_count()} CPUs, {platform.platform()}"


CPU_TIMES, WALL_TIMES = "gen_cpu_times", "gen_times"  # what a row is timed by: CPU time (one thread, the
# default), or the wall clock after the GPU's queued work (--device cuda: CPU time says nothing there)


def per_step_ms(out: dict, key: str = CPU_TIMES) -> float | None:
    """Milliseconds per 1,000 member-steps after the warm-up (CartPole: a generation's cost is its episodes' length)."""
    steps = out.get("steps")
    if not steps or sum(steps[WARMUP:]) == 0:
        return None
    return 1000 * 1000 * sum(out[key][WARMUP:]) / sum(steps[WARMUP:])


def median_ms(times: list[float]) -> float:
    return 1000 * float(np.median(times[WARMUP:] or times))


def table(task: Task, results: list[tuple[Row, dict]], held: dict, key: str = CPU_TIMES) -> list[str]:
    """The task's markdown table; the ratio is of CPU ms per generation (``key=WALL_TIMES``: wall ms, on a GPU;
    CartPole: per 1,000 member-steps, since better policies play longer episodes) to scpo's ``nn.Sequential``
    row. Rows that ran on a GPU get its peak memory beside the peak RSS."""
    gym = task.kind == "cartpole"
    other = WALL_TIMES if key == CPU_TIMES else CPU_TIMES
    timed = "CPU (wall)" if key == CPU_TIMES else "wall (CPU)"
    gpu = any("peak_gpu_mb" in out for _, out in results)
    memory = "peak RSS / GPU (MB)" if gpu else "peak RSS (MB)"
    seeded = any("extra_centers" in out for _, out in results)
    metric = "test accuracy" if not gym else f"mean return ({TEST_EPISODES} test episodes)"
    lines = [f"### {task.name}: {task.dim:,} weights, population {task.pop}, {task.generations} generations, "
             f"sigma {task.sigma:g}", "",
             f"| library | ms / generation, {timed} |{' CPU ms / 1k member-steps |' if gym else ''} "
             f"ratio to scpo Sequential | "
             f"{metric} | {memory} | wall (s) |" + (f" {metric} over seeds (mean, sd; the values) |"
                                                           if seeded else ""),
             "|---|---:|" + ("---:|" if gym else "") + "---:|---:|---:|---:|" + ("---|" if seeded else "")]
    base = None
    for row, out in results:
        if "skipped" not in out:
            out["median_ms"] = median_ms(out[key])
            out["cost"] = per_step_ms(out, key) if gym else out["median_ms"]
            out["score"] = score(task, out["center"], held)
            if base is None and row.options.get("style") == "sequential":
                base = out["cost"]
    for row, out in results:
        if "skipped" in out:
            lines.append(f"| {row.label} | skipped ({out['skipped']}) |{' |' if gym else ''} | | | |")
            continue
        ratio = f"{out['cost'] / base:.2f}x" if base and out["cost"] else "n/a"
        value = f"{out['score']:.3f}" if not gym else f"{out['score']:.1f}"
        step = (f" {out['cost']:,.1f} |" if out["cost"] else " n/a |") if gym else ""
        over = ""
        if seeded:
            values = [out["score"], *(score(task, c, held) for c in out.get("extra_centers", []))]
            over = (f" {np.mean(values):.3f}, {np.std(values, ddof=1):.3f}; " + ", ".join(f"{v:.3f}" for v in values)
                    + " |") if len(values) > 1 else " |"
        peak = f"{out['peak_rss_mb']:,.0f}" + (f" / {out['peak_gpu_mb']:,.0f}" if "peak_gpu_mb" in out else "")
        lines.append(f"| {row.label} | {out['median_ms']:,.1f} ({median_ms(out[other]):,.1f}) |{step} "
                     f"{ratio} | {value} | {peak} | {out['wall_s']:.1f} |{over}")
    if not gym:
        start = common.mlp_numpy(np.load(held["x0"]), held["X_test"], task.sizes, task.activation).argmax(1)
        lines += ["", f"Initial weights: test accuracy {(start == held['y_test']).mean():.3f}."]
    else:
        lines += ["", f"Initial weights: mean return {score(task, np.load(held['x0']), held):.1f}; solved: >= "
                  f"{SOLVED:g}."]
    return lines


def faster(kept: dict | None, out: dict, key: str = CPU_TIMES) -> dict:
    """The run to keep of a row: the one with the smaller median time per generation (``key``; a skipped
    run only when no run finished); a later run carries the first round's extra seeds along."""
    if kept is None or "skipped" in kept:
        return out
    if "skipped" in out or median_ms(out[key]) >= median_ms(kept[key]):
        return kept
    if "extra_centers" in kept:
        out["extra_centers"] = kept["extra_centers"]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny networks, scpo rows only")
    parser.add_argument("--scpo-only", action="store_true", help="scpo's rows only (no peers)")
    parser.add_argument("--peers", type=Path, default=ROOT / ".venv-peers", help="folder of the peers' venvs")
    parser.add_argument("--tasks", default=None, help="comma-separated task numbers to run (1,2,3); default all")
    parser.add_argument("--scpo-backend", choices=("torch", "numpy"), default="torch",
                        help="scpo's engine backend (torch: float32 as the peers; numpy: float64)")
    parser.add_argument("--evotorch", choices=("fastest", "all"), default="fastest",
                        help="EvoTorch's configurations: the fastest measured per task, or all (SupervisedNE / "
                        "GymNE and a vectorized Problem)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per worker before it is skipped")
    parser.add_argument("--accuracy-seeds", type=int, default=1,
                        help="run every digits row with seeds 0..N-1 (the library's own draws; the initial weights "
                        "stay those of seed 0) and add the accuracy's mean and sd over them")
    parser.add_argument("--repeats", type=int, default=1,
                        help="run every row N times, in N interleaved rounds, and keep each row's fastest run "
                        "(every library alike: the peers' times move 10-30 %% between runs on a shared machine)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where every library trains (cuda: the digits tasks only, timed by the wall clock "
                        "after the GPU's queued work, GPU memory beside the RSS; a library without a CUDA build "
                        "in its venv is a skipped row)")
    parser.add_argument("--out", type=Path, default=None, help="write the report (markdown) here")
    args = parser.parse_args(argv)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("error: --device cuda: no CUDA device here (torch.cuda.is_available() is False)", file=sys.stderr)
            return 2
    if args.repeats < 1:
        print(f"error: --repeats must be >= 1, got {args.repeats}", file=sys.stderr)
        return 2
    # a SIGTERM ends the run through SystemExit, so subprocess.run kills the running worker on its way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    chosen = tasks(args.quick)
    if args.tasks:
        try:
            picks = [int(t) for t in args.tasks.split(",")]
        except ValueError:
            picks = [0]
        if not all(1 <= t <= len(chosen) for t in picks):
            print(f"error: --tasks must list numbers in 1..{len(chosen)}, got {args.tasks!r}", file=sys.stderr)
            return 2
        chosen = [chosen[t - 1] for t in picks]
    key = WALL_TIMES if args.device == "cuda" else CPU_TIMES
    dropped = [t.name for t in chosen if args.device == "cuda" and t.kind == "cartpole"]
    chosen = [t for t in chosen if t.name not in dropped]  # the environments step on the CPU
    started = time.perf_counter()
    load = os.getloadavg()
    command = "python experiments/bench_neuro.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    where = "CPU, one thread" if args.device == "cpu" else "CUDA"
    lines = [f"# Neuroevolution: scpo against EvoTorch, EvoX and evosax (SNES, {where})", "",
             f"`{command.strip()}`, run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()}; "
             f"load average at the start {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (a shared machine: read "
             f"the ratios, not the milliseconds). Time per generation: median over the generations after the "
             + (f"first {WARMUP}, of the worker's CPU time (one thread each: what a generation costs whatever else "
                f"runs on the machine; the wall time in brackets)" if key == CPU_TIMES else
                f"first {WARMUP}, of the wall time, each generation's GPU work waited for (the CPU time in "
                f"brackets); {', '.join(dropped) or 'no task'} left out (its environments step on the CPU)")
             + "; peak RSS: each library's own subprocess"
             + (f"; every row the fastest of {args.repeats} runs in interleaved rounds (its RSS and accuracy "
                f"from that run)." if args.repeats > 1 else "."), ""]
    with tempfile.TemporaryDirectory(prefix="bench_neuro-") as tmp:
        folder = Path(tmp)
        for task in chosen:
            x0_path, data_path, held = prepare(folder, task)
            held["x0"] = x0_path
            task_rows = rows(task, args.quick, args.scpo_only, args.evotorch)
            kept: list[dict | None] = [None] * len(task_rows)
            for round_ in range(args.repeats):
                for i, row in enumerate(task_rows):
                    out = run_row(row, task, folder, x0_path, data_path, args.peers, args.timeout,
                                  args.scpo_backend, device=args.device)
                    if round_ == 0 and "skipped" not in out and task.kind == "digits" and args.accuracy_seeds > 1:
                        extra = [run_row(row, task, folder, x0_path, data_path, args.peers, args.timeout,
                                         args.scpo_backend, seed=seed, device=args.device)
                                 for seed in range(1, args.accuracy_seeds)]
                        out["extra_centers"] = [e["center"] for e in extra if "skipped" not in e]
                    kept[i] = faster(kept[i], out, key)
                    print(f"{task.name} | {row.label}: " + (out["skipped"] if "skipped" in out else
                          f"{median_ms(out[key]):.1f} ms/gen ({'CPU' if key == CPU_TIMES else 'wall'}), "
                          f"wall {out['wall_s']:.1f} s"), file=sys.stderr, flush=True)
            lines += table(task, [(row, out) for row, out in zip(task_rows, kept, strict=True)], held, key) + [""]
    lines += [NOTES, "", f"Total runtime {time.perf_counter() - started:.0f} s."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        from scpo.io import write_text

        write_text(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
