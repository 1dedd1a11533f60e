"""Multi-scale tokenizer: FPS centres and kNN neighbourhoods at every scale (docs/method.md §1).

Scale 1 samples its centres from the input points; scale s > 1 samples from the centres of scale
s - 1.  Every centre groups its k nearest points of the scale below (itself included).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from torch import Tensor

from i2pmae.ops import farthest_point_sample, group, index_points


@dataclass
class Scale:
    """One scale of tokens of a batch of clouds."""

    centres: Tensor  # (B, G, 3)
    idx: Tensor  # (B, G, k) indices into the scale below (input points for scale 1)
    relative: Tensor  # (B, G, k, 3) neighbours minus their centre
    absolute: Tensor  # (B, G, k, 3) neighbours in the cloud's coordinates
    sample_idx: Tensor | None = None  # (B, G) FPS indices of the centres into the scale below

    @property
    def num_tokens(self) -> int:
        return self.centres.shape[1]

    @property
    def group_size(self) -> int:
        return self.idx.shape[2]


def check_points(points: Tensor, min_points: int) -> None:
    """A float batch of clouds (B, N, 3) with at least ``min_points`` points, else ValueError."""
    if not hasattr(points, "dim") or points.dim() != 3 or points.shape[-1] != 3 or not points.is_floating_point():
        got = f"{tuple(points.shape)} {points.dtype}" if hasattr(points, "shape") else type(points).__name__
        raise ValueError(f"points must be a float tensor (B, N, 3); received {got}")
    if points.shape[0] < 1 or points.shape[1] < min_points:
        raise ValueError(f"points must hold at least {min_points} points per cloud (the scale-1 token count); "
                         f"received shape {tuple(points.shape)}")


def multi_scale_tokens(points: Tensor, num_groups: Sequence[int], group_sizes: Sequence[int]) -> list[Scale]:
    """The scales of ``points`` (B, N, 3), finest first."""
    check_points(points, num_groups[0])
    scales: list[Scale] = []
    source = points
    for g, k in zip(num_groups, group_sizes):
        sample_idx = farthest_point_sample(source, g)
        centres = index_points(source, sample_idx)
        grouped = group(source, centres, k)
        scales.append(Scale(centres, grouped.idx, grouped.relative, grouped.absolute, sample_idx))
        source = centres
    return scales
