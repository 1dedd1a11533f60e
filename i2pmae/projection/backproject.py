"""Back-projection of 2D maps onto 3D points (docs/method.md §2), without the full-resolution map.

The reference ("upsample every map bicubically to S x S, then read each point's pixel") holds
S*S*C values per image: about 100 MB at C=512.  Bicubic upsampling is separable and each output
pixel depends on a 4x4 window of the (h, w) map, so for every query point we compute the 4 row taps
and 4 column taps with PyTorch's cubic weights (A = -0.75, align_corners=False, indices clamped at
the border) and contract them with the small map.  Memory grows with the number of points.
"""

from __future__ import annotations

import torch
from torch import Tensor

from i2pmae.ops._checks import check_cloud, describe

from .views import ViewMapping

CUBIC_A = -0.75
# Elements of the per-chunk (points x h*w) weight matrix; 8M float32 = 32 MiB.
BACKPROJECT_CHUNK_ELEMENTS = 8 * 2**20


def _cubic_taps(pixel: Tensor, in_size: int, out_size: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Source taps (..., 4) and cubic weights (..., 4) of output pixels for an in->out bicubic resize.

    Same arithmetic as ATen's bicubic kernels: source coordinate (dst + 0.5) * in/out - 0.5,
    t = coordinate - floor, Keys' cubic convolution with A = -0.75, taps clamped into the map.
    """
    scale = torch.tensor(in_size, dtype=dtype) / out_size
    real = scale.to(pixel.device) * (pixel.to(dtype) + 0.5) - 0.5
    base = torch.floor(real).clamp(max=in_size - 1)
    t = (real - base).clamp(0, 1)
    A = CUBIC_A

    def near(x: Tensor) -> Tensor:  # |x| <= 1
        return ((A + 2) * x - (A + 3)) * x * x + 1

    def far(x: Tensor) -> Tensor:  # 1 < |x| < 2
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A

    weights = torch.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], dim=-1)
    taps = base.long().unsqueeze(-1) + torch.arange(-1, 3, device=pixel.device)
    return taps.clamp_(0, in_size - 1), weights


def back_project(maps: Tensor, points: Tensor, mapping: ViewMapping) -> Tensor:
    """Values (B, V, M, C) of maps (B, V, C, h, w) at the splat-centre pixels of points (B, M, 3).

    Equal to ``F.interpolate(maps, (S, S), mode="bicubic", align_corners=False)`` then a gather at
    ``mapping.pixels(points)``, computed chunk by chunk over the points as (points x h*w bicubic
    weights) @ (h*w x C map), so nothing of size S*S*C is ever built.
    """
    if not isinstance(maps, Tensor) or maps.dim() != 5 or not maps.is_floating_point():
        got = describe(maps) if isinstance(maps, Tensor) else type(maps).__name__
        raise ValueError(f"maps must be a floating tensor (B, V, C, h, w); received {got}")
    check_cloud("points", points)
    B, V, C, h, w = maps.shape
    if B != points.shape[0] or B != mapping.batch_size:
        raise ValueError(f"batch sizes differ: maps {tuple(maps.shape)}, points {tuple(points.shape)}, "
                         f"mapping made for {mapping.batch_size} clouds")
    if V != len(mapping.views):
        raise ValueError(f"maps has {V} views (shape {tuple(maps.shape)}) but the mapping has views "
                         f"{mapping.views}; pass one map per projected view, in the same order")
    if min(C, h, w) < 1:
        raise ValueError(f"maps must have C, h, w >= 1; received shape {tuple(maps.shape)}")
    return back_project_pixels(maps, mapping.pixels(points), mapping.image_size)


def back_project_pixels(maps: Tensor, pixels: Tensor, image_size: int) -> Tensor:
    """Values (B, V, M, C) of maps (B, V, C, h, w) at given splat-centre pixels (B, V, M, 2) of an
    ``image_size`` projection: the arithmetic of :func:`back_project` once the pixels are known.

    Why separate: pre-training from a teacher cache attaches each point to its pixel in the cached
    canonical projection (by identity), not to a pixel recomputed from augmented coordinates.
    """
    if not isinstance(maps, Tensor) or maps.dim() != 5 or not maps.is_floating_point():
        got = describe(maps) if isinstance(maps, Tensor) else type(maps).__name__
        raise ValueError(f"maps must be a floating tensor (B, V, C, h, w); received {got}")
    B, V, C, h, w = maps.shape
    if pixels.dim() != 4 or tuple(pixels.shape[:2]) != (B, V) or pixels.shape[-1] != 2:
        raise ValueError(f"pixels must be (B, V, M, 2) = ({B}, {V}, M, 2) for maps {tuple(maps.shape)}; "
                         f"received {tuple(pixels.shape)}")
    S = int(image_size)
    work = torch.promote_types(maps.dtype, torch.float32)
    pix = pixels.long()
    M = pix.shape[2]
    table = maps.to(work).reshape(B * V, C, h * w).transpose(1, 2)  # (BV, hw, C)
    step = max(1, BACKPROJECT_CHUNK_ELEMENTS // (B * V * h * w))
    out = []
    for s in range(0, M, step):
        p = pix[:, :, s:s + step].reshape(B * V, -1, 2)
        rows, wr = _cubic_taps(p[..., 0], h, S, work)
        cols, wc = _cubic_taps(p[..., 1], w, S, work)
        # Dense per-point weights over the small map; clamped border taps add up like ATen's reads.
        row_w = torch.zeros(*p.shape[:2], h, dtype=work, device=maps.device).scatter_add_(-1, rows, wr)
        col_w = torch.zeros(*p.shape[:2], w, dtype=work, device=maps.device).scatter_add_(-1, cols, wc)
        weight = (row_w.unsqueeze(-1) * col_w.unsqueeze(-2)).reshape(B * V, -1, h * w)
        out.append(torch.bmm(weight, table))
    res = out[0] if len(out) == 1 else torch.cat(out, dim=1)
    return res.reshape(B, V, M, C).to(maps.dtype)
