"""Linear-SVM evaluation of frozen features (DATA.md 3).

As the authors: ``sklearn.svm.SVC(kernel="linear", C=C)`` with every other
setting at its default (one-vs-one, no feature scaling); the score is
``SVC.score`` (overall accuracy), reported in percent.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np
import torch

from i2pmae.engine.distributed import all_gather_tensors

ArrayLike = Any  # torch.Tensor | np.ndarray | sequences


def _as_numpy(x: ArrayLike, name: str, ndim: int) -> np.ndarray:
    arr = x.detach().float().cpu().numpy() if torch.is_tensor(x) and x.is_floating_point() else (
        x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x))
    if ndim == 1 and arr.ndim == 2 and arr.shape[1] == 1:  # labels stored as (n, 1)
        arr = arr[:, 0]
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(arr.shape)}")
    return arr


CV_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)


def parse_svm_c(value: Any) -> float | str:
    """``svm.C`` of a config: a positive number, or ``"cv"`` (chosen on the training split)."""
    if isinstance(value, str) and value.lower() == "cv":
        return "cv"
    try:
        c = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"svm.C must be a positive number or 'cv', got {value!r}") from None
    if not c > 0:
        raise ValueError(f"svm.C must be > 0, got {value!r}")
    return c


def choose_c_by_cv(x: np.ndarray, y: np.ndarray, grid: tuple[float, ...] = CV_GRID, folds: int = 3,
                   seed: int = 0) -> float:
    """The C of ``grid`` with the best stratified k-fold accuracy on the *training* features only.

    The authors' C values suit CLIP-guided ViT-size encoders; other encoders (small models, random
    init) have other feature scales, and picking C on the test split would be tuning on it.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.svm import SVC

    smallest = int(np.bincount(np.unique(y, return_inverse=True)[1]).min())
    k = max(2, min(folds, smallest))
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    scores = [cross_val_score(SVC(kernel="linear", C=c), x, y, cv=cv).mean() for c in grid]
    return float(grid[int(np.argmax(scores))])


def linear_svm_accuracy(train_feats: ArrayLike, train_labels: ArrayLike, test_feats: ArrayLike,
                        test_labels: ArrayLike, C: float | str) -> float:
    """Test accuracy (%) of a linear SVC with penalty ``C`` (or ``"cv"``) fitted on the training features."""
    from sklearn.svm import SVC

    x_tr = _as_numpy(train_feats, "train_feats", 2)
    y_tr = _as_numpy(train_labels, "train_labels", 1)
    x_te = _as_numpy(test_feats, "test_feats", 2)
    y_te = _as_numpy(test_labels, "test_labels", 1)
    if len(x_tr) != len(y_tr) or len(x_te) != len(y_te):
        raise ValueError(
            f"features and labels differ in length: train {len(x_tr)} vs {len(y_tr)}, test {len(x_te)} vs {len(y_te)}"
        )
    if x_tr.shape[1] != x_te.shape[1]:
        raise ValueError(f"train and test features differ in dimension: {x_tr.shape[1]} vs {x_te.shape[1]}")
    if len(x_te) == 0 or len(np.unique(y_tr)) < 2:
        raise ValueError(
            f"the SVM needs at least 2 training classes and 1 test item, got {len(np.unique(y_tr))} classes "
            f"and {len(x_te)} test items"
        )
    C = parse_svm_c(C)
    if C == "cv":
        C = choose_c_by_cv(x_tr, y_tr)
    clf = SVC(kernel="linear", C=float(C))
    clf.fit(x_tr, y_tr)
    return float(clf.score(x_te, y_te) * 100.0)


def _split_batch(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(batch, dict):
        if "points" not in batch or "label" not in batch:
            raise ValueError(f"feature extraction needs batches with 'points' and 'label', got keys {list(batch)}")
        return batch["points"], batch["label"]
    if isinstance(batch, (list, tuple)) and len(batch) >= 2:
        return batch[0], batch[1]
    raise ValueError(f"feature extraction needs dict or (points, labels) batches, got {type(batch).__name__}")


@torch.no_grad()
def extract_features(fn: Callable[[torch.Tensor], torch.Tensor], loader: Iterable, device: torch.device | str,
                     gather: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Features ``fn(points)`` (n, D) float32 and labels (n,) int64 of every batch, on the CPU.

    Under torch.distributed each rank runs its own share of the data and, with
    ``gather``, the results of all ranks are concatenated (rank order), so
    every rank returns the whole set.
    """
    device = torch.device(device)
    feats: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []
    for batch in loader:
        points, label = _split_batch(batch)
        out = fn(points.to(device, non_blocking=device.type == "cuda"))
        if out.ndim != 2 or out.shape[0] != points.shape[0]:
            raise ValueError(f"feature function must return (batch, dim), got {tuple(out.shape)} for "
                             f"{points.shape[0]} clouds")
        feats.append(out.float())
        labels.append(torch.as_tensor(label).reshape(-1).to(device=out.device, dtype=torch.int64))
    if feats:
        f, y = torch.cat(feats), torch.cat(labels)
    else:  # an empty shard (more ranks than items): keep the dims the other ranks will send
        f = torch.zeros((0, 0), device=device)
        y = torch.zeros((0,), dtype=torch.int64, device=device)
    if gather:
        f, y = all_gather_tensors(f), all_gather_tensors(y)
    return f.cpu(), y.cpu()
