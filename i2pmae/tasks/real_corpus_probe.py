"""5-fold cross-validated probe on the real corpus's left-out sets (issue 23; docs/data.md §9): linear SVM
and 10-NN, for ``i2pmae data real-corpus-probe`` and ``benchmarks/real_corpus_probe.py``.

Each evaluation set (``eval-ufoai``, ``eval-kicad`` of :mod:`i2pmae.data.realcorpus`; one object per
near-duplicate group, so no near-twin straddles two folds) is split into stratified folds; each fold is
probed with the project's probe (:func:`i2pmae.tasks.svm_eval.probe_encoder`: standardised features, C by
3-fold CV on the training folds, debiased BatchNorm, which re-estimates never-updated BatchNorm statistics
on the training folds at random init) and 10-NN. Reports mean +- std over folds, per seed, then over seeds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_CORPUS = "$I2PMAE_CACHE/real-corpus"
DEFAULT_SETS = ("eval-ufoai", "eval-kicad")


def add_probe_args(ap: argparse.ArgumentParser) -> None:
    """The probe's options (the command and the benchmark script share them)."""
    ap.add_argument("--checkpoint", default=None, help="a pre-training checkpoint, e.g. RUN/last.pth (default: "
                    "randomly initialised encoders, one per --seeds)")
    ap.add_argument("--config", default="pretrain/real-corpus", help="config whose model: and svm: sections are "
                    "used (default: pretrain/real-corpus)")
    ap.add_argument("--corpus", default=DEFAULT_CORPUS, help=f"the built corpus (default: {DEFAULT_CORPUS})")
    ap.add_argument("--sets", nargs="+", default=list(DEFAULT_SETS), help="evaluation folders of the corpus "
                    f"(default: {' '.join(DEFAULT_SETS)})")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="init seeds at random init (default "
                    "0 1 2; a checkpoint is probed once)")
    ap.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    ap.add_argument("--json", dest="json_out", default=None, metavar="FILE", help="also write the results here")


def probe_set(model: Any, ds: Any, svm_opts: dict, folds: int, seed: int) -> dict:
    """Mean +- std over ``folds`` stratified folds of one evaluation set. A trained encoder's features do not
    depend on the training folds, so the set is encoded once and each fold probes slices of it (the same
    numbers as encoding each fold); at random init BatchNorm statistics are re-estimated fold by fold."""
    from sklearn.model_selection import StratifiedKFold
    from torch.utils.data import Subset

    from i2pmae.engine.distributed import DistInfo
    from i2pmae.tasks.svm_eval import encode_with_statistics, features_need_train_set, probe_encoder

    labels = ds.labels()
    if features_need_train_set(model, svm_opts):
        split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        runs = [probe_encoder(model, Subset(ds, tr.tolist()), Subset(ds, te.tolist()), svm_opts, DistInfo(),
                              name=f"fold {k}")
                for k, (tr, te) in enumerate(split.split(np.zeros(len(labels)), labels))]
    else:
        runs = probe_features(*encode_with_statistics(model, ds, DistInfo(), svm_opts), svm_opts, folds, seed)
    per_fold = [{"svm": r["svm_acc"], "knn": r["knn_acc"], "C": r["C"], "C_at_edge": r["C_at_edge"]} for r in runs]
    svm, knn = np.array([f["svm"] for f in per_fold]), np.array([f["knn"] for f in per_fold])
    return {"svm_mean": float(svm.mean()), "svm_std": float(svm.std()), "knn_mean": float(knn.mean()),
            "knn_std": float(knn.std()), "folds": per_fold, "objects": len(labels), "classes": len(ds.classes),
            "C_at_edge": any(f["C_at_edge"] for f in per_fold)}


def probe_features(x: Any, y: Any, svm_opts: dict, folds: int, seed: int, name: str = "") -> list[dict]:
    """The probe on each stratified fold of features computed once (a trained encoder, a 2D teacher)."""
    from sklearn.model_selection import StratifiedKFold

    from i2pmae.tasks.svm import KNN_K, linear_svm_probe, parse_svm_c
    from i2pmae.tasks.svm_eval import parse_standardize

    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), np.asarray(y))
    return [linear_svm_probe(x[tr], y[tr], x[te], y[te], parse_svm_c(svm_opts.get("C", 0.01)), svm_opts.get("grid"),
                             parse_standardize(svm_opts.get("standardize")), KNN_K, f"{name}fold {k}")
            for k, (tr, te) in enumerate(split)]


def open_sets(corpus: Path, names: list[str], npoints: int, folds: int) -> dict:
    """The evaluation folders as datasets; a clear error when the corpus is not built or a set is too small."""
    from i2pmae.data.folder import PointFolder

    if folds < 2:
        raise ValueError(f"--folds must be >= 2, got {folds}")
    missing = [n for n in names if not (corpus / n).is_dir()]
    if missing:
        raise FileNotFoundError(f"{corpus}: no {', '.join(missing)} folder; build the corpus first with "
                                f"'i2pmae data real-corpus --download' (or pass --corpus the folder it wrote)")
    sets = {n: PointFolder(corpus / n, split="all", npoints=npoints, shuffle_points=False) for n in names}
    for name, ds in sets.items():
        labels = ds.labels()
        if labels is None:
            raise ValueError(f"{corpus / name}: no class sub-folders (the probe needs labelled objects)")
        counts = np.bincount(labels)
        if len(counts) < 2 or counts.min() < folds:
            raise ValueError(f"{corpus / name}: {folds}-fold cross-validation needs >= 2 classes with >= {folds} "
                             f"objects each; found {len(counts)} class(es), the smallest with {int(counts.min())}")
    return sets


def run(args: argparse.Namespace) -> int:
    import torch

    from i2pmae.data.locations import resolve_data_path
    from i2pmae.engine.config import load_config
    from i2pmae.tasks.svm_eval import build_encoder

    cfg = load_config(args.config)
    corpus = resolve_data_path(args.corpus)
    npoints = int(cfg["data"]["npoints"])
    sets = open_sets(corpus, args.sets, npoints, args.folds)
    results: dict = {"checkpoint": args.checkpoint, "config": args.config, "folds": args.folds, "runs": []}
    for seed in (args.seeds if args.checkpoint is None else [0]):
        torch.manual_seed(seed)
        model = build_encoder(cfg["model"], args.checkpoint)
        one = {"seed": seed}
        for name, ds in sets.items():
            one[name] = r = probe_set(model, ds, dict(cfg.get("svm") or {}), args.folds, seed)
            print(f"seed {seed} {name} ({r['objects']} objects, {r['classes']} classes): SVM {r['svm_mean']:.1f} "
                  f"+- {r['svm_std']:.1f}, 10-NN {r['knn_mean']:.1f} +- {r['knn_std']:.1f} ({args.folds}-fold)",
                  flush=True)
        results["runs"].append(one)
    for name in sets:
        svm = [r[name]["svm_mean"] for r in results["runs"]]
        knn = [r[name]["knn_mean"] for r in results["runs"]]
        results[name] = {"svm_mean": float(np.mean(svm)), "svm_std": float(np.std(svm)),
                         "knn_mean": float(np.mean(knn)), "knn_std": float(np.std(knn)), "per_seed_svm": svm,
                         "per_seed_knn": knn}
        print(f"{name}: SVM {np.mean(svm):.1f} +- {np.std(svm):.1f}, 10-NN {np.mean(knn):.1f} +- {np.std(knn):.1f} "
              f"over {len(svm)} seed(s)")
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(results, indent=1) + "\n")
    return 0
