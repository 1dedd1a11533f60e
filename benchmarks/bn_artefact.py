"""Why the quickstart's probe scores peaked at 36-72 pre-training steps and fell afterwards (issue #15).

Everything here uses *randomly initialised* weights that are never updated; only the BatchNorm running
statistics change.  With the authors' initialisation (Conv1d weights ~ N(0, 0.02^2)) the first
BatchNorm of the token embedding sees inputs whose variance (~1e-6) is below BatchNorm's eps (1e-5).
Its running variance starts at 1 and an exponential moving average (momentum 0.1) keeps a residue
0.9^n of that 1 after n training-mode batches: 0.73 after 3, 5e-4 after 72, 2.5e-7 after 144.  While the
residue dominates the true variance, eval mode scales that layer's output down by up to ~300x, which
changes the encoder's features, and the linear probe rises from ~80% to ~95% *without any learning*;
once the residue has decayed (~150 batches) the score falls back.  Dividing the residue out
(``svm.bn_statistics: debiased``, the probes' default) or re-estimating the statistics on the probe's
training split (``recalibrated``) removes the dependence; every EMA state is probed both as saved and
debiased.

    python benchmarks/bn_artefact.py --out runs/step_sweep    # the dev draw of benchmarks/step_sweep.py

Prints one row per state of the running statistics: their source, the first BatchNorm's running
variance against the data's, and the linear-SVM / 10-NN accuracy on the dev draw (never the test draw).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

MARKS = (0, 3, 36, 72, 144, 288)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/step_sweep", help="folder of the dev draw (shared with step_sweep.py)")
    p.add_argument("--seeds", default="0", help="weight seeds, comma-separated")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--per-layer", action="store_true",
                   help="also: recalibrated statistics everywhere except one BatchNorm (mean, variance or both), "
                        "which keeps its state after 72 EMA batches; shows which layer carries the effect")
    args = p.parse_args(argv)

    import torch
    from torch import nn

    from i2pmae.data import build_dataset
    from i2pmae.engine.distributed import DistInfo
    from i2pmae.engine.seeding import seed_everything
    from i2pmae.tasks.experiment import ensure_synthetic_data
    from i2pmae.tasks.svm_eval import (batchnorm_restored, build_encoder, debias_batchnorm, probe_encoder,
                                       recalibrate_batchnorm)
    from step_sweep import sweep_config

    torch.set_num_threads(args.threads)
    cfg = sweep_config(Path(args.out), "w/o_2d", 0, MARKS[-1], None, ["svm.bn_statistics=saved"])
    ensure_synthetic_data(cfg)
    sets = build_dataset(cfg["data"]["svm"], "train"), build_dataset(cfg["data"]["svm"], "test")
    rows = []
    for seed in [int(s) for s in args.seeds.split(",") if s]:
        seed_everything(seed)
        enc = build_encoder(cfg["model"], None).eval()
        names, bns = zip(*[(n, m) for n, m in enc.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)])
        first = bns[0]

        def probe(source: str, passes: int) -> None:
            r = probe_encoder(enc, *sets, cfg["svm"], DistInfo(), name=f"seed {seed} {source}")
            rows.append({"seed": seed, "source": source, "passes": passes,
                         "running_var": float(first.running_var.mean()), "svm_acc": r["svm_acc"],
                         "knn_acc": r["knn_acc"], "C": r["C"]})
            print(json.dumps(rows[-1]), flush=True)

        # The data's own variance at the first BatchNorm: a cumulative average over the whole split.
        with batchnorm_restored(enc):
            recalibrate_batchnorm(enc, sets[0], DistInfo(), cfg["svm"])
            recal = [{k: v.clone() for k, v in bn.named_buffers()} for bn in bns]
            data_var = float(first.running_var.mean())
            probe("recalibrated (cumulative average)", -1)
        print(f"seed {seed}: first BatchNorm input variance {data_var:.2e} (eps {first.eps:.0e})", flush=True)

        # Exponential moving average from the initial (0, 1), as pre-training's training mode does.
        gen = torch.Generator().manual_seed(seed)
        loader = torch.utils.data.DataLoader(sets[0], batch_size=32, shuffle=True, generator=gen, drop_last=True)
        passes = 0
        for mark in (72,) if args.per_layer else MARKS:
            while passes < mark:
                for batch in loader:
                    if passes == mark:
                        break
                    for bn in bns:
                        bn.train()
                    with torch.no_grad():
                        enc.extract_features(batch["points"])
                    passes += 1
            for bn in bns:
                bn.eval()
            probe(f"EMA after {mark} batches", mark)
            if not args.per_layer and mark > 0:
                with batchnorm_restored(enc):
                    debias_batchnorm(enc)
                    probe(f"EMA after {mark} batches, debiased", mark)
            if mark == 72:
                ema72 = [{k: v.clone() for k, v in bn.named_buffers()} for bn in bns]

        if args.per_layer:
            with batchnorm_restored(enc), torch.no_grad():
                for i, name in enumerate(names):
                    for keys in (("running_mean", "running_var"), ("running_mean",), ("running_var",)):
                        if i > 0 and len(keys) == 1:
                            continue  # buffers one at a time for the first layer only
                        for bn, state in zip(bns, recal):
                            for k, v in state.items():
                                getattr(bn, k).copy_(v)
                        for k in keys:
                            getattr(bns[i], k).copy_(ema72[i][k])
                        probe(f"recalibrated, but {name} {'+'.join(keys)} after 72 EMA batches", 72)

    print("\n| running statistics | batches | first-BN running var (mean) | SVM % | 10-NN % | C | seed |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['source']} | {r['passes'] if r['passes'] >= 0 else 'all'} | {r['running_var']:.2e} | "
              f"{r['svm_acc']:.2f} | {r['knn_acc']:.2f} | {r['C']:g} | {r['seed']} |")
    if args.out:
        path = Path(args.out) / f"bn_artefact{'_per_layer' if args.per_layer else ''}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        print(f"\nrows written to {path}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
