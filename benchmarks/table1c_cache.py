"""Does pre-training from a teacher cache change the result?  Table 1 (c) with the cache vs the online teacher.

Not a test. For each seed, pre-trains I2P-MAE ((c) of the miniature Table 1, the config's recipe unchanged)
twice, once with the online teacher (``teacher.cache: null``) and once from a teacher cache built here
(``i2pmae teacher cache``), and scores both last checkpoints with the config's linear-SVM probe, exactly
as ``i2pmae experiment table1`` does.  Only (c) uses the teacher, so (a) and (b) are not re-run.  Prints
mean +- std and per-seed values.  Nothing is selected on the test split.

    python benchmarks/table1c_cache.py [-c quickstart] [--seeds 0,1,2] [--jobs 2] [--out runs/table1c-cache]

Re-running with the same --out reuses finished runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from i2pmae.engine.config import load_config
from i2pmae.engine.distributed import DistInfo
from i2pmae.tasks.experiment import ensure_synthetic_data, probe_run, variant_config
from i2pmae.tasks.teacher_cache import build_teacher_cache

MODES = ("online", "cache")


def _pretrain(cfg: dict, run_dir: str, seed: int, threads: int) -> float:
    """One (c) pre-training run in a worker process; returns its wall time."""
    torch.set_num_threads(threads)
    os.environ["I2PMAE_PROGRESS"] = "0"
    from i2pmae.engine.logging import setup_logging
    from i2pmae.tasks.pretrain import run_pretrain
    from i2pmae.engine.seeding import seed_everything

    setup_logging(run_dir)
    seed_everything(seed)
    t0 = time.perf_counter()
    run_pretrain(cfg, Path(run_dir), DistInfo())
    seconds = time.perf_counter() - t0
    (Path(run_dir) / "done.json").write_text(json.dumps({"seconds": seconds}))
    return seconds


def _stats(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {std:.2f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-c", "--config", default="quickstart")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--jobs", type=int, default=2, help="pre-training runs at once (one thread each)")
    p.add_argument("--out", default="runs/table1c-cache")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    cfg = load_config(args.config, args.overrides)
    ensure_synthetic_data(cfg)
    torch.set_num_threads(max(1, args.jobs))
    t0 = time.perf_counter()
    cache = build_teacher_cache(cfg, out / "teacher-cache", batch_size=32)
    print(f"teacher cache: {cache['shapes']} shapes, {cache['bytes'] / 2**20:.1f} MiB, built in "
          f"{time.perf_counter() - t0:.0f} s")

    runs = {}
    for seed in seeds:
        for mode in MODES:
            vcfg = variant_config(cfg, "i2p-mae", seed)
            vcfg["teacher"]["cache"] = str(out / "teacher-cache") if mode == "cache" else None
            runs[(mode, seed)] = (vcfg, out / f"{mode}-seed{seed}")
    pending = [(k, c, d) for k, (c, d) in runs.items() if not (d / "done.json").is_file()]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {k: pool.submit(_pretrain, c, str(d), k[1], 1) for k, c, d in pending}
        for k, f in futures.items():
            print(f"{k[0]} seed {k[1]}: pre-trained in {f.result():.0f} s", flush=True)
    scores = {k: probe_run(c, "i2p-mae", k[1], str(d), DistInfo())["svm_acc"] for k, (c, d) in runs.items()}
    seconds = {k: json.loads((d / "done.json").read_text())["seconds"] for k, (_, d) in runs.items()}

    weights = cfg["teacher"].get("weights") or "bundled"
    digest = json.loads((out / "teacher-cache" / "manifest.json").read_text())["teacher"]["weights_sha256"]
    lines = [f"Table 1 (c), config {args.config} ({' '.join(args.overrides) or 'as shipped'}), teacher "
             f"{cfg['teacher']['name']} ({weights}, weights sha256 {digest[:12]}), seeds {seeds}",
             "", "| (c) I2P-MAE, 2D teacher | linear-SVM accuracy (%), mean ± std | per seed | pre-training s/run |",
             "|---|---|---|---|"]
    for mode in MODES:
        acc = [scores[(mode, s)] for s in seeds]
        lines.append(f"| {mode} | {_stats(acc)} | {', '.join(f'{a:.2f}' for a in acc)} | "
                     f"{statistics.mean(seconds[(mode, s)] for s in seeds):.0f} |")
    diff = [scores[("cache", s)] - scores[("online", s)] for s in seeds]
    lines.append(f"\ncache - online per seed: {', '.join(f'{d:+.2f}' for d in diff)} (mean {statistics.mean(diff):+.2f})")
    text = "\n".join(lines)
    print(text)
    (out / "table1c_cache.md").write_text(text + "\n")
    (out / "table1c_cache.json").write_text(json.dumps(
        {"seeds": seeds, "scores": {f"{m}-{s}": scores[(m, s)] for m, s in scores},
         "seconds": {f"{m}-{s}": seconds[(m, s)] for m, s in seconds}, "teacher_sha256": digest,
         "config": args.config, "overrides": args.overrides}, indent=2))
    bundled = Path(__file__).resolve().parents[1] / "i2pmae" / "assets" / "teacher-tiny-vit.safetensors"
    if bundled.is_file():
        print(f"bundled teacher file sha256 {hashlib.sha256(bundled.read_bytes()).hexdigest()[:12]}")


if __name__ == "__main__":
    main()
