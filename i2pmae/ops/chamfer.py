"""Chamfer distance, memory-bounded and differentiable, in pure PyTorch.

Small problems use one distance matrix.  Large ones find the nearest neighbours without gradients
in bounded chunks and recompute the distances of the matched pairs only, so the autograd graph
holds O(B*(N+M)) values instead of the full matrix.  Either way the gradient is that of ``min``
(it flows to the matched pair) and the value is the same, bit for bit.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_cloud, check_same_batch
from . import neighbours
from .neighbours import index_points, nearest_index, pairwise_sq_dist

CHAMFER_KINDS = ("l2", "l1")
# Bytes per point pair that autograd keeps for the one-matrix path (three differences, squares...).
_BYTES_PER_PAIR_WITH_GRAD = 64


def _safe_sqrt(x: Tensor) -> Tensor:
    """sqrt with a zero (not infinite) gradient at 0, for coincident points."""
    positive = x > 0
    return torch.where(positive, torch.where(positive, x, torch.ones_like(x)).sqrt(), torch.zeros_like(x))


def chamfer_distance(a: Tensor, b: Tensor, kind: str = "l2") -> Tensor:
    """Symmetric Chamfer distance between clouds a (B, N, 3) and b (B, M, 3), a scalar.

    ``"l2"``: mean over all B*N points of a of the squared distance to the nearest point of b, plus
    the same from b to a (the authors' ChamferDistanceL2).  ``"l1"``: the same with Euclidean
    distances (note: the authors' ChamferDistanceL1 additionally halves the sum; we do not).
    """
    if kind not in CHAMFER_KINDS:
        raise ValueError(f"kind must be one of {CHAMFER_KINDS}; received {kind!r}")
    check_cloud("a", a)
    check_cloud("b", b)
    check_same_batch(("a", "b"), a, b)
    if a.dtype != b.dtype:
        raise ValueError(f"a and b must have the same dtype; received {a.dtype} and {b.dtype}")
    B, N, _ = a.shape
    M = b.shape[1]
    if B * N * M * _BYTES_PER_PAIR_WITH_GRAD <= neighbours.KNN_MEMORY_BUDGET:
        # Small problems (the many 8-vs-8 groups of pre-training): one distance matrix, autograd.
        d2 = pairwise_sq_dist(a.unsqueeze(2), b.unsqueeze(1))  # (B, N, M)
        to_b, to_a = d2.min(dim=2).values, d2.min(dim=1).values
    else:
        to_b = pairwise_sq_dist(a, index_points(b, nearest_index(a, b)))  # (B, N)
        to_a = pairwise_sq_dist(b, index_points(a, nearest_index(b, a)))  # (B, M)
    if kind == "l1":
        to_b, to_a = _safe_sqrt(to_b), _safe_sqrt(to_a)
    return to_b.mean() + to_a.mean()
