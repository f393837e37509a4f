"""networks.neuro.SupervisedProblem: neuroevolution of any nn.Module on supervised data (issue #28)."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import scpo
from networks.neuro import SupervisedProblem
from networks.population import load_flat, to_flat


def blobs(n: int = 240, seed: int = 0):
    """Four Gaussian classes in 16 dimensions (class centres 1.5 standard deviations apart per axis)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.5, (4, 16))
    y = rng.integers(0, 4, n)
    return (centres[y] + rng.normal(0.0, 1.0, (n, 16))).astype(np.float32), y


def sequential(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4))


class MLP(nn.Module):
    """The same network written as most people write it."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(16, 8)
        self.out = nn.Linear(8, 4)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))


def population(problem, n: int = 6, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(problem.lb, problem.ub, (n, problem.dim))


def test_integer_labels_and_one_hot_targets_give_torchs_loss():
    X, y = blobs()
    net = sequential()
    with torch.no_grad():
        direct = {"cross_entropy": float(F.cross_entropy(net(torch.tensor(X)), torch.tensor(y))),
                  "mse": float(F.mse_loss(net(torch.tensor(X)), F.one_hot(torch.tensor(y), 4).float()))}
    for loss in ("cross_entropy", "mse", "bce", "l1"):
        by_label = SupervisedProblem(net, X, y, loss=loss)
        by_one_hot = SupervisedProblem(net, X, np.eye(4)[y], loss=loss)
        W = population(by_label)
        np.testing.assert_allclose(by_label.objective(W), by_one_hot.objective(W), rtol=1e-5)
        assert by_label.loss(by_label.x0) == pytest.approx(by_one_hot.loss(by_one_hot.x0), rel=1e-5)
        if loss in direct:
            assert by_label.loss(by_label.x0) == pytest.approx(direct[loss], rel=1e-5)
    assert by_label.accuracy(by_label.x0) == by_one_hot.accuracy(by_one_hot.x0)


def test_a_custom_loss_callable_works_with_vmap_and_without():
    X, y = blobs()
    net = sequential()

    def smoothed(out, target):
        return F.cross_entropy(out, target, label_smoothing=0.1)

    def not_vmappable(out, target):  # data-dependent Python: fails under torch.vmap, runs member by member
        loss = F.cross_entropy(out, target, label_smoothing=0.1)
        return loss if float(loss) > 0 else loss * 0

    problems = [SupervisedProblem(net, X, y, loss=f) for f in (smoothed, not_vmappable)]
    W = population(problems[0])
    expected = []
    for w in W:
        member = load_flat(sequential(), w)
        with torch.no_grad():
            expected.append(float(smoothed(member(torch.tensor(X)), torch.tensor(y))))
    for problem in problems:
        np.testing.assert_allclose(problem.objective(W), expected, rtol=1e-5)
    assert problems[1]._vmap_loss_ok is False and problems[0]._vmap_loss_ok is True


def test_a_module_subclass_and_a_sequential_give_the_same_fitness():
    X, y = blobs()
    flat_net = sequential(3)
    subclass = MLP()
    load_flat(subclass, to_flat(flat_net))
    seq = SupervisedProblem(flat_net, X, y, minibatch_size=50, seed=4, dtype="float64")
    sub = SupervisedProblem(subclass, X, y, minibatch_size=50, seed=4, dtype="float64")
    assert np.array_equal(seq.x0, sub.x0) and np.array_equal(seq.lb, sub.lb)
    W = population(seq, 8)
    for _ in range(2):  # two generations: the same minibatches, the same losses
        np.testing.assert_allclose(seq.objective(W), sub.objective(W), rtol=1e-12, atol=1e-12)
    assert seq.path == "fast"  # the compiled pass on one side, whichever path the subclass takes
    assert seq.accuracy(W[0]) == sub.accuracy(W[0]) and seq.loss(W[0]) == pytest.approx(sub.loss(W[0]), rel=1e-12)


def test_minibatches_are_seeded_and_shared_by_every_member_of_a_generation():
    X, y = blobs()
    net = sequential()
    a = SupervisedProblem(net, X, y, minibatch_size=32, seed=7)
    b = SupervisedProblem(net, X, y, minibatch_size=32, seed=7)
    c = SupervisedProblem(net, X, y, minibatch_size=32, seed=8)
    W = population(a, 5)
    for generation in range(3):
        fa, fb = a.objective(W), b.objective(W)
        np.testing.assert_array_equal(fa, fb)  # same seed: same batches, same fitness
        rows = a.last_batch
        assert np.array_equal(rows, a.batch_indices(generation)) and len(np.unique(rows)) == 32
        # every member was scored on those rows
        np.testing.assert_allclose(fa, [a.loss(w, X[rows], y[rows]) for w in W], rtol=1e-5)
    assert a.generation == 3
    assert not np.array_equal(a.batch_indices(0), a.batch_indices(1))
    assert not np.array_equal(a.batch_indices(0), c.batch_indices(0))
    full = SupervisedProblem(net, X, y)
    full.objective(W)
    assert full.batch_indices(0) is None and full.last_batch is None


def test_snes_from_the_module_weights_improves_their_accuracy():
    X, y = blobs(300)
    problem = SupervisedProblem(sequential(), X, y, minibatch_size=64, seed=0, num_threads=1)
    before = problem.accuracy(problem.x0)
    assert np.allclose((problem.lb + problem.ub) / 2, problem.x0)  # the default box is centred on the weights
    result = scpo.minimize(problem, algorithm="snes", x0=problem.x0, max_evals=300, pop_size=20, seed=0)
    after = problem.accuracy(result.center)  # 0.98 here; 0.35 at the start
    assert result.center.shape == problem.x0.shape
    assert after >= 0.9 and after > before + 0.3, (before, after)
    assert problem.loss(result.center) < problem.loss(problem.x0)
    module = problem.load(result.center)
    with torch.no_grad():
        assert (module(torch.tensor(X)).argmax(1).numpy() == y).mean() == pytest.approx(after)


def test_any_input_shape_a_conv2d_network_on_images():
    X, y = blobs(64)
    images = X.reshape(-1, 1, 4, 4)

    def conv_net():
        return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 4))

    torch.manual_seed(0)
    net = conv_net()
    problem = SupervisedProblem(net, images, y, dtype="float64")
    W = population(problem, 3)
    expected = []
    for w in W:
        member = load_flat(conv_net().double(), w)
        with torch.no_grad():
            expected.append(float(F.cross_entropy(member(torch.tensor(images, dtype=torch.float64)),
                                                  torch.tensor(y))))
    np.testing.assert_allclose(problem.objective(W), expected, rtol=1e-12)


def test_bounds_are_a_box_around_the_weights():
    X, y = blobs(40)
    net = sequential()
    scaled = SupervisedProblem(net, X, y)
    first = net[0].weight.numel()
    np.testing.assert_allclose((scaled.ub - scaled.lb)[:first] / 2, np.sqrt(6 / 16))  # He-uniform's bound
    np.testing.assert_allclose((scaled.ub - scaled.lb)[first:first + 8] / 2, 1.0)  # biases
    radius = SupervisedProblem(net, X, y, bounds=0.5)
    np.testing.assert_allclose(radius.ub - radius.x0, 0.5) and np.testing.assert_allclose(radius.x0 - radius.lb, 0.5)
    absolute = SupervisedProblem(net, X, y, bounds=(-3, 3))
    assert np.all(absolute.lb == -3) and np.all(absolute.ub == 3)


@pytest.mark.parametrize("kwargs, words", [
    ({"y": np.zeros(39, dtype=int)}, ["y has 39 rows", "X has 40"]),
    ({"loss": "hinge"}, ["loss must be one of", "'hinge'"]),
    ({"y": np.full(40, 4)}, ["class label 4", "4 classes"]),
    ({"y": np.full(40, -1)}, ["class label -1"]),
    ({"minibatch_size": 41}, ["minibatch_size", "[1, 40]", "41"]),
    ({"minibatch_size": 0}, ["minibatch_size", "0"]),
    ({"bounds": (0.0, 1.0)}, ["outside", "widen"]),
    ({"bounds": -1.0}, ["radius", "-1.0"]),
    ({"bounds": "wide"}, ["bounds", "'wide'"]),
    ({"loss": "nll", "y": np.eye(4)[np.zeros(40, dtype=int)]}, ["nll", "integer class labels"]),
    ({"y": np.zeros((40, 3))}, ["shape (40, 3)", "(40, 4)"]),
    ({"X": np.zeros((40, 5))}, ["cannot take X of shape (40, 5)"]),
    ({"module": "mlp"}, ["torch.nn.Module", "'mlp'"]),
    ({"seed": -2}, ["seed", "-2"]),
])
def test_bad_input_is_one_line_naming_the_value(kwargs, words):
    X, y = blobs(40)
    args = {"module": sequential(), "X": X, "y": y, **kwargs}
    with pytest.raises(ValueError) as info:
        SupervisedProblem(**args)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)


def test_the_torch_backend_evaluates_tensors():
    X, y = blobs(60)
    problem = SupervisedProblem(sequential(), X, y)
    result = scpo.minimize(problem, algorithm="snes", x0=problem.x0, max_evals=60, pop_size=12, seed=0,
                           backend="torch")
    assert np.isfinite(result.fun) and problem.accuracy(result.center) >= 0


def test_the_torch_backend_passes_the_population_itself_to_a_problem_that_only_reads_it():
    """SupervisedProblem.reads_input_only: the torch backend skips its defensive copy of the population (P x D a
    generation); a plain Problem still gets a copy, so an objective writing into it cannot corrupt the run."""
    X, y = blobs()
    problem = SupervisedProblem(sequential(), X, y, bounds=5.0)
    seen: list[torch.Tensor] = []
    objective = problem.objective

    def spy(W):
        seen.append(W)
        return objective(W)

    problem.objective = spy
    run = scpo.make(problem, algorithm="snes", pop_size=8, max_iter=3, seed=0, backend="torch",
                    x0=problem.x0, sigma0=0.1)
    candidates = run.ask(copy=False)  # what Optimizer.run evaluates, through the backend's evaluator
    run.tell(run.evaluator()(candidates))
    assert len(seen) == 1 and seen[0] is candidates
    plain = scpo.Problem(lambda W: W.mul_(0.0).sum(1), problem.lb, problem.ub, vectorized=True)
    other = scpo.make(plain, algorithm="snes", pop_size=8, max_iter=3, seed=0, backend="torch")
    asked = other.ask(copy=False)
    before = asked.clone()
    other.evaluator()(asked)
    assert torch.equal(asked, before) and bool(before.abs().sum() > 0)  # the objective zeroed its copy
