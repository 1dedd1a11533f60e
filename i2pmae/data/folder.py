"""Users' own shapes (``format: folder``): meshes and point clouds in plain folders.

Layouts (see ``layouts.LAYOUTS['folder']``): one sub-folder per class (labels
follow the sorted class names), unlabelled files directly in the root, or
``train/`` and ``test/`` sub-folders holding either. Without ``train/`` and
``test/``, every file belongs to split ``train`` (and ``all``); a seeded,
per-class ``val_fraction`` hold-out then provides ``test``/``val``.

Each file is read once: meshes are surface-sampled (area-weighted, seeded per
file), clouds resampled to ``npoints`` (FPS or random) and normalised; the
result is cached as ``.npz`` in the user cache directory (``$I2PMAE_CACHE``, see
``data.paths``), keyed by the folder's absolute path and the files' names, sizes and
times; nothing is written into the dataset. Hidden files and folders are skipped.
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from i2pmae.data._io import (MESH_SUFFIXES, POINT_SUFFIXES, cache_dir_for, files_fingerprint, load_npz, normalize,
                             read_point_file, resample, sample_mesh, save_npz_atomic)
from i2pmae.data.base import PointCloudDataset, item
from i2pmae.data.errors import BadFileError
from i2pmae.data.layouts import missing_root_error
from i2pmae.data.locations import resolve_data_path

log = logging.getLogger("i2pmae")

SUFFIXES = POINT_SUFFIXES + MESH_SUFFIXES


def read_shape(path: str | Path, mesh_points: int = 8192, seed: int = 0) -> np.ndarray:
    """Raw (n, 3) float32 points of one mesh (surface-sampled, seeded per file name) or point file: the one
    reader of users' files (``folder`` data, ``embed``, ``visualize``, ``project``)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in MESH_SUFFIXES:
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(path.name.encode())])
        return sample_mesh(path, int(mesh_points), rng)
    if suffix in POINT_SUFFIXES + (".csv",):
        return read_point_file(path)
    raise BadFileError(path, f"unsupported file type {suffix!r}; use one of {', '.join(SUFFIXES)}")


def load_cloud(path: str | Path, npoints: int, sampling: str = "fps", seed: int = 0, mesh_points: int | None = None,
               upsample: bool = False) -> np.ndarray:
    """A normalised (npoints, 3) float32 cloud from one mesh or point file (seeded per file name)."""
    path = Path(path)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(path.name.encode())])
    pts = read_shape(path, int(mesh_points or max(4 * npoints, 8192)), seed)
    pts = resample(pts, int(npoints), sampling, rng, where=path, upsample=upsample)
    if np.ptp(pts, axis=0).max() == 0:
        raise BadFileError(path, "all sampled points coincide (degenerate shape)")
    return normalize(pts)


def _visible(p: Path | str) -> bool:
    """Hidden entries (names starting with '.', e.g. caches) and macOS archive folders are never data."""
    name = Path(p).name
    return not name.startswith(".") and name != "__MACOSX"


def shape_files(folder: Path) -> list[Path]:
    """Every visible mesh / point file under ``folder`` (recursively, hidden files and folders skipped)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                  and all(_visible(q) for q in p.relative_to(folder).parts))



def _loose_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and _visible(p) and p.suffix.lower() in SUFFIXES)


def scan(folder: Path, notes: list[str] | None = None) -> tuple[list[tuple[Path, str | None]], list[str]]:
    """(file, class name or None) pairs and the class names of one split folder; a warning about ignored
    files is logged and appended to ``notes`` (shown by `i2pmae data check` too)."""
    class_dirs = sorted(d for d in folder.iterdir() if d.is_dir() and _visible(d) and shape_files(d))
    loose = _loose_files(folder)
    if class_dirs:
        if loose:
            _note(notes, f"{len(loose)} file(s) directly in {folder} ignored: class sub-folders exist "
                  f"({class_dirs[0].name}, ...); move them into a class folder")
        return [(f, d.name) for d in class_dirs for f in shape_files(d)], [d.name for d in class_dirs]
    return [(f, None) for f in loose], []


def _note(notes: list[str] | None, text: str) -> None:
    log.warning("folder data: %s", text)
    if notes is not None and text not in notes:
        notes.append(text)


class PointFolder(PointCloudDataset):
    """Items: normalised points (npoints, 3), label (-1 when unlabelled), name (path relative to root)."""

    format = "folder"

    def __init__(self, root: str | Path, split: str = "train", npoints: int = 2048, sampling: str = "fps",
                 seed: int = 0, on_bad_file: str = "error", val_fraction: float = 0.0, mesh_points: int | None = None,
                 upsample: bool = False, cache_dir: str | None = None, shuffle_points: bool | None = None) -> None:
        super().__init__(split, seed, on_bad_file)
        self.root = resolve_data_path(root)
        if not self.root.is_dir():
            raise missing_root_error("folder", self.root)
        self.npoints, self.sampling = int(npoints), sampling
        self.mesh_points, self.upsample = mesh_points, bool(upsample)
        if sampling not in ("fps", "random"):
            raise ValueError(f"sampling must be 'fps' or 'random', got {sampling!r}")
        entries, self.classes = self._split_entries(split, float(val_fraction or 0.0))
        if not entries:
            raise missing_root_error("folder", self.root, f"shape files ({', '.join(SUFFIXES)}) for split {split!r}")
        self.shuffle_points = (split == "train") if shuffle_points is None else bool(shuffle_points)
        files = [f for f, _ in entries]
        key = files_fingerprint(files, self.npoints, sampling, self.mesh_points, self.seed, self.upsample, "v1")
        cache = cache_dir_for(self.root, cache_dir, "folder") / f"{split}_{key}.npz"
        z = self._load_cache(cache)
        if z is None:
            z = self._build(entries, cache)
        for entry in z["skipped"].tolist():
            where, problem = entry.split("\t", 1)
            self.policy.handle(BadFileError(where, problem))
        self.points, self.names = z["points"], z["names"].tolist()
        self._set_items(len(self.names), z["labels"])
        self.policy.report(len(entries))

    # ----------------------------------------------------------------- splits
    def _split_entries(self, split: str, val_fraction: float) -> tuple[list[tuple[Path, int]], list[str]]:
        root = self.root
        if (root / "train").is_dir() and (root / "test").is_dir():
            names = {"train": ["train"], "test": ["test"], "val": ["val"] if (root / "val").is_dir() else ["test"],
                     "all": ["train", "test"] + (["val"] if (root / "val").is_dir() else [])}
            if split not in names:
                raise ValueError(f"folder split must be one of {sorted(names)}, got {split!r}")
            loose = _loose_files(root)
            if loose:
                _note(self.notes, f"{len(loose)} file(s) directly in {root} ignored: train/ and test/ "
                      "sub-folders exist")
            scans = {s: scan(root / s, self.notes) for s in sorted({"train", "test", *names[split]})}
            classes = sorted({c for _, cs in scans.values() for c in cs})
            pairs = [p for s in names[split] for p in scans[s][0]]
            return self._labelled(pairs, classes), classes
        pairs, classes = scan(root, self.notes)
        entries = self._labelled(pairs, classes)
        if split in ("train", "all") and (val_fraction <= 0 or split == "all"):
            return entries, classes
        if split not in ("train", "test", "val"):
            raise ValueError(f"folder split must be train, test, val or all, got {split!r}")
        if val_fraction <= 0:
            raise ValueError(f"{root} has no train/ and test/ sub-folders, so split {split!r} needs a held-out "
                             "fraction: set val_fraction (e.g. 0.2)")
        held = self._held_out(entries, val_fraction)
        return [e for i, e in enumerate(entries) if (i in held) == (split != "train")], classes

    def _labelled(self, pairs: list[tuple[Path, str | None]], classes: list[str]) -> list[tuple[Path, int]]:
        index = {c: k for k, c in enumerate(classes)}
        return [(f, index[c] if c is not None else -1) for f, c in pairs]

    def _held_out(self, entries: list[tuple[Path, int]], fraction: float) -> set[int]:
        """A seeded per-class hold-out of ``fraction`` of the files (at least one per class of 2+ files)."""
        if not 0 < fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {fraction}")
        held: set[int] = set()
        labels = np.array([lab for _, lab in entries])
        for lab in np.unique(labels):
            members = np.flatnonzero(labels == lab)
            n_out = max(1, int(round(fraction * len(members)))) if len(members) > 1 else 0
            rng = np.random.default_rng([self.seed & 0xFFFFFFFF, 0x7A1, int(lab) + 1])
            held |= {int(i) for i in rng.permutation(members)[:n_out]}
        return held

    # ----------------------------------------------------------------- cache
    def _load_cache(self, cache: Path) -> dict[str, np.ndarray] | None:
        if not cache.is_file():
            return None
        try:
            return load_npz(cache)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("folder data: ignoring unreadable cache %s (%s)", cache, exc)
            return None

    def _build(self, entries: list[tuple[Path, int]], cache: Path) -> dict[str, np.ndarray]:
        from i2pmae.engine.logging import progress_iter  # a bar on a terminal, a few log lines otherwise

        pts, labels, names, skipped = [], [], [], []
        for path, lab in progress_iter(entries, desc=f"reading {self.root.name}/{self.split}", unit="file",
                                       min_total=200):
            try:
                pts.append(load_cloud(path, self.npoints, self.sampling, self.seed, self.mesh_points, self.upsample))
            except BadFileError as err:
                if self.policy.mode == "error":
                    raise
                skipped.append(f"{err.where}\t{err.problem}")
                continue
            labels.append(lab)
            names.append(str(path.relative_to(self.root)))
        z = {
            "points": np.stack(pts) if pts else np.zeros((0, self.npoints, 3), np.float32),
            "labels": np.array(labels, dtype=np.int64),
            "names": np.array(names, dtype=str),
            "skipped": np.array(skipped, dtype=str),
        }
        save_npz_atomic(cache, **z)
        return z

    # ----------------------------------------------------------------- items
    def _name(self, j: int) -> str:
        return self.names[j]

    def labels(self) -> np.ndarray | None:
        labels = super().labels()
        return None if labels is None or (len(labels) and labels.max() < 0) else labels

    def _get(self, j: int) -> dict[str, Any]:
        pts = self.points[j]
        if self.shuffle_points:
            pts = pts[self.rng(j).permutation(len(pts))]
        return item(pts, self.names[j], int(self._labels[j]))
