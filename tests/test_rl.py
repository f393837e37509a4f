"""Reinforcement learning as a problem (issue #28 item 2): ``networks.neuro.GymProblem`` on gymnasium."""

from __future__ import annotations

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")
torch = pytest.importorskip("torch")

import scpo  # noqa: E402
from networks.neuro import GymProblem  # noqa: E402


def policy(inputs: int, outputs: int, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(inputs, 8), torch.nn.Tanh(), torch.nn.Linear(8, outputs))


def test_snes_from_the_policy_weights_learns_to_balance_the_pole():
    problem = GymProblem("CartPole-v1", policy(4, 2), episodes=1, seed=0)
    start = problem.episode_return(problem.x0, episodes=3)
    result = scpo.minimize(problem, algorithm="snes", x0=problem.x0, pop_size=16, max_evals=16 * 12, seed=0)
    assert -result.fun >= 200 > 3 * start, (result.fun, start)  # returns are maximised as minus the loss
    assert problem.episode_return(result.x, episodes=3) > 3 * start
    assert problem.generation == 12  # one objective call per generation, the episode seeds follow it


def test_a_generation_meets_the_same_seeded_episodes_and_runs_reproduce():
    problem = GymProblem("CartPole-v1", policy(4, 2), episodes=2, seed=3)
    W = np.repeat(problem.x0[None], 3, axis=0)
    first = problem.returns(W, generation=5)
    assert first[0] == first[1] == first[2]  # the same weights, the same episodes
    assert np.array_equal(problem.returns(W, generation=5), first)
    assert GymProblem("CartPole-v1", policy(4, 2), episodes=2, seed=3).returns(W, 5).tolist() == first.tolist()


def test_continuous_actions_are_clipped_to_the_box_and_normalisation_is_off_by_default():
    problem = GymProblem("Pendulum-v1", policy(3, 1), max_steps=50, seed=0)
    values = problem.returns(np.stack([problem.x0, problem.lb, problem.ub]), generation=0)
    assert values.shape == (3,) and np.all(values < 0) and problem.obs_count == 0  # Pendulum's rewards are <= 0
    normalised = GymProblem("Pendulum-v1", policy(3, 1), max_steps=20, seed=0, observation_normalization=True)
    normalised.returns(normalised.x0[None], generation=0)
    assert normalised.obs_count == 20 and np.all(normalised.obs_std > 0)


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(env_id="NoSuchEnv-v0"), "env_id 'NoSuchEnv-v0'"),
    (dict(module=policy(4, 3)), "module gives 3 outputs, the action space Discrete\\(2\\) needs 2"),
    (dict(episodes=0), "episodes must be an integer >= 1"),
    (dict(module="net"), "module must be a torch.nn.Module"),
])
def test_bad_settings_are_one_line_errors(kwargs, message):
    settings = dict(env_id="CartPole-v1", module=policy(4, 2)) | kwargs
    with pytest.raises(ValueError, match=message) as caught:
        GymProblem(**settings)
    assert "\n" not in str(caught.value)


class SubclassPolicy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.hidden, self.out = torch.nn.Linear(4, 8), torch.nn.Linear(8, 2)

    def forward(self, x):
        return self.out(torch.tanh(self.hidden(x)))


@pytest.mark.parametrize("module", [policy(4, 2).double(), SubclassPolicy().double()], ids=["sequential", "subclass"])
def test_the_fx_pass_runs_the_policies_and_gives_the_vmap_paths_returns(module):
    problem = GymProblem("CartPole-v1", module, episodes=2, seed=4, bounds=5.0)
    assert problem.pass_kind == "fx"
    rng = np.random.default_rng(0)
    W = problem.x0[None] + 0.5 * rng.standard_normal((6, problem.dim))
    obs = torch.as_tensor(rng.standard_normal((6, 3, 4)))
    Wt = torch.as_tensor(W)
    np.testing.assert_allclose(problem._forward(Wt, obs), problem._vmap_forward(Wt, obs), rtol=1e-12, atol=1e-12)
    fast = problem.returns(W, generation=2)
    problem._program = None  # the vmap path on the same episodes
    assert np.array_equal(problem.returns(W, generation=2), fast)


def test_a_policy_the_fx_pass_does_not_know_runs_under_vmap():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.PReLU(), torch.nn.Linear(8, 2))  # PReLU: a weight
    problem = GymProblem("CartPole-v1", module, seed=0)
    assert problem.pass_kind == "vmap"
    values = problem.returns(np.stack([problem.x0, problem.x0]), generation=0)
    assert values[0] == values[1] >= 1
