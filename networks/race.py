"""``scpo train-benchmark``: population optimizers raced against Adam on the same hashtag splits.

For every seed one split is built (``features.build_dataset``), the keyword-set featurizer is fitted
once on its training tweets and standardized there, and every optimizer then trains the same
:class:`networks.DeepResNet` (same initial weights, softmax, MSE fitness as ``HashtagRecommender``)
on those matrices: a population algorithm with ``evals`` fitness evaluations, Adam with at most
``epochs`` epochs (patience 20). A monitor measures the kept weights' validation loss and Hit@5
during training (its time left out of the wall clock, see ``networks.training``), so learning
curves can be drawn against wall time and against examples forwarded, the cost both kinds share.

``run_race`` writes into ``out_dir``:

- ``config.json``: the split and budget settings; a later call on the same folder must match them;
- ``results.csv``: one row per (optimizer, seed), test Hit@1/Hit@5/NDCG@5, micro/macro F1, wall
  time, evaluations, gradient steps and examples forwarded, appended and fsynced as each run ends
  (``scpo.benchmark.ResultsFile``), so a re-run skips finished rows; ``frequency`` rows hold the
  training-frequency ranking of each split for reference;
- ``curves/<optimizer>__<seed>.json``: the monitored points of each run;
- ``curves.png``: validation loss and Hit@5 against wall time and examples forwarded, median and
  inter-quartile band over seeds per optimizer, the frequency ranking as a horizontal line;
- ``summary.md``: median and IQR per optimizer, Wilcoxon rank-sum tests against Adam.

Optimizer entries: ``adam``, any ``scpo.algorithm_names()`` entry, or a variant
``name:key=value,key=value`` whose options go to ``train_population`` (``refine``, ``refine_steps``,
``refine_members``, ``refine_lr``, ``refine_batch_size``, ``refine_adam``, ``subspace``, ``subspace_seed``,
``pop_size``, ``batch_size``, ``resample``, ``init``, ``init_spread``) or to the algorithm
(its constructor options); Adam takes ``lr``, ``batch_size`` and ``weight_decay``.
"""

from __future__ import annotations

import inspect
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import scpo
from networks.metrics import classification_metrics, ranking_metrics
from networks.population import flat_size, loss_per_example
from networks.resnet import DeepResNet, probabilities
from networks.training import train_adam, train_population
from scpo.benchmark import ALPHA, ResultsFile, _check_config, _progress_bar, holm, rank_sum, smallest_p
from scpo.io import write_if_changed
from scpo.options import convert, option_specs, parse_option

__all__ = ["FIELDS", "OptimizerSpec", "RaceResult", "parse_optimizers", "run_race", "summarize"]

ADAM, FREQUENCY = "adam", "frequency"
# They sample a search distribution instead of keeping members: nothing for a refine step to refine.
DISTRIBUTION_ALGORITHMS = ("cmaes", "sep-cmaes", "openai-es", "snes", "pgpe")
REFINE_OPTIONS = ("refine", "refine_steps", "refine_members", "refine_lr", "refine_batch_size", "refine_adam")
TRAINER_OPTIONS: dict[str, Any] = {"refine": str, "refine_steps": int, "refine_members": int, "refine_lr": float,
                                   "refine_batch_size": int, "refine_adam": str, "subspace": int, "subspace_seed": int,
                                   "pop_size": int, "batch_size": int, "resample": str, "init": str,
                                   "init_spread": float}
ADAM_OPTIONS: dict[str, Any] = {"lr": float, "batch_size": int, "weight_decay": float}
ADAM_PATIENCE = 20
METRICS = ("hit@1", "hit@5", "ndcg@5", "micro_f1", "macro_f1")
FIELDS = ("optimizer", "seed", *METRICS, "wall_s", "evals", "grad_steps", "examples_forwarded", "val_loss",
          "val_hit@5", "n_train", "n_val", "n_test", "ended")
CONFIG_KEYS = ("source", "evals", "epochs", "pop", "top_k", "train_share", "val_share", "exclude_collection_tag",
               "text_column", "encoding", "leakage", "monitor_points")
N_FEATURES = 9  # f1..f9 of the default featurizer (hashing on)


# ---------------------------------------------------------------------------- optimizer entries


@dataclass(frozen=True)
class OptimizerSpec:
    """One raced optimizer: ``adam`` or a registry name, its options, and its label (the entry as parsed)."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        shown = ",".join(f"{k}={v}" for k, v in self.options.items())
        return f"{self.name}:{shown}" if shown else self.name

    @property
    def slug(self) -> str:
        """The label as a file-name part."""
        return re.sub(r"[^A-Za-z0-9._=+-]+", "-", self.label).strip("-")

    @property
    def trainer_options(self) -> dict[str, Any]:
        return {k: v for k, v in self.options.items() if k in TRAINER_OPTIONS}

    @property
    def algorithm_options(self) -> dict[str, Any]:
        return {k: v for k, v in self.options.items() if k not in TRAINER_OPTIONS}


def split_entries(text: str | Sequence[str]) -> list[str]:
    """Comma-separated entries, where a ``key=value`` piece without a name continues the entry before it:
    ``adam,scpo:refine=adam,refine_steps=5`` -> ``["adam", "scpo:refine=adam,refine_steps=5"]``."""
    pieces = [p.strip() for p in (text.split(",") if isinstance(text, str) else text)]
    entries: list[str] = []
    for piece in pieces:
        if not piece:
            continue
        if "=" in piece and ":" not in piece.split("=", 1)[0]:
            if not entries or ":" not in entries[-1]:
                raise ValueError(f"option {piece!r} in --optimizers follows no 'name:' entry; write name:{piece}")
            entries[-1] += "," + piece
        else:
            entries.append(piece)
    if not entries:
        raise ValueError("no optimizer given in --optimizers")
    return entries


def _unsupported(key: str) -> str | None:
    """Why ``train_population`` cannot take ``key`` (an older version without the option), or None."""
    parameters = inspect.signature(train_population).parameters
    if key in parameters or key in ("pop_size", "batch_size", "resample"):
        return None
    return f"train_population() got an unexpected keyword {key!r} (this version has no such option)"


def _not_refinable(name: str) -> str | None:
    """Why ``name`` cannot be refined: ``networks.memetic.check_refinable`` decides where it exists (the
    trainer that refines), else the distribution algorithms are refused (they keep no members)."""
    try:
        from networks.memetic import check_refinable
    except ImportError:
        if name in DISTRIBUTION_ALGORITHMS:
            return (f"refine needs an algorithm with a population of members; {name} samples a search "
                    "distribution instead (use scpo, po, sca, pso, de or random)")
        return None
    try:
        check_refinable(name)
    except ValueError as exc:
        return str(exc)
    return None


def parse_optimizer(entry: str, n_weights: int | None = None) -> OptimizerSpec:
    """One entry, strictly: unknown optimizer, unknown or mistyped option, a refine option on Adam or on a
    distribution algorithm, ``subspace`` above ``n_weights`` -> a one-line ValueError naming it."""
    name, _, rest = entry.strip().partition(":")
    name = name.strip().lower()
    names = scpo.algorithm_names()
    if name == FREQUENCY:
        raise ValueError("'frequency' is always raced as the reference; leave it out of --optimizers")
    if name != ADAM and name not in names:
        raise ValueError(f"unknown optimizer {name!r} in --optimizers; choose adam or one of {', '.join(names)}")
    options: dict[str, Any] = {}
    for pair in (p for p in re.split(r"[,:]", rest) if p.strip()) if rest else ():
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"bad option {pair!r} in optimizer {entry!r}: expected key=value")
        if key in options:
            raise ValueError(f"option {key!r} given twice in optimizer {entry!r}")
        if name == ADAM:
            if key in REFINE_OPTIONS or key == "subspace":
                raise ValueError(f"option {key!r} of {entry!r} needs a population optimizer; adam has none")
            if key not in ADAM_OPTIONS:
                raise ValueError(f"unknown option {key!r} of adam in {entry!r}; adam takes {', '.join(ADAM_OPTIONS)}")
            options[key] = convert(key, raw, ADAM_OPTIONS[key], ADAM)
            continue
        if key in REFINE_OPTIONS:
            reason = _not_refinable(name)
            if reason:
                raise ValueError(f"option {key!r} of {entry!r}: {reason}")
        if key in TRAINER_OPTIONS:
            options[key] = convert(key, raw, TRAINER_OPTIONS[key], name)
        elif key in {s.name for s in option_specs(name)}:
            options[key] = parse_option(name, key, raw)
        else:
            known = [*TRAINER_OPTIONS, *(s.name for s in option_specs(name))]
            raise ValueError(f"unknown option {key!r} of {name} in {entry!r}; choose from {', '.join(known)}")
    if "refine" in options and options["refine"] != "adam":
        raise ValueError(f"refine={options['refine']!r} in {entry!r}: the only refine method is adam")
    for key in ("refine_steps", "refine_members", "refine_batch_size", "subspace", "pop_size", "batch_size"):
        if key in options and (not isinstance(options[key], int) or options[key] < 1):
            raise ValueError(f"option {key}={options[key]!r} of {entry!r} must be an integer >= 1")
    if "subspace" in options and n_weights is not None and options["subspace"] > n_weights:
        raise ValueError(f"subspace={options['subspace']} in {entry!r} exceeds the network's {n_weights} weights")
    for key in options:  # last, so that a bad value is named first even where the option is missing
        reason = _unsupported(key) if key in TRAINER_OPTIONS else None
        if reason:
            raise ValueError(f"option {key!r} of {entry!r}: {reason}")
    return OptimizerSpec(name, options)


def parse_optimizers(text: str | Sequence[str], n_weights: int | None = None) -> list[OptimizerSpec]:
    """Every entry of ``--optimizers`` (see :func:`parse_optimizer`); a label listed twice is refused."""
    specs = [parse_optimizer(entry, n_weights) for entry in split_entries(text)]
    labels = [s.label for s in specs]
    twice = next((label for label in labels if labels.count(label) > 1), None)
    if twice:
        raise ValueError(f"optimizer {twice!r} is listed twice in --optimizers")
    return specs


def network_size(n_features: int, n_tags: int) -> int:
    """Weights of the raced network for ``n_features`` inputs and ``n_tags`` outputs."""
    with torch.random.fork_rng(devices=[]):
        return flat_size(DeepResNet(n_features, n_tags, seed=0))


def _max_iter(spec: OptimizerSpec, n_weights: int, evals: int, pop: int | None) -> int:
    """Iterations of a population run (checks algorithm options and population size before any work)."""
    problem = scpo.Problem(lambda W: np.zeros(len(W)), -1.0, 1.0, dim=n_weights, vectorized=True, name="race")
    pop_size = spec.options.get("pop_size", pop)
    opt = scpo.make(problem, spec.name, seed=0, pop_size=pop_size, max_evals=evals, **spec.algorithm_options)
    return int(opt.max_iter)


# ---------------------------------------------------------------------------- one split, one run


@dataclass
class Split:
    """One seed's data: standardized feature matrices and 0/1 tag matrices of train, validation and test."""

    seed: int
    X: dict[str, np.ndarray]
    Y: dict[str, np.ndarray]

    @property
    def n_tags(self) -> int:
        return self.Y["train"].shape[1]


def prepare_split(source: str, seed: int, top_k: int, train_share: float, val_share: float,
                  exclude_collection_tag: bool, text_column: str | None, leakage: str,
                  encoding: str | None = None) -> Split:
    """Build the seeded split and fit the featurizer once (shared by every optimizer of this seed)."""
    from features import KeywordSetFeaturizer, build_dataset

    data = build_dataset(source, top_k=top_k, train_share=train_share, val_share=val_share, seed=seed,
                         exclude_collection_tag=exclude_collection_tag, leakage=leakage, text_column=text_column,
                         encoding=encoding)
    sizes = {"train": len(data.train_texts), "val": len(data.val_texts), "test": len(data.test_texts)}
    if min(sizes.values()) < 2:
        raise ValueError(f"{source} gives too small a split for seed {seed} ({sizes}): every part needs 2 tweets "
                         "with a kept tag; use a larger corpus or other --train-share / --val-share")
    featurizer = KeywordSetFeaturizer(hashing=True, random_state=seed).fit(data.train_texts, data.Y_train)
    raw = {"train": featurizer.transform(data.train_texts), "val": featurizer.transform(data.val_texts),
           "test": featurizer.transform(data.test_texts)}
    raw = {k: np.asarray(v.toarray() if hasattr(v, "toarray") else v, dtype=float) for k, v in raw.items()}
    mean, scale = raw["train"].mean(axis=0), raw["train"].std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    X = {k: ((v - mean) / scale).astype(np.float32) for k, v in raw.items()}
    Y = {"train": data.Y_train, "val": data.Y_val, "test": data.Y_test}
    return Split(seed, X, {k: np.asarray(v, dtype=np.float32) for k, v in Y.items()})


def _val_metrics(split: Split, probs: np.ndarray) -> tuple[float, float]:
    """Validation MSE (the training fitness) and Hit@5 of output probabilities."""
    y = torch.as_tensor(split.Y["val"], dtype=torch.float64)
    logits = torch.log(torch.as_tensor(probs, dtype=torch.float64).clamp_min(1e-300))
    loss = float(loss_per_example(logits, y, "mse", False).mean())
    return loss, float(ranking_metrics(split.Y["val"], probs, ks=(5,))["hit@5"])


def _test_metrics(split: Split, scores: np.ndarray) -> dict[str, float]:
    ranking = ranking_metrics(split.Y["test"], scores, ks=(1, 5))
    classes = classification_metrics(split.Y["test"], scores)
    return {"hit@1": ranking["hit@1"], "hit@5": ranking["hit@5"], "ndcg@5": ranking["ndcg@5"],
            "micro_f1": classes["micro_f1@top1"], "macro_f1": classes["macro_f1@top1"]}


def _probabilities(model: torch.nn.Module, X: np.ndarray) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return probabilities(model(torch.as_tensor(X)), False).double().numpy()


def frequency_run(split: Split) -> tuple[dict, dict]:
    """The training-frequency ranking (every tweet gets the training tag shares): the floor line."""
    Y = split.Y["train"]
    shares = (Y / np.maximum(Y.sum(axis=1, keepdims=True), 1.0)).mean(axis=0)
    val_loss, val_hit = _val_metrics(split, np.tile(shares, (len(split.Y["val"]), 1)))
    test = _test_metrics(split, np.tile(shares, (len(split.Y["test"]), 1)))
    row = {"optimizer": FREQUENCY, "seed": split.seed, **test,
           "wall_s": 0.0, "evals": 0, "grad_steps": 0, "examples_forwarded": 0, "val_loss": val_loss,
           "val_hit@5": val_hit, "ended": "reference"}
    return row, {"time": [], "samples": [], "val_loss": [], "val_hit@5": []}


def train_run(spec: OptimizerSpec, split: Split, evals: int, epochs: int, pop: int | None, monitor_points: int,
              max_iter: int | None, threads: int | None) -> tuple[dict, dict]:
    """Train the network with ``spec`` on ``split``: its results row and its monitored curve."""
    network = DeepResNet(split.X["train"].shape[1], split.n_tags, seed=split.seed)
    curve: dict[str, list[float]] = {"time": [], "samples": [], "val_loss": [], "val_hit@5": []}

    def monitor(model: torch.nn.Module, history) -> None:
        loss, hit = _val_metrics(split, _probabilities(model, split.X["val"]))
        for key, value in (("time", history.time[-1]), ("samples", history.samples[-1]), ("val_loss", loss),
                           ("val_hit@5", hit)):
            curve[key].append(float(value))

    data = {"X_val": split.X["val"], "Y_val": split.Y["val"], "seed": split.seed, "num_threads": threads,
            "monitor": monitor}
    if spec.name == ADAM:
        history = train_adam(network, split.X["train"], split.Y["train"], epochs=epochs, patience=ADAM_PATIENCE,
                             monitor_every=max(1, epochs // monitor_points), **spec.options, **data)
        evals_used, grad_steps = 0, int(history.settings["steps"])
    else:
        options = {"pop_size": pop, **spec.options}
        history = train_population(network, split.X["train"], split.Y["train"], algorithm=spec.name,
                                   max_evals=evals, monitor_every=max(1, (max_iter or 1) // monitor_points),
                                   **options, **data)
        evals_used = int(history.settings["nfev"])
        grad_steps = int((getattr(history, "grad_steps", None) or [0])[-1])  # cumulative, like evals
    wall = float(history.settings["wall_time_s"])
    samples = int(history.samples[-1]) if history.samples else 0
    probs_val = _probabilities(network, split.X["val"])
    val_loss, val_hit = _val_metrics(split, probs_val)
    if not curve["time"] or curve["time"][-1] < wall:  # the weights returned, at the end of the clock
        for key, value in (("time", wall), ("samples", samples), ("val_loss", val_loss), ("val_hit@5", val_hit)):
            curve[key].append(float(value))
    ended = "interrupted" if history.interrupted else "early stopping" if history.stopped_early else "budget spent"
    test = _test_metrics(split, _probabilities(network, split.X["test"]))
    row = {"optimizer": spec.label, "seed": split.seed, **test,
           "wall_s": round(wall, 4), "evals": evals_used, "grad_steps": grad_steps, "examples_forwarded": samples,
           "val_loss": val_loss, "val_hit@5": val_hit, "ended": ended}
    return row, curve


# ---------------------------------------------------------------------------- the race


def _parse_row(raw: dict) -> dict:
    row = dict(raw)
    for key in ("seed", "evals", "grad_steps", "examples_forwarded", "n_train", "n_val", "n_test"):
        row[key] = int(raw[key])
    for key in (*METRICS, "wall_s", "val_loss", "val_hit@5"):
        row[key] = float(raw[key])
    return row


def _row_key(row: dict) -> tuple:
    return (row["optimizer"], row["seed"])


def curve_path(out_dir: Path, label_slug: str, seed: int) -> Path:
    return out_dir / "curves" / f"{label_slug}__{seed}.json"


@dataclass
class RaceResult:
    out_dir: Path
    rows: list[dict]  # requested rows: frequency then each optimizer, per seed
    ran: int
    skipped: int
    summary: Path
    plot: Path


def run_race(source: str, optimizers: str | Sequence[str], seeds: int = 5, evals: int = 2000, out_dir="race",
             epochs: int = 200, pop: int | None = 64, top_k: int = 10, train_share: float = 0.8,
             val_share: float = 0.1, exclude_collection_tag: bool = False, text_column: str | None = None,
             leakage: str = "strict", monitor_points: int = 25, threads: int | None = 1,
             progress: bool | str | None = None, encoding: str | None = None) -> RaceResult:
    """Race ``optimizers`` on ``seeds`` splits of ``source``; resumes finished rows from ``out_dir``.

    Every bad input (optimizer entries, budgets, shares, a folder holding another race) is a one-line
    ValueError before any training. ``progress``: as ``scpo.benchmark.run_benchmark``.
    """
    for name, value in (("seeds", seeds), ("evals", evals), ("epochs", epochs), ("top_k", top_k),
                        ("monitor_points", monitor_points)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if not 0 < train_share < 1 or not 0 < val_share < 1 or train_share + val_share >= 1:
        raise ValueError(f"train_share {train_share} and val_share {val_share} must be in (0, 1) and leave a test "
                         "split (validation curves need val_share > 0)")
    from features.data import resolve_source
    from features.text import LEAKAGE_MODES

    if leakage not in LEAKAGE_MODES:
        raise ValueError(f"leakage must be one of {', '.join(LEAKAGE_MODES)}, got {leakage!r}")
    n_weights = network_size(N_FEATURES, top_k)
    specs = parse_optimizers(optimizers, n_weights)
    resolve_source(source)  # a missing corpus fails here, before any folder is written
    max_iter = {s.label: None if s.name == ADAM else _max_iter(s, n_weights, evals, pop) for s in specs}
    out_dir = Path(out_dir)
    config = {"source": str(source), "evals": evals, "epochs": epochs, "pop": pop, "top_k": top_k,
              "train_share": train_share, "val_share": val_share, "exclude_collection_tag": exclude_collection_tag,
              "text_column": text_column, "encoding": encoding, "leakage": leakage, "monitor_points": monitor_points,
              "adam_patience": ADAM_PATIENCE, "n_weights": n_weights}
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_config(out_dir, config, CONFIG_KEYS, older={"encoding": None})  # folders from before --encoding
    results = ResultsFile(out_dir / "results.csv", FIELDS, _parse_row, _row_key)
    labels = [FREQUENCY, *(s.label for s in specs)]
    keys = [(label, seed) for seed in range(seeds) for label in labels]
    pending = [k for k in keys if k not in results.rows]
    by_label = {s.label: s for s in specs}
    with _progress_bar(progress, len(keys), len(keys) - len(pending)) as advance:
        for seed in range(seeds):
            todo = [label for label in labels if (label, seed) in pending]
            if not todo:
                continue
            split = prepare_split(source, seed, top_k, train_share, val_share, exclude_collection_tag, text_column,
                                  leakage, encoding)
            sizes = {f"n_{k}": len(v) for k, v in split.Y.items()}
            for label in todo:
                if label == FREQUENCY:
                    row, curve = frequency_run(split)
                else:
                    row, curve = train_run(by_label[label], split, evals, epochs, pop, monitor_points,
                                           max_iter[label], threads)
                slug = by_label[label].slug if label in by_label else FREQUENCY
                write_if_changed(curve_path(out_dir, slug, seed), json.dumps(curve) + "\n")
                results.append({**row, **sizes})  # the row last: a run counts once its curve is on disk
                advance()
    rows = [results.rows[k] for k in keys]
    curves = {label: [_read_curve(curve_path(out_dir, by_label[label].slug if label in by_label else FREQUENCY, s))
                      for s in range(seeds)] for label in labels}
    summary = out_dir / "summary.md"
    write_if_changed(summary, summarize(rows, labels, config, seeds))
    plot = plot_curves(curves, rows, out_dir / "curves.png",
                       f"{source}: {seeds} seeds, {evals} evaluations (Adam: <= {epochs} epochs)")
    return RaceResult(out_dir, rows, len(pending), len(keys) - len(pending), summary, plot)


def _read_curve(path: Path) -> dict[str, np.ndarray]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: np.asarray(v, dtype=float) for k, v in data.items()}


# ---------------------------------------------------------------------------- summary and plot


def _median_iqr(values: Sequence[float], digits: int = 3) -> str:
    v = np.asarray(values, dtype=float)
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return f"{med:.{digits}f} [{q1:.{digits}f}, {q3:.{digits}f}]"


def statistics(rows: Sequence[dict], labels: Sequence[str], metric: str = "hit@5") -> dict[str, dict]:
    """Per optimizer: values of ``metric`` over seeds and, against Adam, the rank-sum p (Holm over the
    optimizers compared, the frequency floor not among them), Vargha-Delaney A (> 0.5: the optimizer
    tends to score higher) and an outcome."""
    values = {label: [r[metric] for r in rows if r["optimizer"] == label] for label in labels}
    out: dict[str, dict] = {label: {"values": v} for label, v in values.items()}
    others = [label for label in labels if label not in (ADAM, FREQUENCY)]
    if ADAM not in labels or not others:
        return out
    tests = [rank_sum(values[label], values[ADAM]) for label in others]
    adjusted = holm([p for p, _ in tests])
    for label, (p, a), p_holm in zip(others, tests, adjusted, strict=True):
        outcome = "=" if p_holm >= ALPHA else ("higher" if a > 0.5 else "lower")
        out[label].update(p=p, p_holm=float(p_holm), A=a, outcome=outcome)
    return out


def summarize(rows: Sequence[dict], labels: Sequence[str], config: Mapping[str, Any], seeds: int) -> str:
    """summary.md: medians and IQRs per optimizer, rank-sum tests of test Hit@5 against Adam, cost ratios."""
    stats = statistics(rows, labels)
    median = {label: {k: float(np.median([r[k] for r in rows if r["optimizer"] == label]))
                      for k in (*METRICS, "wall_s", "examples_forwarded")} for label in labels}
    lines = [
        "# train-benchmark summary", "",
        f"Source `{config['source']}`, {seeds} seeds (split, featurizer, initial weights and optimizer seed), top "
        f"{config['top_k']} tags, train/val share {config['train_share']}/{config['val_share']}, collection tag "
        f"{'excluded' if config['exclude_collection_tag'] else 'kept'}, leakage `{config['leakage']}`. Population "
        f"optimizers: {config['evals']} fitness evaluations on the whole training split, population {config['pop']} "
        f"unless the entry sets pop_size; Adam: at most {config['epochs']} epochs, batch 64, lr 0.01, patience "
        f"{config['adam_patience']}. Network: DeepResNet, {config['n_weights']} weights for {config['top_k']} tags. "
        "Every run keeps the weights with the lowest validation loss.", "",
        "Test metrics per optimizer: median [first quartile, third quartile] over seeds. `examples` = examples "
        "forwarded (fitness, selection and gradient passes), the cost both kinds of optimizer share; wall time "
        "excludes the monitor that measured the curves.", "",
        "`Hit@1 - freq`: median over seeds of the Hit@1 gain over that seed's frequency ranking (paired).", "",
        "| optimizer | n | Hit@1 | Hit@5 | NDCG@5 | micro F1 | macro F1 | Hit@1 - freq | wall s | examples "
        "| p vs Adam (Hit@5) | p (Holm) | A | vs Adam |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    floor_hit1 = {r["seed"]: r["hit@1"] for r in rows if r["optimizer"] == FREQUENCY}
    for label in labels:
        mine = [r for r in rows if r["optimizer"] == label]
        s = stats[label]
        test = (f"{s['p']:.3g} | {s['p_holm']:.3g} | {s['A']:.2f} | {s['outcome']}" if "p" in s else
                ("(reference) | | |" if label == ADAM else "(floor) | | |"))
        gain = [r["hit@1"] - floor_hit1[r["seed"]] for r in mine if r["seed"] in floor_hit1]
        gain_text = f"{np.median(gain):+.3f}" if gain else "n/a"
        lines.append(f"| {label} | {len(mine)} | " + " | ".join(_median_iqr([r[k] for r in mine]) for k in METRICS)
                     + f" | {gain_text} | {np.median([r['wall_s'] for r in mine]):.1f} | "
                     f"{np.median([r['examples_forwarded'] for r in mine]):.3g} | {test} |")
    lines += ["", "## Verdicts", ""]
    if ADAM not in labels:
        lines.append("Adam was not raced: no comparison against it.")
        return "\n".join(lines) + "\n"
    compared = [label for label in labels if label not in (ADAM, FREQUENCY)]
    floor = smallest_p(seeds, len(compared))
    if floor >= ALPHA:
        lines += [f"With {seeds} seeds per optimizer the smallest attainable Holm-adjusted rank-sum p is "
                  f"{floor:.3f} (alpha {ALPHA}): no difference below can be called significant, whatever the "
                  "numbers; the medians are descriptive only.", ""]
    adam = median[ADAM]
    if FREQUENCY in median:
        f = median[FREQUENCY]
        lines.append(f"- **frequency ranking** (floor): median test Hit@1 {f['hit@1']:.3f}, Hit@5 {f['hit@5']:.3f}; "
                     f"Adam {adam['hit@1']:.3f} / {adam['hit@5']:.3f}.")
    for label in compared:
        m, s = median[label], stats[label]
        diff = m["hit@5"] - adam["hit@5"]
        word = {"higher": "significantly higher than", "lower": "significantly lower than"}.get(
            s["outcome"], "not significantly different from")
        cost = (f"{m['examples_forwarded'] / adam['examples_forwarded']:.2g}x Adam's examples forwarded"
                if adam["examples_forwarded"] else "no examples forwarded")
        time_ratio = f"{m['wall_s'] / adam['wall_s']:.2g}x its wall time" if adam["wall_s"] > 0 else ""
        lines.append(f"- **{label}**: median test Hit@5 {m['hit@5']:.3f} vs Adam {adam['hit@5']:.3f} "
                     f"({diff:+.3f}), {word} Adam (p Holm {s['p_holm']:.3g})"
                     + f", at {cost}, {time_ratio}.")
    return "\n".join(lines) + "\n"


def _band(runs: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ...] | None:
    from scpo.plotting import _step_interp

    runs = [(x, y) for x, y in runs if len(x)]
    if not runs:
        return None
    grid = np.unique(np.concatenate([x for x, _ in runs]))
    stacked = np.stack([_step_interp(grid, x, y) for x, y in runs])
    every = ~np.isnan(stacked).any(axis=0)  # from where every seed has a point: a median over all of them
    return (grid[every], *np.percentile(stacked[:, every], [25, 50, 75], axis=0))


def plot_curves(curves: Mapping[str, Sequence[dict]], rows: Sequence[dict], out: Path, title: str) -> Path:
    """curves.png: validation loss and Hit@5 (rows) against wall time and examples forwarded (columns),
    median line and inter-quartile band over seeds per optimizer (drawn from where every seed has a
    point, so a late first point of one seed cannot make the median jump), the frequency ranking as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8), squeeze=False)
    ys = (("val_loss", "validation loss (MSE)"), ("val_hit@5", "validation Hit@5"))
    xs = (("time", "wall time (s, monitor excluded)"), ("samples", "examples forwarded"))
    for label, runs in curves.items():
        if label == FREQUENCY:
            for i, (ykey, _) in enumerate(ys):
                level = float(np.median([r[ykey] for r in rows if r["optimizer"] == FREQUENCY]))
                for j in range(2):
                    axes[i][j].axhline(level, color="black", linestyle="--", linewidth=1,
                                       label="frequency ranking" if (i, j) == (0, 0) else None)
            continue
        color = None
        for i, (ykey, _) in enumerate(ys):
            for j, (xkey, _) in enumerate(xs):
                band = _band([(r[xkey], r[ykey]) for r in runs])
                if band is None:
                    continue
                grid, low, med, high = band
                (line,) = axes[i][j].plot(grid, med, drawstyle="steps-post", linewidth=1.4, color=color,
                                          label=f"{label} (median of {len(runs)})" if (i, j) == (0, 0) else None)
                color = line.get_color()
                axes[i][j].fill_between(grid, low, high, color=color, alpha=0.15, linewidth=0, step="post")
    for i, (_, ylabel) in enumerate(ys):
        for j, (_, xlabel) in enumerate(xs):
            ax = axes[i][j]
            ax.set_xscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(True, alpha=0.3)
    fig.legend(loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(title + "\nmedian and inter-quartile band over seeds; kept weights (lowest validation loss)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=100, format="png", metadata={"Software": None})
    plt.close(fig)
    write_if_changed(out, buffer.getvalue())
    return out
