"""ShapeNet-55 for pre-training (docs/data.md §1.1).

Per item: a random ``npoints`` (2048) of the stored 8192 points without
replacement (no FPS), then normalise. Files are read per item (52k files
would not fit in memory); each is a small .npy, so nothing is re-parsed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from i2pmae.data._io import check_cloud, load_npy, normalize
from i2pmae.data.base import PointCloudDataset, item
from i2pmae.data.errors import BadFileError
from i2pmae.data.layouts import missing_root_error


def resolve_shapenet55(root: str | Path) -> Path:
    """The ShapeNet55-34 folder under ``root`` (or ``root`` itself)."""
    root = Path(root).expanduser()
    for cand in (root / "ShapeNet55-34", root, root / "data" / "ShapeNet55-34"):
        if (cand / "ShapeNet-55").is_dir() and (cand / "shapenet_pc").is_dir():
            return cand
    if not root.exists():
        raise missing_root_error("shapenet55", root)
    missing = next((p for p in (root / "ShapeNet55-34" / "ShapeNet-55", root / "ShapeNet55-34" / "shapenet_pc")
                    if not p.exists()), root / "ShapeNet55-34")
    raise missing_root_error("shapenet55", root, missing)


def read_list(path: Path) -> list[str]:
    if not path.is_file():
        raise missing_root_error("shapenet55", path.parent.parent.parent, path)
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]


class ShapeNet55(PointCloudDataset):
    """Items: points (npoints,3), label (index of the synset in ``classes``), name '<synset>-<model>'."""

    format = "shapenet55"

    def __init__(self, root: str | Path, split: str = "train", npoints: int = 2048, seed: int = 0,
                 on_bad_file: str = "error", whole: bool = False) -> None:
        super().__init__(split, seed, on_bad_file)
        if split not in ("train", "test", "val", "all"):
            raise ValueError(f"shapenet55 split must be train, test or all, got {split!r}")
        self.folder = resolve_shapenet55(root)
        self.npoints = int(npoints)
        lists = self.folder / "ShapeNet-55"
        split_file = "test" if split == "val" else split
        names = read_list(lists / "train.txt") + read_list(lists / "test.txt") if (split == "all" or (
            whole and split == "train")) else read_list(lists / f"{split_file}.txt")
        other = [lists / f"{s}.txt" for s in ("train", "test")]
        every = [n for f in other if f.is_file() for n in read_list(f)]
        self.classes = sorted({n.split("-")[0] for n in every} | {n.split("-")[0] for n in names})
        cls = {c: k for k, c in enumerate(self.classes)}
        self.files: list[Path] = []
        labels = []
        bad: set[int] = set()
        for j, name in enumerate(names):
            path = self.folder / "shapenet_pc" / name
            self.files.append(path)
            labels.append(cls[name.split("-")[0]])
            if not path.is_file():
                bad.add(j)
                self.policy.handle(BadFileError(path, f"listed in {split_file}.txt but missing"))
        self._set_items(len(names), np.array(labels))
        self._drop(bad)
        self.policy.report(len(names))

    def _name(self, j: int) -> str:
        return Path(self.files[j]).stem

    def _get(self, j: int) -> dict[str, Any]:
        path = self.files[j]
        pts = load_npy(path)
        check_cloud(pts, path, min_points=self.npoints)
        rng = self.rng(j)
        choice = rng.choice(len(pts), self.npoints, replace=False)
        sub = np.asarray(pts[choice, :3], dtype=np.float32)
        return item(normalize(sub), self._name(j), int(self._labels[j]))
