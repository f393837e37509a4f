"""The cpu stand-in for the cuda no-sync tests: run an optimizer's iterations with every host transfer refused."""

import numpy as np
import torch

TENSOR_READS = ("item", "tolist", "numpy", "cpu", "nonzero", "__bool__", "__float__", "__int__", "__index__")
BUILDERS = ("as_tensor", "tensor", "from_numpy")


def run_refusing_host_transfers(optimizer, monkeypatch) -> None:
    """Run ``optimizer`` (torch backend) to its end; after its first three ask/tell rounds (the initial population
    and the first iteration may set things up) no tensor value may be read on the host (item, bool, float,
    numpy, ...) and no tensor built from host values (torch.as_tensor / tensor / from_numpy of an array or a
    number): on cuda each would be a synchronisation. Party switching is exempt: on the cpu it is the compiled
    host plan by design, on cuda the triton kernel (checked by the cuda tests)."""
    import scpo.backends.torch_backend as torch_backend

    armed = [False]

    def refuse(name, original):
        def guarded(*args, **kwargs):
            if armed[0] and (name not in BUILDERS or not torch.is_tensor(args[0])):
                raise AssertionError(f"host transfer inside an iteration: {name}")
            return original(*args, **kwargs)
        return guarded

    for name in TENSOR_READS:
        monkeypatch.setattr(torch.Tensor, name, refuse(name, getattr(torch.Tensor, name)))
    for name in BUILDERS:
        monkeypatch.setattr(torch, name, refuse(name, getattr(torch, name)))
    host_plan = torch_backend.switch_plan_device

    def exempt_plan(*args, **kwargs):
        armed[0] = False
        try:
            return host_plan(*args, **kwargs)
        finally:
            armed[0] = True

    monkeypatch.setattr(torch_backend, "switch_plan_device", exempt_plan)
    evaluate = optimizer.evaluator()
    for _ in range(3):
        optimizer.tell(evaluate(optimizer.ask(copy=False)))
    armed[0] = True
    try:
        while not optimizer.done:
            optimizer.tell(evaluate(optimizer.ask(copy=False)))
    finally:
        armed[0] = False
    assert np.isfinite(optimizer.result().fun)


def run_with_cuda_syncs_refused(optimizer, warmup_rounds: int) -> None:
    """Run ``optimizer`` (torch on cuda) to its end; after ``warmup_rounds`` ask/tell rounds (compilation, the
    initial population) under ``torch.cuda.set_sync_debug_mode("error")``: a host-device synchronization fails."""
    evaluate = optimizer.evaluator()
    for _ in range(warmup_rounds):
        optimizer.tell(evaluate(optimizer.ask(copy=False)))
    torch.cuda.set_sync_debug_mode("error")
    try:
        while not optimizer.done:
            optimizer.tell(evaluate(optimizer.ask(copy=False)))
    finally:
        torch.cuda.set_sync_debug_mode("default")
