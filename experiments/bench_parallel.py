"""Parallel evaluation benchmark: one population of 64 candidates, a 50 ms per-vector objective.

Times ``Problem.evaluate`` on the same 64 x 10 population for each executor: serial, joblib
with 1 and 2 workers, Ray with 2 local actors. Per batch: the median (and best) of
``--batches`` calls after a first call, beside the ideal ``64 x 50 ms / workers``, the
ratio measured / ideal and the speed-up over serial. Start-up is reported apart: the first
call (joblib spawns its worker processes, Ray starts its actors) and, for Ray, ``ray.init``.
Every executor's fitness is checked against the serial one.

Writes the report to stdout and to ``experiments/results/bench_parallel.txt``.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import scpo  # noqa: E402
from scpo.io import write_text  # noqa: E402

RESULTS = ROOT / "experiments" / "results" / "bench_parallel.txt"
SLEEP_S, POP, DIM = 0.05, 64, 10
CONFIGS = [("serial", 1), ("joblib", 1), ("joblib", 2), ("ray", 2)]


def slow_sphere(x):
    """A stand-in for a simulation: 50 ms of waiting, then a cheap sphere."""
    time.sleep(SLEEP_S)
    return float(x @ x)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "(unknown)"


def time_executor(executor: str, workers: int, population: np.ndarray, batches: int) -> dict:
    problem = scpo.Problem(slow_sphere, -5, 5, dim=DIM, vectorized=False, executor=executor, n_jobs=workers)
    with problem:
        start = time.perf_counter()
        first = problem.evaluate(population)
        first_s = time.perf_counter() - start
        times = []
        for _ in range(batches):
            start = time.perf_counter()
            fitness = problem.evaluate(population)
            times.append(time.perf_counter() - start)
    assert np.array_equal(first, fitness)
    return {"first_s": first_s, "median_s": statistics.median(times), "best_s": min(times), "fitness": fitness}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=5, help="timed calls per executor, after the first")
    args = parser.parse_args()

    import joblib
    import ray

    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    load = os.getloadavg()
    say("# scpo parallel evaluation benchmark")
    say(f"date: {subprocess.run(['date', '-u'], capture_output=True, text=True).stdout.strip()}")
    say(f"command: python experiments/bench_parallel.py --batches {args.batches}")
    say(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, {cpu_model()}")
    say(f"python {platform.python_version()}, numpy {np.__version__}, joblib {joblib.__version__}, "
        f"ray {ray.__version__}")
    say(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    say("note: the machine is shared (a long benchmark may be using the 2 cores; see the load averages).")
    say("      The objective sleeps 50 ms and computes almost nothing, so it competes little, but the")
    say("      overheads (pickling, process and actor start-up, Ray's scheduling) use CPU and are noisier")
    say("      under load than on an idle machine.")
    say(f"objective: time.sleep({SLEEP_S}) + sphere, per-vector; population {POP} x {DIM}; "
        f"one call per candidate, the population cut into one contiguous chunk per worker")
    say(f"per batch: median (best) of {args.batches} calls after the first; ideal = {POP} x {SLEEP_S * 1e3:.0f} ms"
        " / workers")
    say("joblib with 1 worker runs in this process (joblib's sequential backend), so it measures joblib's overhead")
    say()

    population = np.random.default_rng(0).uniform(-5, 5, (POP, DIM))
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    ray_init_s = time.perf_counter() - start
    rows = []
    try:
        for executor, workers in CONFIGS:
            rows.append((executor, workers, time_executor(executor, workers, population, args.batches)))
    finally:
        ray.shutdown()

    serial = rows[0][2]
    header = (f"{'executor':<8} {'workers':>7} {'per batch s':>11} {'(best)':>7} {'ideal s':>7} {'measured/ideal':>14} "
              f"{'speed-up':>8} {'first call s':>12} {'same fitness':>12}")
    say(header)
    say("-" * len(header))
    for executor, workers, timing in rows:
        ideal = POP * SLEEP_S / workers
        same = "yes" if np.array_equal(timing["fitness"], serial["fitness"]) else "NO"
        say(f"{executor:<8} {workers:>7} {timing['median_s']:>11.3f} {timing['best_s']:>7.3f} {ideal:>7.2f} "
            f"{timing['median_s'] / ideal:>14.3f} {serial['median_s'] / timing['median_s']:>7.2f}x "
            f"{timing['first_s']:>12.3f} {same:>12}")
    say()
    say(f"Ray start-up, excluded from the per-batch times: ray.init {ray_init_s:.2f} s (local instance, 2 CPUs); "
        f"the first call ({rows[-1][2]['first_s']:.2f} s) includes starting the 2 actors and shipping the objective.")
    load = os.getloadavg()
    say(f"load average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    write_text(RESULTS, "\n".join(lines) + "\n")
    print(f"-> {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
