"""The supplementary's Figure 5 for one cloud: input, random masking, the spatial attention cloud,
2D-guided masking and the reconstruction; plus the depth maps with the teacher's attention.

``figure5_data`` computes everything from one pre-training forward pass (no drawing, testable);
``draw_figure5`` draws it; ``visualize_cloud`` does both and also writes the depth-map figure.
Masks are drawn at the top scale, where they are decided: every point belongs to its nearest
top-scale centre and is drawn visible when that token is visible, so the picture shows the masked
ratio (e.g. 13 of 64 tokens).  (After propagation down the overlapping kNN neighbourhoods the
encoder's finest scale sees more, about 55% of its tokens at ratio 0.8; drawing that would hide
which regions the mask removed.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from i2pmae.models.masking import random_visible, reduce_views
from i2pmae.projection import back_project, project_views

from ._mpl import (
    INPUT_COLOUR,
    MASKED_COLOUR,
    PREDICTED_COLOUR,
    VISIBLE_COLOUR,
    cube_limits,
    marker_size,
    pyplot,
    save,
    scatter,
    setup_3d,
    y_up,
)
from .depthmaps import draw_depthmaps

ATTENTION_CMAP = "viridis_r"  # darker = higher attention


@dataclass
class Figure5Data:
    """What the panels show, as numpy arrays on the CPU (``None`` where the model has no 2D teacher)."""

    points: np.ndarray  # (N, 3) input cloud
    masking: str  # the model's masking: "2d_guided" or "random"
    mask_ratio: float
    seed: int
    num_tokens: int  # top-scale tokens
    num_visible: int  # visible top-scale tokens
    random_visible: np.ndarray  # (N,) bool: nearest top-scale token visible under a uniformly random mask
    model_visible: np.ndarray  # (N,) bool: nearest top-scale token visible under the model's own mask
    reconstruction: np.ndarray  # (M, 3) predicted points of the masked reconstructed-scale tokens
    attention_points: np.ndarray | None  # (N,) back-projected 2D attention at every point
    attention_cloud: np.ndarray | None  # (G_top,) attention at the top-scale centres (what masking uses)
    top_centres: np.ndarray  # (G_top, 3)
    views: tuple[int, ...]
    images: Tensor | None  # (V, 3, S, S) ImageNet-normalised depth maps
    attention_2d: Tensor | None  # (V, h, w) the teacher's attention per view

    @property
    def guided(self) -> bool:
        return self.masking == "2d_guided"


def points_of_visible_tokens(points: Tensor, centres: Tensor, visible: Tensor) -> Tensor:
    """(B, N) bool: points (B, N, 3) whose nearest token centre (B, G, 3) is visible (B, G)."""
    nearest = torch.cdist(points.float(), centres.float()).argmin(dim=-1)  # (B, N)
    return torch.gather(visible, 1, nearest)


def _as_cloud(points: Tensor | np.ndarray, device: torch.device) -> Tensor:
    if isinstance(points, np.ndarray):
        points = torch.from_numpy(points)
    if not isinstance(points, Tensor):
        raise ValueError(f"points must be a tensor or array (N, 3); received {type(points).__name__}")
    if points.dim() == 3 and points.shape[0] == 1:
        points = points[0]
    if points.dim() != 2 or points.shape[1] != 3 or not points.is_floating_point():
        raise ValueError(f"points must be one float cloud (N, 3); received {tuple(points.shape)} {points.dtype}")
    return points.to(device=device, dtype=torch.float32)[None]


@torch.no_grad()
def figure5_data(model: nn.Module, points: Tensor | np.ndarray, seed: int = 0) -> Figure5Data:
    """Run ``model`` (an ``I2PMAE``) once on ``points`` (N, 3) in eval mode and collect the panels' data.

    The model's own mask (2D-guided, or random for the 3D-only model) is drawn with a generator seeded
    with ``seed``; the random-masking panel uses ``random_visible`` on the same tokens with that seed.
    """
    if not hasattr(model, "tokenize") or not hasattr(model, "masking"):
        raise ValueError(f"visualize needs an I2PMAE pre-training network; received {type(model).__name__}")
    param = next(model.parameters())
    device = param.device
    cloud = _as_cloud(points, device)
    N = cloud.shape[1]
    if N < model.num_groups[0]:
        raise ValueError(f"the cloud has {N} points but the model's finest scale has {model.num_groups[0]} "
                         f"tokens; give at least that many points (--npoints)")
    was_training = model.training
    model.eval()
    try:
        gen = torch.Generator(device=device).manual_seed(int(seed))
        details = model(cloud, return_details=True, generator=gen)
        top_centres = details["centres"][-1]
        G = top_centres.shape[1]
        model_visible = details["visible"][-1]  # (1, G) top-scale visibility
        if model.masking == "random":
            rand_visible = model_visible  # the model's own mask is the random one
        else:
            rgen = torch.Generator(device=device).manual_seed(int(seed))
            rand_visible = random_visible(1, G, model.mask_ratio, device, rgen)

        images = details["images"]
        attention_2d = attention_points = None
        if images is None:
            images, _ = project_views(cloud, model.views, model.image_size)
        if model.teacher is not None:
            _, attention_2d = model.run_teacher(images)  # (1, V, h, w)
            if model.masking == "2d_guided":
                _, mapping = project_views(cloud, model.views, model.image_size)
                per_view = back_project(attention_2d.unsqueeze(2), cloud, mapping)[..., 0]  # (1, V, N)
                attention_points = reduce_views(per_view, model.attention_reduction, dim=1)[0]

        rec_scale = details["rec_scale"]
        masked_rec = details["masks"][rec_scale][0]
        reconstruction = details["reconstruction"][0][masked_rec].reshape(-1, 3)
        att_cloud = details["attention_cloud"]
        return Figure5Data(
            points=cloud[0].cpu().numpy(),
            masking=model.masking,
            mask_ratio=float(model.mask_ratio),
            seed=int(seed),
            num_tokens=G,
            num_visible=int(model_visible[0].sum()),
            random_visible=points_of_visible_tokens(cloud, top_centres, rand_visible)[0].cpu().numpy(),
            model_visible=points_of_visible_tokens(cloud, top_centres, model_visible)[0].cpu().numpy(),
            reconstruction=reconstruction.float().cpu().numpy(),
            attention_points=None if attention_points is None else attention_points.float().cpu().numpy(),
            attention_cloud=None if att_cloud is None else att_cloud[0].float().cpu().numpy(),
            top_centres=top_centres[0].float().cpu().numpy(),
            views=tuple(model.views),
            images=images[0].float().cpu(),
            attention_2d=None if attention_2d is None else attention_2d[0].float().cpu(),
        )
    finally:
        model.train(was_training)


def _mask_panel(ax, pts: np.ndarray, visible: np.ndarray, size: float) -> None:
    scatter(ax, pts[~visible], size * 0.8, c=MASKED_COLOUR, alpha=0.35, depthshade=False)
    scatter(ax, pts[visible], size, c=VISIBLE_COLOUR, depthshade=True)


def draw_figure5(data: Figure5Data, out_path: str | Path, dpi: int = 110) -> Path:
    """One row of 3D panels (5 for 2D-guided masking, 3 for random masking) written as a PNG."""
    plt = pyplot()
    pts = y_up(data.points)
    limits = cube_limits(pts)  # the input's cube: a poor reconstruction must not shrink the shape
    size = marker_size(len(pts))
    n_panels = 5 if data.guided else 3
    fig = plt.figure(figsize=(3.4 * n_panels, 3.9))
    colour_axes = None
    panels = iter(range(1, n_panels + 1))

    def panel(title: str):
        ax = fig.add_subplot(1, n_panels, next(panels), projection="3d")
        setup_3d(ax, limits, title)
        return ax

    def kept() -> str:
        return f"{data.num_visible} of {data.num_tokens} top-scale tokens visible; grey = masked"

    ax = panel(f"(1) Input point cloud\n{len(pts)} points")
    scatter(ax, pts, size, c=INPUT_COLOUR, depthshade=True)

    ax = panel(f"(2) Random masking\n{kept()}")
    _mask_panel(ax, pts, data.random_visible, size)

    if data.guided:
        ax = panel(f"(3) Spatial attention cloud\n{ATTENTION_CMAP}: darker = higher 2D attention")
        att = data.attention_points
        sc = scatter(ax, pts, size, c=att, cmap=ATTENTION_CMAP, vmin=float(att.min()), vmax=float(att.max()),
                     depthshade=False)
        colour_axes = (ax, sc, att)

        ax = panel(f"(4) 2D-guided masking\n{kept()}")
        _mask_panel(ax, pts, data.model_visible, size)

    ax = panel("(%d) Reconstruction\nred = predicted masked points, blue = visible" % n_panels)
    scatter(ax, pts[~data.model_visible], size * 0.8, c=MASKED_COLOUR, alpha=0.2, depthshade=False)
    scatter(ax, pts[data.model_visible], size, c=VISIBLE_COLOUR, depthshade=True)
    scatter(ax, y_up(data.reconstruction), size, c=PREDICTED_COLOUR, depthshade=True, axlim_clip=True)

    how = "2D-guided" if data.guided else "random"
    fig.suptitle(f"I2P-MAE on one cloud: {how} masking, ratio {data.mask_ratio:g}, seed {data.seed}"
                 + ("" if data.guided else " (attention and 2D-guided panels skipped)"), fontsize=11)
    if not data.guided:
        fig.text(0.5, 0.02, "This model masks at random (pre-trained without 2D guidance): it has no 2D "
                 "attention, so the attention-cloud and 2D-guided-masking panels are not drawn.",
                 ha="center", fontsize=9, color="#444444")
    fig.subplots_adjust(left=0.0, right=1.0, bottom=0.0 if data.guided else 0.05, top=0.84, wspace=0.0)
    if colour_axes is not None:  # a small horizontal colour bar under the attention panel
        ax, sc, att = colour_axes
        box = ax.get_position()
        cax = fig.add_axes((box.x0 + 0.3 * box.width, 0.06, 0.4 * box.width, 0.025))
        cbar = fig.colorbar(sc, cax=cax, orientation="horizontal")
        cbar.set_ticks([float(att.min()), float(att.max())], labels=["low", "high"])
        cbar.ax.tick_params(labelsize=8)
    return save(fig, out_path, dpi=dpi)


def depthmaps_path(out_path: str | Path) -> Path:
    out = Path(out_path)
    return out.with_name(f"{out.stem}_depthmaps{out.suffix or '.png'}")


def visualize_cloud(model: nn.Module, points: Tensor | np.ndarray, out_path: str | Path,
                    seed: int = 0) -> list[Path]:
    """Figure 5 at ``out_path`` and the depth maps (with the teacher's attention when the model has a
    teacher) at ``<stem>_depthmaps.png`` next to it; returns both paths."""
    data = figure5_data(model, points, seed)
    fig5 = draw_figure5(data, out_path)
    if data.attention_2d is not None:
        title = "Depth maps seen by the 2D teacher (top) and its attention overlaid (bottom, jet: red = high)"
    else:
        title = "Depth maps of the cloud (this model has no 2D teacher: no attention to overlay)"
    maps = draw_depthmaps(data.images, data.attention_2d, data.views, depthmaps_path(out_path), title)
    return [fig5, maps]
