"""Point-cloud geometry ops in pure PyTorch (CPU and CUDA, batched, no compiled extensions).

- ``farthest_point_sample(xyz, n, start_idx=0)``: FPS indices (B, n), deterministic from index 0.
- ``knn(query, ref, k)``: (dist2, idx) of the k nearest points, ties to the lower index, chunked.
- ``index_points(points, idx)`` and ``group(points, centres, k)``: batched gathers, neighbourhoods.
- ``chamfer_distance(a, b, kind)``: "l2" / "l1" Chamfer distance, memory-bounded, differentiable.
- ``three_nn_interpolate(xyz_dst, xyz_src, feats_src)``: inverse squared-distance interpolation.

Every op raises ``ValueError`` naming what it received and what it needs for bad shapes, sizes,
empty clouds or NaN/Inf coordinates.
"""

from .chamfer import chamfer_distance
from .interpolate import three_nn_interpolate
from .neighbours import Groups, group, index_points, knn
from .sampling import farthest_point_sample

__all__ = [
    "Groups",
    "chamfer_distance",
    "farthest_point_sample",
    "group",
    "index_points",
    "knn",
    "three_nn_interpolate",
]
