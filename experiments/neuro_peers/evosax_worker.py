"""evosax 0.3.2's SNES on the benchmark's task (run with ``.venv-peers/jax``'s python: jax on CPU, one thread).

The MLP is written in jax over the shared flat vector (torch's layout: per layer the (out, in) weight, then
the bias); a generation (ask, the population's full-batch cross-entropy in one ``vmap``, tell) is one jitted
function, as evosax's examples write it. CartPole: the shared vector-env loop with a jitted, vmapped policy.
SNES: ``std_init=sigma``, the mean at the shared weights, evosax's defaults otherwise (the paper's NES
weights, SGD on the mean at rate 1, step rate ``(3 + ln D) / (5 sqrt D)``: the paper's, as scpo). float32.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import common  # noqa: E402


def main() -> None:
    spec = common.spec()
    t0 = time.perf_counter()
    import jax
    import jax.numpy as jnp
    from evosax.algorithms import SNES

    if common.device(spec) == "cuda" and jax.default_backend() != "gpu":
        common.skip("its jax has no GPU")

    sizes, tanh = spec["sizes"], spec["activation"] == "tanh"
    w0 = jnp.asarray(common.x0(spec), dtype=jnp.float32)

    def forward(w, x):
        at = 0
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            W = w[at: at + n_in * n_out].reshape(n_out, n_in)
            at += n_in * n_out
            x = x @ W.T + w[at: at + n_out]
            at += n_out
            if i < len(sizes) - 2:
                x = jnp.tanh(x) if tanh else jax.nn.relu(x)
        return x

    strategy = SNES(population_size=spec["pop"], solution=w0)
    params = strategy.default_params.replace(std_init=spec["sigma"])
    key = jax.random.key(spec["seed"])
    key, sub = jax.random.split(key)
    state = strategy.init(sub, w0, params)
    if spec["task"] == "cartpole":
        env = common.CartPole(spec["env"], spec["pop"], spec["seed"])
        act = jax.jit(jax.vmap(lambda w, o: forward(w, o).argmax(-1)))
        ask, tell = jax.jit(strategy.ask), jax.jit(strategy.tell)

        def generation(key, state):
            key, k_ask, k_tell = jax.random.split(key, 3)
            population, state = ask(k_ask, state, params)
            returns = env.returns(lambda obs: act(population, jnp.asarray(obs, dtype=jnp.float32)))
            state, _ = tell(k_tell, population, -jnp.asarray(returns, dtype=jnp.float32), state, params)
            return key, state
    else:
        X, y = common.data(spec)
        X, y = jnp.asarray(X), jnp.asarray(y)

        def loss(w):
            logits = forward(w, X)
            return jnp.mean(jax.nn.logsumexp(logits, axis=1) - jnp.take_along_axis(logits, y[:, None], 1)[:, 0])

        @jax.jit
        def generation(key, state):
            key, k_ask, k_tell = jax.random.split(key, 3)
            population, state = strategy.ask(k_ask, state, params)
            state, _ = strategy.tell(k_tell, population, jax.vmap(loss)(population), state, params)
            return key, state

    clock = common.Clock()
    setup_s = time.perf_counter() - t0
    clock.reset()
    for _ in range(spec["generations"]):
        key, state = generation(key, state)
        jax.block_until_ready(state)
        clock.tick()
    import numpy as np

    gpu = {}
    if common.device(spec) == "cuda":  # XLA's allocator high-water mark
        gpu = {"peak_gpu_mb": jax.devices()[0].memory_stats().get("peak_bytes_in_use", 0) / 2**20}
    common.report(spec, clock, np.asarray(strategy.get_mean(state), dtype=np.float64), setup_s,
                  **({"steps": env.steps} if spec["task"] == "cartpole" else {}), **gpu)


if __name__ == "__main__":
    main()
