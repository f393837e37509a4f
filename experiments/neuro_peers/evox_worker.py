"""EvoX 1.4.0's SNES on the benchmark's task (run with ``.venv-peers/evox``'s python), as EvoX's own
neuroevolution tutorial writes it: ``SupervisedLearningProblem`` (the whole training split as one batch,
``CrossEntropyLoss(reduction="none")``) with ``ParamsAndVector`` and ``StdWorkflow``; CartPole (EvoX has
no gymnasium problem) a plain ``evox.core.Problem`` over the shared vector-env loop, the policy of all
members in one ``torch.vmap`` of ``functional_call``. SNES: ``sigma`` the shared step, ``center_init`` the
shared weights, ``weight_type="recomb"`` (the paper's NES utilities, as scpo; EvoX's default is a softmax
"temp" weighting), ``lrate_mean=1`` and EvoX's step rate ``(3 + ln D) / (5 sqrt D)`` (the paper's). float32.
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
    torch.manual_seed(spec["seed"])
    from evox.algorithms import SNES
    from evox.core import Problem
    from evox.problems.neuroevolution.supervised_learning import SupervisedLearningProblem
    from evox.utils import ParamsAndVector
    from evox.workflows import StdWorkflow
    from torch.func import functional_call
    from torchnets import network

    dev = common.torch_device(spec)
    w0 = common.x0(spec)
    net = network(spec["sizes"], spec["activation"], "sequential", w0).to(dev)
    adapter = ParamsAndVector(dummy_model=net)
    center = adapter.to_vector(dict(net.named_parameters())).detach()
    assert torch.allclose(center.double().cpu(), torch.as_tensor(w0), atol=1e-6), "EvoX's flat order differs"
    if spec["task"] == "cartpole":
        env = common.CartPole(spec["env"], spec["pop"], spec["seed"])

        class Gym(Problem):
            def evaluate(self, params: dict) -> torch.Tensor:
                def policy(obs):
                    x = torch.as_tensor(obs, dtype=torch.float32)[:, None, :]
                    with torch.no_grad():
                        out = torch.vmap(lambda p, o: functional_call(net, p, (o,)))(params, x)
                    return out[:, 0].argmax(-1).numpy()
                return -torch.as_tensor(env.returns(policy), dtype=torch.float32)

        problem = Gym()
    else:
        X, y = common.data(spec)
        data = torch.utils.data.TensorDataset(torch.as_tensor(X), torch.as_tensor(y))
        loader = torch.utils.data.DataLoader(data, batch_size=len(X), shuffle=False)
        problem = SupervisedLearningProblem(net, loader, torch.nn.CrossEntropyLoss(reduction="none"),
                                            n_batch_per_eval=1, pop_size=spec["pop"], device=dev)
    algorithm = SNES(pop_size=spec["pop"], center_init=center, sigma=spec["sigma"], weight_type="recomb",
                     device=dev)
    workflow = StdWorkflow(algorithm, problem, solution_transform=adapter, device=str(dev))
    clock = common.Clock(common.torch_sync(spec))
    setup_s = time.perf_counter() - t0
    clock.reset()
    for generation in range(spec["generations"]):
        if generation == 0:
            workflow.init_step()
        else:
            workflow.step()
        clock.tick()
    common.report(spec, clock, algorithm.center.detach().cpu().double().numpy(), setup_s,
                  **({"steps": env.steps} if spec["task"] == "cartpole" else {}), **common.torch_gpu_peak_mb(spec))


if __name__ == "__main__":
    main()
