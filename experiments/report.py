"""Assemble experiments/REPORT.md from the measured results (run by `make experiments`, last step).

Reads what the experiment drivers wrote and computes every number and verdict in the report from
it; nothing is typed in by hand except the claims quoted from the two source documents.

    .venv/bin/python experiments/report.py [--results experiments/results] [--out experiments/REPORT.md]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import table2  # noqa: E402
from scpo.benchmark import ResultsFile, compute_statistics  # noqa: E402
from scpo.io import write_text  # noqa: E402

HERE = Path(__file__).resolve().parent
PROBLEMS = ["sphere", "schwefel222", "schwefel12", "schwefel221", "rosenbrock", "step", "quartic", "schwefel226",
            "rastrigin", "ackley", "griewank", "penalized1", "penalized2"]
BUG = "po[reference_switch_bug=True]"
# The commands `make experiments` runs (RUNS=30 by default); the report quotes them beside each part.
COMMANDS = {
    "part1": ".venv/bin/python experiments/run_benchmark_functions.py --runs {runs} --jobs 2 --quiet",
    "part2": [
        ".venv/bin/python experiments/table2.py --query-tag excluded --seeds 5 --feature-sets f1-f6,f1-f9 "
        "--models scpo-resnet,adam-resnet,frequency,tfidf-lr,fasttext,lstm",
        ".venv/bin/python experiments/table2.py --query-tag kept --shares 0.9 --seeds 5 --feature-sets f1-f6,f1-f9 "
        "--models scpo-resnet,adam-resnet,frequency,tfidf-lr,fasttext,lstm",
        ".venv/bin/python experiments/table2.py --query-tag excluded --shares 0.9 --seeds 2 "
        "--feature-sets extended --models adam-resnet",
        ".venv/bin/python experiments/table2.py --query-tag excluded --shares 0.9 --seeds 2 "
        "--feature-sets f1-f9 --models scpo-resnet --max-evals 30000 --out experiments/results/table2_30k.md",
    ],
    "tagfinder": ".venv/bin/python experiments/tagfinder_table.py --seeds 2 --epochs 3 --max-evals 3000",
    "part1b": ".venv/bin/python experiments/run_bbob.py --quiet",
    "part1b_full": ".venv/bin/python experiments/run_bbob.py --setting full --no-coco --jobs 2 --quiet",
    "part4": ".venv/bin/python experiments/race.py --datasets {datasets} --seeds {seeds} --evals {evals} --quiet",
}
# part 1b: (ours, peer) pairs compared on BBOB, and (published, invariant) pairs
PEER_PAIRS = [("pso", "ng:PSO"), ("cmaes", "ng:CMA"), ("de", "ng:TwoPointsDE")]
VARIANT_PAIRS = [("scpo", "scpo[variant=invariant]"), ("sca", "sca[variant=invariant]")]


# ----------------------------------------------------------------------------- part 1
def part1(results: Path) -> tuple[list[str], dict]:
    """Median tables, SCPO's win/tie/loss against each optimizer, Friedman ranks; facts for the claims."""
    out, facts = [], {}
    for setting in ("unshifted", "shifted"):
        path = results / "functions" / setting / "results.csv"
        if not path.exists():
            out += [f"### {setting}: not run (no results/functions/{setting}/results.csv)", ""]
            continue
        rows = list(ResultsFile(path).rows.values())
        algos = list(dict.fromkeys(r["algorithm"] for r in rows))
        suffix = "-shifted" if setting == "shifted" else ""
        problems = [p + suffix for p in PROBLEMS if any(r["problem"] == p + suffix for r in rows)]
        runs = min(sum(1 for r in rows if r["algorithm"] == a and r["problem"] == p) for a in algos for p in problems)
        rows = [r for r in rows if r["run"] < runs]  # complete cells only
        stats = compute_statistics(rows, algos, problems)
        facts[setting] = {"stats": stats, "runs": runs}
        cells, tests = stats["cells"], stats["tests"]
        out += [f"### {setting.capitalize()} (d = 30, {runs} runs per cell, 30,000 evaluations)", "",
                "Median best fitness per run; the mark says how the algorithm compares with SCPO (rank-sum, Holm, "
                "alpha 0.05): `+` SCPO significantly better, `-` SCPO significantly worse, `=` no significant "
                f"difference. Full statistics: [summary.md](results/functions/{setting}/summary.md); convergence "
                f"plots: [results/functions/{setting}/plots/](results/functions/{setting}/plots/).", "",
                "| problem | " + " | ".join(algos) + " |", "|---|" + "---:|" * len(algos)]
        for p in problems:
            marks = [f"{cells[(a, p)]['median']:.2e}" + (f" {tests[(a, p)]['outcome']}" if (a, p) in tests else "")
                     for a in algos]
            out.append(f"| {p} | " + " | ".join(marks) + " |")
        tally = {a: [sum(tests[(a, p)]["outcome"] == o for p in problems) for o in "+=-"] for a in algos
                 if a != "scpo"}
        facts[setting]["tally"] = tally
        out += ["", "SCPO against each optimizer over the problems (SCPO better / no difference / SCPO worse): "
                + "; ".join(f"{a} {w}/{t}/{lo}" for a, (w, t, lo) in tally.items()) + ".", ""]
        ranks = stats["friedman_runs"]["mean_ranks"]
        order = np.argsort(ranks)
        fr, frp = stats["friedman_runs"], stats["friedman_problems"]
        out += ["Friedman mean ranks (1 = best) across (problem, run) blocks: "
                + ", ".join(f"{algos[i]} {ranks[i]:.2f}" for i in order)
                + f" (chi2 = {fr['statistic']:.1f}, p = {fr['p']:.1e}); across the {len(problems)} problems' means: "
                + ", ".join(f"{algos[i]} {frp['mean_ranks'][i]:.2f}" for i in np.argsort(frp["mean_ranks"]))
                + f" (p = {frp['p']:.1e}).", ""]
        facts[setting]["rank_order"] = [algos[i] for i in order]
        facts[setting]["zeros"] = {a: sum(cells[(a, p)]["median"] == 0.0 for p in problems) for a in algos}
    return out, facts


# ----------------------------------------------------------------------------- part 1b
def paired(rows: Sequence[dict], a: str, b: str) -> dict:
    """a against b on the same (function, dim, instance, run) trials: final precision (floored at 1e-8, COCO's
    last target) compared pairwise; counts and the two-sided Wilcoxon signed-rank p (zero differences dropped)."""
    from scipy.stats import wilcoxon

    by = {(r["function"], r["dim"], r["instance"], r["run"]): r["precision"] for r in rows if r["algorithm"] == b}
    pairs = [(max(r["precision"], 1e-8), max(by[k], 1e-8)) for r in rows if r["algorithm"] == a
             for k in [(r["function"], r["dim"], r["instance"], r["run"])] if k in by]
    if not pairs:
        return {"n": 0}
    x, y = np.log10(np.array(pairs)).T
    better, worse = int((x < y).sum()), int((x > y).sum())
    p = float(wilcoxon(x, y).pvalue) if better + worse > 0 else 1.0
    return {"n": len(pairs), "better": better, "worse": worse, "ties": len(pairs) - better - worse, "p": p,
            "median_gap": float(np.median(x - y))}


def _paired_text(a: str, b: str, t: dict) -> str:
    if not t["n"]:
        return f"{a} vs {b}: no common trials"
    verdict = ("no significant difference" if t["p"] >= 0.05 else
               f"{a} significantly {'better' if t['better'] > t['worse'] else 'worse'}")
    return (f"{a} vs {b}: {a} lower final precision on {t['better']} of {t['n']} trials, higher on {t['worse']}, "
            f"tied on {t['ties']}; median log10 ratio {t['median_gap']:+.2f}; Wilcoxon signed-rank p = "
            f"{t['p']:.2g} ({verdict} at 0.05)")


def _paired_verdict(t: dict) -> str:
    """One comparison in a few words: who wins more trials, the median log10 ratio and Wilcoxon's p."""
    if not t["n"]:
        return "no common trials"
    word = ("no significant difference" if t["p"] >= 0.05 else
            "better" if t["better"] > t["worse"] else "worse")
    return f"{word} ({t['better']}/{t['worse']} trials, median {t['median_gap']:+.2f}, p = {t['p']:.2g})"


def ranking_findings(rows: Sequence[dict], algos: list[str], order: list[str], fraction: dict,
                     mine) -> tuple[list[str], dict]:
    """Part 1b's findings common to both settings: SCPO's rank overall and per function group, and each
    (published, invariant) pair compared on the same trials; ``mine(a, **match)`` selects an entry's rows."""
    from scpo import bbob

    out: list[str] = []
    facts: dict = {}
    if "scpo" in algos:
        rank = order.index("scpo") + 1
        facts["scpo_rank"] = rank
        out.append(f"- SCPO (published) ranks {rank} of {len(algos)} by targets reached ({fraction['scpo']:.3f}; best "
                   f"{order[0]} {fraction[order[0]]:.3f}, random search {fraction.get('random', math.nan):.3f}).")
        for group, members in bbob.GROUPS.items():
            by_group = {a: bbob.fraction_reached(mine(a, function=list(members))) for a in algos
                        if mine(a, function=list(members))}
            if "scpo" in by_group:
                ranked = sorted(by_group, key=lambda a: -by_group[a])
                out.append(f"  - {group}: rank {ranked.index('scpo') + 1} ({by_group['scpo']:.3f}; best {ranked[0]} "
                           f"{by_group[ranked[0]]:.3f})")
    dims = sorted({r["dim"] for r in rows})
    for a, b in VARIANT_PAIRS:
        if a in algos and b in algos:
            t = paired(rows, b, a)
            facts[b] = t
            out.append(f"- Invariant variant: {_paired_text(b, a, t)}; targets reached {fraction[b]:.3f} vs "
                       f"{fraction[a]:.3f}.")
            if len(dims) > 1:  # a pooled verdict can hide a sign that flips with the dimension
                out.append("  - final precision by dimension: " + "; ".join(
                    f"d={d} {_paired_verdict(paired([r for r in rows if r['dim'] == d], b, a))}" for d in dims) + ".")
            # the fraction of targets can move with one function while the precision moves the other way
            functions = sorted({r["function"] for r in rows})
            gap = {f: bbob.fraction_reached(mine(b, function=[f])) - bbob.fraction_reached(mine(a, function=[f]))
                   for f in functions}
            top = max(gap, key=lambda f: abs(gap[f]))
            rest = [f for f in functions if f != top]
            if rest:
                out.append(f"  - targets reached without f{top} (the function with the largest gap, "
                           f"{gap[top]:+.3f} on its own): {bbob.fraction_reached(mine(b, function=rest)):.3f} vs "
                           f"{bbob.fraction_reached(mine(a, function=rest)):.3f}.")
    return out, facts


def part1b(results: Path) -> tuple[list[str], dict]:
    """BBOB: fraction of targets reached, ECDF area, SCPO's rank, invariant vs published, ours vs nevergrad."""
    import json

    from scpo import bbob

    folder = results / "bbob"
    path = folder / "results.csv"
    if not path.exists():
        return ["Not run: no experiments/results/bbob/results.csv.", ""], {}
    rows = list(ResultsFile(path, bbob.FIELDS, bbob.parse_row, bbob.row_key).rows.values())
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    algos = list(dict.fromkeys(r["algorithm"] for r in rows))
    dims = sorted({r["dim"] for r in rows})
    functions = sorted({r["function"] for r in rows})
    instances = sorted({r["instance"] for r in rows})
    trials = {a: sum(r["algorithm"] == a for r in rows) for a in algos}
    complete = [a for a in algos if trials[a] == max(trials.values())]
    m = config["budget_multiplier"]
    grid = 10.0 ** np.linspace(0, math.log10(m), 200)

    def mine(a, **match):
        return [r for r in rows if r["algorithm"] == a and all(r[k] in v for k, v in match.items())]

    fraction = {a: bbob.fraction_reached(mine(a)) for a in algos}
    area = {a: float(np.mean([bbob.ecdf_curve(mine(a, dim=[d]), grid).mean() for d in dims])) for a in algos}
    order = sorted(algos, key=lambda a: -fraction[a])
    cost = {a: 1e3 * sum(r["wall_time_s"] for r in mine(a)) / max(1, sum(r["nfev"] for r in mine(a))) for a in algos}
    peers = [a for a in algos if a.startswith("ng:")]
    cost_text = ""
    if peers:
        cost_text = (" (wall time per evaluation, from the rows: " + ", ".join(f"{a} {cost[a]:.2f} ms" for a in peers)
                     + f", against {max(cost[a] for a in algos if a not in peers):.3f} ms at most for ours: "
                     "nevergrad asks and tells one candidate at a time)")
    total = sum(r["wall_time_s"] for r in rows)
    out = [f"Setting: COCO's `bbob` suite through coco-experiment, functions f{functions[0]}-f{functions[-1]} "
           f"({len(functions)}), d = {', '.join(map(str, dims))}, instances {', '.join(map(str, instances))}, one run "
           f"per instance, budget {m:g} x d evaluations, seed {config['seed']}; the runs' wall times add up to "
           f"{total / 60:.1f} minutes (one job, on 2 cores shared with other work). **A short setting**, shorter "
           "than the issue's d = 5, 10, 20, 15 instances, 10^4 x d"
           f"{cost_text}.", ""]
    if len(complete) < len(algos):
        out += ["**Incomplete run**: " + ", ".join(f"{a} has {trials[a]} trials" for a in algos if a not in complete)
                + f" of {max(trials.values())}; their numbers cover only those trials.", ""]
    out += ["Full aRT tables: [results/bbob/summary.md](results/bbob/summary.md); runtime ECDFs per dimension and "
            "function group: [results/bbob/ecdf.png](results/bbob/ecdf.png).", "",
            "Fraction of the 51 targets (1e2 .. 1e-8 in precision f - f_opt) reached at the end of the budget, over "
            "all (function, instance) trials; ECDF area = the runtime ECDF averaged over log10(evaluations / d) from "
            f"0 to {math.log10(m):.2f} (and over dimensions): higher is faster.", "",
            "| algorithm | " + " | ".join(f"d={d}" for d in dims) + " | " + " | ".join(bbob.GROUPS)
            + " | all | ECDF area |", "|---|" + "---:|" * (len(dims) + len(bbob.GROUPS) + 2)]
    for a in order:
        cells = [f"{bbob.fraction_reached(mine(a, dim=[d])):.3f}" for d in dims]
        cells += [f"{bbob.fraction_reached(mine(a, function=list(g))):.3f}" if mine(a, function=list(g)) else "n/a"
                  for g in bbob.GROUPS.values()]
        out.append(f"| {a} | " + " | ".join(cells) + f" | {fraction[a]:.3f} | {area[a]:.3f} |")
    out += ["", "Findings (computed from the table and from paired comparisons over the same trials):", ""]
    facts = {"fraction": fraction, "area": area, "order": order}
    ranking, ranked_facts = ranking_findings(rows, algos, order, fraction, mine)
    out += ranking
    facts.update(ranked_facts)
    for a, b in PEER_PAIRS:
        if a in algos and b in algos:
            t = paired(rows, a, b)
            facts[(a, b)] = t
            out.append(f"- Ours vs nevergrad: {_paired_text(a, b, t)}; targets reached {fraction[a]:.3f} vs "
                       f"{fraction[b]:.3f}.")
    invariance = results / "invariance.md"
    if invariance.exists():
        out += ["", "The translation check of `variant=invariant` on the classical sphere "
                "(`.venv/bin/python experiments/invariance.py` -> [results/invariance.md](results/invariance.md); "
                "shifted = optimum moved off the origin in the same box):", "",
                *invariance.read_text(encoding="utf-8").strip().splitlines()[2:]]
    out += ["", "Our DE is rand/1/bin; nevergrad's TwoPointsDE is a different DE (two-points crossover, its own "
            "population and scaling), so that pair compares two DEs, not one implementation against another. "
            "Our PSO is the inertia-weight global-best PSO (SPEC 1.4); nevergrad's PSO has its own parameters "
            "and bound handling. Our CMA-ES and ng:CMA both drive pycma (`cma`) with their own "
            "settings: ours starts from the best initial point, population 30 in these results (its default then; "
            "cma's 4 + floor(3 ln d) since issue 26), sigma0 0.3 of the range in the unit box, with restarts; "
            "nevergrad's uses its defaults on the clipped box.", ""]
    return out, facts


def plain_name(label: str) -> str:
    """An entry's label without the run options that do not make it another algorithm (``restarts``,
    ``backend``): ``scpo[restarts=ipop,backend=numba]`` -> ``scpo``, as ``scpo bias`` names it."""
    name, _, options = label.partition("[")
    kept = [o for o in options.rstrip("]").split(",") if o and o.split("=")[0] not in ("restarts", "backend")]
    return f"{name}[{','.join(kept)}]" if kept else name


def bias_verdicts(results: Path) -> dict[str, str]:
    """Per algorithm (plain name), its two bias verdicts from ``results/bias/bias.json`` (part 1c) as a cell."""
    path = results / "bias" / "bias.json"
    if not path.exists():
        return {}
    cells = {}
    for name, entry in json.loads(path.read_text(encoding="utf-8")).items():
        f0, shift = entry.get("f0", {}), entry.get("shift", {})
        direction = f" ({f0['direction']})" if f0.get("verdict") == "biased" and f0.get("direction") else ""
        cells[name] = (f"{f0.get('verdict', 'n/a')}{direction} / {shift.get('verdict', 'n/a')} "
                       f"({shift.get('ratio', math.nan):.3g})")
    return cells


def part1b_full(results: Path) -> tuple[list[str], dict]:
    """BBOB's full setting (``run_bbob.py --setting full``): fraction of targets reached per dimension and
    function group over the complete dimensions, each algorithm's bias verdicts beside it, invariant vs
    published paired."""
    from scpo import bbob

    folder = results / "bbob_full"
    path = folder / "results.csv"
    if not path.exists():
        return ["Not run: no experiments/results/bbob_full/results.csv.", ""], {}
    rows = list(ResultsFile(path, bbob.FIELDS, bbob.parse_row, bbob.row_key).rows.values())
    for row in rows:
        row["algorithm"] = plain_name(row["algorithm"])
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    m = config["budget_multiplier"]
    algos = list(dict.fromkeys(r["algorithm"] for r in rows))
    setting_dims = (2, 3, 5, 10, 20, 40)
    trials = {(a, d): sum(r["algorithm"] == a and r["dim"] == d for r in rows) for a in algos for d in setting_dims}
    expected = len({r["function"] for r in rows}) * len({r["instance"] for r in rows})  # 24 x 15 in the setting
    complete = [d for d in setting_dims if all(trials[a, d] >= expected for a in algos)]
    partial = [d for d in setting_dims if d not in complete and any(trials[a, d] for a in algos)]
    missing = [d for d in setting_dims if d not in complete and d not in partial]
    used = [r for r in rows if r["dim"] in complete]
    partial_text = [f"{d} ({min(trials[a, d] for a in algos)}-{max(trials[a, d] for a in algos)} trials)"
                    for d in partial]

    def mine(a, **match):
        return [r for r in used if r["algorithm"] == a and all(r[k] in v for k, v in match.items())]

    grid = 10.0 ** np.linspace(0, math.log10(m), 200)
    fraction = {a: bbob.fraction_reached(mine(a)) for a in algos}
    area = {a: float(np.mean([bbob.ecdf_curve(mine(a, dim=[d]), grid).mean() for d in complete])) for a in algos}
    order = sorted(algos, key=lambda a: -fraction[a])
    bias = bias_verdicts(results)
    hours = sum(r["wall_time_s"] for r in rows) / 3600
    out = [f"Setting (the issue's full one): functions f1-f24, d = 2, 3, 5, 10, 20, 40, instances 1-15, one run per "
           f"instance, budget {m:g} x d evaluations, seed {config['seed']}, IPOP restarts (population doubled at "
           "each restart, `name:restarts=ipop`) for every algorithm but random search; SCA, PO and SCPO (published) "
           "on the numba backend; the BBOB functions evaluated by `scpo.bbob_functions` (`--no-coco`: exact against "
           f"cocoex, tested). The runs' wall times add up to {hours:.1f} hours"
           + (" so far." if partial or missing else "."), "",
           f"Complete: d = {', '.join(map(str, complete)) or 'none'} ({expected} trials per algorithm and dimension). "
           + (f"Partial: d = {', '.join(partial_text)}. " if partial else "")
           + (f"Not yet run: d = {', '.join(map(str, missing))}. " if missing else "")
           + "Only complete dimensions enter the numbers below (a partial dimension would pool different function "
           "sets); `python experiments/run_bbob.py --setting full --no-coco --jobs 2` resumes into the same folder.",
           "",
           "Full aRT tables: [results/bbob_full/summary.md](results/bbob_full/summary.md); runtime ECDFs: "
           "[results/bbob_full/ecdf.png](results/bbob_full/ecdf.png). Bias verdicts from part 1c (f0 / shift test "
           "(geometric mean ratio); d = 30, their own runs).", "",
           "| algorithm | " + " | ".join(f"d={d}" for d in complete) + " | " + " | ".join(bbob.GROUPS)
           + " | all | ECDF area | bias: f0 / shift |", "|---|" + "---:|" * (len(complete) + len(bbob.GROUPS) + 2)
           + "---|"]
    for a in order:
        cells = [f"{bbob.fraction_reached(mine(a, dim=[d])):.3f}" for d in complete]
        cells += [f"{bbob.fraction_reached(mine(a, function=list(g))):.3f}" for g in bbob.GROUPS.values()]
        out.append(f"| {a} | " + " | ".join(cells) + f" | {fraction[a]:.3f} | {area[a]:.3f} | {bias.get(a, 'n/a')} |")
    out += ["", "Findings (computed from the table and from paired comparisons over the same trials):", ""]
    facts: dict = {"fraction": fraction, "order": order, "complete": complete, "finished": not (partial or missing)}
    ranking, ranked_facts = ranking_findings(used, algos, order, fraction, mine)
    out += ranking
    facts.update(ranked_facts)
    unbiased = [a for a in order if a in bias and bias[a].startswith("unbiased") and "/ unbiased" in bias[a]]
    centred = [a for a in order if "centre-biased" in bias.get(a, "")]
    if unbiased:
        out.append("- Judged unbiased by both tests of part 1c: " + ", ".join(
            f"{a} (rank {order.index(a) + 1})" for a in unbiased) + "; centre-biased by the shift test: "
            + (", ".join(f"{a} (rank {order.index(a) + 1})" for a in centred) or "none") + ".")
        searching = [a for a in unbiased if a != "random"]
        if searching and set(order[:len(searching)]) == set(searching):
            out.append(f"  - The unbiased optimizers other than random search ({', '.join(searching)}) take the top "
                       f"{len(searching)} places; every biased one ranks below them.")
    out.append("")
    return out, facts


# ----------------------------------------------------------------------------- part 2
def load_table2(path: Path) -> dict[tuple, list[dict]]:
    return table2.grouped(table2.read_rows(path)) if path.exists() else {}


def mean_of(groups, key, metric="micro_f1@top1") -> tuple[float, float, int]:
    g = groups.get(key)
    if not g:
        return math.nan, math.nan, 0
    values = [r[metric] for r in g]
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, len(values)


def part2(results: Path) -> tuple[list[str], dict]:
    groups = load_table2(results / "table2.csv")
    big = load_table2(results / "table2_30k.csv")
    out = []
    if not groups:
        return ["Not run: no experiments/results/table2.csv.", ""], {"groups": {}, "big": {}}
    metrics = [("micro_precision@top1", "P micro"), ("micro_recall@top1", "R micro"), ("micro_f1@top1", "F1 micro"),
               ("macro_f1@top1", "F1 macro"), ("ndcg@5", "NDCG@5")]
    for dataset in ("apple", "avengers"):
        for query_tag in ("kept", "excluded"):
            keys = sorted((k for k in groups if k[0] == dataset and k[1] == query_tag and k[2] == 0.9),
                          key=lambda k: table2.model_order(k[3:]))
            if not keys:
                continue
            sizes = [(r["n_train"], r["n_test"]) for k in keys for r in groups[k]]
            n_train, n_test = np.mean(sizes, axis=0)
            out += [f"#### {dataset}, collection tag {query_tag}, 90 % training share "
                    f"(~{n_train:.0f} training tweets + 10 % validation, ~{n_test:.0f} test tweets)", "",
                    "| model | features | " + " | ".join(n for _, n in metrics) + " | seeds |",
                    "|---|---|" + "---:|" * (len(metrics) + 1)]
            for k in keys:
                cells = [f"{mean_of(groups, k, m)[0]:.3f} ± {mean_of(groups, k, m)[1]:.3f}" for m, _ in metrics]
                out.append(f"| {k[3]} | {k[4]} | " + " | ".join(cells) + f" | {len(groups[k])} |")
            bkey = (dataset, query_tag, 0.9, "scpo-resnet", "f1-f9")
            if bkey in big:
                cells = [f"{mean_of(big, bkey, m)[0]:.3f} ± {mean_of(big, bkey, m)[1]:.3f}" for m, _ in metrics]
                out.append("| scpo-resnet, 30,000 evaluations | f1-f9 | " + " | ".join(cells)
                           + f" | {len(big[bkey])} |")
            paper = table2.PAPER[dataset]
            out += [f"| paper's SCPO-DRN (claimed) | f1-f9 | {paper[0]} | {paper[1]} | {paper[2]} | | | |", ""]
            shares = sorted({k[2] for k in groups if k[0] == dataset and k[1] == query_tag})
            if len(shares) > 1:
                out += table2.verdicts({k: g for k, g in groups.items() if k[0] == dataset and k[1] == query_tag},
                                       dataset, query_tag, shares)
                out.append("")
    return out, {"groups": groups, "big": big}


# ----------------------------------------------------------------------------- part 4
RACE_DATASETS = ("apple", "avengers")


def load_race(folder: Path) -> dict | None:
    """One dataset's race: config, complete rows (optimizers with every seed) and the entries not run."""
    from networks.race import FIELDS as RACE_FIELDS
    from networks.race import _parse_row, _row_key

    if not (folder / "results.csv").exists() or not (folder / "config.json").exists():
        return None
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    rows = list(ResultsFile(folder / "results.csv", RACE_FIELDS, _parse_row, _row_key).rows.values())
    seeds = sorted({r["seed"] for r in rows if r["optimizer"] == "frequency"})
    labels = list(dict.fromkeys(r["optimizer"] for r in rows))
    complete = [a for a in labels if {r["seed"] for r in rows if r["optimizer"] == a} >= set(seeds)]
    partial = [a for a in labels if a not in complete]
    rows = [r for r in rows if r["optimizer"] in complete and r["seed"] in seeds]
    not_run_path = folder / "not_run.json"
    not_run = json.loads(not_run_path.read_text(encoding="utf-8")) if not_run_path.exists() else {}
    return {"config": config, "rows": rows, "labels": complete, "partial": partial, "seeds": seeds,
            "not_run": not_run}


def _median(rows: Sequence[dict], label: str, key: str) -> float:
    values = [r[key] for r in rows if r["optimizer"] == label]
    return float(np.median(values)) if values else math.nan


def _floor_f1(rows: Sequence[dict], row: dict) -> float:
    """The frequency ranking's micro F1 on the split of ``row``."""
    return next(r["micro_f1"] for r in rows if r["optimizer"] == "frequency" and r["seed"] == row["seed"])


def race_findings(dataset: str, race: dict) -> tuple[list[str], dict]:
    """The table and one paragraph per finding, every number computed from the rows."""
    from networks.race import ADAM, FREQUENCY, statistics
    from scpo.benchmark import rank_sum, smallest_p

    rows, labels, seeds = race["rows"], race["labels"], race["seeds"]
    population = [a for a in labels if a not in (ADAM, FREQUENCY)]
    stats = statistics(rows, labels, "hit@5")
    med = {a: {k: _median(rows, a, k) for k in ("hit@1", "hit@5", "ndcg@5", "micro_f1", "macro_f1", "wall_s",
                                                  "examples_forwarded", "val_loss")} for a in labels}
    out = ["| optimizer | Hit@1 | Hit@5 | NDCG@5 | micro F1 | macro F1 | val loss | wall s | examples | "
           "p vs Adam, Hit@5 (Holm) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for a in labels:
        m, s = med[a], stats[a]
        test = f"{s['p_holm']:.3g} ({s['outcome']})" if "p_holm" in s else ("reference" if a == ADAM else "floor")
        out.append(f"| {a} | {m['hit@1']:.3f} | {m['hit@5']:.3f} | {m['ndcg@5']:.3f} | {m['micro_f1']:.3f} | "
                   f"{m['macro_f1']:.3f} | {m['val_loss']:.4f} | {m['wall_s']:.1f} | {m['examples_forwarded']:.3g} | "
                   f"{test} |")
    out += ["", f"Medians over {len(seeds)} seeds; full statistics (IQRs, A effect sizes): "
            f"[summary.md](results/race/{dataset}/summary.md); curves: "
            f"[curves.png](results/race/{dataset}/curves.png).", ""]
    facts: dict = {"seeds": len(seeds), "population": population}
    n_tests = len(population)
    floor_p = smallest_p(len(seeds), n_tests) if n_tests else 1.0
    if floor_p >= 0.05 and n_tests:
        out += [f"With {len(seeds)} seeds and {n_tests} comparisons the smallest attainable Holm-adjusted p is "
                f"{floor_p:.3f}: no test below can reach significance at 0.05, so the findings are descriptive.", ""]
    if ADAM in labels and population:
        adam = med[ADAM]
        best = max(population, key=lambda a: (med[a]["hit@5"], -med[a]["val_loss"]))
        better = [a for a in population if stats[a].get("outcome") == "higher"]
        worse = [a for a in population if stats[a].get("outcome") == "lower"]
        ahead = [a for a in population if med[a]["hit@5"] > adam["hit@5"]]
        lowest = min(population, key=lambda a: med[a]["val_loss"])
        facts.update(best=best, better=better, worse=worse, adam_hit5=adam["hit@5"], best_hit5=med[best]["hit@5"],
                     adam_val=adam["val_loss"], lowest=lowest, lowest_val=med[lowest]["val_loss"],
                     testable=floor_p < 0.05)
        verdict = (f"{', '.join(better)} significantly beat Adam" if better else
                   "no population optimizer is significantly better than Adam")
        out.append(f"**Against Adam.** Adam's median test Hit@5 is {adam['hit@5']:.3f} (Hit@1 {adam['hit@1']:.3f}, "
                   f"validation loss {adam['val_loss']:.4f}). The best population optimizer by median Hit@5 is "
                   f"{best} with {med[best]['hit@5']:.3f} (Hit@1 {med[best]['hit@1']:.3f}, validation loss "
                   f"{med[best]['val_loss']:.4f}); {len(ahead)} of {len(population)} population optimizers have a "
                   f"higher median Hit@5 than Adam. Rank-sum tests (Holm): {verdict}"
                   + (f"; significantly worse: {', '.join(worse)}" if worse else "") + ".")
        out.append("")
        ratios = {a: med[a]["examples_forwarded"] / adam["examples_forwarded"] for a in population
                  if adam["examples_forwarded"] > 0}
        times = {a: med[a]["wall_s"] / adam["wall_s"] for a in population if adam["wall_s"] > 0}
        if ratios:
            lo, hi = min(ratios, key=ratios.get), max(ratios, key=ratios.get)
            facts["examples_ratio"] = (ratios[lo], ratios[hi])
            out.append(f"**Cost.** Adam (at most {race['config']['epochs']} epochs, early stopping) forwarded a "
                       f"median {adam['examples_forwarded']:.3g} examples in {adam['wall_s']:.1f} s; the population "
                       f"optimizers ({race['config']['evals']} evaluations) forwarded {ratios[lo]:.0f}x ({lo}) to "
                       f"{ratios[hi]:.0f}x ({hi}) as many, in {min(times.values()):.1f}x to "
                       f"{max(times.values()):.1f}x its wall time (monitoring excluded). The race resumes across "
                       "sessions on a shared machine, so rows computed at different times ran under different loads: "
                       "the examples forwarded compare costs, the wall seconds only roughly.")
            out.append("")
    if "scpo" in labels and population:
        ranked = sorted(population, key=lambda a: med[a]["val_loss"])
        position = ranked.index("scpo") + 1
        facts["scpo_rank"] = (position, len(ranked))
        best_other = ranked[0] if ranked[0] != "scpo" else (ranked[1] if len(ranked) > 1 else None)
        versus = "" if best_other is None else (
            f"; {'next' if ranked[0] == 'scpo' else 'best'}: {best_other} {med[best_other]['val_loss']:.4f}")
        line = (f"**SCPO among the population optimizers.** By median validation loss (the quantity every run "
                f"minimizes when it keeps weights) SCPO ranks {position} of {len(ranked)} "
                f"({med['scpo']['val_loss']:.4f}{versus}); its median test Hit@5 is {med['scpo']['hit@5']:.3f}, "
                f"rank {sorted(population, key=lambda a: -med[a]['hit@5']).index('scpo') + 1} of {len(population)} "
                "by that measure.")
        if "random" in labels:
            p_val, a_val = rank_sum([r["val_loss"] for r in rows if r["optimizer"] == "scpo"],
                                    [r["val_loss"] for r in rows if r["optimizer"] == "random"])
            word = "lower" if med["scpo"]["val_loss"] < med["random"]["val_loss"] else "not lower"
            line += (f" Against random search (the floor every optimizer must beat), SCPO's validation loss is "
                     f"{word} ({med['scpo']['val_loss']:.4f} vs {med['random']['val_loss']:.4f}, rank-sum p = "
                     f"{p_val:.3g}, unadjusted).")
            facts["scpo_vs_random"] = (med["scpo"]["val_loss"], med["random"]["val_loss"], p_val)
        out += [line, ""]
    if FREQUENCY in labels:
        floor = {r["seed"]: r["hit@1"] for r in rows if r["optimizer"] == FREQUENCY}
        gains = {a: float(np.median([r["hit@1"] - floor[r["seed"]] for r in rows if r["optimizer"] == a]))
                 for a in labels if a != FREQUENCY}
        above = [a for a, g in gains.items() if g > 0]
        facts["above_floor"] = above
        pop_rows = [r for r in rows if r["optimizer"] in population]
        same = sum(1 for r in pop_rows if r["hit@1"] == floor[r["seed"]] and r["micro_f1"] == _floor_f1(rows, r))
        out.append(f"**Against the frequency ranking.** Ranking the training tags by frequency scores a median test "
                   f"Hit@1 of {med[FREQUENCY]['hit@1']:.3f} and Hit@5 of {med[FREQUENCY]['hit@5']:.3f}. "
                   + (f"Optimizers whose median paired Hit@1 gain over it is positive: "
                      f"{', '.join(f'{a} ({gains[a]:+.3f})' for a in above)}." if above else
                      "No optimizer, Adam included, has a positive median Hit@1 gain over it: on these splits "
                      "the trained network adds nothing measurable at Hit@1 to the tag frequencies.")
                   + (f" In {same} of {len(pop_rows)} population runs the test Hit@1 and micro F1 equal the "
                      "frequency ranking's exactly, as they would if the kept network put the most frequent tag "
                      "first on every test tweet." if pop_rows else ""))
        out.append("")
    refine = [a for a in labels if "refine=" in a or "subspace=" in a]
    if refine:
        parts = [f"{a}: Hit@5 {med[a]['hit@5']:.3f}, validation loss {med[a]['val_loss']:.4f}" for a in refine]
        text = "**Refine and subspace variants.** " + "; ".join(parts) + "."
        def gap(a: str, b: str) -> tuple[float, float] | None:
            """Median validation loss and Hit@5 of ``a`` minus ``b``, when both ran."""
            if a not in labels or b not in labels:
                return None
            return med[a]["val_loss"] - med[b]["val_loss"], med[a]["hit@5"] - med[b]["hit@5"]

        fresh, continued = "scpo:refine=adam", "scpo:refine=adam,refine_adam=continued"
        if diff := gap(fresh, "random:refine=adam"):
            text += (f" Ablation: with the same refine schedule, SCPO's moves instead of random-search moves change "
                     f"the median validation loss by {diff[0]:+.4f}.")
        if diff := gap(continued, fresh):
            text += (f" Continued Adam chains instead of a fresh Adam at every refinement change the median "
                     f"validation loss by {diff[0]:+.4f} and the median Hit@5 by {diff[1]:+.3f}.")
        if diff := gap(continued, "random:refine=adam,refine_adam=continued"):
            text += (f" Against the same chains fed by random search instead (a fresh uniform sample rarely beats a "
                     f"trained chain, so that row is close to the chains alone), SCPO's moves change the median "
                     f"validation loss by {diff[0]:+.4f} and the median Hit@5 by {diff[1]:+.3f}.")
        out += [text, ""]
    if race["not_run"]:
        out += ["**Not run:** " + "; ".join(f"`{e}` ({why.split(': ', 1)[-1]})" for e, why in race["not_run"].items())
                + ". "
                "\"Refine with no population\" is not expressible as a `train_population` setting (population "
                "moves cannot be switched off); its limit case, gradient steps alone, is the Adam row.", ""]
    if race["partial"]:
        out += ["Incomplete (left out of the table, fewer seeds than the others): "
                + ", ".join(f"`{a}`" for a in race["partial"]) + ".", ""]
    return out, facts


def part4(results: Path) -> tuple[list[str], dict]:
    out, facts = [], {}
    for dataset in RACE_DATASETS:
        race = load_race(results / "race" / dataset)
        if race is None:
            out += [f"### {dataset}: not run (no results/race/{dataset}/results.csv)", ""]
            continue
        c = race["config"]
        out += [f"### {dataset} ({len(race['seeds'])} seeds, {c['evals']} evaluations, Adam <= {c['epochs']} epochs, "
                f"top {c['top_k']} tags, collection tag {'excluded' if c['exclude_collection_tag'] else 'kept'})", ""]
        lines, facts[dataset] = race_findings(dataset, race)
        facts[dataset]["config"] = c
        out += lines
    return out, facts


# ----------------------------------------------------------------------------- part 3
def verdict_against(measured: float, spread: float, claimed: float) -> str:
    """`reproduced` when the claim lies within 2 std (at least 0.02) of our mean, else `not reproduced`."""
    if not math.isfinite(measured):
        return "not run"
    return "reproduced" if abs(measured - claimed) <= max(2 * spread, 0.02) else "not reproduced"


def beats_both(tally: dict, n_problems: int) -> str:
    """`reproduced` when SCPO is significantly better than SCA and than PO on most problems and worse on fewer."""
    ok = all(tally[a][0] > n_problems / 2 and tally[a][0] > tally[a][2] for a in ("sca", "po"))
    return "reproduced" if ok else "not reproduced"


def claims(facts1: dict, facts2: dict, results: Path) -> list[str]:
    groups = facts2.get("groups", {})
    rows = []

    def best_scpo(dataset, share, metric, features="f1-f9", model="scpo-resnet"):
        """Our SCPO-ResNet at that share, the better of the two collection-tag settings (the kinder reading),
        and the frequency ranking's value in that same setting."""
        options = [(*mean_of(groups, (dataset, q, share, model, features), metric), q) for q in ("kept", "excluded")]
        m, s, n, q = max((o for o in options if o[2]), default=(math.nan, math.nan, 0, "none"))
        floor = mean_of(groups, (dataset, q, share, "frequency", "text"), metric)[0]
        return m, s, n, f"{m:.3f} ± {s:.3f} (n={n}, tag {q}; frequency ranking {floor:.3f})"

    # Table 2 of the paper.
    names = {"micro_precision@top1": "precision", "micro_recall@top1": "recall", "micro_f1@top1": "F1"}
    for dataset, label in (("apple", "Apple"), ("avengers", "Twitter")):
        for (metric, name), claimed in zip(names.items(), table2.PAPER[dataset], strict=True):
            m, s, n, measured = best_scpo(dataset, 0.9, metric)
            verdict = verdict_against(m, s, claimed)
            why = "SCPO-ResNet, f1-f9, 90 % train, micro at top-1, better of collection tag kept/excluded"
            if dataset == "avengers":
                verdict, why = "not comparable", ("the paper's 'Twitter dataset' is unnamed; Avengers is our "
                                                  "stand-in: " + why)
            rows.append((f"SCPO-DRN {label} {name} (Table 2)", f"{claimed}", measured, verdict, why))
    # Figures 5-8: single points quoted in the text.
    points = [("apple", "f1-f6", 0.7, "micro_precision@top1", 0.88), ("apple", "f1-f6", 0.8, "micro_recall@top1", 0.91),
              ("apple", "f1-f6", 0.7, "micro_f1@top1", 0.87), ("apple", "f1-f9", 0.7, "micro_precision@top1", 0.90),
              ("apple", "f1-f9", 0.8, "micro_recall@top1", 0.92), ("apple", "f1-f9", 0.7, "micro_f1@top1", 0.88)]
    for dataset, features, share, metric, claimed in points:
        m, s, n, measured = best_scpo(dataset, share, metric, features)
        figure = 5 if features == "f1-f6" else 6
        rows.append((f"Apple {features} {names[metric]} at {share:.0%} (text of Fig. {figure})",
                     f"{claimed}", measured, verdict_against(m, s, claimed),
                     "SCPO-ResNet, micro at top-1"))
    # Superiority over the compared methods (the paper's Deep LSTM ~ our LSTM baseline).
    for dataset in ("apple", "avengers"):
        ours = mean_of(groups, (dataset, "excluded", 0.9, "scpo-resnet", "f1-f9"))
        for rival, rival_label in (("lstm", "Deep LSTM (our LSTM baseline)"), ("tfidf-lr", "TF-IDF + LR"),
                                   ("adam-resnet", "the same network trained by Adam")):
            theirs = mean_of(groups, (dataset, "excluded", 0.9, rival, "f1-f9" if rival == "adam-resnet" else "text"))
            if not (ours[2] and theirs[2]):
                continue
            better = ours[0] > theirs[0]
            claimed = ("yes (Table 2: Deep LSTM 2-3 % below)" if rival == "lstm" else
                       "implied ('outperformed all of the other comparative methods')")
            rows.append((f"SCPO-DRN beats {rival_label} ({dataset})", claimed,
                         f"F1 micro {ours[0]:.3f} vs {theirs[0]:.3f}",
                         "reproduced" if better else "not reproduced",
                         "90 % train, collection tag excluded, f1-f9; the paper did not run this rival: its "
                         "general claim is tested here" if rival != "lstm" else "90 % train, tag excluded, f1-f9"))
    # f9 helps (Fig. 6 > Fig. 5).
    gaps = []
    for key in groups:
        if key[3] == "scpo-resnet" and key[4] == "f1-f9":
            other = (*key[:4], "f1-f6")
            if other in groups:
                gaps.append(mean_of(groups, key)[0] - mean_of(groups, other)[0])
    if gaps:
        rows.append(("f1-f9 better than f1-f6 (Fig. 6 vs 5, 0.88 vs 0.87 F1)", "+0.01 F1",
                     f"mean {np.mean(gaps):+.3f} F1 micro over {len(gaps)} cells, higher in {sum(g > 0 for g in gaps)}",
                     "reproduced" if np.mean(gaps) > 0 and sum(g > 0 for g in gaps) > len(gaps) / 2 else
                     "not reproduced", "SCPO-ResNet, every dataset / tag setting / share"))
    # Optimizer claims.
    for setting in ("unshifted", "shifted"):
        f = facts1.get(setting)
        if not f:
            continue
        order, tally = f["rank_order"], f["tally"]
        rank = order.index("scpo") + 1
        rows.append((f"SCPO converges faster / avoids local optima better than SCA and PO ({setting} F1-F13)",
                     "yes (Section 4)",
                     f"Friedman rank {rank} of {len(order)} (first: {order[0]}); vs SCA better/same/worse "
                     f"{'/'.join(map(str, tally['sca']))}, vs PO {'/'.join(map(str, tally['po']))}",
                     beats_both(tally, len(f["stats"]["problems"])),
                     f"final best fitness at 30,000 evaluations (convergence speed: see the plots), {f['runs']} runs, "
                     "rank-sum + Holm; `reproduced` needs SCPO significantly better than each on most problems"))
    for setting in ("unshifted", "shifted"):
        f = facts1.get(setting)
        if f:
            z = f["zeros"]
            rows.append((f"PO reaches exactly 0 on many functions (PO paper; {setting})", "yes",
                         f"median exactly 0 on {z.get(BUG, 0)} of 13 with the authors' switch bug, {z.get('po', 0)} "
                         "with the correct swap", "reproduced" if z.get(BUG, 0) > z.get("po", 0) else
                         "not reproduced", "only through the authors' switch bug (SPEC 1.2), which drives the "
                         "population onto the origin, where the unshifted optima lie"))
    # TagFinder claims.
    tf = results / "tagfinder_table.csv"
    if tf.exists():
        with tf.open(newline="") as handle:
            tf_rows = [r for r in csv.DictReader(handle) if r["leakage"] == "tagfinder"]

        def tf_mean(dataset, model, column):
            values = [float(r[column]) for r in tf_rows if r["dataset"] == dataset and r["model"] == model]
            return float(np.mean(values)) if values else math.nan

        for dataset in ("apple", "avengers"):
            best = max({r["model"] for r in tf_rows if r["dataset"] == dataset},
                       key=lambda m: tf_mean(dataset, m, "ndcg@5"))
            rows.append((f"TF-IDF + LR has the best NDCG@k (TagFinder Table 5; our {dataset})",
                         "yes (0.904/0.911/0.917)",
                         f"best NDCG@5 here: {best} ({tf_mean(dataset, best, 'ndcg@5'):.3f}); TF-IDF + LR "
                         f"{tf_mean(dataset, 'tfidf-lr', 'ndcg@5'):.3f}",
                         "reproduced" if best == "tfidf-lr" else "not reproduced",
                         "ordering only: their corpus (137k tweets, 50 tags) is not ours; tagfinder leakage mode"))
            rows.append((f"'Random' (frequency) ranking scores MAP@3 = 0.985 (TagFinder; our {dataset})", "0.985",
                         f"tagfinder_map@3 {tf_mean(dataset, 'frequency', 'tagfinder_map@3'):.3f}, standard map@3 "
                         f"{tf_mean(dataset, 'frequency', 'map@3'):.3f}",
                         "reproduced" if abs(tf_mean(dataset, "frequency", "tagfinder_map@3") - 0.985) <= 0.02
                         else "not reproduced",
                         "an artifact, not a skill: their MAP averages only over tweets with a hit, so a constant "
                         "ranking scores near 1; the standard MAP@3 is beside it"))
    out = ["| claim | claimed | measured | verdict | how / why |", "|---|---|---|---|---|"]
    out += [f"| {c} | {a} | {b} | **{v}** | {w} |" for c, a, b, v, w in rows]
    return out + [""]


def summary(facts1: dict, facts2: dict, p3: list[str], facts1b: dict | None = None,
            facts1b_full: dict | None = None) -> list[str]:
    """The headline numbers, each computed from the parts below."""
    out = []
    for setting in ("unshifted", "shifted"):
        f = facts1.get(setting)
        if f:
            order, tally = f["rank_order"], f["tally"]
            worse = ", ".join(f"{a} on {t[2]}" for a, t in tally.items() if t[2])
            out.append(f"- F1-F13 {setting} ({f['runs']} runs): SCPO has Friedman rank {order.index('scpo') + 1} of "
                       f"{len(order)} (best: {order[0]}); it is significantly worse than {worse or 'no optimizer'} "
                       "of the 13 problems.")
    if facts1b_full and "scpo_rank" in facts1b_full:
        frac, order = facts1b_full["fraction"], facts1b_full["order"]
        dims = ", ".join(map(str, facts1b_full["complete"]))
        state = ", " if facts1b_full.get("finished") else " complete so far, "
        line = (f"- BBOB, full setting (part 1b; d = {dims}{state}15 instances, 10^4 x d): SCPO ranks "
                f"{facts1b_full['scpo_rank']} of {len(order)} by targets reached ({frac['scpo']:.3f}; best {order[0]} "
                f"{frac[order[0]]:.3f}, then {order[1]} {frac[order[1]]:.3f})")
        if "scpo[variant=invariant]" in frac:
            line += f"; its translation-invariant variant reaches {frac['scpo[variant=invariant]']:.3f}"
        out.append(line + ".")
    if facts1b and "scpo_rank" in facts1b:
        frac, order = facts1b["fraction"], facts1b["order"]
        line = (f"- BBOB, short setting (part 1b): SCPO ranks {facts1b['scpo_rank']} of {len(order)} by targets "
                f"reached ({frac['scpo']:.3f}; best {order[0]} {frac[order[0]]:.3f})")
        if "scpo[variant=invariant]" in frac:
            line += f"; its translation-invariant variant reaches {frac['scpo[variant=invariant]']:.3f}"
        out.append(line + ".")
    groups = facts2.get("groups", {})
    for dataset in ("apple", "avengers"):
        key = (dataset, "excluded", 0.9)
        ours = mean_of(groups, (*key, "scpo-resnet", "f1-f9"))
        if ours[2]:
            rivals = {m: mean_of(groups, (*key, m, "f1-f9" if m == "adam-resnet" else "text"))[0]
                      for m in ("frequency", "adam-resnet", "tfidf-lr")}
            out.append(f"- {dataset}, 90 % train, collection tag excluded: SCPO-ResNet F1 micro {ours[0]:.3f}; "
                       + ", ".join(f"{m} {v:.3f}" for m, v in rivals.items()) + ".")
    verdicts = [line.split("**")[1] for line in p3 if line.count("**") >= 2]
    if verdicts:
        counts = {v: verdicts.count(v) for v in dict.fromkeys(verdicts)}
        out.append("- Claims table: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + ".")
    return out + [""]


def render(results: Path) -> str:
    p1, facts1 = part1(results)
    p1b, facts1b = part1b(results)
    p1b_full, facts1b_full = part1b_full(results)
    p2, facts2 = part2(results)
    p3 = claims(facts1, facts2, results)
    p4, facts4 = part4(results)
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    run_note = ""
    if facts1:
        got = {f["runs"] for f in facts1.values()}
        if got != {30}:
            run_note = (f" **Fewer runs than the setting asks for: {', '.join(map(str, sorted(got)))} per cell "
                        "(the issue's 30 runs; `make experiments RUNS=30`).**")
    lines = [
        "# REPORT: SCPO measured against its claims",
        "",
        f"Generated {now} by `.venv/bin/python experiments/report.py` (last step of `make experiments`) on "
        f"{platform.platform()}, {os.cpu_count()} CPUs, no GPU. Every number below is computed from the result files "
        "under `experiments/results/`; the command that wrote each file is given with its part.",
        "",
        "## Summary",
        "",
        *summary(facts1, facts2, p3, facts1b, facts1b_full)[:-1],
        *race_summary(facts4),
        "",
        "## 1. Optimizers on F1-F13",
        "",
        "SCA, PO, PO with the authors' party-switching bug (`po[reference_switch_bug=True]`), SCPO, PSO, DE, CMA-ES "
        "and random search; d = 30, 30,000 evaluations per run, unshifted (as the papers report) and shifted by a "
        "seeded offset (optimum off the origin). PO and SCPO: population 64 (8 parties x 8), the others 30."
        + run_note,
        "",
        f"Command: `{COMMANDS['part1'].format(runs=max((f['runs'] for f in facts1.values()), default=30))}` "
        "(writes `results/functions/{unshifted,shifted}/`; resumable).",
        "",
        *p1,
        "## 1b. Optimizers and nevergrad's peers on COCO's BBOB suite",
        "",
        "### The full setting",
        "",
        f"Command: `{COMMANDS['part1b_full']}` (writes `results/bbob_full/`; resumable; "
        "`--estimate` wrote the cost, [results/bbob_full_cost.md](results/bbob_full_cost.md)).",
        "",
        *p1b_full,
        "### The short setting, with nevergrad's peers",
        "",
        "SCPO and SCA with their published moves and with `variant=invariant` (moves that translate with the "
        "problem, README Fidelity), PSO, DE, CMA-ES, random search, and nevergrad's PSO, CMA and TwoPointsDE "
        "(`ng:` entries, the `peers` extra) under the same budget and seeds. Every BBOB optimum is off the origin "
        "(in [-4, 4]^d), so BBOB is where the origin bias of the published moves cannot help.",
        "",
        f"Command: `{COMMANDS['part1b']}` (writes `results/bbob/`; resumable).",
        "",
        *p1b,
        *written_part(results, "bias_report.md"),
        "## 2. The paper's Table 2 setting: hashtag recommendation",
        "",
        "The Deep ResNet trained by SCPO (3,000 evaluations; one row with 30,000: 2 seeds, collection tag "
        "excluded) and by Adam on features f1-f6, "
        "f1-f9 and the extended vector (f1-f9 + keyword-set TF-IDF bag), beside the baselines, on Apple and "
        "Avengers, 5 seeded splits per cell, training share 60/70/80/90 % (test = the rest; 10 % of the training "
        "tweets held out for weight selection). Top 10 tags of the training split. With the collection tag kept "
        "(`#aapl`, `#avengersendgame` as labels, as the paper presumably did) one tag dominates and every model "
        "that ranks it first scores the same top-1 numbers; with it excluded the task is informative. "
        "SCPO on the extended vector was not run: the network convolves over every vocabulary position (thousands), "
        "so one population forward pass holds 64 weight vectors x the training tweets x thousands of positions x 8 "
        "channels of activations (on the order of 10 GB per layer); a 192-evaluation trial on Apple ran 5.5 min "
        "and died without a row (`--scpo-extended` runs it). Adam on the extended vector took about 3 min per fit.",
        "",
        "Commands (they append to `results/table2.csv`; the full sweep over shares is in "
        "[results/table2.md](results/table2.md)):",
        "",
        *[f"- `{c}`" for c in COMMANDS["part2"]],
        "",
        *p2,
        "## 3. Claims beside measurements",
        "",
        "Verdicts: `reproduced` when the claimed value lies within 2 std (at least 0.02) of our mean, or the claimed "
        "ordering holds; `not reproduced` otherwise; `not comparable` when the setting differs in a way that decides "
        "the number. The paper's own numbers come from its Table 2 and Section 4 text; the TagFinder ones from its "
        f"Table 5 (`{COMMANDS['tagfinder']}` -> [results/tagfinder_table.md](results/tagfinder_table.md)).",
        "",
        *p3,
        "## 4. The open race against Adam",
        "",
        "`scpo train-benchmark` (networks/race.py): on each seeded split (80/10/10 %; tags and collection-tag "
        "setting in each heading) the featurizer is fitted once and every optimizer trains the same DeepResNet "
        "from the same initial weights, population optimizers with one budget of fitness evaluations "
        "(population 64), Adam with an epoch cap and patience 20; every run keeps the weights with the lowest "
        "validation loss. Rank-sum tests of test Hit@5 against Adam, Holm-corrected over the population "
        "optimizers. "
        + race_setting(facts4),
        "",
        *p4,
        *written_part(results, "engineering_report.md"),
    ]
    return "\n".join(lines)


def written_part(results: Path, name: str) -> list[str]:
    """A part its own experiment script writes whole (``experiments/bias.py``-style commands inside it), as
    lines; nothing when the file is missing."""
    path = results / name
    return [*path.read_text(encoding="utf-8").strip().splitlines(), ""] if path.exists() else []


def race_setting(facts4: dict) -> str:
    """The command that wrote part 4's files, with the setting actually run."""
    if not facts4:
        return f"Command: `{COMMANDS['part4'].format(datasets='apple,avengers', seeds=5, evals=10000)}`."
    configs = {d: f["config"] for d, f in facts4.items()}
    seeds = max(f["seeds"] for f in facts4.values())
    evals = next(iter(configs.values()))["evals"]
    note = "" if seeds >= 5 else f" **Fewer seeds than the issue's 5: {seeds}.**"
    return (f"Command: `{COMMANDS['part4'].format(datasets=','.join(configs), seeds=seeds, evals=evals)}` "
            f"(writes `results/race/<dataset>/`; resumable).{note}")


def race_summary(facts4: dict) -> list[str]:
    """One headline line per raced dataset."""
    out = []
    for dataset, f in facts4.items():
        if "best" not in f:
            continue
        verdict = (f"{', '.join(f['better'])} significantly better than Adam" if f["better"] else
                   "no population optimizer significantly better than Adam"
                   + ("" if f["testable"] else f" ({f['seeds']} seeds cannot reach p < 0.05 after Holm)"))
        line = (f"- Race against Adam, {dataset} ({f['seeds']} seeds): Adam median test Hit@5 {f['adam_hit5']:.3f} and "
                f"validation loss {f['adam_val']:.3f}; best population optimizer by Hit@5 {f['best']} "
                f"{f['best_hit5']:.3f}, lowest population validation loss {f['lowest']} {f['lowest_val']:.3f}; "
                f"{verdict}")
        if "scpo_rank" in f:
            line += f"; SCPO ranks {f['scpo_rank'][0]} of {f['scpo_rank'][1]} population optimizers by validation loss"
        out.append(line + ".")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--out", type=Path, default=HERE / "REPORT.md")
    args = parser.parse_args(argv)
    write_text(args.out, render(args.results))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
