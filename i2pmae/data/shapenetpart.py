"""ShapeNetPart (docs/data.md §1.6): 16 categories, 50 parts, official JSON splits, ``trainval``.

Per item: normalise the whole shape, then draw ``npoints`` (2048) indices
with replacement (train and test alike, as the authors do; the draws are
seeded per (seed, epoch, index), so a test pass is reproducible). The text
files of a split are parsed once into an ``.npz`` cache.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from i2pmae.data._io import (cache_dir_for, check_cloud, files_fingerprint, load_npz, normalize, read_text_points,
                             save_npz_atomic)
from i2pmae.data.base import PointCloudDataset, item
from i2pmae.data.errors import BadFileError
from i2pmae.data.layouts import missing_root_error

log = logging.getLogger("i2pmae")

FOLDER = "shapenetcore_partanno_segmentation_benchmark_v0_normal"
SEG_CLASSES: dict[str, list[int]] = {
    "Airplane": [0, 1, 2, 3], "Bag": [4, 5], "Cap": [6, 7], "Car": [8, 9, 10, 11], "Chair": [12, 13, 14, 15],
    "Earphone": [16, 17, 18], "Guitar": [19, 20, 21], "Knife": [22, 23], "Lamp": [24, 25, 26, 27],
    "Laptop": [28, 29], "Motorbike": [30, 31, 32, 33, 34, 35], "Mug": [36, 37], "Pistol": [38, 39, 40],
    "Rocket": [41, 42, 43], "Skateboard": [44, 45, 46], "Table": [47, 48, 49],
}
NUM_PARTS = 50


def resolve_shapenetpart(root: str | Path) -> Path:
    root = Path(root).expanduser()
    for cand in (root, root / FOLDER):
        if (cand / "synsetoffset2category.txt").is_file():
            return cand
    if not root.exists():
        raise missing_root_error("shapenetpart", root)
    raise missing_root_error("shapenetpart", root, root / FOLDER / "synsetoffset2category.txt")


def read_categories(folder: Path) -> list[tuple[str, str]]:
    """(name, synset) in file order; the line order is the category id."""
    out = []
    for ln in (folder / "synsetoffset2category.txt").read_text().splitlines():
        parts = ln.split()
        if len(parts) >= 2:
            out.append((parts[0], parts[1]))
    unknown = [n for n, _ in out if n not in SEG_CLASSES]
    if unknown:
        raise ValueError(f"{folder / 'synsetoffset2category.txt'}: unknown categories {unknown}; "
                         f"expected names among {list(SEG_CLASSES)}")
    return out


def read_split_ids(folder: Path, split: str) -> set[str]:
    names = {"train": ["train"], "val": ["val"], "test": ["test"], "trainval": ["train", "val"]}
    if split not in names:
        raise ValueError(f"shapenetpart split must be train, val, trainval or test, got {split!r}")
    ids: set[str] = set()
    for s in names[split]:
        path = folder / "train_test_split" / f"shuffled_{s}_file_list.json"
        if not path.is_file():
            raise missing_root_error("shapenetpart", folder, path)
        try:
            entries = json.loads(path.read_text())
            ids |= {str(e).split("/")[2] for e in entries}
        except (ValueError, IndexError) as exc:
            raise BadFileError(path, f"expected a JSON list of 'shape_data/<synset>/<id>' strings ({exc})") from None
    return ids


class ShapeNetPart(PointCloudDataset):
    """Items: points (npoints, 3), category int64, seg int64 (npoints,) global part ids, name."""

    format = "shapenetpart"
    seg_classes = SEG_CLASSES
    num_parts = NUM_PARTS

    def __init__(self, root: str | Path, split: str = "trainval", npoints: int = 2048, seed: int = 0,
                 on_bad_file: str = "error", cache_dir: str | None = None) -> None:
        super().__init__(split, seed, on_bad_file)
        self.folder = resolve_shapenetpart(root)
        self.npoints = int(npoints)
        cats = read_categories(self.folder)
        self.categories = [name for name, _ in cats]
        self.classes = list(self.categories)
        ids = read_split_ids(self.folder, split)
        files: list[tuple[int, Path]] = []
        for k, (_, synset) in enumerate(cats):
            d = self.folder / synset
            if d.is_dir():
                files += [(k, p) for p in sorted(d.glob("*.txt")) if p.stem in ids]
        key = files_fingerprint([p for _, p in files], self.npoints, "v1")
        cache = cache_dir_for(self.folder, cache_dir, "shapenetpart") / f"{split}_{key}.npz"
        z = self._load_cache(cache) if cache.is_file() else None
        if z is None:
            z = self._build_cache(files, cache)
        for entry in z["skipped"].tolist():
            where, problem = entry.split("\t", 1)
            self.policy.handle(BadFileError(where, problem))
        self.points = z["points"]
        self.seg = z["seg"]
        self.offsets = z["offsets"]
        self.names = z["names"].tolist()
        self._set_items(len(self.names), z["category"])
        self.policy.report(len(self.names) + len(z["skipped"]))

    def _load_cache(self, cache: Path) -> dict[str, np.ndarray] | None:
        try:
            return load_npz(cache)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("shapenetpart: ignoring unreadable cache %s (%s)", cache, exc)
            return None

    def _build_cache(self, files: list[tuple[int, Path]], cache: Path) -> dict[str, np.ndarray]:
        pts_list, seg_list, cats, names, skipped = [], [], [], [], []
        for k, path in files:
            try:
                rows = check_cloud(read_text_points(path), path, columns=4)
                seg = rows[:, -1]
                parts = SEG_CLASSES[self.categories[k]]
                if not np.all(seg == np.round(seg)) or seg.min() < parts[0] or seg.max() > parts[-1]:
                    raise BadFileError(path, f"part labels {np.unique(seg)[:8].tolist()} are not integers in "
                                       f"{self.categories[k]}'s range {parts[0]}-{parts[-1]}")
            except BadFileError as err:
                if self.policy.mode == "error":
                    raise  # nothing is cached then
                skipped.append(f"{err.where}\t{err.problem}")
                continue
            pts_list.append(rows[:, :3].astype(np.float32))
            seg_list.append(seg.astype(np.int16))
            cats.append(k)
            names.append(f"{path.parent.name}/{path.stem}")
        counts = [len(p) for p in pts_list]
        z = {
            "points": np.concatenate(pts_list) if pts_list else np.zeros((0, 3), np.float32),
            "seg": np.concatenate(seg_list) if seg_list else np.zeros(0, np.int16),
            "offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            "category": np.array(cats, dtype=np.int64),
            "names": np.array(names, dtype=str),
            "skipped": np.array(skipped, dtype=str),
        }
        save_npz_atomic(cache, **z)
        return z

    def _name(self, j: int) -> str:
        return self.names[j]

    def _get(self, j: int) -> dict[str, Any]:
        lo, hi = int(self.offsets[j]), int(self.offsets[j + 1])
        pts = normalize(self.points[lo:hi])
        choice = self.rng(j).choice(hi - lo, self.npoints, replace=True)
        out = item(pts[choice], self.names[j])
        out["category"] = torch.tensor(int(self._labels[j]), dtype=torch.int64)
        out["seg"] = torch.from_numpy(self.seg[lo:hi][choice].astype(np.int64))
        return out
