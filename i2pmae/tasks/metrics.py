"""Evaluation metrics: accuracy, ShapeNetPart IoUs (docs/data.md §3), few-shot summaries."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch

# ShapeNetPart: category id = position (synsetoffset2category.txt order) -> global part ids (docs/data.md §1.6).
SHAPENETPART_PARTS: dict[str, list[int]] = {
    "Airplane": [0, 1, 2, 3],
    "Bag": [4, 5],
    "Cap": [6, 7],
    "Car": [8, 9, 10, 11],
    "Chair": [12, 13, 14, 15],
    "Earphone": [16, 17, 18],
    "Guitar": [19, 20, 21],
    "Knife": [22, 23],
    "Lamp": [24, 25, 26, 27],
    "Laptop": [28, 29],
    "Motorbike": [30, 31, 32, 33, 34, 35],
    "Mug": [36, 37],
    "Pistol": [38, 39, 40],
    "Rocket": [41, 42, 43],
    "Skateboard": [44, 45, 46],
    "Table": [47, 48, 49],
}
SHAPENETPART_CATEGORIES: list[str] = list(SHAPENETPART_PARTS)
SHAPENETPART_NUM_PARTS = 50


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Overall accuracy in percent of ``argmax(logits, -1)`` against ``labels``."""
    labels = labels.reshape(-1)
    if logits.ndim != 2 or logits.shape[0] != labels.shape[0]:
        raise ValueError(f"accuracy needs logits (B, C) and labels (B,), got {tuple(logits.shape)} and "
                         f"{tuple(labels.shape)}")
    if labels.numel() == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float((logits.argmax(-1) == labels.to(logits.device)).double().mean() * 100.0)


def _part_membership(part_ranges: Mapping[str, Sequence[int]] | Sequence[Sequence[int]], num_parts: int,
                     device: torch.device) -> torch.Tensor:
    """(num_categories, num_parts) bool: which global part ids belong to each category."""
    ranges = list(part_ranges.values()) if isinstance(part_ranges, Mapping) else list(part_ranges)
    member = torch.zeros(len(ranges), num_parts, dtype=torch.bool)
    for c, parts in enumerate(ranges):
        parts = list(parts)
        if not parts or min(parts) < 0 or max(parts) >= num_parts:
            raise ValueError(f"category {c}: part ids {parts} must be non-empty and within [0, {num_parts})")
        member[c, parts] = True
    return member.to(device)


def part_segmentation_ious(pred: torch.Tensor, seg: torch.Tensor, category: torch.Tensor | None = None,
                           part_ranges: Mapping[str, Sequence[int]] | Sequence[Sequence[int]] | None = None
                           ) -> torch.Tensor:
    """Per-shape IoU (B,) in [0, 1], as the authors score ShapeNetPart (docs/data.md §3).

    The predicted label of a point is the argmax over its shape's category parts
    only (ties to the lower part id, like ``np.argmax`` + first part id). For each
    part of the category, IoU = |P & G| / |P | G|, and 1.0 when the part is in
    neither; the shape IoU is the mean over the category's parts.

    ``pred``: logits or log-probabilities (B, N, num_parts); ``seg``: (B, N) global
    part ids; ``category``: (B,) category ids (None: taken from ``seg[:, 0]`` as the
    authors do); ``part_ranges``: category -> part ids (default ShapeNetPart).
    """
    if pred.ndim != 3 or seg.shape != pred.shape[:2]:
        raise ValueError(f"need pred (B, N, P) and seg (B, N), got {tuple(pred.shape)} and {tuple(seg.shape)}")
    b, n, num_parts = pred.shape
    member = _part_membership(part_ranges if part_ranges is not None else SHAPENETPART_PARTS, num_parts, pred.device)
    seg = seg.to(device=pred.device, dtype=torch.int64)
    if category is None:
        part_to_cat = member.long().argmax(0)  # every part id in exactly one category for ShapeNetPart
        category = part_to_cat[seg[:, 0]]
    category = category.reshape(-1).to(device=pred.device, dtype=torch.int64)
    if category.shape[0] != b:
        raise ValueError(f"category must have one entry per shape ({b}), got {tuple(category.shape)}")
    if b and (category.min() < 0 or category.max() >= member.shape[0]):
        raise ValueError(f"category ids must lie in [0, {member.shape[0]}), got {category.tolist()}")
    if b and (seg.min() < 0 or seg.max() >= num_parts):
        raise ValueError(f"seg part ids must lie in [0, {num_parts}), got min {int(seg.min())} max {int(seg.max())}")
    allowed = member[category]  # (B, P)
    scores = pred.detach().float().masked_fill(~allowed[:, None, :], float("-inf"))
    label = scores.argmax(-1)  # (B, N), first maximum on ties
    # Per (shape, part) counts via one bincount each: |P|, |G| and |P & G|.
    offset = (torch.arange(b, device=pred.device) * num_parts)[:, None]
    size = b * num_parts
    n_pred = torch.bincount((label + offset).reshape(-1), minlength=size).view(b, num_parts)
    n_true = torch.bincount((seg + offset).reshape(-1), minlength=size).view(b, num_parts)
    hit = label == seg
    n_both = torch.bincount((label + offset)[hit], minlength=size).view(b, num_parts)
    union = n_pred + n_true - n_both
    iou = torch.where(union > 0, n_both.double() / union.clamp(min=1).double(), torch.ones_like(union, dtype=torch.float64))
    iou = torch.where(allowed, iou, torch.zeros_like(iou))
    return (iou.sum(1) / allowed.sum(1).double()).float()


def summarise_part_ious(shape_ious: torch.Tensor | Sequence[float], categories: torch.Tensor | Sequence[int],
                        category_names: Sequence[str] | None = None) -> dict:
    """Instance mIoU (mean over shapes), class mIoU (mean over categories of their mean) and per category,
    all in percent. Categories without test shapes are left out of the class mean."""
    ious = torch.as_tensor(shape_ious, dtype=torch.float64).reshape(-1).cpu()
    cats = torch.as_tensor(categories, dtype=torch.int64).reshape(-1).cpu()
    if ious.shape != cats.shape:
        raise ValueError(f"one category per shape IoU needed, got {ious.numel()} IoUs and {cats.numel()} categories")
    if ious.numel() == 0:
        raise ValueError("no shapes to summarise")
    names = list(category_names) if category_names is not None else SHAPENETPART_CATEGORIES
    if int(cats.max()) >= len(names):
        raise ValueError(f"category id {int(cats.max())} has no name ({len(names)} names given)")
    per_category: dict[str, float] = {}
    for c in torch.unique(cats).tolist():
        per_category[names[c]] = float(ious[cats == c].mean() * 100.0)
    return {
        "instance_miou": float(ious.mean() * 100.0),
        "class_miou": float(np.mean(list(per_category.values()))),
        "per_category": per_category,
    }


def fewshot_summary(fold_accs: Mapping[str, Sequence[float]]) -> str:
    """A markdown table of mean +- std (population std, numpy's default ddof=0) over folds per setting."""
    lines = ["| setting | accuracy (%) | folds |", "|---|---|---|"]
    for setting, accs in fold_accs.items():
        values = np.asarray(list(accs), dtype=np.float64)
        if values.size == 0:
            lines.append(f"| {setting} | - | 0 |")
            continue
        lines.append(f"| {setting} | {values.mean():.1f} ± {values.std():.1f} | {values.size} |")
    return "\n".join(lines)
