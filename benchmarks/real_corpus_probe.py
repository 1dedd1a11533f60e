"""5-fold cross-validated probe on the real corpus's left-out sets (issue 23): linear SVM and 10-NN.

    python benchmarks/real_corpus_probe.py                          # random-init encoders, seeds 0 1 2
    python benchmarks/real_corpus_probe.py --checkpoint RUN/ckpt-last.pth

Each evaluation set (``eval-ufoai``, ``eval-kicad`` of ``scripts/build_real_corpus.py``; one object per
near-duplicate group, so no near-twin straddles two folds) is split into 5 stratified folds; each fold is
probed with the project's probe (:func:`i2pmae.tasks.svm_eval.probe_encoder`: standardised features, C by
3-fold CV on the training folds, debiased BatchNorm, which re-estimates never-updated BatchNorm statistics
on the training folds at random init) and 10-NN. Prints and writes mean +- std over folds, per seed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold
from torch.utils.data import Subset

from i2pmae.data.folder import PointFolder
from i2pmae.data.locations import resolve_data_path
from i2pmae.engine.config import load_config
from i2pmae.engine.distributed import DistInfo
from i2pmae.tasks.svm_eval import build_encoder, probe_encoder


def probe_set(model: torch.nn.Module, ds: PointFolder, svm_opts: dict, folds: int, seed: int) -> dict:
    labels = ds.labels()
    per_fold = []
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (tr, te) in enumerate(split.split(np.zeros(len(labels)), labels)):
        r = probe_encoder(model, Subset(ds, tr.tolist()), Subset(ds, te.tolist()), svm_opts, DistInfo(),
                          name=f"fold {k}")
        per_fold.append({"svm": r["svm_acc"], "knn": r["knn_acc"], "C": r["C"]})
    svm, knn = np.array([f["svm"] for f in per_fold]), np.array([f["knn"] for f in per_fold])
    return {"svm_mean": float(svm.mean()), "svm_std": float(svm.std()), "knn_mean": float(knn.mean()),
            "knn_std": float(knn.std()), "folds": per_fold, "objects": len(labels), "classes": len(ds.classes)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="pretrain/real-corpus")
    ap.add_argument("--corpus", default="$I2PMAE_CACHE/real-corpus")
    ap.add_argument("--sets", nargs="*", default=["eval-ufoai", "eval-kicad"])
    ap.add_argument("--checkpoint", default=None, help="a pre-training checkpoint (default: random init)")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2], help="init seeds (random init only)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = load_config(args.config)
    corpus = resolve_data_path(args.corpus)
    npoints = int(cfg["data"]["npoints"])
    sets = {s: PointFolder(corpus / s, split="all", npoints=npoints, shuffle_points=False) for s in args.sets}
    results: dict = {"checkpoint": args.checkpoint, "config": args.config, "folds": args.folds, "runs": []}
    for seed in (args.seeds if args.checkpoint is None else [0]):
        torch.manual_seed(seed)
        model = build_encoder(cfg["model"], args.checkpoint)
        run = {"seed": seed}
        for name, ds in sets.items():
            run[name] = r = probe_set(model, ds, dict(cfg.get("svm") or {}), args.folds, seed)
            print(f"seed {seed} {name} ({r['objects']} objects, {r['classes']} classes): SVM {r['svm_mean']:.1f} "
                  f"+- {r['svm_std']:.1f}, 10-NN {r['knn_mean']:.1f} +- {r['knn_std']:.1f} (5-fold)", flush=True)
        results["runs"].append(run)
    for name in sets:
        svm = [r[name]["svm_mean"] for r in results["runs"]]
        knn = [r[name]["knn_mean"] for r in results["runs"]]
        results[name] = {"svm_mean": float(np.mean(svm)), "svm_std": float(np.std(svm)),
                         "knn_mean": float(np.mean(knn)), "knn_std": float(np.std(knn)), "per_seed_svm": svm,
                         "per_seed_knn": knn}
        print(f"{name}: SVM {np.mean(svm):.1f} +- {np.std(svm):.1f}, 10-NN {np.mean(knn):.1f} +- {np.std(knn):.1f} "
              f"over {len(svm)} seed(s)")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
