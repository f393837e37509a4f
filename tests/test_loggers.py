"""Loggers (scpo.loggers): one row per iteration with the documented columns, statistics that match a
direct computation on numpy and torch, TensorBoard and MLflow written and read back, the CLI's flags."""

import csv
import math
import sys
import types

import numpy as np
import pytest

import scpo
from scpo.loggers import COLUMNS, CSVLogger, MLflowLogger, TensorBoardLogger

BOX = [(-5.0, 5.0)] * 4


def sphere(X):
    return (X**2).sum(1)


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def logged_run(tmp_path, algorithm="sca", name="run.csv", **kwargs):
    log = CSVLogger(tmp_path / name, every=kwargs.pop("every", 1))
    settings = {"max_iter": 12, "pop_size": 10, "seed": 3, **kwargs}
    observers = [log, *settings.pop("observers", [])]
    result = scpo.minimize(sphere, BOX, algorithm=algorithm, vectorized=True, observers=observers, **settings)
    return result, read_rows(tmp_path / name), log


def test_one_row_per_iteration_with_the_documented_columns(tmp_path):
    result, rows, _ = logged_run(tmp_path)
    header = (tmp_path / "run.csv").read_text().splitlines()[0]
    assert header == ",".join(COLUMNS)
    assert len(rows) == result.nit == 12
    assert [int(r["iteration"]) for r in rows] == list(range(1, 13))
    assert [float(r["best"]) for r in rows] == result.history["best"]  # exact: written with repr
    assert [int(r["nfev"]) for r in rows] == result.history["nfev"]
    assert all(r["pop_rows"] == "10" and r["pop_nonfinite"] == "0" for r in rows)


def test_a_run_cut_by_max_evals_gets_a_last_row_as_the_history(tmp_path):
    # PO, 4 parties: 16 initial rows, then 20 per iteration; the 5th iteration's campaign is cut to 14 rows
    result, rows, _ = logged_run(tmp_path, algorithm="po", pop_size=16, max_iter=None, max_evals=110)
    assert result.nit == 4 and result.nfev == 110
    assert len(rows) == len(result.history["best"]) == 5
    assert rows[-1]["iteration"] == "5" and rows[-1]["nfev"] == "110" and rows[-1]["pop_rows"] == "14"
    assert float(rows[-1]["best"]) == result.fun


@pytest.mark.parametrize("backend", ["numpy", "numba", "torch"])
def test_statistics_equal_a_direct_computation_with_nonfinite_values(tmp_path, backend):
    opt = scpo.make(BOX, "sca", seed=0, pop_size=8, backend=backend)
    log = opt.attach(CSVLogger(tmp_path / "x.csv"))
    X = np.asarray(opt.impl.to_numpy(opt.ask()))
    f = (X**2).sum(1)
    f[[1, 5]] = [np.nan, np.inf]
    opt.tell(f if backend == "numpy" else opt.impl.as_population(f))
    log.close()
    (row,) = read_rows(tmp_path / "x.csv")
    finite = f[np.isfinite(f)]
    expected = {"pop_best": finite.min(), "pop_mean": finite.mean(), "pop_median": np.median(finite),
                "pop_std": finite.std(), "diversity": (X.std(0) / 10.0).mean()}
    for key, value in expected.items():
        assert float(row[key]) == pytest.approx(value, rel=1e-12), key
    assert row["pop_rows"] == "8" and row["pop_nonfinite"] == "2" and row["sigma"] == ""


def test_po_rows_cover_the_campaign_and_the_parliament(tmp_path):
    result, rows, _ = logged_run(tmp_path, algorithm="po", pop_size=16, max_iter=5)  # 4 parties: 16 + 4 rows
    assert len(rows) == result.nit == 5
    assert all(r["pop_rows"] == "20" for r in rows)
    assert [float(r["best"]) for r in rows] == result.history["best"]


class Recorder(scpo.observers.Observer):
    """Copies of every evaluated batch, grouped by the iteration they belong to."""

    def __init__(self):
        self.batches = {}

    def on_evaluation(self, optimizer, candidates, fitness):
        if optimizer.run_state.algorithm_state is not None:  # PO: the initial population is no iteration
            self.batches.setdefault(optimizer.nit + 1, []).append((np.array(candidates), np.array(fitness)))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_po_statistics_cover_both_batches_of_an_iteration(tmp_path, backend):
    """numba reuses its buffers between the campaign and the parliament: the logger keeps its own copies."""
    recorder = Recorder()
    log = CSVLogger(tmp_path / "x.csv")
    scpo.minimize(sphere, BOX, algorithm="po", pop_size=16, max_iter=4, seed=2, backend=backend, vectorized=True,
                  observers=[recorder, log])
    rows = read_rows(tmp_path / "x.csv")
    assert len(rows) == 4
    for row in rows:
        X = np.concatenate([b[0] for b in recorder.batches[int(row["iteration"])]])
        f = np.concatenate([b[1] for b in recorder.batches[int(row["iteration"])]])
        assert len(X) == int(row["pop_rows"]) == 20
        assert float(row["pop_mean"]) == pytest.approx(f.mean(), rel=1e-12)
        assert float(row["pop_median"]) == pytest.approx(np.median(f), rel=1e-12)
        assert float(row["diversity"]) == pytest.approx((X.std(0) / 10.0).mean(), rel=1e-9)


def test_diversity_shrinks_over_a_run_on_sphere(tmp_path):
    _, rows, _ = logged_run(tmp_path, algorithm="pso", pop_size=20, max_iter=60)
    diversity = [float(r["diversity"]) for r in rows]
    assert 0.2 < diversity[0] < 0.35  # about 1/sqrt(12) for a uniform population
    assert diversity[-1] < 0.1 * diversity[0]


class StepRecorder(scpo.observers.Observer):
    """The state's step after each iteration, read straight from the state (cmaes's sigma sqrt(diag C), snes's
    sigma)."""

    def __init__(self):
        self.steps = []

    def on_iteration(self, optimizer) -> None:
        state = optimizer.state
        self.steps.append(float(np.mean(state.sigma * np.sqrt(np.diag(state.C)) if hasattr(state, "C")
                                        else state.sigma)))


@pytest.mark.parametrize("algorithm, sigma0", [("cmaes", 0.3), ("snes", 0.1)])
def test_sigma_column_holds_the_step_size(tmp_path, algorithm, sigma0):
    recorder = StepRecorder()
    _, rows, log = logged_run(tmp_path, algorithm=algorithm, max_iter=30, observers=[recorder])
    sigma = [float(r["sigma"]) for r in rows]
    assert sigma == pytest.approx(recorder.steps, rel=1e-12)
    assert 0.5 * sigma0 < sigma[0] < 1.5 * sigma0 and all(s > 0 for s in sigma)  # after the first update
    assert sigma[-1] < sigma0  # the step shrinks on sphere
    assert log.frame()["sigma"].notna().all()


def test_sigma_is_empty_for_an_algorithm_without_a_step(tmp_path):
    _, rows, log = logged_run(tmp_path, algorithm="sca")
    assert all(r["sigma"] == "" for r in rows)
    assert log.frame()["sigma"].isna().all()


def test_a_torch_run_logs_the_same_columns(tmp_path):
    result, rows, log = logged_run(tmp_path, algorithm="snes", backend="torch", max_iter=15)
    assert list(log.frame().columns) == list(COLUMNS)
    assert len(rows) == result.nit == 15
    assert [float(r["best"]) for r in rows] == pytest.approx(result.history["best"], rel=1e-12)
    assert 0.05 < float(rows[0]["sigma"]) < 0.15  # snes's sigma0 = 0.1, after its first update


@pytest.mark.parametrize("algorithm", ["snes", "po"])
def test_the_device_path_gives_the_host_paths_rows(tmp_path, monkeypatch, algorithm):
    """The statistics of tensors on a GPU (torch operations, one transfer per row), run here on cpu
    tensors, equal numpy's on the same run, non-finite values and PO's two batches included."""
    from scpo import loggers

    def noisy(X):
        f = (X**2).sum(1)
        f[::7] = float("nan")
        return f

    settings = dict(algorithm=algorithm, backend="torch", max_iter=6, pop_size=16, seed=5, vectorized=True)
    scpo.minimize(noisy, BOX, observers=[CSVLogger(tmp_path / "host.csv")], **settings)
    monkeypatch.setattr(loggers, "_on_host", lambda tensor: False)
    scpo.minimize(noisy, BOX, observers=[CSVLogger(tmp_path / "device.csv")], **settings)
    host, device = read_rows(tmp_path / "host.csv"), read_rows(tmp_path / "device.csv")
    assert len(host) == len(device) == 6 and int(host[0]["pop_nonfinite"]) > 0
    for a, b in zip(host, device, strict=True):
        for key in COLUMNS:
            if key == "time":
                continue
            if key == "sigma" and a[key] == "":
                assert b[key] == ""
                continue
            assert float(b[key]) == pytest.approx(float(a[key]), rel=1e-9, abs=1e-12), key


def test_every_k_logs_every_kth_and_the_last_iteration(tmp_path):
    result, rows, _ = logged_run(tmp_path, every=5, max_iter=12)
    assert [int(r["iteration"]) for r in rows] == [5, 10, 12]
    assert [float(r["best"]) for r in rows] == [result.history["best"][i - 1] for i in (5, 10, 12)]
    with pytest.raises(ValueError, match="every must be a positive integer"):
        CSVLogger(tmp_path / "y.csv", every=0)


class StopAt(scpo.observers.Observer):
    def __init__(self, nit, message):
        self.nit, self.message = nit, message

    def on_iteration(self, optimizer):
        if optimizer.nit == self.nit:
            optimizer.request_stop(self.message)


def test_an_interrupted_run_keeps_its_rows_and_closes(tmp_path):
    log = CSVLogger(tmp_path / "x.csv")
    result = scpo.minimize(sphere, BOX, algorithm="sca", max_iter=50, seed=1, vectorized=True,
                           observers=[log, StopAt(7, "interrupted")])
    assert result.message == "interrupted" and log.handle is None
    assert len(read_rows(tmp_path / "x.csv")) == 7

    calls = []

    def breaks(X):  # Ctrl-C inside the objective of the 5th iteration
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return sphere(X)

    log = CSVLogger(tmp_path / "y.csv")
    with pytest.raises(KeyboardInterrupt):
        scpo.minimize(breaks, BOX, algorithm="sca", max_iter=50, seed=1, vectorized=True, observers=[log])
    assert log.handle is None
    assert (tmp_path / "y.csv").read_text().endswith("\n") and len(read_rows(tmp_path / "y.csv")) == 4


def test_a_failing_objective_keeps_the_rows_closes_the_file_and_fails_the_mlflow_run(tmp_path, monkeypatch):
    calls = fake_mlflow(monkeypatch)
    no_file_store_opt_in(monkeypatch)
    evaluations = []

    def breaks(X):  # the objective raises in the 6th iteration
        evaluations.append(1)
        if len(evaluations) == 6:
            raise ValueError("bad input row")
        return sphere(X)

    log, tracked = CSVLogger(tmp_path / "x.csv"), MLflowLogger(f"file:{tmp_path}/mlruns")
    with pytest.raises(scpo.ObjectiveError, match="bad input row"):
        scpo.minimize(breaks, BOX, algorithm="sca", max_iter=50, seed=1, vectorized=True, observers=[log, tracked])
    assert log.handle is None and len(read_rows(tmp_path / "x.csv")) == 5
    assert calls[-1] == ("end", "FAILED") and tracked.run_id is None


def test_resume_keeps_the_rows_up_to_the_checkpoint(tmp_path):
    path, checkpoint = tmp_path / "x.csv", tmp_path / "run.ckpt"
    run = dict(algorithm="sca", max_iter=10, seed=2, vectorized=True, checkpoint=checkpoint)
    scpo.minimize(sphere, BOX, observers=[CSVLogger(path), StopAt(6, "stopped")], **run)
    with open(path, "a") as handle:  # an iteration logged after the checkpoint, redone by the resumed run
        handle.write("7,70,0.1,1.0,1.0,1.0,1.0,0.0,10,0,0.1,\n5,50,0.1")  # and a row cut short
    result = scpo.minimize(sphere, BOX, observers=[CSVLogger(path, resume=True)], resume=True, **run)
    rows = read_rows(path)
    assert [int(r["iteration"]) for r in rows] == list(range(1, 11))
    assert [float(r["best"]) for r in rows][6:] == result.history["best"][6:]


def test_tensorboard_events_read_back(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = scpo.minimize(sphere, BOX, algorithm="snes", max_iter=8, seed=1, vectorized=True,
                           observers=[TensorBoardLogger(tmp_path / "tb")])
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert set(events.Tags()["scalars"]) == set(COLUMNS[1:])
    best = events.Scalars("best")
    assert [e.step for e in best] == list(range(1, 9))
    assert [e.value for e in best] == pytest.approx(result.history["best"], rel=1e-6)  # stored as float32


def no_file_store_opt_in(monkeypatch):
    """MLFLOW_ALLOW_FILE_STORE unset now and after the test (MLflowLogger sets it for a file store)."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")


def fake_mlflow(monkeypatch):
    """A stand-in for mlflow that records MlflowClient's calls."""
    calls = []

    class Client:
        def __init__(self, tracking_uri=None):
            calls.append(("client", tracking_uri))

        def get_experiment_by_name(self, name):
            return None

        def create_experiment(self, name):
            calls.append(("experiment", name))
            return "1"

        def create_run(self, experiment_id, run_name=None):
            return types.SimpleNamespace(info=types.SimpleNamespace(run_id="r1"))

        def log_batch(self, run_id, metrics=(), params=()):
            calls.append(("batch", list(metrics), list(params)))

        def set_terminated(self, run_id, status):
            calls.append(("end", status))

    entities = types.ModuleType("mlflow.entities")
    entities.Metric = lambda key, value, timestamp, step: (key, value, step)
    entities.Param = lambda key, value: (key, value)
    tracking = types.ModuleType("mlflow.tracking")
    tracking.MlflowClient = Client
    package = types.ModuleType("mlflow")
    package.entities, package.tracking = entities, tracking
    for name, module in (("mlflow", package), ("mlflow.entities", entities), ("mlflow.tracking", tracking)):
        monkeypatch.setitem(sys.modules, name, module)
    return calls


def test_mlflow_gets_params_at_start_and_metrics_per_iteration(monkeypatch, tmp_path):
    calls = fake_mlflow(monkeypatch)
    no_file_store_opt_in(monkeypatch)
    result = scpo.minimize(sphere, BOX, algorithm="sca", max_iter=6, pop_size=10, seed=4, vectorized=True,
                           observers=[MLflowLogger(f"file:{tmp_path}/mlruns")], a=2.0)
    assert calls[0] == ("client", f"file:{tmp_path}/mlruns") and calls[1] == ("experiment", "scpo")
    params = dict(calls[2][2])
    assert params["algorithm"] == "sca" and params["pop_size"] == "10" and params["seed"] == "4"
    assert params["max_iter"] == "6" and params["option.a"] == "2.0"
    batches = [c[1] for c in calls if c[0] == "batch" and c[1]]
    assert len(batches) == 6
    assert [dict((k, v) for k, v, _ in b)["best"] for b in batches] == result.history["best"]
    assert [b[0][2] for b in batches] == list(range(1, 7))  # step = iteration
    assert all("sigma" not in {k for k, _, _ in b} for b in batches)  # sca has no step size
    assert calls[-1] == ("end", "FINISHED")


def test_mlflow_local_file_store(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    no_file_store_opt_in(monkeypatch)
    uri = f"file:{tmp_path}/mlruns"
    result = scpo.minimize(sphere, BOX, algorithm="snes", max_iter=5, seed=4, vectorized=True,
                           observers=[MLflowLogger(uri, run_name="t")])
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("scpo").experiment_id])
    assert run.data.params["algorithm"] == "snes" and run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, "best")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == result.history["best"]
    assert {"sigma", "diversity", "pop_mean"} <= set(run.data.metrics)


def hide(monkeypatch, module):
    """Imports of ``module`` and its submodules fail as if it were not installed."""
    for name in [module, *(n for n in sys.modules if n.startswith(f"{module}."))]:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.parametrize("module, make_logger, extra", [
    ("torch.utils.tensorboard", lambda p: TensorBoardLogger(p), "tensorboard"),
    ("mlflow", lambda p: MLflowLogger(f"file:{p}"), "mlflow"),
])
def test_a_missing_extra_is_a_one_line_error(monkeypatch, tmp_path, module, make_logger, extra):
    hide(monkeypatch, module)
    with pytest.raises(ImportError) as info:
        make_logger(tmp_path)
    assert str(info.value).count("\n") == 0 and f"pip install scpo[{extra}]" in str(info.value)


def cli(*args):
    from typer.testing import CliRunner

    from cli import app

    return CliRunner().invoke(app, ["optimize", "sphere", "--dim", "3", "--pop", "9", "--iters", "5", "--quiet",
                                    *map(str, args)])


def test_cli_log_csv_writes_the_file(tmp_path):
    done = cli("--algo", "snes", "--out", tmp_path / "r", "--log-csv", tmp_path / "log.csv")
    assert done.exit_code == 0, done.output
    rows = read_rows(tmp_path / "log.csv")
    assert len(rows) == 5 and all(math.isfinite(float(r["sigma"])) for r in rows)


def test_cli_tensorboard_mlflow_and_log_every(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    calls = fake_mlflow(monkeypatch)
    no_file_store_opt_in(monkeypatch)
    done = cli("--out", tmp_path / "r", "--log-csv", tmp_path / "log.csv", "--tensorboard", tmp_path / "tb",
               "--mlflow", f"file:{tmp_path}/m", "--log-every", "2")
    assert done.exit_code == 0, done.output
    assert [r["iteration"] for r in read_rows(tmp_path / "log.csv")] == ["2", "4", "5"]
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "tb").iterdir())
    assert calls[0] == ("client", f"file:{tmp_path}/m") and calls[-1] == ("end", "FINISHED")
    assert len([c for c in calls if c[0] == "batch" and c[1]]) == 3


def test_cli_missing_extra_exits_2_with_one_line(tmp_path, monkeypatch):
    hide(monkeypatch, "mlflow")
    done = cli("--out", tmp_path / "r", "--mlflow", f"file:{tmp_path}/m")
    assert done.exit_code == 2
    assert done.output.strip().count("\n") == 0 and "pip install scpo[mlflow]" in done.output
    assert not (tmp_path / "r").exists()  # refused before any evaluation
