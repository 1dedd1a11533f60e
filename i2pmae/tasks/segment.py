"""Part segmentation on ShapeNetPart with Point-M2AE's head (docs/data.md §3-4).

One optimiser step per batch (the authors step twice, docs/data.md §6.6). The test
set is scored after every epoch; best instance and best class mIoU are tracked
separately as maxima over epochs, and ``best.pth`` follows instance mIoU.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from i2pmae.data import build_dataset
from i2pmae.data.transforms import build_transforms
from i2pmae.engine.distributed import DistInfo, all_gather_tensors
from i2pmae.engine.loop import Task, move_batch, train
from i2pmae.tasks.metrics import part_segmentation_ious, summarise_part_ious
from i2pmae.tasks.classify import build_classifier
from i2pmae.tasks.svm_eval import evaluating, shard_loader, unwrap

log = logging.getLogger("i2pmae")


@torch.no_grad()
def evaluate_segmentation(model: nn.Module, dataset, dist: DistInfo, batch_size: int = 16) -> dict[str, float]:
    ious, cats = [], []
    with evaluating(model) as m:
        for batch in shard_loader(dataset, dist, batch_size):
            batch = move_batch(batch, dist.device)
            category = batch["category"].view(-1)
            log_probs = m(batch["points"], category)
            ious.append(part_segmentation_ious(log_probs, batch["seg"], category))
            cats.append(category)
    shape_ious = all_gather_tensors(torch.cat(ious)).cpu()
    categories = all_gather_tensors(torch.cat(cats)).cpu()
    summary = summarise_part_ious(shape_ious, categories, getattr(dataset, "categories", None))
    return {"instance_miou": float(summary["instance_miou"]), "class_miou": float(summary["class_miou"])}


def run_segment(cfg: dict, run_dir: Path, dist: DistInfo, resume: bool = False) -> dict[str, Any]:
    data_cfg = cfg["data"]
    train_set = build_dataset(data_cfg["dataset"], "trainval" if data_cfg.get("trainval", True) else "train")
    test_set = build_dataset(data_cfg["dataset"], "test")
    model = build_classifier(cfg)  # load_pretrained works the same for the segmentation network
    augment = build_transforms(cfg.get("augment", {}).get("train", ["seg_scale_shift"]))
    log.info("part segmentation: %d training shapes, %d test shapes", len(train_set), len(test_set))
    # Best class mIoU is a maximum over epochs of its own; a resumed run starts from what it logged before.
    earlier = _logged(run_dir, "eval/class_miou") if resume else []
    best_class = {"value": max(earlier, default=None)}

    def loss_fn(m: nn.Module, batch: dict, gen: torch.Generator):
        points = augment(batch["points"], generator=gen)
        log_probs = m(points, batch["category"].view(-1))
        return unwrap(m).loss(log_probs, batch["seg"]), {}

    def evaluate(m: nn.Module) -> dict[str, float]:
        result = evaluate_segmentation(m, test_set, dist, int(cfg.get("evaluate", {}).get("batch_size", 16)))
        if best_class["value"] is None or result["class_miou"] > best_class["value"]:
            best_class["value"] = result["class_miou"]
        result["best_class_miou"] = best_class["value"]
        return result

    summary = train(Task("segment", model, train_set, loss_fn, evaluate, best_metric="instance_miou"),
                    cfg, run_dir, dist, resume)
    summary["best_class_miou"] = max(earlier + [h["class_miou"] for h in summary["history"]], default=None)
    return summary


def _logged(run_dir: Path, key: str) -> list[float]:
    """Every value of ``key`` in the run's metrics.jsonl (the epochs before a resume)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [float(r[key]) for r in rows if isinstance(r.get(key), (int, float))]
