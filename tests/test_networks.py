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


# ----------------------------------------------------------------------------- compiled population pass


def _population_case(net, n=40, members=6, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.uniform(-1, 1, (members, flat_size(net)))
    X = rng.normal(size=(n, net.in_features))
    Y = (rng.random((n, net.n_classes)) < 0.4).astype(float)
    Y[np.arange(n), rng.integers(0, net.n_classes, n)] = 1.0
    return W, X, Y


@pytest.mark.parametrize("multilabel", [False, True])
@pytest.mark.parametrize("config", [
    dict(width=4, depth=2),  # identity then projection shortcut
    dict(channels=[3, 3, 6]),  # two identity blocks, one projection
    dict(channels=[5, 2], kernel_size=5),
    dict(channels=[4], kernel_size=1),
])
def test_population_pass_equals_vmap_and_member_loop(config, multilabel):
    net = DeepResNet(9, 4, multilabel=multilabel, seed=1, **config).double()
    W, X, Y = _population_case(net)
    for loss in LOSSES:
        fast = batched_loss(net, W, X, Y, loss=loss, path="fast")
        slow = batched_loss(net, W, X, Y, loss=loss, path="vmap")
        assert fast.dtype == torch.float64
        np.testing.assert_allclose(fast.numpy(), slow.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fast.numpy(), loop_losses(net, W, X, Y, loss, multilabel), rtol=1e-8, atol=1e-10)


def test_population_pass_long_signal_uses_taps_and_float32():
    from networks.population_pass import DENSE_MAX_LENGTH

    net = DeepResNet(DENSE_MAX_LENGTH + 15, 3, width=3, depth=2, seed=0)  # float32 module
    W, X, Y = _population_case(net, n=25, members=5)
    fast = batched_loss(net, W, X, Y, path="fast")
    assert fast.dtype == torch.float32
    ref = loop_losses(net.double(), W, X, Y, "mse", False)
    np.testing.assert_allclose(fast.numpy(), ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(batched_loss(net, W, X, Y, dtype="float64").numpy(), ref, rtol=1e-10)


def test_population_pass_chunked_equals_unchunked():
    """Chunks are of whole members: each member's batch-norm statistics stay over the full batch."""
    net = DeepResNet(9, 3, width=4, depth=2, seed=0).double()
    W, X, Y = _population_case(net, n=200, members=9)
    whole = batched_loss(net, W, X, Y, chunk_size=9)
    for chunk in (1, 2, 4):
        np.testing.assert_allclose(batched_loss(net, W, X, Y, chunk_size=chunk).numpy(), whole.numpy(), rtol=1e-12)
    tiny = batched_loss(net, W, X, Y, memory_budget_mb=1.5)  # budget-driven chunks (two members)
    np.testing.assert_allclose(tiny.numpy(), whole.numpy(), rtol=1e-12)


def test_population_pass_budget_refused_with_memory_needed():
    from networks.population import members_per_chunk, population_program

    net = DeepResNet(9, 3, width=4, depth=2, seed=0)
    W, X, Y = _population_case(net, n=50, members=2)
    with pytest.raises(ValueError, match=r"memory_budget_mb=1e-05 is too small: one member of DeepResNet needs"):
        batched_loss(net, W, X, Y, memory_budget_mb=1e-5)
    with pytest.raises(ValueError, match="memory_budget_mb must be a positive number, got 0"):
        batched_loss(net, W, X, Y, memory_budget_mb=0)
    with pytest.raises(ValueError, match="dtype must be float32 or float64, got 'float16'"):
        batched_loss(net, W, X, Y, dtype="float16")
    # the extended feature vector (thousands of positions) on 7,000 tweets: refused, naming the memory
    big = DeepResNet(5000, 20, seed=0)
    program = population_program(big, (7000, 5000))
    with pytest.raises(ValueError, match=r"needs [\d,.]+ MB at batch 7,000"):
        members_per_chunk(program, 7000, 4, 256)
    with pytest.raises(ValueError, match="one member of DeepResNet needs"):
        train_population(big, np.zeros((7000, 5000), np.float32), np.eye(20, dtype=np.float32)[np.arange(7000) % 20],
                         max_evals=10, pop_size=4)


def test_population_pass_generic_sequential_and_fallback_warns_once():
    import warnings

    import networks.population as population

    seq = nn.Sequential(nn.Conv1d(2, 3, 3, padding=1, bias=True), nn.BatchNorm1d(3), nn.ReLU(),
                        nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(3, 4)).double()
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(20, 2, 7)), np.eye(4)[np.arange(20) % 4]
    W = rng.uniform(-1, 1, (5, flat_size(seq)))
    np.testing.assert_allclose(batched_loss(seq, W, X, Y, multilabel=False, path="fast").numpy(),
                               batched_loss(seq, W, X, Y, multilabel=False, path="vmap").numpy(), rtol=1e-10)

    class Tanh(nn.Module):  # control flow on the input's shape: torch.fx cannot trace it, vmap runs it
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(9, 3)

        def forward(self, x):
            if x.dim() == 1:
                x = x.unsqueeze(0)
            return torch.tanh(self.lin(x))

    module = Tanh()
    Xb, Yb, _ = blobs(20)
    Wb = rng.uniform(-1, 1, (3, flat_size(module)))
    population._FALLBACK_WARNED.discard("Tanh")
    with pytest.warns(RuntimeWarning, match="Tanh is not made of the layers"):
        first = batched_loss(module, Wb, Xb, Yb, multilabel=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = batched_loss(module, Wb, Xb, Yb, multilabel=False)
    assert torch.equal(first, second)
    with pytest.raises(ValueError, match="Tanh cannot take the population pass"):
        batched_loss(module, Wb, Xb, Yb, path="fast")


def test_population_pass_leaves_module_alone_and_subclass_falls_back():
    import warnings

    net = DeepResNet(9, 3, width=4, depth=2, seed=0)
    before = state(net)
    W, X, Y = _population_case(net, members=3)
    batched_loss(net, W, X, Y, path="fast")
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())

    class Doubled(DeepResNet):
        def forward(self, x):
            return 2 * super().forward(x)

    sub = Doubled(9, 3, width=4, depth=2, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = batched_loss(sub, W, X, Y)  # exact-type match: an overridden forward is never compiled
    np.testing.assert_allclose(got.numpy(), loop_losses(sub.double(), W, X, Y, "mse", False), rtol=1e-4)


def test_train_population_threads_dtype():
    X, Y, _ = blobs(60)
    h = train_population(small_net(), X, Y, max_evals=200, pop_size=9, seed=0, dtype="float64")
    assert h.settings["dtype"] == "float64" and h.best_loss < h.initial_loss + 1e-12


def test_population_pass_member_threads_equal_single_thread():
    net = DeepResNet(9, 3, width=4, depth=2, seed=0).double()
    W, X, Y = _population_case(net, n=64, members=7)
    single = batched_loss(net, W, X, Y)
    with torch_threads(2):
        threaded = batched_loss(net, W, X, Y, chunk_size=4)
        assert torch.get_num_threads() == 2
    np.testing.assert_allclose(threaded.numpy(), single.numpy(), rtol=1e-12)


def test_population_pass_small_batch_taps_and_banded_agree_with_vmap():
    """Layers reading >= TAP_MIN_CHANNELS channels run per-tap products, those reading
    >= TAP_SMALL_CHANNELS only at batches up to TAP_MAX_BATCH (banded above), the 1-channel stem
    banded, 1x1 shortcuts as one product: every mix equals vmap."""
    from networks import population_pass as pp

    net = DeepResNet(9, 5, channels=[2 * pp.TAP_SMALL_CHANNELS, pp.TAP_MIN_CHANNELS, 2 * pp.TAP_MIN_CHANNELS],
                     seed=3).double()
    assert 2 * pp.TAP_SMALL_CHANNELS < pp.TAP_MIN_CHANNELS
    for n in (pp.TAP_MAX_BATCH // 2, pp.TAP_MAX_BATCH + 9):
        W, X, Y = _population_case(net, n=n, members=5, seed=n)
        for chunk in (None, 2):
            fast = batched_loss(net, W, X, Y, path="fast", chunk_size=chunk)
            slow = batched_loss(net, W, X, Y, path="vmap")
            np.testing.assert_allclose(fast.numpy(), slow.numpy(), rtol=1e-10, atol=1e-12)
        f32 = batched_loss(net.float(), W, X, Y, path="fast")
        np.testing.assert_allclose(f32.numpy(), slow.numpy(), rtol=1e-4, atol=1e-5)
        net.double()
    # the per-thread banded buffers are reused across calls and sizes: repeated calls agree exactly
    W, X, Y = _population_case(net, n=100, members=7)
    first = batched_loss(net, W, X, Y, path="fast")
    batched_loss(net, W[:3], X, Y, path="fast")
    assert torch.equal(batched_loss(net, W, X, Y, path="fast"), first)


def test_population_pass_shortcut_batch_norm_without_branch_batch_norm():
    """A residual branch not ending in batch norm still gets the shortcut's batch-norm shift."""
    net = DeepResNet(9, 3, width=4, depth=2, seed=0).double()
    net.blocks[1].bn2 = nn.Identity()
    W, X, Y = _population_case(net, n=30, members=4)
    np.testing.assert_allclose(batched_loss(net, W, X, Y, path="fast").numpy(),
                               batched_loss(net, W, X, Y, path="vmap").numpy(), rtol=1e-10, atol=1e-12)


def test_population_pass_thread_split_by_batch_matches_one_thread():
    """Below SPLIT_MIN_BATCH the chunks run on one thread, above in one Python thread per torch
    thread: same losses either way, and torch's thread count is restored."""
    import networks.population as population

    net = DeepResNet(9, 3, width=4, depth=2, seed=0).double()
    for n in (population.SPLIT_MIN_BATCH // 4, population.SPLIT_MIN_BATCH + 3):
        W, X, Y = _population_case(net, n=n, members=6, seed=n)
        with torch_threads(1):
            one = batched_loss(net, W, X, Y, chunk_size=2)
        with torch_threads(2):
            two = batched_loss(net, W, X, Y, chunk_size=2)
            assert torch.get_num_threads() == 2
        np.testing.assert_allclose(two.numpy(), one.numpy(), rtol=1e-12)


def test_population_pass_taps_wider_than_same_padding():
    """Per-tap products when no tap covers every output position (padding > kernel // 2)."""
    seq = nn.Sequential(nn.Conv1d(16, 3, 3, padding=2, bias=True), nn.BatchNorm1d(3), nn.ReLU(),
                        nn.Conv1d(3, 2, 5, padding=1, bias=False), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                        nn.Linear(2, 4)).double()
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(20, 16, 6)), np.eye(4)[np.arange(20) % 4]
    W = rng.uniform(-1, 1, (5, flat_size(seq)))
    np.testing.assert_allclose(batched_loss(seq, W, X, Y, multilabel=False, path="fast").numpy(),
                               batched_loss(seq, W, X, Y, multilabel=False, path="vmap").numpy(), rtol=1e-10)


def test_chunks_keep_each_threads_activation_near_the_cache_and_all_within_the_budget():
    """members_per_chunk(workers=n): each of n threads gets about CACHE_BYTES of widest activation (the chunk
    grows n-fold), never more members in flight than the budget fits."""
    from networks.population import CACHE_BYTES, members_per_chunk, population_program

    net = DeepResNet(9, 3, width=8, depth=2, seed=0)
    batch = 2048
    program = population_program(net, (batch, 9))
    per_thread = CACHE_BYTES // (batch * program.max_features * 4)
    assert per_thread >= 1
    assert members_per_chunk(program, batch, 4, 4096) == per_thread
    assert members_per_chunk(program, batch, 4, 4096, workers=2) == 2 * per_thread
    tight = 1.5 * program.bytes_per_member(batch, 4) / 2**20  # one member fits, not two
    assert members_per_chunk(program, batch, 4, tight, workers=2) == 1
    assert members_per_chunk(program, batch, 4, 4096, chunk_size=3, workers=2) == 3
