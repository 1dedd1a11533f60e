"""Three-nearest-neighbour feature interpolation ("token propagation" of the decoder)."""

from __future__ import annotations

from torch import Tensor

from ._checks import check_cloud, check_same_batch, describe
from .neighbours import index_points, knn

EPS = 1e-8


def three_nn_interpolate(xyz_dst: Tensor, xyz_src: Tensor, feats_src: Tensor) -> Tensor:
    """Features (B, N, C) at ``xyz_dst`` (B, N, 3) interpolated from (B, S, C) at ``xyz_src`` (B, S, 3).

    Weights are 1 / (d^2 + 1e-8) over the 3 nearest sources, normalised to sum to 1 (PointNet++
    feature propagation).  With fewer than 3 sources, all of them are used.
    """
    check_cloud("xyz_dst", xyz_dst)
    check_cloud("xyz_src", xyz_src)
    if not isinstance(feats_src, Tensor) or feats_src.dim() != 3 or feats_src.shape[:2] != xyz_src.shape[:2]:
        got = describe(feats_src) if isinstance(feats_src, Tensor) else type(feats_src).__name__
        raise ValueError(f"feats_src must have shape (B, S, C) = ({xyz_src.shape[0]}, {xyz_src.shape[1]}, C) "
                         f"to match xyz_src {tuple(xyz_src.shape)}; received {got}")
    check_same_batch(("xyz_dst", "xyz_src", "feats_src"), xyz_dst, xyz_src, feats_src)
    k = min(3, xyz_src.shape[1])
    dist2, idx = knn(xyz_dst, xyz_src, k)
    weight = 1.0 / (dist2 + EPS)
    weight = weight / weight.sum(dim=-1, keepdim=True)
    return (index_points(feats_src, idx) * weight.unsqueeze(-1).to(feats_src.dtype)).sum(dim=2)
