"""Linear-SVM evaluation of frozen features (docs/data.md §3), plus a parameter-free k-NN probe.

As the authors: ``sklearn.svm.SVC(kernel="linear", C=C)`` with every other
setting at its default (one-vs-one, no feature scaling); the score is
``SVC.score`` (overall accuracy), reported in percent.

Two additions keep the probe honest on encoders unlike the authors' (issue #15):
``svm.C: cv`` picks C on the training split from a wide grid and warns when the
pick lies on the grid's edge (the optimum may lie beyond it), ``svm.standardize``
z-scores features with training statistics (pre-trained max-pooled features can
vary by <1% of their magnitude between shapes, which pushes the best C to 1e3+),
and every probe also reports k-NN accuracy, which has no parameter to tune, so a
probe artefact shows up as disagreement between the two.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from i2pmae.engine.distributed import all_gather_tensors

ArrayLike = Any  # torch.Tensor | np.ndarray | sequences
log = logging.getLogger("i2pmae")


def _as_numpy(x: ArrayLike, name: str, ndim: int) -> np.ndarray:
    arr = x.detach().float().cpu().numpy() if torch.is_tensor(x) and x.is_floating_point() else (
        x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x))
    if ndim == 1 and arr.ndim == 2 and arr.shape[1] == 1:  # labels stored as (n, 1)
        arr = arr[:, 0]
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(arr.shape)}")
    return arr


CV_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)  # svm.grid default: 8 decades
KNN_K = 10  # k-NN probe: 10 neighbours by cosine similarity of training-mean-centred features, majority vote


def parse_svm_grid(value: Any) -> tuple[float, ...]:
    """``svm.grid``: the candidate Cs for ``svm.C: cv`` (null = :data:`CV_GRID`), sorted ascending."""
    if value is None:
        return CV_GRID
    try:
        grid = tuple(sorted(float(v) for v in value))
    except (TypeError, ValueError):
        raise ValueError(f"svm.grid must be a list of positive numbers, got {value!r}") from None
    if len(grid) < 2 or not all(c > 0 for c in grid):
        raise ValueError(f"svm.grid must hold at least 2 positive numbers, got {value!r}")
    return grid


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


def cv_scores(x: np.ndarray, y: np.ndarray, grid: Sequence[float] = CV_GRID, folds: int = 3,
              seed: int = 0) -> list[float]:
    """Stratified k-fold accuracy of a linear SVC for every C of ``grid``, on the *training* features only."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.svm import SVC

    smallest = int(np.bincount(np.unique(y, return_inverse=True)[1]).min())
    k = max(2, min(folds, smallest))
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [float(cross_val_score(SVC(kernel="linear", C=c), x, y, cv=cv).mean()) for c in grid]


def choose_c_by_cv(x: np.ndarray, y: np.ndarray, grid: Sequence[float] = CV_GRID, folds: int = 3,
                   seed: int = 0) -> float:
    """The C of ``grid`` with the best stratified k-fold accuracy on the *training* features only (ties: the
    smallest C).

    The authors' C values suit CLIP-guided ViT-size encoders; other encoders (small models, random
    init) have other feature scales, and picking C on the test split would be tuning on it.
    """
    return float(grid[int(np.argmax(cv_scores(x, y, grid, folds, seed)))])


def _clipped(scores: list[float], best: int) -> bool:
    """Whether the best C sits on the grid's edge *and* beats its inner neighbour (a flat plateau reaching
    the edge is not clipping: the accuracy no longer depends on C there)."""
    if best == 0:
        return scores[0] > scores[1]
    if best == len(scores) - 1:
        return scores[-1] > scores[-2]
    return False


def standardize(x_tr: np.ndarray, x_te: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sets z-scored with the *training* mean and std (a dimension constant in training keeps std 1)."""
    x_tr, x_te = x_tr.astype(np.float64), x_te.astype(np.float64)
    mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)
    std[std < 1e-12] = 1.0
    return (x_tr - mean) / std, (x_te - mean) / std


def knn_accuracy(train_feats: ArrayLike, train_labels: ArrayLike, test_feats: ArrayLike, test_labels: ArrayLike,
                 k: int = KNN_K) -> float:
    """Test accuracy (%) of k-NN: cosine similarity of features centred on the training mean, majority vote of
    the ``k`` most similar training items (ties go to the class with the larger summed similarity)."""
    x_tr, y_tr, x_te, y_te = _checked(train_feats, train_labels, test_feats, test_labels)
    mean = x_tr.mean(axis=0, dtype=np.float64)
    a, b = x_tr.astype(np.float64) - mean, x_te.astype(np.float64) - mean
    a /= np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b /= np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    sim = b @ a.T
    k = min(int(k), len(a))
    idx = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    classes, y_idx = np.unique(y_tr, return_inverse=True)
    votes = np.zeros((len(b), len(classes)))
    rows = np.repeat(np.arange(len(b)), k)
    np.add.at(votes, (rows, y_idx[idx].ravel()), 1.0 + 1e-3 / k * np.take_along_axis(sim, idx, 1).ravel())
    return float((classes[votes.argmax(1)] == y_te).mean() * 100.0)


def _checked(train_feats: ArrayLike, train_labels: ArrayLike, test_feats: ArrayLike, test_labels: ArrayLike):
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
    return x_tr, y_tr, x_te, y_te


def linear_svm_probe(train_feats: ArrayLike, train_labels: ArrayLike, test_feats: ArrayLike, test_labels: ArrayLike,
                     C: float | str, grid: Sequence[float] | None = None, standardize_features: bool = False,
                     knn_k: int = KNN_K, name: str = "encoder") -> dict[str, Any]:
    """Both probes on one feature set: ``svm_acc`` (%), the ``C`` used (chosen by CV on the training split
    when ``C="cv"``; a warning naming ``name`` if it lies on the grid's edge), ``C_at_edge`` and ``knn_acc``."""
    from sklearn.svm import SVC

    x_tr, y_tr, x_te, y_te = _checked(train_feats, train_labels, test_feats, test_labels)
    knn = knn_accuracy(x_tr, y_tr, x_te, y_te, knn_k)
    if standardize_features:
        x_tr, x_te = standardize(x_tr, x_te)
    C = parse_svm_c(C)
    grid = parse_svm_grid(grid)
    at_edge, by_cv = False, C == "cv"
    if by_cv:
        scores = cv_scores(x_tr, y_tr, grid)
        best = int(np.argmax(scores))
        C, at_edge = float(grid[best]), _clipped(scores, best)
        if at_edge:
            log.warning("%s: the cross-validated SVM C=%g is at the edge of svm.grid [%g .. %g]; the best C may lie "
                        "outside it: widen svm.grid or set svm.standardize: true", name, C, grid[0], grid[-1])
    clf = SVC(kernel="linear", C=float(C))
    clf.fit(x_tr, y_tr)
    return {"svm_acc": float(clf.score(x_te, y_te) * 100.0), "C": float(C), "C_at_edge": bool(at_edge),
            "knn_acc": knn, "knn_k": int(knn_k), "standardize": bool(standardize_features),
            "grid": list(grid) if by_cv else None}


def linear_svm_accuracy(train_feats: ArrayLike, train_labels: ArrayLike, test_feats: ArrayLike,
                        test_labels: ArrayLike, C: float | str, grid: Sequence[float] | None = None,
                        standardize_features: bool = False) -> float:
    """Test accuracy (%) of a linear SVC with penalty ``C`` (or ``"cv"``) fitted on the training features."""
    return linear_svm_probe(train_feats, train_labels, test_feats, test_labels, C, grid,
                            standardize_features)["svm_acc"]


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
