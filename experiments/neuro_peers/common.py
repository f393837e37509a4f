"""What every worker of ``experiments/bench_neuro.py`` shares: the task, the data, the clock, the report.

Imports numpy (and gymnasium for CartPole) only, so that every library's own venv can run it. A worker is
started as ``python <lib>_worker.py SPEC.json`` and prints one JSON line (:func:`report`); the trained centre
goes to ``spec["out"]`` (``.npy``), scored by the driver with the same code for every library.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

import numpy as np


def spec() -> dict:
    """The worker's settings, written by the driver (``argv[1]``)."""
    with open(sys.argv[1], encoding="utf-8") as handle:
        return json.load(handle)


def device(spec: dict) -> str:
    """Where the run trains: ``"cpu"`` or ``"cuda"`` (the driver's ``--device``)."""
    return spec.get("device", "cpu")


def skip(why: str) -> None:
    """Report this row skipped (a library without the device asked for) and end the worker."""
    print(json.dumps({"skipped": why}), flush=True)
    sys.exit(0)


def torch_device(spec: dict):
    """The torch device of the run; on ``cuda`` without a CUDA build or device, the row is skipped."""
    import torch

    if device(spec) == "cuda" and not torch.cuda.is_available():
        skip("its torch has no CUDA device")
    return torch.device(device(spec))


def torch_sync(spec: dict):
    """What the clock waits for before each tick: the GPU's queued work (``None`` on the CPU)."""
    if device(spec) != "cuda":
        return None
    import torch

    return torch.cuda.synchronize


def torch_gpu_peak_mb(spec: dict) -> dict:
    """``{"peak_gpu_mb": ...}`` on ``cuda`` (torch's allocator high-water mark), else nothing."""
    if device(spec) != "cuda":
        return {}
    import torch

    return {"peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20}


def data(spec: dict) -> tuple[np.ndarray, np.ndarray]:
    """The training rows (float32 features, integer labels) that every library trains on."""
    with np.load(spec["data"]) as npz:
        return npz["X_train"].astype(np.float32), npz["y_train"].astype(np.int64)


def x0(spec: dict) -> np.ndarray:
    """The shared initial weights (torch's ``named_parameters`` order: per layer the (out, in) weight, the bias)."""
    return np.load(spec["x0"]).astype(np.float64)


def unflatten(w: np.ndarray, sizes: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(W (out, in), b (out,))`` per layer of the MLP ``sizes`` from one flat weight vector."""
    layers, at = [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        W = w[at: at + n_in * n_out].reshape(n_out, n_in)
        at += n_in * n_out
        layers.append((W, w[at: at + n_out]))
        at += n_out
    return layers


def mlp_numpy(w: np.ndarray, x: np.ndarray, sizes: list[int], activation: str) -> np.ndarray:
    """One weight vector's outputs on ``x (B, in)``: the reference forward the driver scores with."""
    act = np.tanh if activation == "tanh" else (lambda a: np.maximum(a, 0.0))
    layers = unflatten(np.asarray(w, dtype=np.float64), sizes)
    h = np.asarray(x, dtype=np.float64)
    for i, (W, b) in enumerate(layers):
        h = h @ W.T + b
        if i < len(layers) - 1:
            h = act(h)
    return h


def generation_seeds(seed: int, generation: int, episodes: int = 1) -> list[int]:
    """The reset seeds of generation ``generation`` (as ``networks.neuro.GymProblem``): the same for every member."""
    return [int(s) for s in np.random.SeedSequence([seed, int(generation)]).generate_state(episodes)]


class CartPole:
    """``pop`` CartPole-v1 copies stepped together (gymnasium's sync vector env), one episode per member per
    generation, every member reset with the generation's seed; ``policy(obs (P, 4)) -> actions (P,)``."""

    def __init__(self, env_id: str, pop: int, seed: int):
        import gymnasium

        self.env = gymnasium.make_vec(env_id, num_envs=pop, vectorization_mode="sync")
        self.pop, self.seed, self.generation = pop, seed, 0
        self.steps: list[int] = []  # member-steps of each generation (CartPole's reward is 1 a step: the returns)

    def returns(self, policy) -> np.ndarray:
        seed = generation_seeds(self.seed, self.generation)[0]
        self.generation += 1
        obs, _ = self.env.reset(seed=[seed] * self.pop)
        total, alive = np.zeros(self.pop), np.ones(self.pop, dtype=bool)
        while alive.any():
            obs, reward, terminated, truncated, _ = self.env.step(np.asarray(policy(np.asarray(obs))))
            total += np.where(alive, reward, 0.0)
            alive &= ~(np.asarray(terminated) | np.asarray(truncated))
        self.steps.append(int(total.sum()))
        return total

    def close(self) -> None:
        self.env.close()


class Clock:
    """Wall and CPU time of each generation (``tick()`` after each one). The workers run one thread each, so
    the CPU time (``time.process_time``: every thread of the process) is what a generation costs even when
    other jobs share the machine; the wall time is kept beside it."""

    def __init__(self, sync=None):
        self.sync = sync  # on a GPU: wait for the generation's queued work before reading the clocks
        self.times: list[float] = []
        self.cpu_times: list[float] = []
        self.reset()

    def reset(self) -> None:
        """Start the next generation's clock now (after the setup)."""
        self.last, self.last_cpu = time.perf_counter(), time.process_time()

    def tick(self) -> None:
        if self.sync is not None:
            self.sync()
        now, cpu = time.perf_counter(), time.process_time()
        self.times.append(now - self.last)
        self.cpu_times.append(cpu - self.last_cpu)
        self.last, self.last_cpu = now, cpu


def peak_rss_mb() -> float:
    """This process's resident-set high-water mark (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(spec: dict, clock: Clock, center, setup_s: float, **extra) -> None:
    """Save the final centre and print the worker's one JSON line."""
    np.save(spec["out"], np.asarray(center, dtype=np.float64).reshape(-1))
    print(json.dumps({"gen_times": clock.times, "gen_cpu_times": clock.cpu_times, "setup_s": setup_s,
                      "peak_rss_mb": peak_rss_mb(), "pid": os.getpid(), **extra}), flush=True)
