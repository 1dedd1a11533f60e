"""Does bf16 (teacher in bf16 + bf16 autocast of the 3D network) train the miniature as fp32 does? (issue 19)

Pre-trains the quickstart I2P-MAE on the *dev* draw (``i2pmae data synth --seed 1``, as
``benchmarks/step_sweep.py``) once per (precision, seed) with the quickstart recipe (72 steps), then probes
the last checkpoint (linear SVM with CV'd C, and 10-NN) in fp32. Prints the per-seed loss curve (mean loss
of the first/middle/last 12 steps), the final loss and both probe accuracies, and mean +- std over seeds.

    python benchmarks/amp_miniature.py --out runs/amp_miniature [--seeds 0 1 2] [--threads 2]

``fp32``: ``teacher.dtype=fp32 train.amp=none`` (the former default on every CPU);
``bf16``: ``teacher.dtype=bf16 train.amp=bf16``.  Nothing here touches the reported test draw.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

PRECISIONS = {"fp32": ["teacher.dtype=fp32", "train.amp=none"], "bf16": ["teacher.dtype=bf16", "train.amp=bf16"]}


def run_one(out: Path, precision: str, seed: int) -> dict:
    from i2pmae.engine.config import load_config
    from i2pmae.engine.distributed import DistInfo
    from i2pmae.engine.seeding import seed_everything
    from i2pmae.tasks.experiment import ensure_synthetic_data, probe_run, variant_config
    from i2pmae.tasks.pretrain import run_pretrain

    data = out / "data"
    cfg = load_config("quickstart", [
        f"data.root={data}", f"data.dataset.root={data}/ShapeNet55-34",
        f"data.svm.root={data}/modelnet40_ply_hdf5_2048", "synth.seed=1", *PRECISIONS[precision]])
    cfg = variant_config(cfg, "i2p-mae", seed)
    ensure_synthetic_data(cfg)
    run_dir = out / f"{precision}-seed{seed}"
    if not (run_dir / "last.pth").is_file():
        run_dir.mkdir(parents=True, exist_ok=True)
        seed_everything(seed)
        run_pretrain(cfg, run_dir, DistInfo())
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    losses = [r["loss"] for r in records if "loss" in r]
    probe = probe_run(cfg, "i2p-mae", seed, str(run_dir), DistInfo())
    third = max(1, len(losses) // 6)
    mid = len(losses) // 2
    return {"precision": precision, "seed": seed, "steps": len(losses),
            "loss_first": statistics.fmean(losses[:third]), "loss_mid": statistics.fmean(losses[mid - third // 2:mid + third - third // 2]),
            "loss_last": statistics.fmean(losses[-third:]), "svm": probe.get("svm_acc", probe.get("acc")),
            "knn": probe.get("knn_acc"), "probe": {k: v for k, v in probe.items() if isinstance(v, (int, float, str))}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/amp_miniature")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in args.seeds:
        for precision in PRECISIONS:
            rows.append(run_one(out, precision, seed))
            print(json.dumps(rows[-1]), flush=True)
    (out / "results.json").write_text(json.dumps(rows, indent=2))
    print("\n| precision | seed | loss first 1/6 | loss middle | loss last 1/6 | SVM | 10-NN |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['precision']} | {r['seed']} | {r['loss_first']:.4f} | {r['loss_mid']:.4f} | {r['loss_last']:.4f} "
              f"| {r['svm']} | {r['knn']} |")
    for precision in PRECISIONS:
        sel = [r for r in rows if r["precision"] == precision]
        for key in ("loss_last", "svm", "knn"):
            vals = [float(r[key]) for r in sel if r[key] is not None]
            if len(vals) > 1:
                print(f"{precision} {key}: {statistics.fmean(vals):.4f} +- {statistics.stdev(vals):.4f} (n={len(vals)})")


if __name__ == "__main__":
    sys.exit(main())
