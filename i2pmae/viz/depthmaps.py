"""The projected depth maps a 2D teacher sees, with its spatial attention overlaid."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch.nn.functional as F
from torch import Tensor

from i2pmae.projection import IMAGENET_MEAN, IMAGENET_STD, VIEW_PERMUTATIONS

from ._mpl import pyplot, save

AXES = ("x", "y", "z")
ATTENTION_CMAP = "jet"
MAX_ALPHA = 0.7  # alpha of the heat map where attention is highest


def denormalise(images: Tensor) -> Tensor:
    """(..., 3, S, S) ImageNet-normalised depth images -> the grey depth (..., S, S) in [0, 1].

    The three channels hold the same depth (sigmoid of the summed depths, 0.5 where empty), so
    channel 0 with its own mean/std undone is the picture the teacher saw.
    """
    if images.dim() < 3 or images.shape[-3] != 3:
        raise ValueError(f"images must be (..., 3, S, S); received {tuple(images.shape)}")
    return (images[..., 0, :, :].float() * IMAGENET_STD[0] + IMAGENET_MEAN[0]).clamp(0.0, 1.0)


def upsample_attention(attention: Tensor, size: int) -> Tensor:
    """(V, h, w) attention -> (V, size, size) bilinear, each view min-max scaled to [0, 1]."""
    if attention.dim() != 3:
        raise ValueError(f"attention must be (V, h, w); received {tuple(attention.shape)}")
    up = F.interpolate(attention.float()[:, None], size=(size, size), mode="bilinear", align_corners=False)[:, 0]
    lo = up.flatten(1).amin(1)[:, None, None]
    hi = up.flatten(1).amax(1)[:, None, None]
    return (up - lo) / (hi - lo).clamp_min(1e-12)


def overlay(depth: np.ndarray, attention: np.ndarray, cmap: str = ATTENTION_CMAP) -> np.ndarray:
    """RGB (S, S, 3): the grey depth image with the heat map alpha-blended in, alpha growing with the
    attention so that low-attention regions keep showing the depth image."""
    import matplotlib

    grey = np.repeat(depth[..., None], 3, axis=-1)
    heat = matplotlib.colormaps[cmap](attention)[..., :3]
    alpha = (MAX_ALPHA * attention)[..., None]
    return (1 - alpha) * grey + alpha * heat


def view_name(view: int) -> str:
    p = VIEW_PERMUTATIONS[view]
    return f"view {view} (rows {AXES[p[0]]}, cols {AXES[p[1]]}, depth {AXES[p[2]]})"


def draw_depthmaps(images: Tensor, attention: Tensor | None, views: Sequence[int], out_path: str | Path,
                   title: str = "") -> Path:
    """Depth maps (V, 3, S, S) (ImageNet-normalised) on the top row and, with ``attention`` (V, h, w),
    the same maps with the teacher's attention overlaid on the bottom row; one PNG."""
    plt = pyplot()
    if images.dim() != 4:
        raise ValueError(f"images must be (V, 3, S, S); received {tuple(images.shape)}")
    V, S = images.shape[0], images.shape[-1]
    if len(views) != V:
        raise ValueError(f"{V} images but views {list(views)}")
    depth = denormalise(images.detach().cpu()).numpy()
    rows = 1 if attention is None else 2
    width = 3.0 * V + 0.6
    fig, axes = plt.subplots(rows, V, figsize=(width, 3.1 * rows + 0.5), squeeze=False)
    top = 1 - 0.55 / (3.1 * rows + 0.5)
    fig.subplots_adjust(left=0.02, right=0.88, bottom=0.02, top=top,
                        wspace=0.05, hspace=0.12)
    for j, view in enumerate(views):
        ax = axes[0, j]
        im = ax.imshow(depth[j], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(f"depth map, {view_name(view)}", fontsize=8)
    fig.subplots_adjust(right=0.88)
    box = axes[0, -1].get_position()
    dbar = fig.colorbar(im, cax=fig.add_axes((0.9, box.y0, 0.018, box.height)))
    dbar.set_label("depth-map value (0.5 = empty pixel)", fontsize=8)
    dbar.ax.tick_params(labelsize=7)
    if attention is not None:
        heat = upsample_attention(attention.detach().cpu(), S).numpy()
        for j, view in enumerate(views):
            axes[1, j].imshow(overlay(depth[j], heat[j]), interpolation="nearest")
            axes[1, j].set_title(f"+ 2D attention, view {view}", fontsize=8)
        sm = plt.cm.ScalarMappable(cmap=ATTENTION_CMAP, norm=plt.Normalize(0, 1))
        box = axes[1, -1].get_position()
        cbar = fig.colorbar(sm, cax=fig.add_axes((0.9, box.y0, 0.018, box.height)))
        cbar.set_label("attention (per view, min-max scaled)", fontsize=8)
        cbar.ax.tick_params(labelsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    return save(fig, out_path)


__all__ = ["denormalise", "upsample_attention", "overlay", "draw_depthmaps", "view_name"]
