"""Zero-shot accuracy of CLIP on a dataset's depth maps: overall (per view and view-averaged),
per class, and the confusion matrix (rows = true class, columns = predicted, view-averaged)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from i2pmae.zeroshot.classify import DEFAULT_PROMPTS, classify, encode_prompts

__all__ = ["evaluate_dataset", "accuracy_report", "plot_confusion"]


def accuracy_report(similarity: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str],
                    views: Sequence[int]) -> dict[str, Any]:
    """Accuracies (%) and confusion matrix from similarities (n, V, C) and labels (n,)."""
    labels = labels.long()
    n_cls = len(class_names)
    pred = similarity.mean(dim=1).argmax(dim=-1)
    per_view = similarity.argmax(dim=-1)  # (n, V)
    confusion = torch.zeros(n_cls, n_cls, dtype=torch.long)
    confusion.index_put_((labels, pred), torch.ones_like(labels), accumulate=True)
    counts = confusion.sum(dim=1)
    per_class = {name: (100.0 * confusion[k, k].item() / counts[k].item() if counts[k] else None)
                 for k, name in enumerate(class_names)}
    present = [v for v in per_class.values() if v is not None]
    return {
        "items": int(labels.numel()),
        "accuracy": 100.0 * (pred == labels).float().mean().item(),
        "mean_class_accuracy": float(np.mean(present)) if present else float("nan"),
        "view_accuracy": {int(v): 100.0 * (per_view[:, i] == labels).float().mean().item()
                          for i, v in enumerate(views)},
        "class_accuracy": per_class,
        "class_counts": {name: int(counts[k]) for k, name in enumerate(class_names)},
        "confusion": confusion.tolist(),
        "classes": list(class_names),
        "views": [int(v) for v in views],
    }


@torch.no_grad()
def evaluate_dataset(model: nn.Module, dataset: Dataset, class_names: Sequence[str], *,
                     views: Sequence[int] = (0, 1, 2), prompts: Sequence[str] = DEFAULT_PROMPTS,
                     normalize: str = "clip", batch_size: int = 32, limit: int | None = None,
                     progress: bool = False) -> dict[str, Any]:
    """Zero-shot results on every item (or the first ``limit``) of ``dataset`` (items with ``points`` and ``label``)."""
    if limit is not None:
        dataset = Subset(dataset, list(range(min(int(limit), len(dataset)))))
    if len(dataset) == 0:
        raise ValueError("the dataset split is empty: nothing to classify")
    text = encode_prompts(model, class_names, prompts)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    if progress:
        from i2pmae.engine.logging import progress_iter  # a bar on a terminal, a few log lines otherwise

        loader = progress_iter(loader, total=len(loader), desc="zeroshot", unit="batch")
    sims, labels = [], []
    for batch in loader:
        out = classify(batch["points"], model=model, views=views, normalize=normalize, text_features=text,
                       batch_size=batch_size)
        lab = batch["label"].reshape(-1).long()
        if (lab < 0).any() or (lab >= len(class_names)).any():
            raise ValueError(f"labels outside the {len(class_names)} class names; check --classes")
        sims.append(out.similarity)
        labels.append(lab)
    return accuracy_report(torch.cat(sims), torch.cat(labels), class_names, views)


def plot_confusion(report: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """The confusion matrix as a PNG, rows normalised to the share of each true class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(report["confusion"], dtype=float)
    names = report["classes"]
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    n = len(names)
    side = min(max(4.0, 0.28 * n + 2.5), 18.0)
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    im = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), names, rotation=90, fontsize=max(4, min(9, 300 // max(n, 1))))
    ax.set_yticks(range(n), names, fontsize=max(4, min(9, 300 // max(n, 1))))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if m[i, j]:
                    ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if share[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true class")
    ax.set_title(title or f"CLIP zero-shot on depth maps: {report['accuracy']:.2f}% ({report['items']} clouds)",
                 fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
