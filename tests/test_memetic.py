"""Memetic (Lamarckian Adam) refinement and random-subspace search of population training."""

import numpy as np
import pytest
import torch

import scpo
from networks import DeepResNet
from networks.memetic import AdamRefiner, Subspace, check_refinable, population_members, subspace_projection
from networks.population import batched_loss, flat_size, to_flat
from networks.training import train_adam, train_population


def toy(n: int = 160, seed: int = 0):
    """Four classes decided by the signs of two of six features: learnable, not trivially."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6)).astype(np.float32)
    labels = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0)
    return X, np.eye(4)[labels]


def small_net(seed: int = 0) -> DeepResNet:
    return DeepResNet(6, 4, width=4, depth=1, seed=seed)


def refined_scpo(steps: int, members: int, adam: str = "fresh"):
    """A six-iteration SCPO on the toy network's weights in [-1, 1] with a refiner (full-batch fitness)."""
    torch.set_num_threads(1)
    module = small_net()
    X, Y = toy()
    x, y = torch.as_tensor(X), torch.as_tensor(Y, dtype=torch.float32)
    dim = flat_size(module)
    lb, ub = np.full(dim, -1.0), np.full(dim, 1.0)

    def fitness_of(W, xb, yb):
        return batched_loss(module, W, xb, yb, "mse").numpy().astype(float)

    problem = scpo.Problem(lambda W: fitness_of(W, x, y), lb, ub, vectorized=True)
    opt = scpo.make(problem, "scpo", seed=0, pop_size=16, max_iter=6)
    refiner = AdamRefiner(module, x, y, "mse", False, steps=steps, members=members, lr=1e-2, batch_size=32,
                          rng=np.random.default_rng(1), lb=lb, ub=ub, fitness_of=fitness_of, batch=[x, y],
                          adam=adam)
    return opt, refiner, fitness_of, module, x, y, lb, ub


def test_refiner_writes_back_refined_members_with_their_own_loss():
    opt, refiner, fitness_of, _, x, y, _, _ = refined_scpo(steps=5, members=3)

    class Before(scpo.observers.Observer):
        def on_iteration(self, opt):
            self.best = float(population_members(opt.state)[1].min())

    class Check(scpo.observers.Observer):
        """After the refiner: written-back members sit at the refined vectors with the refined fitness."""

        def __init__(self):
            self.bests, self.checked, self.records = [], 0, []

        def on_iteration(self, opt):
            members, fitness = population_members(opt.state)
            idx, Z, f, better = refiner.last
            np.testing.assert_array_equal(members[idx[better]], Z[better])
            np.testing.assert_array_equal(fitness[idx[better]], f[better])
            np.testing.assert_allclose(fitness, fitness_of(members, x, y), rtol=1e-6)  # fitness = loss of weights
            self.checked += int(better.sum())
            assert fitness.min() <= before.best  # refinement never worsens the population's best
            self.records.append(float(opt.best_fitness))

    before, check = Before(), Check()
    result = opt.run([before, refiner, check])
    assert check.checked == refiner.accepted > 0
    assert all(b <= a for a, b in zip(check.records, check.records[1:], strict=False))
    assert refiner.grad_steps == 6 * 3 * 5
    assert result.nfev == 16 + 6 * (16 + 4) + 6 * 3  # initial, PO iterations (N + parties), refinements


def test_train_population_counts_refinement_cost_and_records_settings():
    X, Y = toy()
    plain = train_population(small_net(), X, Y, max_evals=200, pop_size=16, seed=0, num_threads=1)
    refined = train_population(small_net(), X, Y, max_evals=200, pop_size=16, seed=0, num_threads=1,
                               refine="adam", refine_steps=3, refine_members=2, refine_batch_size=40)
    iterations = len(refined.loss)
    assert refined.grad_steps == [2 * 3 * (i + 1) for i in range(iterations)]
    assert plain.grad_steps == [0] * len(plain.loss)
    assert refined.evals[-1] == plain.evals[-1] + 2 * iterations
    # max_evals caps what the algorithm asks (its last batch is cut, after the last recorded iteration);
    # the refinements' evaluations come on top
    assert plain.settings["nfev"] == 200 and refined.settings["nfev"] == 200 + 2 * iterations
    assert refined.samples[-1] - plain.samples[-1] >= iterations * 2 * (3 * 40 + len(X))
    assert {"refine": "adam", "refine_steps": 3, "refine_members": 2, "refine_batch_size": 40}.items() \
        <= refined.settings.items()
    assert "refine" not in plain.settings
    assert all(b <= a for a, b in zip(refined.loss, refined.loss[1:], strict=False))


def test_refine_lowers_the_final_training_loss_across_seeds():
    X, Y = toy(200)
    plain, memetic = [], []
    for seed in range(3):
        common = {"max_evals": 400, "pop_size": 16, "seed": seed, "num_threads": 1}
        plain.append(train_population(small_net(seed), X, Y, **common).best_loss)
        memetic.append(train_population(small_net(seed), X, Y, refine="adam", refine_steps=5, **common).best_loss)
    assert all(m < p for m, p in zip(memetic, plain, strict=True)), (memetic, plain)
    assert np.mean(memetic) < 0.8 * np.mean(plain)


def test_subspace_maps_z_to_weights_and_is_reproducible():
    w0 = np.arange(50, dtype=float) / 10
    space = Subspace(w0, 7, seed=3)
    A = subspace_projection(50, 7, 3)
    np.testing.assert_array_equal(space.A, A)
    np.testing.assert_array_equal(A, Subspace(w0, 7, seed=3).A)
    assert not np.allclose(A, subspace_projection(50, 7, 4))
    z = np.linspace(-1, 1, 7)
    np.testing.assert_allclose(space.weights(z), w0 + A @ z)
    np.testing.assert_allclose(space.weights(np.stack([z, -z])), np.stack([w0 + A @ z, w0 - A @ z]))
    np.testing.assert_allclose(space.torch_weights(torch.as_tensor(z)).numpy(), w0 + A @ z)
    big = subspace_projection(2000, 400, 0)
    assert abs(big.var() * 400 - 1) < 0.02  # entries N(0, 1/k): unit-variance offsets per unit z


def test_train_population_in_a_subspace_returns_w0_plus_a_z():
    X, Y = toy()
    module = small_net()
    w0 = to_flat(module)
    history = train_population(module, X, Y, max_evals=200, pop_size=16, seed=0, num_threads=1, subspace=5,
                               subspace_seed=2, bounds=(-0.5, 0.5), refine="adam", refine_steps=2)
    A = subspace_projection(w0.size, 5, 2)
    z, *_ = np.linalg.lstsq(A, to_flat(module) - w0, rcond=None)
    np.testing.assert_allclose(w0 + A @ z, to_flat(module), atol=1e-5)
    assert np.all(np.abs(z) <= 0.5 + 1e-5)
    assert history.settings["subspace"] == 5 and history.settings["subspace_seed"] == 2
    assert history.settings["dim"] == 5 and history.settings["weights"] == w0.size


@pytest.mark.parametrize("kwargs, words", [
    ({"refine": "adam", "algorithm": "cmaes"}, ["'cmaes'"]),
    ({"refine": "adam", "algorithm": "snes"}, ["'snes'"]),
    ({"refine": "adam", "algorithm": "pgpe"}, ["'pgpe'"]),
    ({"refine": "sgd"}, ["refine", "'sgd'"]),
    ({"refine": "adam", "refine_steps": 0}, ["refine_steps", "0"]),
    ({"subspace": 0}, ["subspace", "0"]),
    ({"subspace": 10_000}, ["10000", "weights"]),
    ({"subspace": 3, "bounds": "scaled"}, ["scaled", "z"]),
    ({"refine": "adam", "backend": "torch"}, ["backend='torch'"]),
    ({"init": "he"}, ["init", "'he'"]),
    ({"init": "w0", "init_spread": 0}, ["init_spread", "0"]),
    ({"init": "w0", "init_spread": 1.5}, ["init_spread", "1.5"]),
])
def test_bad_refine_and_subspace_arguments_are_refused(kwargs, words):
    X, Y = toy(20)
    module = small_net()
    if kwargs.get("subspace") == 10_000:
        words = [*words, str(flat_size(module))]
    with pytest.raises(ValueError) as info:
        train_population(module, X, Y, max_evals=50, pop_size=4, **kwargs)
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_check_refinable_names_the_optimizer():
    with pytest.raises(ValueError, match="'adam'"):
        check_refinable("adam")
    for name in ("sca", "po", "scpo", "pso", "de", "random"):
        check_refinable(name)


def test_random_search_refines_the_best_of_each_fresh_population():
    """The ablation of the memetic schedule: random moves, the same refinement; refined points reach the
    best so far (random search keeps no population), so the memetic random search beats the plain one."""
    X, Y = toy()
    common = {"algorithm": "random", "max_evals": 320, "pop_size": 16, "seed": 0, "num_threads": 1}
    plain = train_population(small_net(), X, Y, **common)
    refined = train_population(small_net(), X, Y, refine="adam", refine_steps=5, refine_members=2, **common)
    assert refined.grad_steps[-1] == 2 * 5 * len(refined.loss)
    assert refined.settings["refine_accepted"] > 0 and refined.best_loss < plain.best_loss


def test_recommender_refuses_refine_with_adam():
    from networks.recommender import HashtagRecommender

    with pytest.raises(ValueError, match="adam"):
        HashtagRecommender(optimizer="adam", refine="adam").fit(["a #x", "b #y", "c #x"])


def test_refinement_steps_are_torch_adams_steps_per_member():
    from networks.memetic import adam_steps
    from networks.population import load_flat, loss_per_example, population_mode

    X, Y = toy(50)
    x, y = torch.as_tensor(X), torch.as_tensor(Y, dtype=torch.float32)
    nets = [small_net(0), small_net(1)]
    Z = torch.stack([torch.as_tensor(to_flat(n), dtype=torch.float32) for n in nets])
    bound = torch.full((Z.shape[1],), 10.0)
    refined = adam_steps(nets[0], Z, x, y, "mse", False, 4, 1e-2, 50, np.random.default_rng(0), -bound, bound)
    for net, row in zip(nets, refined, strict=True):  # all 50 rows every step: plain full-batch Adam
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
        with population_mode(net):
            for _ in range(4):
                optimizer.zero_grad()
                loss_per_example(net(x), y, "mse", False).mean().backward()
                optimizer.step()
        np.testing.assert_allclose(row.numpy(), to_flat(net), atol=1e-5)
    assert not torch.equal(refined[0], refined[1])
    load_flat(nets[0], refined[0])  # in the bounds, finite


@pytest.mark.parametrize("refine_adam", ["fresh", "continued"])
def test_memetic_subspace_run_stopped_and_resumed_equals_the_uninterrupted_run(tmp_path, refine_adam):
    X, Y = toy(100)
    settings = dict(max_evals=300, pop_size=16, batch_size=40, resample="per-iteration", X_val=X[80:], Y_val=Y[80:],
                    seed=3, refine="adam", refine_steps=2, refine_members=2, subspace=12, num_threads=1,
                    refine_adam=refine_adam)
    full_net = small_net()
    full = train_population(full_net, X[:80], Y[:80], **settings)
    ck = tmp_path / "ck"
    stopped = train_population(small_net(), X[:80], Y[:80], **settings, checkpoint=ck, checkpoint_every=1,
                               callback=lambda h: len(h.loss) >= 5)
    assert len(stopped.loss) == 5
    resumed_net = small_net()
    resumed = train_population(resumed_net, X[:80], Y[:80], **settings, checkpoint=ck, checkpoint_every=1,
                               resume=True)
    assert resumed.settings["resumed_at"] == 5
    np.testing.assert_array_equal(to_flat(resumed_net), to_flat(full_net))
    for key in ("loss", "val_loss", "evals", "grad_steps", "samples"):
        assert getattr(resumed, key) == getattr(full, key), key
    assert resumed.settings["refine_accepted"] == full.settings["refine_accepted"]
    assert resumed.settings.get("refine_restarts") == full.settings.get("refine_restarts")
    assert resumed.settings["refine_adam"] == refine_adam
    with pytest.raises(ValueError, match="subspace_seed"):
        train_population(small_net(), X[:80], Y[:80], **{**settings, "subspace_seed": 1}, checkpoint=ck, resume=True)


def test_init_w0_starts_at_the_initial_weights_with_the_spread_asked(monkeypatch):
    made = []

    def spy(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    real = scpo.make
    monkeypatch.setattr(scpo, "make", spy)
    X, Y = toy()
    for subspace in (None, 6):
        module = small_net()
        w0 = to_flat(module).astype(float)
        history = train_population(module, X, Y, max_evals=64, pop_size=16, seed=0, num_threads=1, init="w0",
                                   init_spread=0.05, bounds=(-2.0, 2.0), subspace=subspace)
        P = made[-1].initial_population
        center = w0 if subspace is None else np.zeros(subspace)
        np.testing.assert_array_equal(P[0], center)  # one member is W0 itself (z = 0 in a subspace)
        offsets = np.abs(P[1:] - center)
        assert offsets.max() <= 0.05 * 2 + 1e-12 and offsets.max() > 0.09  # the spread: a share of the half-width
        assert history.settings["init"] == "w0" and history.settings["init_spread"] == 0.05
    uniform = train_population(small_net(), X, Y, max_evals=64, pop_size=16, seed=0, num_threads=1)
    assert made[-1].initial_population is None and "init" not in uniform.settings
    assert history.initial_loss < uniform.initial_loss  # the He-initialized network fits better than random boxes


def test_continued_adam_is_one_adam_run_split_into_calls():
    """Moments carried between calls: 3 + 4 continued steps are 7 steps of one Adam run, bit for bit."""
    from networks.memetic import AdamMoments, adam_steps

    X, Y = toy(50)
    x, y = torch.as_tensor(X), torch.as_tensor(Y, dtype=torch.float32)
    net = small_net(0)
    Z = torch.as_tensor(np.stack([to_flat(small_net(s)) for s in (0, 1)]), dtype=torch.float32)
    bound = torch.full((Z.shape[1],), 10.0)
    whole = adam_steps(net, Z, x, y, "mse", False, 7, 1e-2, 20, np.random.default_rng(0), -bound, bound)
    rng, moments = np.random.default_rng(0), AdamMoments.fresh(Z)
    half = adam_steps(net, Z, x, y, "mse", False, 3, 1e-2, 20, rng, -bound, bound, moments=moments)
    same_batches = np.random.default_rng(0)
    same_batches.bit_generator.state = rng.bit_generator.state  # the second call's minibatches, for the check below
    split = adam_steps(net, half, x, y, "mse", False, 4, 1e-2, 20, rng, -bound, bound, moments=moments)
    torch.testing.assert_close(split, whole, rtol=0, atol=0)
    assert moments.steps.flatten().tolist() == [7, 7]
    fresh_again = adam_steps(net, half, x, y, "mse", False, 4, 1e-2, 20, same_batches, -bound, bound)
    assert (fresh_again - split).abs().max() > 1e-4  # same minibatches, fresh moments: other steps

    # a row whose moments were reset steps as a fresh Adam while the other row goes on (per-row counts)
    rng_a, moments = np.random.default_rng(1), AdamMoments.fresh(Z)
    start = adam_steps(net, Z, x, y, "mse", False, 3, 1e-2, 20, rng_a, -bound, bound, moments=moments)
    moments.reset(torch.tensor([False, True]))
    state = np.random.default_rng(1)
    state.bit_generator.state = rng_a.bit_generator.state
    mixed = adam_steps(net, start, x, y, "mse", False, 4, 1e-2, 20, rng_a, -bound, bound, moments=moments)
    alone = adam_steps(net, start[1:], x, y, "mse", False, 4, 1e-2, 20, state, -bound, bound)
    torch.testing.assert_close(mixed[1:], alone, rtol=1e-5, atol=2e-6)  # float32 sums in another order
    assert moments.steps.flatten().tolist() == [7, 4]


def test_continued_refiner_keeps_its_chain_unless_the_population_finds_better():
    """The chain goes on from its own point with its moments; a better member restarts it there."""
    from networks.memetic import AdamMoments, adam_steps

    opt, refiner, fitness_of, module, x, y, lb, ub = refined_scpo(steps=3, members=1, adam="continued")

    class Replay(scpo.observers.Observer):
        """Before the refiner: what the chain must do this iteration, computed independently."""

        def __init__(self):
            self.rng, self.chain, self.moments, self.restarts = np.random.default_rng(1), None, None, 0
            self.continued = 0

        def on_iteration(self, opt):
            X_pop, fitness = population_members(opt.state)
            best = int(np.argmin(fitness))
            if self.chain is None or fitness[best] < fitness_of(self.chain, x, y)[0]:
                self.restarts += self.chain is not None
                start = torch.as_tensor(X_pop[best:best + 1], dtype=torch.float32)
                self.moments = AdamMoments.fresh(start)
            else:
                start = torch.as_tensor(self.chain, dtype=torch.float32)
                self.continued += 1
            self.chain = np.clip(adam_steps(module, start, x, y, "mse", False, 3, 1e-2, 32, self.rng,
                                            torch.as_tensor(lb, dtype=torch.float32),
                                            torch.as_tensor(ub, dtype=torch.float32),
                                            moments=self.moments).numpy().astype(float), lb, ub)

    class Check(scpo.observers.Observer):
        def __init__(self):
            self.iterations = 0

        def on_iteration(self, opt):
            np.testing.assert_array_equal(refiner.chains, replay.chain)
            self.iterations += 1

    replay, check = Replay(), Check()
    opt.run([replay, refiner, check])
    assert check.iterations == 6 and refiner.restarts == replay.restarts
    assert replay.continued > 0 and replay.restarts > 0, (replay.continued, replay.restarts)  # both cases ran


def test_refine_adam_must_be_fresh_or_continued():
    X, Y = toy(40)
    with pytest.raises(ValueError, match="refine_adam must be one of fresh, continued, got 'warm'"):
        train_population(small_net(), X, Y, max_evals=64, pop_size=16, refine="adam", refine_adam="warm")


@pytest.mark.parametrize("algorithm", ["snes", "pgpe", "openai-es"])
def test_init_w0_starts_an_evolution_strategy_at_the_network_weights(algorithm, monkeypatch):
    """A distribution algorithm evaluates no initial population: init="w0" is its x0 (the mean starts at W0)
    with the population's spread as sigma0, not a silently ignored initial population (issue #28)."""
    made = []

    def spy(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    real = scpo.make
    monkeypatch.setattr(scpo, "make", spy)
    X, Y = toy(60)
    module = small_net()
    w0 = to_flat(module).astype(float)
    train_population(module, X, Y, algorithm=algorithm, max_evals=16, pop_size=8, seed=0, num_threads=1,
                     init="w0", init_spread=0.01, bounds=(-2.0, 2.0))
    opt = made[-1]
    np.testing.assert_allclose(opt.x0, w0) and np.testing.assert_allclose(opt.sigma0, 0.01 * 2 / np.sqrt(3))
    assert opt.initial_population is None
    assert np.abs(to_flat(module) - w0).max() < 0.1  # the kept weights: samples near W0, not near the box centre
    with pytest.raises(ValueError, match="init='w0' sets x0"):
        train_population(small_net(), X, Y, algorithm=algorithm, max_evals=16, pop_size=8, init="w0", x0=w0)


def test_trainers_take_integer_class_labels_as_their_one_hot_rows():
    X, Y = toy(60)
    labels = Y.argmax(1)
    common = {"max_evals": 32, "pop_size": 16, "seed": 0, "num_threads": 1}
    by_rows = train_population(small_net(), X, Y, **common)
    by_labels = train_population(small_net(), X, labels, **common)
    assert by_labels.loss == by_rows.loss and by_labels.best_loss == by_rows.best_loss
    adam_rows = train_adam(small_net(), X, Y, epochs=2, seed=0, num_threads=1)
    adam_labels = train_adam(small_net(), X, torch.as_tensor(labels), epochs=2, seed=0, num_threads=1)
    assert adam_labels.loss == adam_rows.loss
    with pytest.raises(ValueError, match="class label 4 but the module outputs 4 classes"):
        train_population(small_net(), X, np.full(60, 4), **common)
