"""The paper's Table 1 in miniature, on the built-in procedural shapes.

Linear-SVM accuracy of (a) a randomly initialised encoder, (b) pre-training
without 2D guidance (random masking, 3D loss only) and (c) I2P-MAE, each over
several seeds, plus the 2D teacher's own SVM accuracy on its multi-view
features for reference. Every number is the *last* checkpoint's: nothing is
selected on the test split.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from i2pmae.data import build_dataset
from i2pmae.engine.distributed import DistInfo
from i2pmae.engine.pretrain import run_pretrain
from i2pmae.engine.runs import build_teacher_from_config
from i2pmae.engine.seeding import seed_everything
from i2pmae.engine.svm import CV_GRID, linear_svm_accuracy, parse_svm_c
from i2pmae.engine.svm_eval import build_encoder, shard_loader, svm_accuracy

log = logging.getLogger("i2pmae")

VARIANTS = {
    "random_init": "(a) randomly initialised encoder",
    "w/o_2d": "(b) pre-trained w/o 2D guidance (random masking, 3D loss)",
    "i2p-mae": "(c) I2P-MAE (2D-guided masking, 3D + 2D losses)",
}


def ensure_synthetic_data(cfg: dict) -> Path:
    """Generate the procedural shapes under ``data.root`` unless they are already there."""
    from i2pmae.data.synth import write_synthetic

    root = Path(cfg["data"]["root"])
    if (root / "synth.json").is_file():
        return root
    synth = cfg.get("synth", {})
    log.info("generating procedural shapes in %s", root)
    summary = write_synthetic(root, per_class=int(synth.get("per_class", 80)),
                              test_per_class=synth.get("test_per_class"), seed=int(synth.get("seed", 0)))
    log.info("%d classes, %d training and %d test shapes", len(summary["classes"]), summary["train"], summary["test"])
    return root


@torch.no_grad()
def teacher_svm_accuracy(cfg: dict, dist: DistInfo) -> float:
    """SVM on the teacher's multi-view features: per view, mean of its patch features; views concatenated."""
    from i2pmae.projection import project_views

    teacher = build_teacher_from_config(cfg, dist.device)
    views = tuple(cfg["model"].get("views", (0, 1, 2)))
    svm_cfg = cfg["data"]["svm"]

    def encode(split: str) -> tuple[np.ndarray, np.ndarray]:
        feats, labels = [], []
        for batch in shard_loader(build_dataset(svm_cfg, split), dist, 32):
            images, _ = project_views(batch["points"].to(dist.device), views=views)
            b, v = images.shape[:2]
            f, _ = teacher(images.flatten(0, 1))
            feats.append(f.float().mean(dim=(2, 3)).view(b, v, -1).flatten(1).cpu())
            labels.append(batch["label"].view(-1))
        return torch.cat(feats).numpy(), torch.cat(labels).numpy()

    tr_x, tr_y = encode("train")
    te_x, te_y = encode("test")
    return linear_svm_accuracy(tr_x, tr_y, te_x, te_y, parse_svm_c(cfg.get("svm", {}).get("C", 0.01)))


def variant_config(cfg: dict, variant: str, seed: int) -> dict:
    out = copy.deepcopy(cfg)
    out["train"]["seed"] = seed
    if variant == "w/o_2d":
        out["model"]["masking"] = "random"
    return out


def run_table1(cfg: dict, out_dir: Path, dist: DistInfo, seeds: list[int]) -> dict[str, Any]:
    """All runs of the miniature Table 1; returns and writes ``table1.json`` / ``table1.md``."""
    out_dir = Path(out_dir)
    ensure_synthetic_data(cfg)
    svm_cfg = cfg["data"]["svm"]
    svm_train, svm_test = build_dataset(svm_cfg, "train"), build_dataset(svm_cfg, "test")
    c = parse_svm_c(cfg.get("svm", {}).get("C", 0.01))
    results: dict[str, list[float]] = {k: [] for k in VARIANTS}
    runs: dict[str, list[str]] = {k: [] for k in VARIANTS if k != "random_init"}
    for seed in seeds:
        seed_everything(seed)
        encoder = build_encoder(cfg["model"], None).to(dist.device)
        results["random_init"].append(svm_accuracy(encoder, svm_train, svm_test, c, dist, cfg.get("svm")))
        log.info("seed %d (a) random init: SVM %.2f%%", seed, results["random_init"][-1])
        for variant in ("w/o_2d", "i2p-mae"):
            vcfg = variant_config(cfg, variant, seed)
            run_dir = out_dir / "runs" / f"{variant.replace('/', '')}-seed{seed}"
            resume = (run_dir / "last.pth").is_file()
            if resume and _finished(run_dir, vcfg):
                log.info("seed %d %s: already trained in %s", seed, variant, run_dir)
            else:
                run_dir.mkdir(parents=True, exist_ok=True)
                seed_everything(seed)
                run_pretrain(vcfg, run_dir, dist, resume=resume)
            acc = _last_epoch_svm(run_dir, vcfg)
            if acc is None:  # the run did not score its last epoch: score its last checkpoint now
                encoder = build_encoder(vcfg["model"], str(run_dir / "last.pth")).to(dist.device)
                acc = svm_accuracy(encoder, svm_train, svm_test, c, dist, cfg.get("svm"))
            results[variant].append(acc)
            runs[variant].append(str(run_dir))
            log.info("seed %d %s: SVM %.2f%%", seed, variant, results[variant][-1])
    teacher_acc = teacher_svm_accuracy(cfg, dist)
    summary = {
        "seeds": seeds, "C": c, "accuracy": results, "runs": runs, "teacher_svm": teacher_acc,
        "teacher": cfg.get("teacher", {}).get("name"),
        "mean": {k: float(np.mean(v)) for k, v in results.items()},
        "std": {k: float(np.std(v)) for k, v in results.items()},
    }
    if dist.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "table1.json").write_text(json.dumps(summary, indent=2))
        (out_dir / "table1.md").write_text(table1_markdown(summary))
    return summary


def _last_epoch_svm(run_dir: Path, cfg: dict) -> float | None:
    """The run's own SVM score of its last epoch (same data, same C), if it logged one."""
    from i2pmae.engine.logging import read_metrics

    metrics = run_dir / "metrics.jsonl"
    if not metrics.is_file():
        return None
    last_epoch = int(cfg["train"]["epochs"]) - 1
    rows = [r for r in read_metrics(metrics) if "eval/svm_acc" in r and r.get("epoch") == last_epoch]
    return float(rows[-1]["eval/svm_acc"]) if rows else None


def _finished(run_dir: Path, cfg: dict) -> bool:
    from i2pmae.engine.checkpoint import load_checkpoint

    loop = load_checkpoint(run_dir / "last.pth")["loop"]
    return loop["epoch"] >= int(cfg["train"]["epochs"])


def table1_markdown(summary: dict) -> str:
    n = len(summary["seeds"])
    lines = [
        f"| pre-training | linear-SVM accuracy (%), mean ± std over {n} seed{'s' if n > 1 else ''} | per seed |",
        "|---|---|---|",
    ]
    for key, title in VARIANTS.items():
        accs = summary["accuracy"][key]
        lines.append(f"| {title} | {summary['mean'][key]:.2f} ± {summary['std'][key]:.2f} | "
                     + ", ".join(f"{a:.2f}" for a in accs) + " |")
    lines.append(f"| 2D teacher `{summary['teacher']}` on its multi-view features (reference) | "
                 f"{summary['teacher_svm']:.2f} | |")
    lines.append("")
    c = summary["C"]
    c_text = (f"C chosen per encoder by 3-fold cross-validation on the training split from {list(CV_GRID)}"
              if c == "cv" else f"C={c}")
    lines.append(f"SVM: sklearn linear SVC, {c_text}; last checkpoint of each run "
                 "(nothing selected on the test split); std is the population std (numpy default).")
    return "\n".join(lines) + "\n"
