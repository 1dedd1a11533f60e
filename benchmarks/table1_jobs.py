"""Benchmark of `experiment table1 --jobs`: the runs in worker processes against one after another.

Not a test. Runs the same shortened miniature Table 1 (quickstart config, ``--epochs`` on ``--fraction`` of
the procedural shapes) twice in fresh output folders: ``--jobs 1`` (one process, all cores) and
``--jobs N`` (N worker processes, cores shared out), and prints both wall times and their ratio. The
procedural data are generated once, before either timing.

    python benchmarks/table1_jobs.py [--jobs N] [--seeds 0] [--fraction 0.5] [--epochs 2] [--keep DIR]

Accuracies agree between the two only when both use the same number of threads per run (tested in
tests/engine/test_experiment_table1.py); here ``--jobs 1`` uses all cores, so they may differ slightly.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from i2pmae.engine.config import load_config
from i2pmae.engine.distributed import DistInfo
from i2pmae.tasks.experiment import ensure_synthetic_data, run_table1


def timed_table1(cfg: dict, out: Path, seeds: list[int], jobs: int) -> tuple[float, dict]:
    start = time.perf_counter()
    summary = run_table1(cfg, out, DistInfo(), seeds, jobs)
    return time.perf_counter() - start, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--fraction", type=float, default=0.5, help="share of the pre-training shapes")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--keep", help="folder for data and runs (default: a temporary one, removed)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="i2pmae-bench-"))
    data = root / "data"
    cfg = load_config("quickstart", [
        f"data.root={data}", f"data.dataset.root={data}/ShapeNet55-34",
        f"data.svm.root={data}/modelnet40_ply_hdf5_2048", f"data.dataset.fraction={args.fraction}",
        f"train.epochs={args.epochs}", f"train.cosine_epochs={args.epochs}", f"train.eval_every={args.epochs}",
    ])
    try:
        ensure_synthetic_data(cfg)
        t_seq, seq = timed_table1(cfg, root / "jobs1", seeds, 1)
        t_par, par = timed_table1(cfg, root / f"jobs{args.jobs}", seeds, args.jobs)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    runs = 2 * len(seeds)
    print(f"miniature Table 1, {len(seeds)} seed(s): {runs} pre-training runs of {args.epochs} epoch(s) on "
          f"{args.fraction:.0%} of the shapes, {len(seeds)} random-init scores, the teacher's score")
    print(f"CPU threads available: {torch.get_num_threads()}")
    print(f"--jobs 1        : {t_seq:7.1f} s")
    print(f"--jobs {args.jobs:<9d}: {t_par:7.1f} s")
    print(f"speed-up (jobs 1 time / jobs {args.jobs} time): {t_seq / t_par:.2f}x")
    print(f"accuracies, jobs 1: {seq['accuracy']}")
    print(f"accuracies, jobs {args.jobs}: {par['accuracy']}")


if __name__ == "__main__":
    main()
