"""ScanObjectNN OBJ-BG / OBJ-ONLY / PB-T50-RS (docs/data.md §1.5): points as stored, order shuffled for train."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from i2pmae.data.base import item
from i2pmae.data.layouts import missing_root_error
from i2pmae.data.modelnet import H5Clouds, _split_name

log = logging.getLogger("i2pmae")

CLASSES = ["bag", "bin", "box", "cabinet", "chair", "desk", "display", "door", "shelf", "table", "bed",
           "pillow", "sink", "sofa", "toilet"]

# variant -> (split folder, file suffix)
VARIANTS = {
    "obj_bg": ("main_split", "_objectdataset.h5"),
    "obj_only": ("main_split_nobg", "_objectdataset.h5"),
    "pb_t50_rs": ("main_split", "_objectdataset_augmentedrot_scale75.h5"),
}
ALIASES = {"obj-bg": "obj_bg", "objbg": "obj_bg", "obj": "obj_only", "obj-only": "obj_only", "objonly": "obj_only",
           "pb": "pb_t50_rs", "pb-t50-rs": "pb_t50_rs", "pb_t50rs": "pb_t50_rs", "hardest": "pb_t50_rs"}
OFFICIAL_SIZES = {"obj_bg": (2309, 581), "obj_only": (2309, 581), "pb_t50_rs": (11416, 2882)}


def canonical_variant(variant: str) -> str:
    v = str(variant).strip().lower()
    v = ALIASES.get(v, v)
    if v not in VARIANTS:
        raise ValueError(f"ScanObjectNN variant must be one of {sorted(VARIANTS)} (or OBJ-BG, OBJ, PB), "
                         f"got {variant!r}")
    return v


def resolve_scanobjectnn(root: str | Path, variant: str, split: str) -> Path:
    """The .h5 file of ``variant``/``split`` under data/, ScanObjectNN/ or the split folder itself."""
    root = Path(root).expanduser()
    folder, suffix = VARIANTS[variant]
    name = ("training" if split == "train" else "test") + suffix
    for cand in (root / "ScanObjectNN" / folder, root / folder, root):
        if (cand / name).is_file():
            return cand / name
    if not root.exists():
        raise missing_root_error("scanobjectnn", root)
    raise missing_root_error("scanobjectnn", root, root / "ScanObjectNN" / folder / name)


class ScanObjectNN(H5Clouds):
    """Items: points (2048, 3) as stored (no normalisation), label in the 15 classes."""

    format = "scanobjectnn"

    def __init__(self, root: str | Path, split: str = "train", variant: str = "obj_bg", seed: int = 0,
                 on_bad_file: str = "error", npoints: int | None = None, shuffle_points: bool | None = None) -> None:
        super().__init__(split, seed, on_bad_file)
        self.variant = canonical_variant(variant)
        self.split_file = _split_name(split)
        self.file = resolve_scanobjectnn(root, self.variant, self.split_file)
        self.classes = list(CLASSES)
        self._load_containers([self.file], len(CLASSES))
        self.npoints = int(npoints) if npoints else self.data.shape[1]
        if self.data.shape[1] < self.npoints:
            raise ValueError(f"{self.file}: clouds have {self.data.shape[1]} points, fewer than npoints={npoints}")
        self.shuffle_points = (self.split_file == "train") if shuffle_points is None else bool(shuffle_points)
        official = OFFICIAL_SIZES[self.variant][0 if self.split_file == "train" else 1]
        if len(self.data) != official:
            log.warning("scanobjectnn: %s holds %d clouds, the official %s %s split has %d (a subset?)",
                        self.file, len(self.data), self.variant, self.split_file, official)

    def _get(self, j: int) -> dict[str, Any]:
        pts = self.data[j]
        if self.shuffle_points:
            pts = pts[self.rng(j).permutation(len(pts))]
        return item(pts[: self.npoints], self.names[j], int(self._labels[j]))
