"""Shape classification: fine-tuning, testing with voting, and few-shot folds (docs/data.md §1.2, §3, §5).

Point handling follows the authors' runner: training clouds are reduced by FPS
to ``point_all`` (1024 -> 1200, 2048 -> 2400, ...) and then a random
``npoints`` of those (one column set per batch); test clouds by deterministic
FPS to ``npoints``.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from i2pmae.data import build_dataset
from i2pmae.data.paths import check_data_paths
from i2pmae.data.transforms import ScaleAndTranslate, build_transforms
from i2pmae.engine.distributed import DistInfo, all_gather_tensors
from i2pmae.engine.loop import Task, move_batch, train
from i2pmae.tasks.metrics import fewshot_summary
from i2pmae.engine.runs import load_weights
from i2pmae.tasks.svm_eval import evaluating, shard_loader, unwrap
from i2pmae.models import build_model
from i2pmae.ops import farthest_point_sample, index_points

log = logging.getLogger("i2pmae")

POINT_ALL = {1024: 1200, 2048: 2400, 4096: 4800, 8192: 8192}


def fps_reduce(points: torch.Tensor, n: int) -> torch.Tensor:
    """Deterministic FPS to n points (or the cloud itself when it has no more than n)."""
    if points.shape[1] <= n:
        return points
    return index_points(points, farthest_point_sample(points, n))


def train_points(points: torch.Tensor, npoints: int, gen: torch.Generator, point_all: int | None = None) -> torch.Tensor:
    """FPS to ``point_all`` then a random ``npoints`` of them, one column set for the batch."""
    n_all = min(point_all or POINT_ALL.get(npoints, npoints), points.shape[1])
    if n_all < npoints:
        raise ValueError(f"clouds have {points.shape[1]} points, fewer than data.npoints={npoints}")
    pts = index_points(points, farthest_point_sample(points, n_all))
    cols = torch.randperm(n_all, generator=gen)[:npoints].to(points.device)
    return pts[:, cols]


def build_classifier(cfg: dict) -> nn.Module:
    model = build_model(cfg["model"])
    if cfg.get("pretrained"):
        missing, unexpected = model.load_pretrained(load_weights(cfg["pretrained"]))
        log.info("loaded pre-trained weights %s: %d missing, %d unexpected keys",
                 cfg["pretrained"], len(missing), len(unexpected))
    return model


@torch.no_grad()
def predict(model: nn.Module, dataset: Dataset, dist: DistInfo, prep: Callable[[torch.Tensor], torch.Tensor],
            batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, labels) over the whole dataset, gathered from every rank."""
    logits, labels = [], []
    with evaluating(model) as m:
        for batch in shard_loader(dataset, dist, batch_size):
            batch = move_batch(batch, dist.device)
            logits.append(m(prep(batch["points"])).float())
            labels.append(batch["label"].view(-1))
    return all_gather_tensors(torch.cat(logits)), all_gather_tensors(torch.cat(labels))


def accuracy_pct(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(-1) == labels).float().mean() * 100)


def run_finetune(cfg: dict, run_dir: Path, dist: DistInfo, resume: bool = False) -> dict[str, Any]:
    """Fine-tune (or train from scratch) a classifier; best test accuracy picks ``best.pth``."""
    check_data_paths(cfg, optional=())  # every configured dataset is there, before any work
    data_cfg = cfg["data"]
    npoints = int(data_cfg.get("npoints", 1024))
    point_all = data_cfg.get("point_all")
    train_set = build_dataset(data_cfg["dataset"], "train")
    test_set = build_dataset(data_cfg["dataset"], "test")
    model = build_classifier(cfg)
    augment = build_transforms(cfg.get("augment", {}).get("train", ["scale_translate"]))
    log.info("fine-tuning on %d clouds, testing on %d", len(train_set), len(test_set))

    def loss_fn(m: nn.Module, batch: dict, gen: torch.Generator):
        points = augment(train_points(batch["points"], npoints, gen, point_all), generator=gen)
        logits = m(points)
        labels = batch["label"].view(-1)
        loss = unwrap(m).loss(logits, labels)
        return loss, {"train_acc": accuracy_pct(logits.detach(), labels)}

    def evaluate(m: nn.Module) -> dict[str, float]:
        logits, labels = predict(m, test_set, dist, lambda p: fps_reduce(p, npoints))
        return {"acc": accuracy_pct(logits, labels)}

    return train(Task("finetune", model, train_set, loss_fn, evaluate, best_metric="acc"), cfg, run_dir, dist, resume)


@torch.no_grad()
def vote_accuracy(model: nn.Module, dataset: Dataset, dist: DistInfo, npoints: int, votes: int = 10,
                  repeats: int = 49, seed: int = 0, point_all: int | None = None) -> dict[str, float]:
    """ModelNet40 voting (docs/data.md §3): mean of ``votes`` augmented logits, max over ``repeats``."""
    unwrap(model).eval()
    augment = ScaleAndTranslate()
    n_all = point_all or POINT_ALL.get(npoints, npoints)
    results = []
    for r in range(repeats):
        gen = torch.Generator().manual_seed(seed * 1000 + r)

        def prep_votes(points: torch.Tensor) -> torch.Tensor:
            base = fps_reduce(points, n_all)
            m = unwrap(model)
            total = 0
            for _ in range(votes):
                cols = torch.randperm(base.shape[1], generator=gen)[:npoints].to(base.device)
                total = total + m(augment(base[:, cols], generator=gen)).float()
            return total / votes

        logits, labels = predict(_Identity(prep_votes), dataset, dist, lambda p: p)
        results.append(accuracy_pct(logits, labels))
    return {"vote_acc": max(results), "vote_acc_mean": float(np.mean(results))}


class _Identity(nn.Module):
    """Wraps a function so `predict` can call it like a model."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return self.fn(points)


def run_evaluate(cfg: dict, checkpoint: str, dist: DistInfo, vote: bool) -> dict[str, float]:
    """Test a fine-tuned checkpoint: plain accuracy, plus voting when asked."""
    data_cfg = cfg["data"]
    npoints = int(data_cfg.get("npoints", 1024))
    if cfg["model"].get("name") == "I2PMAE":
        raise ValueError(f"evaluate tests a fine-tuned classifier, but the model of {checkpoint} is the pre-training "
                         "network I2PMAE; fine-tune it first (i2pmae finetune --pretrained CKPT) or use i2pmae svm")
    test_set = build_dataset(data_cfg["dataset"], "test")
    model = build_model(cfg["model"])
    state = load_weights(checkpoint)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing:
        raise ValueError(f"{checkpoint}: not a checkpoint of this classifier; missing keys {missing[:5]}...")
    if unexpected:
        log.warning("%s: %d unexpected keys ignored (%s...)", checkpoint, len(unexpected), unexpected[:3])
    model.to(dist.device)
    logits, labels = predict(model, test_set, dist, lambda p: fps_reduce(p, npoints))
    result = {"acc": accuracy_pct(logits, labels)}
    if vote:
        ecfg = cfg.get("evaluate", {})
        result.update(vote_accuracy(model, test_set, dist, npoints, int(ecfg.get("votes", 10)),
                                    int(ecfg.get("vote_repeats", 49)), int(cfg.get("train", {}).get("seed", 0)),
                                    data_cfg.get("point_all")))
    return result


def run_fewshot(cfg: dict, run_dir: Path, dist: DistInfo) -> dict[str, Any]:
    """Every (way, shot) setting x fold of ``cfg['fewshot']``; mean +- std table over folds."""
    fs = cfg.get("fewshot", {})
    settings = [tuple(s) for s in fs.get("settings", [[5, 10], [5, 20], [10, 10], [10, 20]])]
    folds = list(fs.get("folds", range(10)))
    accs: dict[str, list[float]] = {}
    for way, shot in settings:
        key = f"{way}-way {shot}-shot"
        for fold in folds:
            sub = run_dir / f"{way}way_{shot}shot" / f"fold{fold}"
            result_file = sub / "result.json"
            if result_file.is_file():  # resume: finished folds are kept
                accs.setdefault(key, []).append(json.loads(result_file.read_text())["best_acc"])
                log.info("few-shot %s fold %d: already finished (%s), skipped", key, fold, result_file)
                continue
            fold_cfg = copy.deepcopy(cfg)
            fold_cfg["data"]["dataset"].update(way=way, shot=shot, fold=fold)
            fold_cfg["model"]["num_classes"] = way
            log.info("few-shot %s fold %d", key, fold)
            summary = run_finetune(fold_cfg, sub, dist, resume=(sub / "last.pth").is_file())
            best = float(summary["best"] if summary["best"] is not None else 0.0)
            if dist.is_main:
                result_file.write_text(json.dumps({"best_acc": best, "best_epoch": summary["best_epoch"]}))
            accs.setdefault(key, []).append(best)
    table = fewshot_summary(accs)
    if dist.is_main:
        (run_dir / "fewshot.md").write_text(table + "\n")
        (run_dir / "fewshot.json").write_text(json.dumps(accs, indent=2))
    return {"accs": accs, "table": table}
