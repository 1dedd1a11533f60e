"""`i2pmae project`: render the multi-view depth maps a 2D teacher sees, as one PNG.

With no ``--input`` a small procedural chair (about 2048 points) is used, so the command works
on a fresh install without any data set.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

AXES = ("x", "y", "z")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("project", help="write the depth maps projected from a point cloud as a PNG")
    p.add_argument("--input", metavar="FILE", help="point cloud: .npy/.npz (N, >=3) or text .txt/.xyz/.csv/.pts "
                   "(whitespace- or comma-separated, first 3 columns), or a mesh .ply/.obj/.off/.stl/.glb "
                   "(surface-sampled); default: a built-in chair")
    p.add_argument("--out", default="depth.png", help="PNG to write (default: depth.png)")
    p.add_argument("--views", type=int, nargs="+", default=[0, 1, 2], choices=[0, 1, 2],
                   help="views to render: 0 = (x,y | depth z), 1 = (z,x | y), 2 = (y,z | x) (default: 0 1 2)")
    p.add_argument("--image-size", type=int, default=224, help="side of each depth map in pixels (default: 224)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    p.set_defaults(func=run)


def builtin_chair(num_points: int = 2048, seed: int = 0) -> np.ndarray:
    """A chair-like cloud (seat, backrest, four legs) sampled on surfaces, y up, about unit size."""
    rng = np.random.default_rng(seed)

    def box(n: int, lo: tuple[float, float, float], hi: tuple[float, float, float]) -> np.ndarray:
        lo_a, hi_a = np.asarray(lo), np.asarray(hi)
        pts = rng.uniform(lo_a, hi_a, size=(n, 3))
        face_axis = rng.integers(0, 3, size=n)  # snap each sample onto one face of the box
        side = rng.integers(0, 2, size=n)
        pts[np.arange(n), face_axis] = np.where(side == 1, hi_a[face_axis], lo_a[face_axis])
        return pts

    parts = [
        (0.30, (-0.45, -0.05, -0.45), (0.45, 0.05, 0.45)),  # seat
        (0.30, (-0.45, 0.05, 0.35), (0.45, 0.95, 0.45)),  # backrest
    ]
    for x in (-0.4, 0.35):
        for z in (-0.4, 0.35):
            parts.append((0.10, (x, -0.85, z), (x + 0.05, -0.05, z + 0.05)))  # legs
    sizes = [int(round(share * num_points)) for share, _, _ in parts]
    sizes[0] += num_points - sum(sizes)
    cloud = np.concatenate([box(n, lo, hi) for n, (_, lo, hi) in zip(sizes, parts)])
    return cloud.astype(np.float32)


def load_cloud(path: str, mesh_points: int = 8192) -> np.ndarray:
    """A (N, 3) float32 array from any file `embed` reads (clouds, or meshes surface-sampled), plus .csv;
    errors name the file."""
    from i2pmae.data.folder import read_shape

    file = Path(path)
    if not file.is_file():
        problem = "is a folder, not a file" if file.is_dir() else "file not found"
        raise FileNotFoundError(f"--input {file}: {problem}")
    return np.ascontiguousarray(read_shape(file, mesh_points)[:, :3], dtype=np.float32)


def run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from i2pmae.data.paths import IMAGE_SUFFIXES, check_output_path
    from i2pmae.projection import IMAGENET_MEAN, IMAGENET_STD, VIEW_PERMUTATIONS, project_views

    if args.image_size < 8:
        raise ValueError(f"--image-size must be >= 8 pixels, got {args.image_size}")
    out = check_output_path(args.out, "--out", IMAGE_SUFFIXES)
    cloud = load_cloud(args.input) if args.input else builtin_chair()
    source = args.input or "built-in chair"
    images, _ = project_views(torch.from_numpy(cloud)[None], views=args.views, image_size=args.image_size)
    # Undo the ImageNet normalisation of channel 0: sigmoid(summed depth), 0.5 where empty.
    depth = images[0, :, 0] * IMAGENET_STD[0] + IMAGENET_MEAN[0]

    fig, axes = plt.subplots(1, len(args.views), figsize=(3.2 * len(args.views), 3.6), squeeze=False)
    for ax, view, img in zip(axes[0], args.views, depth):
        perm = VIEW_PERMUTATIONS[view]
        ax.imshow(img.numpy(), cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_title(f"view {view}: rows {AXES[perm[0]]}, cols {AXES[perm[1]]}, depth {AXES[perm[2]]}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{source}: {len(cloud)} points", fontsize=9)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    print(f"wrote {out} ({len(args.views)} view(s) of {source}, {len(cloud)} points)")
    return 0
