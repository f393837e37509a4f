"""Issue 25 items 7-10: figures and summaries that say what they show (configurations apart, negative
objectives visible, the benchmark's problem instance, a re-run's summary covering its results file)."""

import numpy as np
import pytest


@pytest.fixture
def drawn(monkeypatch):
    """The axes of every figure saved while the test runs (matplotlib's Agg figures, captured at savefig)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    axes, save = [], Figure.savefig

    def capture(self, *args, **kwargs):
        axes.append(self.axes[0])
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", capture)
    return axes


# ---------------------------------------------------------------------------- item 8: negative objectives


def test_negative_values_are_drawn_apart_not_at_a_floor(tmp_path, drawn):
    from scpo.plotting import plot_convergence

    curve = ([10, 20, 30, 40], [5.0, 0.5, -1.0, -3.21])
    plot_convergence({"run": [curve]}, tmp_path / "c.png")
    ax = drawn[-1]
    y = ax.lines[0].get_ydata()
    assert np.all(np.diff(y) < 0), y  # every improvement visible: -1 and -3.21 are not merged at one floor
    assert ax.get_yscale() == "log" and "min f seen (-3.21)" in ax.get_ylabel(), ax.get_ylabel()
    np.testing.assert_allclose(y[:3], np.array([5.0, 0.5, -1.0]) + 3.21)


def test_known_optimum_still_gives_f_minus_f_star(tmp_path, drawn):
    from scpo.plotting import plot_convergence

    plot_convergence({"run": [([1, 2, 3], [-7.0, -9.0, -9.9])]}, tmp_path / "c.png", f_opt=-10.0)
    ax = drawn[-1]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [3.0, 1.0, 0.1])
    assert ax.get_ylabel() == "best f - f* so far"
    plot_convergence({"run": [([1, 2], [-7.0, -11.0])]}, tmp_path / "d.png", f_opt=-10.0)  # below a wrong f*
    assert "min f seen (-11, below f* = -10)" in drawn[-1].get_ylabel()
    assert np.all(np.diff(drawn[-1].lines[0].get_ydata()) < 0)


def test_a_run_with_a_negative_objective_draws_every_improvement(tmp_path, drawn):
    """`scpo optimize`'s convergence.png (cli.write_run): schwefel226 has f* = -418.98 d, given to the plot."""
    from typer.testing import CliRunner

    from cli import app

    done = CliRunner().invoke(app, ["optimize", "schwefel226", "--dim", "2", "--evals", "300", "--algo", "de",
                                    "--out", str(tmp_path / "r"), "--quiet"])
    assert done.exit_code == 0, done.output
    ax = drawn[-1]
    assert ax.get_ylabel().startswith("best f - f* so far") and ax.get_yscale() == "log"
    assert np.unique(ax.lines[0].get_ydata()).size > 1
