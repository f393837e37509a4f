"""DeepResNet, flat parameter vectors, batched population losses, and the two trainers."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from networks.population import (
    LOSSES,
    batched_loss,
    calibrate_batch_norm,
    flat_size,
    load_flat,
    loss_per_example,
    parameter_bounds,
    population_mode,
    to_flat,
)
from networks.resnet import DeepResNet, probabilities
from networks.training import evaluate_loss, torch_threads, train_adam, train_population

# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks on a shared machine: one torch thread is faster and steadier (restored after)."""
    with torch_threads(1):
        yield


def blobs(n=120, d=9, n_classes=3, seed=0, spread=2.5):
    """A separable synthetic task: one Gaussian blob per class."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, spread, (n_classes, d))
    labels = rng.integers(0, n_classes, n)
    X = (centers[labels] + rng.normal(size=(n, d))).astype(np.float32)
    return X, np.eye(n_classes, dtype=np.float32)[labels], labels


def small_net(seed=0, **kw):
    return DeepResNet(9, 3, width=4, depth=1, seed=seed, **kw)


def state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


# ----------------------------------------------------------------------------- DeepResNet


def test_resnet_shapes_and_size():
    net = DeepResNet(9, 10)
    x = torch.randn(5, 9)
    assert net(x).shape == (5, 10)
    assert net(x.unsqueeze(1)).shape == (5, 10)
    assert 1000 < flat_size(net) < 5000  # "a few thousand weights"
    assert net.channels == (8, 16)
    assert isinstance(net.blocks[0].shortcut, nn.Identity)  # 8 -> 8: identity
    assert isinstance(net.blocks[1].shortcut, nn.Sequential)  # 8 -> 16: 1x1 projection
    deep = DeepResNet(20, 4, channels=[4, 4, 8], kernel_size=5)
    assert deep(torch.randn(3, 20)).shape == (3, 4)
    assert deep.config()["channels"] == [4, 4, 8]


def test_resnet_bad_arguments():
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        DeepResNet(9, 3, kernel_size=2)
    with pytest.raises(ValueError, match="depth"):
        DeepResNet(9, 3, depth=0)
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, 9\)"):
        DeepResNet(9, 3)(torch.randn(4, 8))


def test_resnet_seed_reproducible_and_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, b = DeepResNet(9, 3, seed=7), DeepResNet(9, 3, seed=7)
    assert torch.equal(torch.random.get_rng_state(), before)
    np.testing.assert_array_equal(to_flat(a), to_flat(b))
    assert not np.array_equal(to_flat(a), to_flat(DeepResNet(9, 3, seed=8)))


def test_probabilities_link():
    logits = torch.randn(4, 5)
    assert torch.allclose(probabilities(logits, False).sum(-1), torch.ones(4))
    assert torch.allclose(probabilities(logits, True), torch.sigmoid(logits))


# ----------------------------------------------------------------------------- flat vectors


def test_flat_round_trip():
    a, b = small_net(seed=0), small_net(seed=1)
    flat = to_flat(a)
    assert flat.shape == (flat_size(a),) and flat.dtype == np.float64
    load_flat(b, flat)
    np.testing.assert_array_equal(to_flat(b), flat)
    t = to_flat(a, as_numpy=False)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    load_flat(b, t * 2)
    np.testing.assert_allclose(to_flat(b), 2 * flat, rtol=1e-6)
    with pytest.raises(ValueError, match=rf"vector must have shape \({flat_size(a)},\)"):
        load_flat(b, flat[:-1])
    with pytest.raises(ValueError, match="non-finite"):
        load_flat(b, np.full_like(flat, np.nan))


def test_parameter_bounds_scaled():
    net = small_net()
    lb, ub = parameter_bounds(net)
    assert lb.shape == ub.shape == (flat_size(net),)
    assert np.all(lb < ub)
    # every batch-norm scale gets [0, 2]
    offset = 0
    for name, p in net.named_parameters():
        if name.endswith("bn1.weight"):
            assert np.all(lb[offset:offset + p.numel()] == 0) and np.all(ub[offset:offset + p.numel()] == 2)
        offset += p.numel()


# ----------------------------------------------------------------------------- batched loss


def loop_losses(net, W, x, y, loss, multilabel):
    """The reference: one ordinary train-mode forward per member, on a copy of the module."""
    out = []
    for w in W:
        member = load_flat(copy.deepcopy(net), w).train()
        with torch.no_grad():
            logits = member(torch.as_tensor(x, dtype=torch.float64))
        out.append(float(loss_per_example(logits, torch.as_tensor(y, dtype=torch.float64), loss, multilabel).mean()))
    return np.array(out)


@pytest.mark.parametrize("multilabel", [False, True])
@pytest.mark.parametrize("loss", LOSSES)
def test_batched_loss_equals_member_loop_float64(loss, multilabel):
    net = DeepResNet(9, 4, width=4, depth=2, multilabel=multilabel, seed=0).double()
    rng = np.random.default_rng(1)
    W = rng.uniform(-1, 1, (7, flat_size(net)))
    x = rng.normal(size=(30, 9))
    y = (rng.random((30, 4)) < 0.4).astype(float)
    got = batched_loss(net, W, x, y, loss=loss)
    assert got.shape == (7,) and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), loop_losses(net, W, x, y, loss, multilabel), rtol=1e-6, atol=1e-9)


def test_batched_loss_float32_and_chunks():
    net = small_net()
    rng = np.random.default_rng(2)
    W = rng.uniform(-1, 1, (9, flat_size(net)))
    X, Y, _ = blobs(40)
    full = batched_loss(net, W, X, Y)
    np.testing.assert_allclose(batched_loss(net, W, X, Y, chunk_size=4).numpy(), full.numpy(), rtol=1e-6)
    ref = loop_losses(net.double(), W, X, Y, "mse", False)
    np.testing.assert_allclose(full.numpy(), ref, rtol=1e-4, atol=1e-6)


def test_batched_loss_leaves_buffers_parameters_and_modes_alone():
    net = small_net()
    net.train()
    net.blocks.eval()  # a mixed state, to check it is restored exactly
    before, flags = state(net), [m.training for m in net.modules()]
    X, Y, _ = blobs(50)
    batched_loss(net, np.random.default_rng(0).uniform(-1, 1, (5, flat_size(net))), X, Y)
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running stats and counters included
    assert [m.training for m in net.modules()] == flags
    assert all(m.track_running_stats for m in net.modules() if isinstance(m, nn.BatchNorm1d))


def test_batched_loss_generic_module_and_buffer_check():
    mlp = nn.Sequential(nn.Linear(9, 6), nn.ReLU(), nn.Dropout(0.5), nn.Linear(6, 3))
    X, Y, _ = blobs(20)
    W = np.random.default_rng(0).uniform(-1, 1, (4, flat_size(mlp)))
    got = batched_loss(mlp, W, X, Y, loss="ce", multilabel=False)
    ref = []
    for w in W:  # population mode is eval mode for everything but batch norm: dropout off
        m = load_flat(copy.deepcopy(mlp), w).eval()
        with torch.no_grad():
            ref.append(float(loss_per_example(m(torch.as_tensor(X)), torch.as_tensor(Y), "ce", False).mean()))
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5)

    class WithBuffer(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(9, 3)
            self.register_buffer("offset", torch.zeros(3))

        def forward(self, x):
            return self.lin(x) + self.offset

    with pytest.raises(ValueError, match="buffer 'offset' outside batch norm"):
        batched_loss(WithBuffer(), np.zeros((2, 30)), X, Y)


def test_batched_loss_bad_inputs():
    net = small_net()
    X, Y, _ = blobs(10)
    with pytest.raises(ValueError, match=r"weights must have shape \(P, "):
        batched_loss(net, np.zeros((3, 5)), X, Y)
    with pytest.raises(ValueError, match="loss must be one of"):
        batched_loss(net, np.zeros((1, flat_size(net))), X, Y, loss="hinge")
    with pytest.raises(ValueError, match="x has 10 rows but y has 9"):
        batched_loss(net, np.zeros((1, flat_size(net))), X, Y[:9])
    with pytest.raises(ValueError, match="at least 2 examples"):
        batched_loss(net, np.zeros((1, flat_size(net))), X[:1], Y[:1])


def test_population_mode_restores_on_error():
    net = small_net()
    net.train()
    with pytest.raises(RuntimeError), population_mode(net):
        assert not net.training
        raise RuntimeError
    assert net.training and all(m.track_running_stats for m in net.modules() if isinstance(m, nn.BatchNorm1d))


def test_calibrate_batch_norm_matches_batch_statistics():
    net = small_net().double()
    X, _, _ = blobs(400)
    X = X.astype(np.float64)
    xt = torch.as_tensor(X)
    net.train()
    with torch.no_grad():
        batch_stats = net(xt)  # also moves the running stats, which calibration must replace
    calibrate_batch_norm(net, X)
    assert not net.training
    with torch.no_grad():
        eval_out = net(xt)
    # the running variance is the unbiased one, hence the small tolerance
    np.testing.assert_allclose(eval_out.numpy(), batch_stats.numpy(), rtol=1e-2, atol=1e-2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batched_loss_cuda_matches_cpu():  # pragma: no cover - no GPU in CI
    net = small_net()
    X, Y, _ = blobs(40)
    W = np.random.default_rng(0).uniform(-1, 1, (6, flat_size(net)))
    cpu = batched_loss(net, W, X, Y)
    gpu = batched_loss(copy.deepcopy(net).cuda(), W, X, Y)
    assert gpu.device.type == "cuda"
    np.testing.assert_allclose(gpu.cpu().numpy(), cpu.numpy(), rtol=1e-4)


# ----------------------------------------------------------------------------- training


def test_scpo_training_learns_and_beats_random_search():
    X, Y, labels = blobs(120)
    runs = {}
    for algorithm in ("scpo", "random"):
        net = small_net()
        h = train_population(net, X, Y, algorithm=algorithm, max_evals=2000, pop_size=25, seed=0)
        runs[algorithm] = (net, h)
    net, h = runs["scpo"]
    assert h.best_loss < 0.6 * h.initial_loss  # clearly below the initial population's best
    assert h.best_loss < runs["random"][1].best_loss
    assert h.evals[-1] <= 2100 and len(h.loss) == len(h.evals) == len(h.time)
    assert all(a >= b for a, b in zip(h.loss, h.loss[1:], strict=False))  # fixed batch: best so far
    assert not net.training  # left in eval mode, batch norm calibrated
    with torch.no_grad():
        accuracy = (net(torch.as_tensor(X)).argmax(1).numpy() == labels).mean()
    assert accuracy > 0.8
    # the returned module scores what the history says (eval mode after calibration ~ batch stats)
    assert evaluate_loss(net, X, Y) == pytest.approx(h.best_loss, rel=0.05, abs=0.01)


def test_population_training_reproducible_and_resampling_with_validation():
    X, Y, _ = blobs(160, seed=3)
    kwargs = dict(algorithm="scpo", max_evals=900, pop_size=16, batch_size=48, resample="per-iteration",
                  X_val=X[120:], Y_val=Y[120:], patience=8, seed=5)
    a, b = small_net(), small_net()
    ha = train_population(a, X[:120], Y[:120], **kwargs)
    hb = train_population(b, X[:120], Y[:120], **kwargs)
    np.testing.assert_array_equal(to_flat(a), to_flat(b))
    assert ha.loss == hb.loss and ha.val_loss == hb.val_loss
    assert len(ha.val_loss) == len(ha.loss)
    assert all(x >= y for x, y in zip(ha.val_loss, ha.val_loss[1:], strict=False))  # kept-so-far
    assert ha.best_loss == pytest.approx(min(ha.val_loss))
    # the restored weights have exactly the validation loss recorded
    assert evaluate_loss(a, X[120:], Y[120:], X_calibrate=X[:120]) == pytest.approx(ha.best_loss, rel=1e-5)
    hc = train_population(small_net(), X[:120], Y[:120], **{**kwargs, "seed": 6})
    assert hc.loss != ha.loss


def test_population_training_other_algorithms_and_scaled_bounds():
    X, Y, _ = blobs(60)
    net = small_net()
    h = train_population(net, X, Y, algorithm="sca", max_evals=300, pop_size=10, bounds="scaled", seed=0,
                         loss="ce")
    uniform = float(np.log(3))  # the cross-entropy of a constant prediction (zero output weights), 1.10
    assert h.settings["bounds"] == "scaled" and h.best_loss < 0.8 * uniform  # the initial best (0.90) is not
    assert h.best_loss < h.initial_loss - 0.05  # a clear fall from the initial population's best, not a tie
    assert evaluate_loss(net, X, Y, loss="ce") == pytest.approx(h.best_loss, rel=0.05, abs=0.01)


def test_population_training_bad_arguments():
    X, Y, _ = blobs(20)
    net = small_net()
    with pytest.raises(ValueError, match="resample must be one of"):
        train_population(net, X, Y, resample="sometimes")
    with pytest.raises(ValueError, match="unknown algorithm 'nope'"):
        train_population(net, X, Y, algorithm="nope")
    with pytest.raises(ValueError, match="bounds low must be a scalar or have"):
        train_population(net, X, Y, bounds=(np.zeros(3), 1.0))
    with pytest.raises(ValueError, match="Y_train has 2 label columns but the module outputs 3"):
        train_population(net, X, Y[:, :2])
    with pytest.raises(ValueError, match="X_val and Y_val must be given together"):
        train_population(net, X, Y, X_val=X)
    with pytest.raises(ValueError, match="not a perfect square"):
        train_population(net, X, Y, pop_size=20, max_evals=100)


def test_adam_reaches_low_loss_and_restores_best():
    X, Y, labels = blobs(160, seed=1)
    net = small_net()
    h = train_adam(net, X[:120], Y[:120], epochs=40, lr=0.02, batch_size=32, X_val=X[120:], Y_val=Y[120:],
                   patience=10, seed=0)
    assert h.best_loss < 0.1 < h.initial_loss
    assert h.evals[-1] == h.settings["steps"] and h.val_loss[-1] == h.best_loss
    assert evaluate_loss(net, X[120:], Y[120:], X_calibrate=X[:120]) == pytest.approx(h.best_loss, rel=1e-5)
    net2 = small_net()
    h2 = train_adam(net2, X[:120], Y[:120], epochs=40, lr=0.02, batch_size=32, X_val=X[120:], Y_val=Y[120:],
                    patience=10, seed=0)
    assert h2.loss == h.loss
    np.testing.assert_array_equal(to_flat(net2), to_flat(net))
    with pytest.raises(ValueError, match="lr must be a positive number"):
        train_adam(net, X, Y, lr=0)


def test_torch_threads_restores():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="num_threads must be an integer >= 1, got 0"):
        train_adam(small_net(), *blobs(10)[:2], num_threads=0)
