"""What a 2D teacher knows: the project's probes (SVM with C by CV, 10-NN) on its own multi-view features.

Issue 21 asks for a stand-in teacher whose features beat random 3D features by a wide margin, otherwise
2D guidance has nothing to teach. This probes a teacher exactly as ``i2pmae experiment table1`` does
(per view, the mean of its feature map; views concatenated; :func:`i2pmae.tasks.experiment.teacher_probe`)
on a procedural draw's test split and on the unseen families of the same draw's seed stream.

    python benchmarks/teacher_probe.py --weights runs/teacher-tiny-cnn.safetensors --draw dev
    python benchmarks/teacher_probe.py --teacher tiny-vit --draw dev        # the bundled tiny-vit

``--draw dev`` (default) is ``i2pmae data synth --seed 1`` written to ``--data`` (choose with it);
``--draw test`` is the built-in draw the README's tables report (probe it once, to report, never to choose).
``--draw real-corpus`` probes the real corpus's left-out sets (issue 23: ``eval-ufoai``, ``eval-kicad``) with the
5-fold stratified cross-validation of ``i2pmae data real-corpus-probe`` (same folds, same seed), so the teacher's
numbers sit beside the 3D encoders' on shapes neither pre-training nor the teacher ever saw:

    python benchmarks/teacher_probe.py --draw real-corpus --corpus $I2PMAE_CACHE/real-corpus
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher", default="tiny-cnn", help="teacher name (default tiny-cnn)")
    p.add_argument("--weights", default=None, help="weights file (default: the bundled asset)")
    p.add_argument("--draw", choices=("dev", "test", "real-corpus"), default="dev")
    p.add_argument("--corpus", default="$I2PMAE_CACHE/real-corpus", help="--draw real-corpus: the built corpus")
    p.add_argument("--sets", nargs="+", default=["eval-ufoai", "eval-kicad"], help="--draw real-corpus: its sets")
    p.add_argument("--folds", type=int, default=5, help="--draw real-corpus: cross-validation folds")
    p.add_argument("--data", default="runs/long_sweep/data", help="--draw dev: where the dev draw lives or is made")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="also write the result here")
    args = p.parse_args(argv)

    import torch

    from i2pmae.engine.config import load_config
    from i2pmae.engine.distributed import DistInfo
    from i2pmae.tasks.experiment import ensure_synthetic_data, teacher_probe

    torch.set_num_threads(args.threads)
    overrides = [f"teacher.name={args.teacher}", "teacher.dtype=fp32"]
    if args.weights:
        overrides.append(f"teacher.weights={args.weights}")
    if args.draw == "dev":
        d = Path(args.data)
        overrides += [f"data.root={d}", f"data.dataset.root={d}/ShapeNet55-34",
                      f"data.svm.root={d}/modelnet40_ply_hdf5_2048", "synth.seed=1", "data.unseen.seed=1"]
    out = {"teacher": args.teacher, "weights": args.weights or "bundled", "draw": args.draw}
    if args.draw == "real-corpus":
        out.update(real_corpus(args, load_config("pretrain/real-corpus", overrides)))
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
        return out
    cfg = load_config("quickstart", overrides)
    ensure_synthetic_data(cfg)
    for key, name in (("svm", "test_split"), ("unseen", "unseen_families")):
        r = teacher_probe(cfg, DistInfo(), key)
        out[name] = {k: r[k] for k in ("svm_acc", "knn_acc", "C", "C_at_edge")}
        print(name, json.dumps(out[name]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return out


def real_corpus(args: argparse.Namespace, cfg: dict) -> dict:
    """Features of each left-out set once (the teacher has no statistics to re-estimate per fold), then the
    probe on each of the real-corpus probe's folds; mean +- std over folds."""
    import numpy as np
    from i2pmae.data.locations import resolve_data_path
    from i2pmae.engine.distributed import DistInfo
    from i2pmae.engine.runs import build_teacher_from_config
    from i2pmae.tasks.experiment import teacher_features
    from i2pmae.tasks.real_corpus_probe import open_sets, probe_features

    dist = DistInfo()
    teacher = build_teacher_from_config(cfg, dist.device)
    views = tuple(cfg["model"].get("views", (0, 1, 2)))
    opts = cfg.get("svm") or {}
    out = {}
    for name, ds in open_sets(resolve_data_path(args.corpus), args.sets, int(cfg["data"]["npoints"]),
                              args.folds).items():
        x, y = teacher_features(teacher, ds, views, dist)
        runs = probe_features(x, y, {"C": "cv", **opts}, args.folds, 0, f"2D teacher, {name} ")
        svm, knn = np.array([r["svm_acc"] for r in runs]), np.array([r["knn_acc"] for r in runs])
        out[name] = {"svm_mean": float(svm.mean()), "svm_std": float(svm.std()), "knn_mean": float(knn.mean()),
                     "knn_std": float(knn.std()), "C": [r["C"] for r in runs],
                     "C_at_edge": any(r["C_at_edge"] for r in runs), "objects": len(y), "folds": args.folds}
        print(name, json.dumps(out[name]), flush=True)
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
