"""Multi-view depth projection of point clouds ("efficient projection", docs/method.md §2).

Every view permutes the coordinates (view 0: x,y,z; 1: z,x,y; 2: y,z,x); the first two permuted
coordinates are the image plane (row, column) and the third, raw, is the depth value splatted on
the 5x5 pixels around the point.  This follows the authors' ``proj2img`` in I2P-MAE's
``models/I2P_MAE.py`` step by step; all views of all clouds are projected in one batched scatter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from i2pmae.ops._checks import check_cloud, describe

VIEW_PERMUTATIONS = ((0, 1, 2), (2, 0, 1), (1, 2, 0))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SPLAT_RADIUS = 2  # 5x5 footprint
MARGIN = 3  # grid size = plane range / (S - 3): the splat (+-2) and the +1 shift stay in the image


def _check_views(views: Sequence[int]) -> tuple[int, ...]:
    try:
        views = tuple(int(v) for v in views)
    except (TypeError, ValueError):
        raise ValueError(f"views must be a sequence of view indices in {{0, 1, 2}}; received {views!r}") from None
    if not views or len(set(views)) != len(views) or any(v not in (0, 1, 2) for v in views):
        raise ValueError(f"views must be 1 to 3 distinct view indices in {{0, 1, 2}}; received {views}")
    return views


def permute_views(points: Tensor, views: Sequence[int]) -> Tensor:
    """Coordinates (B, V, N, 3) of points (B, N, 3) permuted for each view."""
    perm = torch.tensor([VIEW_PERMUTATIONS[v] for v in views], device=points.device)  # (V, 3)
    return points[:, :, perm].permute(0, 2, 1, 3)


def _grid_index(plane: Tensor, pc_min: Tensor, grid_size: Tensor) -> Tensor:
    """floor((p - min) / g) per plane axis: the pixel of a point before the +1 and centring shift.

    Shared by the projection and ``ViewMapping.pixels`` so that a point of the cloud gets
    bit-identical pixels in both.
    """
    return torch.floor((plane - pc_min.unsqueeze(2)) / grid_size[..., None, None])


@dataclass
class ViewMapping:
    """Per-cloud, per-view parameters of a projection, to find the pixel of any 3D point later.

    ``pc_min`` (B, V, 2): minimum of the two plane coordinates; ``grid_size`` (B, V): size of a
    pixel in cloud units; ``shift`` (B, V, 2): the integer centring shift (row, column).
    """

    views: tuple[int, ...]
    image_size: int
    pc_min: Tensor
    grid_size: Tensor
    shift: Tensor

    @property
    def batch_size(self) -> int:
        return self.pc_min.shape[0]

    def to(self, device: torch.device | str) -> ViewMapping:
        return ViewMapping(self.views, self.image_size, self.pc_min.to(device), self.grid_size.to(device),
                           self.shift.to(device))

    def pixels(self, points: Tensor) -> Tensor:
        """LongTensor (B, V, M, 2): (row, column) of each point's splat centre in every view.

        For points of the projected cloud this is exactly where its centre pixel was splatted;
        points outside the cloud's extent are clamped into [0, S-1].
        """
        check_cloud("points", points)
        if points.shape[0] != self.batch_size:
            raise ValueError(f"points has batch size {points.shape[0]} ({describe(points)}) but the mapping was "
                             f"made for {self.batch_size} clouds")
        planes = permute_views(points.to(self.pc_min.dtype), self.views)[..., :2]
        idx = _grid_index(planes, self.pc_min, self.grid_size) + 1 + self.shift.unsqueeze(2)
        return idx.clamp_(0, self.image_size - 1).long()


def project_views(
    points: Tensor, views: Sequence[int] = (0, 1, 2), image_size: int = 224
) -> tuple[Tensor, ViewMapping]:
    """Depth images (B, V, 3, S, S) of clouds (B, N, 3), ready for an ImageNet-normalised 2D model.

    Steps (docs/method.md §2): grid size g = max plane range / (S - 3); pixel floor((p - min) / g) + 1; 5x5
    splat; centring shift S/2 - floor((max + min) / 2) - 1 over the splatted pixels, pixels still
    outside moved one pixel back inside; depths landing on one pixel summed; sigmoid (empty pixels
    0.5); 3 channels; ImageNet normalisation.  A cloud flat in the image plane (range 0) gets g = 1
    instead of the authors' division by zero.  Half-precision clouds are projected in float32.
    """
    check_cloud("points", points)
    views = _check_views(views)
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 2 * SPLAT_RADIUS + 2:
        raise ValueError(f"image_size must be an int >= {2 * SPLAT_RADIUS + 2}; received {image_size!r}")
    S = image_size
    B, N, _ = points.shape
    V = len(views)
    points = points.to(torch.promote_types(points.dtype, torch.float32))  # pixel maths in >= float32
    P = permute_views(points, views)  # (B, V, N, 3)
    plane = P[..., :2]
    pc_min = plane.amin(dim=2)  # (B, V, 2)
    grid_size = (plane.amax(dim=2) - pc_min).amax(dim=-1) / (S - MARGIN)  # (B, V)
    grid_size = torch.where(grid_size > 0, grid_size, torch.ones_like(grid_size))
    idx = _grid_index(plane.detach(), pc_min.detach(), grid_size.detach())  # (B, V, N, 2)

    # Centre the footprint: its extent is [min idx - 2 + 1, max idx + 2 + 1] on each axis.
    lo = idx.amin(dim=2) - SPLAT_RADIUS + 1
    hi = idx.amax(dim=2) + SPLAT_RADIUS + 1
    shift = S // 2 - torch.floor((hi + lo) / 2) - 1  # (B, V, 2)

    # Splat-centre pixels (B, V, N, 2), then the 25 offsets as flat indices into the S*S canvas.
    centre = (idx + 1 + shift.unsqueeze(2)).long()
    r = torch.arange(-SPLAT_RADIUS, SPLAT_RADIUS + 1, device=points.device)
    rows = centre[..., 0, None] + r  # (B, V, N, 5)
    cols = centre[..., 1, None] + r
    # "Pixels still outside move one pixel back inside": grid indices lie in [0, S-3], so the
    # footprint spans at most S + 2 pixels and, centred, lies in [-1, S] for even S: moving by one
    # is exactly a clamp (for odd S the clamp also catches the one pixel that could reach -2).
    rows, cols = rows.clamp_(0, S - 1), cols.clamp_(0, S - 1)
    flat = (rows.unsqueeze(-1) * S + cols.unsqueeze(-2)).reshape(B * V, -1)  # (BV, N*25)

    n_splat = r.numel() ** 2
    depth = P[..., 2:3].expand(B, V, N, n_splat).reshape(B * V, -1)
    canvas = torch.zeros(B * V, S * S, dtype=points.dtype, device=points.device)
    canvas = canvas.scatter_add(1, flat, depth)
    img = torch.sigmoid(canvas).reshape(B, V, 1, S, S)
    mean = torch.tensor(IMAGENET_MEAN, dtype=points.dtype, device=points.device).view(1, 1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=points.dtype, device=points.device).view(1, 1, 3, 1, 1)
    images = (img - mean) / std
    mapping = ViewMapping(views=views, image_size=S, pc_min=pc_min.detach(), grid_size=grid_size.detach(),
                          shift=shift)
    return images, mapping
