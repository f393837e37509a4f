"""EvoTorch 0.6.1's SNES on the benchmark's task (run with ``.venv-peers/evox``'s python).

``mode="native"``: EvoTorch's own neuroevolution problems: ``SupervisedNE`` (the whole training split as its
one minibatch, ``common_minibatch=True``) or ``GymNE`` (one episode per member, seeded by gymnasium itself);
``mode="vectorized"``: a plain ``evotorch.Problem(vectorized=True)`` whose batch evaluation is one
``torch.vmap`` of ``torch.func.functional_call`` over the population (CartPole: the shared vector-env loop).
SNES: ``stdev_init=sigma``, ``center_init`` the shared weights, EvoTorch's defaults otherwise (NES utilities,
centre rate 1, step rate ``0.2 (3 + ln D) / sqrt(D)``: the paper's, as in scpo). float32.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402


def main() -> None:
    spec = common.spec()
    t0 = time.perf_counter()
    import torch

    torch.set_num_threads(1)
    from evotorch import Problem
    from evotorch.algorithms import SNES
    from evotorch.neuroevolution import GymNE, SupervisedNE
    from torch.func import functional_call
    from torchnets import network

    dev = common.torch_device(spec)
    w0 = common.x0(spec)
    net = network(spec["sizes"], spec["activation"], "sequential", w0).to(dev)
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for _, p in net.named_parameters()]
    sizes = [p.numel() for _, p in net.named_parameters()]

    def outputs(W: torch.Tensor, x: torch.Tensor, per_member: bool = False) -> torch.Tensor:
        """Every member's outputs: on the same ``x (B, in)``, or each on its own (``per_member``: ``x (P, B, in)``)."""
        def member(flat, inputs):
            return functional_call(net, {n: t.view(s) for n, t, s in zip(names, torch.split(flat, sizes), shapes,
                                                                     strict=True)}, (inputs,))
        return torch.vmap(member, in_dims=(0, 0 if per_member else None))(W, x)

    cartpole = spec["task"] == "cartpole"
    if spec["mode"] == "native":
        if cartpole:
            problem = GymNE(env=spec["env"], network=net, num_episodes=1, observation_normalization=False)
        else:
            X, y = common.data(spec)
            data = torch.utils.data.TensorDataset(torch.as_tensor(X), torch.as_tensor(y))
            problem = SupervisedNE(data, net, torch.nn.CrossEntropyLoss(), minibatch_size=len(X),
                                   num_minibatches=1, common_minibatch=True, device=dev)
    elif cartpole:
        env = common.CartPole(spec["env"], spec["pop"], spec["seed"])

        def returns(W: torch.Tensor) -> torch.Tensor:  # a vectorized objective gets the (P, D) tensor
            def policy(obs):
                x = torch.as_tensor(obs, dtype=torch.float32)[:, None, :]
                with torch.no_grad():
                    return outputs(W, x, per_member=True)[:, 0].argmax(-1).numpy()
            return torch.as_tensor(env.returns(policy), dtype=torch.float32)

        problem = Problem("max", returns, solution_length=len(w0), initial_bounds=(-1.0, 1.0), vectorized=True,
                          dtype=torch.float32, seed=spec["seed"])
    else:
        X, y = common.data(spec)
        Xt, yt = torch.as_tensor(X, device=dev), torch.as_tensor(y, device=dev)
        ce = torch.nn.functional.cross_entropy

        def losses(W: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return torch.vmap(ce, in_dims=(0, None))(outputs(W, Xt), yt)

        problem = Problem("min", losses, solution_length=len(w0), initial_bounds=(-1.0, 1.0), vectorized=True,
                          dtype=torch.float32, seed=spec["seed"], device=dev)
    torch.manual_seed(spec["seed"])
    searcher = SNES(problem, stdev_init=spec["sigma"], popsize=spec["pop"],
                    center_init=torch.as_tensor(w0, dtype=torch.float32, device=dev))
    clock = common.Clock(common.torch_sync(spec))
    setup_s = time.perf_counter() - t0
    clock.reset()
    steps, seen = [], 0
    for _ in range(spec["generations"]):
        searcher.step()
        clock.tick()
        if cartpole and spec["mode"] == "native":
            total = int(searcher.status["total_interaction_count"])
            steps.append(total - seen)
            seen = total
    if cartpole and spec["mode"] != "native":
        steps = env.steps
    center = searcher.status["center"]
    common.report(spec, clock, center.detach().cpu().double().numpy(), setup_s, **({"steps": steps} if steps else {}),
                  **common.torch_gpu_peak_mb(spec))


if __name__ == "__main__":
    main()
