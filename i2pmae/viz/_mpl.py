"""Shared matplotlib plumbing: the Agg backend, 3D point panels with one view and equal aspect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

# One camera for every 3D panel so that panels of a figure can be compared point for point.
ELEVATION = 20.0
AZIMUTH = -60.0
ZOOM = 1.35  # matplotlib's 3D axes leave wide margins; fill the panel with the shape
VISIBLE_COLOUR = "#1f5fa8"  # visible tokens' points
MASKED_COLOUR = "#c8c8c8"  # masked tokens' points (faded)
PREDICTED_COLOUR = "#d62728"  # reconstructed points of masked tokens
INPUT_COLOUR = "#3a6f9f"


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only: works on headless servers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def y_up(points: np.ndarray) -> np.ndarray:
    """(N, 3) cloud in the ShapeNet/ModelNet convention (y up) -> matplotlib's (x, y, z) with z up."""
    points = np.asarray(points, dtype=np.float64)
    return np.stack([points[:, 0], -points[:, 2], points[:, 1]], axis=1)


def cube_limits(points: np.ndarray, margin: float = 0.02) -> tuple[np.ndarray, float]:
    """Centre and half-side of the cube around a (display-frame) cloud: equal aspect on every axis."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre = (lo + hi) / 2
    half = float((hi - lo).max()) / 2 * (1 + margin)
    return centre, max(half, 1e-6)


def marker_size(num_points: int) -> float:
    """Scatter marker area that keeps a cloud readable from 256 to 16k points."""
    return float(np.clip(3000.0 / max(num_points, 1), 0.3, 8.0))


def setup_3d(ax: Any, limits: tuple[np.ndarray, float], title: str) -> None:
    """Same camera, cube limits, no axes clutter, a title."""
    centre, half = limits
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_zlim(centre[2] - half, centre[2] + half)
    ax.set_box_aspect((1, 1, 1), zoom=ZOOM)
    ax.view_init(elev=ELEVATION, azim=AZIMUTH)
    ax.set_axis_off()
    ax.set_title(title, fontsize=10, pad=0)


def scatter(ax: Any, points: np.ndarray, size: float, **kwargs: Any) -> Any:
    """3D scatter of display-frame points (N, 3); nothing drawn (None) for an empty set."""
    if len(points) == 0:
        return None
    kwargs.setdefault("linewidths", 0)
    return ax.scatter(points[:, 0], points[:, 1], points[:, 2], s=size, **kwargs)


def save(fig: Any, out_path: str | Path, dpi: int = 110) -> Path:
    """Write the figure (creating folders) and close it."""
    plt = pyplot()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, facecolor="white")
    plt.close(fig)
    return out
