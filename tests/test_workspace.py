"""Recycled output buffers (networks.workspace): the chunks of one call reuse memory, and never memory still read."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torch import nn

from networks import workspace
from networks.neuro import SupervisedProblem
from networks.population import batched_loss, flat_size
from networks.resnet import DeepResNet
from networks.workspace import bmm, empty, equal_chunks, mm, recycled_buffers


class TwoLayer(nn.Module):
    """A subclass (the fx pass) with a wide hidden layer and a narrow head."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(6, 40)
        self.head = nn.Linear(40, 3)

    def forward(self, x):
        return self.head(torch.relu(self.hidden(x)))


@pytest.fixture
def allocations(monkeypatch):
    """Counts the buffers the workspace allocates."""
    calls: list[tuple] = []
    new = workspace._new

    def counting(shape, like):
        calls.append(tuple(shape))
        return new(shape, like)

    monkeypatch.setattr(workspace, "_new", counting)
    return calls


def test_a_released_buffer_is_handed_out_again_and_a_held_one_never():
    like = torch.zeros(1)
    with recycled_buffers():
        first = empty((4, 5), like)
        address = first.data_ptr()
        held = empty((4, 5), like)  # `first` is still alive: a second buffer
        assert held.data_ptr() != address
        view = first[1:]  # a view keeps the storage in use after the tensor itself goes
        del first
        assert empty((4, 5), like).data_ptr() not in (address, held.data_ptr())
        del view, held
        again = empty((4, 5), like)
        assert again.data_ptr() == address
        del again
        assert empty((2, 5), like).data_ptr() == address  # half the size: the first elements of the buffer
        assert empty((2, 4), like).data_ptr() != address  # under half: a buffer of its own
        assert empty((6, 5), like).data_ptr() != address  # larger: a new buffer


def test_outside_the_context_every_call_allocates(allocations):
    like = torch.zeros(1, dtype=torch.float64)
    a = empty((3,), like)
    del a
    empty((3,), like)
    assert len(allocations) == 2
    with recycled_buffers():
        for _ in range(5):
            empty((3,), like)
    assert len(allocations) == 3


def test_products_keep_autograd_and_values():
    rng = torch.Generator().manual_seed(0)
    a = torch.randn(3, 4, 5, generator=rng, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, 5, 2, generator=rng, dtype=torch.float64)
    with recycled_buffers():
        out = bmm(a, b)  # out= products are not differentiable: the plain product is used
        out.sum().backward()
        assert torch.equal(out, torch.bmm(a, b))
        assert a.grad is not None
        with torch.no_grad():
            assert torch.equal(mm(a[0], b[0]), a[0] @ b[0])


def test_pools_are_per_thread():
    like = torch.zeros(1)
    seen: dict[str, int] = {}
    with recycled_buffers():
        mine = empty((8,), like)
        address = mine.data_ptr()
        del mine  # free in this thread's pool (which keeps it allocated): another thread's pool must not see it

        def other():
            with recycled_buffers():
                seen["other"] = empty((8,), like).data_ptr()

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert seen["other"] != address
        assert empty((8,), like).data_ptr() == address  # this thread's pool still hands it out


@pytest.mark.parametrize("chunk", [1, 3, 16])
def test_fx_pass_allocates_once_per_shape_whatever_the_chunk_count(allocations, chunk):
    """16 members in chunks of at most 1 or 3 (3, 3, 3, 3, 2, 2) allocate the buffers of one chunk; the
    losses are bit for bit those of one chunk."""
    torch.manual_seed(0)
    net = TwoLayer().double()
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 6)), rng.integers(0, 3, 50)
    W = rng.standard_normal((16, sum(p.numel() for p in net.parameters())))
    whole = SupervisedProblem(net, X, y, chunk_size=16)
    expected = whole._population_loss(W)
    per_chunk_shapes = len(set(allocations))
    allocations.clear()
    problem = SupervisedProblem(net, X, y, chunk_size=chunk)
    assert problem.path == "fast"
    got = problem._population_loss(W)
    np.testing.assert_array_equal(got, expected)
    assert 0 < len(allocations) <= per_chunk_shapes  # the shorter chunks write into the longer ones' buffers


def test_population_pass_reuses_buffers_across_chunks(allocations):
    net = DeepResNet(5, 4, width=4, depth=2, seed=0)
    rng = np.random.default_rng(1)
    W = torch.as_tensor(rng.standard_normal((24, flat_size(net))) * 0.2)
    x = torch.as_tensor(rng.standard_normal((40, 5)))
    y = torch.nn.functional.one_hot(torch.as_tensor(rng.integers(0, 4, 40)), 4).double()
    one = batched_loss(net, W, x, y, loss="ce", chunk_size=24, dtype="float64")
    one_chunk = len(allocations)
    allocations.clear()
    with torch.no_grad():
        many = batched_loss(net, W, x, y, loss="ce", chunk_size=2, dtype="float64")
    assert torch.equal(one, many)
    assert 0 < len(allocations) <= one_chunk  # 12 chunks of 2 members: the buffers of one


def test_equal_chunks():
    W = torch.arange(10)
    assert [len(c) for c in equal_chunks(W, 3)] == [3, 3, 2, 2]
    assert [len(c) for c in equal_chunks(W, 10)] == [10] and [len(c) for c in equal_chunks(W, 1)] == [1] * 10
    assert torch.equal(torch.cat(equal_chunks(W, 4)), W)
