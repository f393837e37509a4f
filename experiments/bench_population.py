"""Population forward pass: compiled pass vs vmap vs a member loop, against the machine's GEMM rate.

Usage: ``python experiments/bench_population.py [--threads 2] [--train]``. All timings of one table
are taken in this process, interleaved (pass, vmap, loop, torch.mm, repeat), best of ``--repeats``;
the figures to read are the ratios. ``--train`` also runs ``scpo train`` end to end (SCPO, 30,000
evaluations, top-20 tags) on a ~7k-training-tweet CSV built in a temporary directory by replicating
the Avengers corpus with a row-number token appended (so de-duplication keeps every row), and
reports its wall time and peak resident memory (``os.wait4``: that child alone).
"""

from __future__ import annotations

import argparse
import copy
import csv
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from networks.population import batched_loss, flat_size, load_flat, loss_per_example  # noqa: E402
from networks.population_pass import network_flops  # noqa: E402
from networks.resnet import DeepResNet  # noqa: E402

DATA = Path(os.environ.get("SCPO_DATA", "/work/shared/data"))


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        name = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        name = platform.processor() or "unknown"
    return f"{name}, {os.cpu_count()} CPUs, torch {torch.__version__}"


def member_loop(net, W, x, y) -> torch.Tensor:
    """The reference: one ordinary forward per member on a copy (train-mode batch norm)."""
    member = copy.deepcopy(net).train()
    out = []
    with torch.no_grad():
        for w in W:
            load_flat(member, w)
            out.append(loss_per_example(member(x), y, "mse", False).mean())
    return torch.stack(out)


def best_of(fns: dict, repeats: int, sync=lambda: None) -> dict[str, float]:
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            sync()
            times[k].append(time.perf_counter() - t)
    return {k: min(v) for k, v in times.items()}


def bench_pass(pop: int, batches: list[int], repeats: int, device: str = "cpu") -> None:
    """The table for one device (cuda: every timing ends with a synchronize)."""
    net = DeepResNet(9, 20, seed=0).to(device)  # default width 8, depth 2: channels 8, 16
    flops = network_flops(net, (2, 9))
    rng = np.random.default_rng(0)
    W = torch.as_tensor(rng.uniform(-0.5, 0.5, (pop, flat_size(net))), dtype=torch.float32, device=device)
    a, b = torch.randn(2048, 2048, device=device), torch.randn(2048, 2048, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    print(f"DeepResNet(9 features, 20 tags, channels {list(net.channels)}), {flat_size(net)} weights, "
          f"{flops:,} FLOPs per example-forward (2 * conv/linear MACs), P = {pop}, float32, device {device}")
    print(f"{'batch':>6} {'pass ms':>9} {'vmap ms':>9} {'loop ms':>9} {'pass/vmap':>10} {'pass/loop':>10} "
          f"{'pass GFLOP/s':>13} {'GEMM GFLOP/s':>13} {'share':>7} {'ex-fwd/s':>10}")
    for batch in batches:
        x = torch.as_tensor(rng.normal(size=(batch, 9)), dtype=torch.float32, device=device)
        y = torch.eye(20, device=device)[torch.as_tensor(rng.integers(0, 20, batch), device=device)]
        fast = batched_loss(net, W, x, y)
        ref = batched_loss(net, W, x, y, path="vmap")
        assert torch.allclose(fast, ref, rtol=1e-3, atol=1e-4), float((fast - ref).abs().max())
        t = best_of({"pass": lambda x=x, y=y: batched_loss(net, W, x, y),
                     "vmap": lambda x=x, y=y: batched_loss(net, W, x, y, path="vmap"),
                     "loop": lambda x=x, y=y: member_loop(net, W, x, y),
                     "gemm": lambda: torch.mm(a, b)}, repeats, sync)
        gemm = 2 * 2048**3 / t["gemm"] / 1e9
        rate = flops * pop * batch / t["pass"] / 1e9
        print(f"{batch:>6} {t['pass'] * 1e3:>9.2f} {t['vmap'] * 1e3:>9.2f} {t['loop'] * 1e3:>9.2f} "
              f"{t['vmap'] / t['pass']:>9.1f}x {t['loop'] / t['pass']:>9.1f}x {rate:>13.1f} {gemm:>13.0f} "
              f"{100 * rate / gemm:>6.1f}% {pop * batch / t['pass']:>10,.0f}")


def build_csv(path: Path, rows: int) -> None:
    with open(DATA / "avengers_endgame_tweets.csv", newline="", encoding="utf-8") as fh:
        texts = [r["tweet"] for r in csv.DictReader(fh)]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text"])
        for i in range(rows):
            writer.writerow([f"{texts[i % len(texts)]} row{i}"])


def bench_train(rows: int, evals: int, threads: int | None, extra: tuple[str, ...] = ()) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tweets.csv"
        build_csv(path, rows)
        cmd = [sys.executable, "-m", "cli", "train", str(path), "--text-column", "text", "--top-k", "20",
               "--optimizer", "scpo", "--evals", str(evals), "--no-progress", "--json", str(Path(tmp) / "m.json"),
               *extra]
        if threads is not None:
            cmd += ["--threads", str(threads)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        load = os.getloadavg()
        start = time.perf_counter()
        with open(Path(tmp) / "stdout", "w+") as out, open(Path(tmp) / "stderr", "w+") as err:
            child = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=err)
            _, status, usage = os.wait4(child.pid, 0)  # this child's own peak, not every child's so far
            child.returncode = os.waitstatus_to_exitcode(status)
            wall = time.perf_counter() - start
            out.seek(0)
            err.seek(0)
            done = subprocess.CompletedProcess(cmd, child.returncode, out.read(), err.read())
        rss = usage.ru_maxrss / 1024
        import json
        n_train = json.loads((Path(tmp) / "m.json").read_text())["n_train"] if done.returncode == 0 else "?"
    print(f"scpo train ({rows:,} CSV rows -> {n_train} training tweets, --top-k 20 --optimizer scpo --evals "
          f"{evals:,}{' ' + ' '.join(extra) if extra else ''}, threads {threads or 'default'}): "
          f"exit {done.returncode}, wall {wall:.0f} s "
          f"(goal 280 s), peak RSS {rss:,.0f} MB (goal 1,024 MB); load average before {load[0]:.1f}, after "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("  " + (done.stdout.strip() or done.stderr.strip()[-300:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[2])
    parser.add_argument("--pop", type=int, default=64)
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 256, 2048])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train", action="store_true", help="also time scpo train end to end")
    parser.add_argument("--train-rows", type=int, default=9300)
    parser.add_argument("--train-evals", type=int, default=30000)
    parser.add_argument("--train-threads", type=int, default=None)
    args = parser.parse_args()
    print(f"# bench_population  {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC  {machine()}")
    print(f"# load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (the machine is shared: read ratios)")
    for threads in args.threads:
        torch.set_num_threads(threads)
        print(f"\n## torch threads {threads}")
        bench_pass(args.pop, args.batches, args.repeats)
    if args.train:
        print()
        bench_train(args.train_rows, args.train_evals, args.train_threads)


if __name__ == "__main__":
    main()
