"""The torch.fx population pass (networks.fx_pass, issue #28 item 3): the networks people write, members batched.

Every case compares the pass with a plain loop over members (``functional_call`` of each member's
weights, population mode) in float64 at 1e-10, and says which pass ran.
"""

import logging

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from networks.fx_pass import FxProgram, compile_fx
from networks.neuro import SupervisedProblem
from networks.population import batched_loss, population_mode
from networks.population_pass import Unsupported


def member_loop(module: nn.Module, W: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The reference: one ordinary forward of each member (batch statistics, dropout off), its cross-entropy."""
    names = [n for n, _ in module.named_parameters()]
    shapes = [p.shape for p in module.parameters()]
    sizes = [p.numel() for p in module.parameters()]
    x, labels = torch.as_tensor(X, dtype=torch.float64), torch.as_tensor(y)
    out = []
    with torch.no_grad(), population_mode(module):
        for w in torch.as_tensor(W, dtype=torch.float64):
            tensors = {n: t.view(s) for n, t, s in zip(names, torch.split(w, sizes), shapes, strict=True)}
            out.append(float(F.cross_entropy(functional_call(module, tensors, (x,)), labels)))
    return np.array(out)


def data(shape: tuple[int, ...], n: int = 24, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, *shape)), rng.integers(0, classes, n)


def check(module: nn.Module, shape: tuple[int, ...], kind: str = "fx", members: int = 5, **options):
    """The problem's losses equal the member loop's, through the pass ``kind``."""
    module = module.double()
    X, y = data(shape, classes=options.pop("classes", 3))
    problem = SupervisedProblem(module, X, y, dtype="float64", **options)
    assert problem.pass_kind == kind, problem.pass_reason
    W = problem.x0 + 0.3 * np.random.default_rng(1).standard_normal((members, problem.dim))
    np.testing.assert_allclose(problem.objective(W), member_loop(module, W, X, y), rtol=1e-10, atol=1e-12)
    return problem


class MLP(nn.Module):
    """An MLP written as a subclass, with a residual sum and functional activations."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 40)
        self.hidden = nn.Linear(40, 40)
        self.out = nn.Linear(40, 3)

    def forward(self, x):
        h = F.relu(self.inp(x))
        h = h + torch.tanh(self.hidden(h))  # residual
        return self.out(h)


class ConvNet(nn.Module):
    """A small Conv2d network: conv, batch norm, pooling, a strided conv, flatten, two heads concatenated."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.avg = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6 * 2 * 2 + 4, 3)

    def forward(self, x):
        h = self.pool(F.relu(self.bn(self.conv1(x))))  # (4, 4, 4)
        g = F.leaky_relu(self.conv2(h), 0.1)  # (6, 2, 2)
        return self.fc(torch.cat([g.view(g.size(0), -1), self.avg(h).flatten(1)], dim=1))


def test_subclassed_mlp_takes_the_fx_pass_and_matches_a_member_loop():
    torch.manual_seed(0)
    problem = check(MLP(), (6,))
    assert problem.path == "fast" and problem.pass_reason == ""
    assert isinstance(problem._program, FxProgram)


def test_small_conv2d_network_matches_a_member_loop():
    torch.manual_seed(0)
    check(ConvNet(), (2, 8, 8))


@pytest.mark.parametrize("name", ["bn1d", "layernorm", "pool1d", "flatten", "activations", "softmax"])
def test_layers_through_the_fx_pass_match_a_member_loop(name):
    torch.manual_seed(0)
    cases = {
        "bn1d": (nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3)),
                 (6,)),
        "layernorm": (nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.GELU(), nn.Linear(8, 3)), (6,)),
        "pool1d": (nn.Sequential(nn.Conv1d(2, 4, 3, padding=1), nn.BatchNorm1d(4), nn.ELU(), nn.MaxPool1d(2),
                                 nn.Conv1d(4, 4, 3, stride=2), nn.AvgPool1d(2), nn.Flatten(), nn.Linear(4, 3)),
                   (2, 12)),
        "flatten": (nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Unflatten(1, (2, 4)), nn.SiLU(),
                                  nn.Flatten(), nn.Identity(), nn.Linear(8, 3)), (3, 4)),
        "activations": (nn.Sequential(nn.Linear(6, 8), nn.LeakyReLU(0.2), nn.Linear(8, 8), nn.Softplus(),
                                      nn.Linear(8, 8), nn.Sigmoid(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3)),
                        (6,)),
        "softmax": (nn.Sequential(nn.Linear(6, 8), nn.Softmax(dim=1), nn.Linear(8, 3), nn.LogSoftmax(dim=-1)),
                    (6,)),
    }
    module, shape = cases[name]
    check(module, shape)


def test_the_fx_pass_serves_batched_loss_for_a_subclass():
    torch.manual_seed(0)
    module = MLP().double()
    X, y = data((6,))
    Y = np.eye(3)[y]
    W = np.random.default_rng(2).uniform(-0.5, 0.5, (4, sum(p.numel() for p in module.parameters())))
    fast = batched_loss(module, W, X, Y, loss="ce", multilabel=False, path="fast")
    np.testing.assert_allclose(fast.numpy(), batched_loss(module, W, X, Y, loss="ce", multilabel=False,
                                                          path="vmap").numpy(), rtol=1e-10)


class ShapeBranch(nn.Module):
    """Control flow on the input: torch.fx cannot trace it (vmap runs it)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 3)

    def forward(self, x):
        if x.dim() == 1:
            x = x.unsqueeze(0)
        return self.lin(x)


def test_an_untraceable_module_falls_back_to_vmap_saying_why_and_still_matches(caplog):
    torch.manual_seed(0)
    with caplog.at_level(logging.INFO, logger="networks.neuro"):
        problem = check(ShapeBranch(), (6,), kind="vmap")
    assert problem.path == "vmap" and "torch.fx cannot trace it" in problem.pass_reason
    assert any("ShapeBranch runs the vmap fallback: torch.fx cannot trace it" in r.getMessage()
               for r in caplog.records)
    with pytest.raises(ValueError, match="ShapeBranch cannot take the population pass: torch.fx cannot trace"):
        SupervisedProblem(ShapeBranch(), *data((6,)), path="fast")


def test_an_unknown_layer_falls_back_naming_it():
    torch.manual_seed(0)
    problem = check(nn.Sequential(nn.Linear(6, 4), nn.PReLU(), nn.Linear(4, 3)), (6,), kind="vmap")
    assert "PReLU" in problem.pass_reason


class TrainingBranch(nn.Module):
    """Reads ``self.training`` in forward: the trace (taken in train mode) would scale, population mode does not."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 3)

    def forward(self, x):
        out = self.lin(x)
        return out * 2 if self.training else out


def test_a_trace_that_disagrees_with_forward_is_refused():
    torch.manual_seed(0)
    with pytest.raises(Unsupported, match="disagrees with forward"):
        compile_fx(TrainingBranch().double(), (5, 6))
    check(TrainingBranch(), (6,), kind="vmap")


def test_chunks_stay_within_the_memory_budget():
    """A budget of a few members: every chunk's estimate fits it, and the estimate covers the values the pass
    actually keeps alive (measured by the probe's tracking, at the real batch)."""
    torch.manual_seed(0)
    module = MLP().double()
    X, y = data((6,), n=400)
    probe = SupervisedProblem(module, X, y, dtype="float64")
    per_member = probe._program.bytes_per_member(len(X), 8)
    budget_mb = 3.5 * per_member / 2**20
    problem = SupervisedProblem(module, X, y, dtype="float64", memory_budget_mb=budget_mb)
    seen = []
    outputs = problem._program.outputs

    def recording(W, x):
        seen.append(len(W))
        return outputs(W, x)

    problem._program.outputs = recording
    W = problem.x0 + 0.1 * np.random.default_rng(0).standard_normal((10, problem.dim))
    np.testing.assert_allclose(problem.objective(W), member_loop(module, W, X, y), rtol=1e-10)
    assert seen == [3, 3, 2, 2] and max(seen) * per_member <= budget_mb * 2**20
    track: list[int] = []
    problem._program._run(torch.as_tensor(W[:3]), torch.as_tensor(X), track)
    assert max(track) * 8 <= 3 * per_member  # the live member values, bytes, within the estimate
    # the vmap fallback is chunked to the budget too
    fallback = SupervisedProblem(ShapeBranch().double(), X, y, dtype="float64", memory_budget_mb=0.2)
    sizes = []
    original = fallback._outputs
    fallback._outputs = lambda W, x: sizes.append(len(W)) or original(W, x)
    fallback.objective(np.tile(fallback.x0, (10, 1)))
    chunk = max(sizes)
    assert len(sizes) > 1 and chunk * fallback._bytes_per_example * len(X) <= 0.2 * 2**20


def test_member_threads_share_the_compiled_conv_safely():
    """batched_loss splits the members among threads (torch threads 2, a batch past SPLIT_MIN_BATCH): the
    Conv2d patches kept per call must not leak between threads' chunks."""
    from features.torchutil import torch_threads
    from networks.population import SPLIT_MIN_BATCH

    torch.manual_seed(0)
    module = ConvNet().double()
    X, y = data((2, 8, 8), n=SPLIT_MIN_BATCH + 2)
    Y = np.eye(3)[y]
    W = np.random.default_rng(3).uniform(-0.3, 0.3, (6, sum(p.numel() for p in module.parameters())))
    single = batched_loss(module, W, X, Y, loss="ce", multilabel=False, path="fast")
    with torch_threads(2):
        threaded = batched_loss(module, W, X, Y, loss="ce", multilabel=False, path="fast", chunk_size=2)
    np.testing.assert_allclose(threaded.numpy(), single.numpy(), rtol=1e-12)
    np.testing.assert_allclose(single.numpy(), batched_loss(module, W, X, Y, loss="ce", multilabel=False,
                                                            path="vmap").numpy(), rtol=1e-10)


@pytest.mark.filterwarnings("ignore:batched_loss. ShapeBranch is not made of the layers:RuntimeWarning")
def test_batched_loss_vmap_fallback_is_chunked_to_the_budget():
    from networks import population

    torch.manual_seed(0)
    module = ShapeBranch().double()
    X, y = data((6,), n=300)
    Y = np.eye(3)[y]
    W = np.random.default_rng(4).uniform(-0.5, 0.5, (9, 21))
    whole = batched_loss(module, W, X, Y, loss="ce", multilabel=False)
    xt = torch.as_tensor(X)
    per_member = (2 * (3 + 3) + 6) * 8 * 300  # twice the outputs of lin and the module, the input; float64
    budget = 2.5 * per_member / 2**20
    assert population._vmap_members(module, xt, budget, "ShapeBranch") == 2
    np.testing.assert_allclose(batched_loss(module, W, X, Y, loss="ce", multilabel=False,
                                            memory_budget_mb=budget).numpy(), whole.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="memory_budget_mb=1e-05 is too small: one member of ShapeBranch needs"):
        batched_loss(module, W, X, Y, loss="ce", multilabel=False, memory_budget_mb=1e-5)


class Functional(nn.Module):
    """Parameters read directly (F.linear), slicing, a flatten by view and torch.cat of a member value with itself."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 6) / 3)
        self.bias = nn.Parameter(torch.zeros(8))
        self.out = nn.Linear(12, 3)

    def forward(self, x):
        h = F.silu(F.linear(x, self.weight, self.bias))
        return self.out(torch.cat([h[:, :4], h[:, 4:] * 2.0, h[:, :4].sigmoid()], dim=-1))


class Scaled(nn.Module):
    """A parameter used elementwise (``x * self.scale``): not a layer the pass batches, so vmap."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 3)
        self.scale = nn.Parameter(torch.ones(3))

    def forward(self, x):
        return self.lin(x) * self.scale


def test_parameters_read_in_forward_slicing_and_cat():
    torch.manual_seed(0)
    check(Functional(), (6,))
    problem = check(Scaled(), (6,), kind="vmap")
    assert "parameter read directly" in problem.pass_reason
