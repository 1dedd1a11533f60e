"""ModelNet40 readers (docs/data.md §1.2-1.4): resampled text + .dat caches, HDF5 (SVM), few-shot folds.

Every reader loads its whole split into one in-memory array once, so items
cost a copy (and a normalisation), never a parse.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from i2pmae.data._io import (bad_rows, cache_dir_for, check_cloud, files_fingerprint, fps_batch, load_npz,
                             normalize, read_text_points, safe_pickle_load, save_npz_atomic)
from i2pmae.data.base import PointCloudDataset, item
from i2pmae.data.errors import BadFileError
from i2pmae.data.layouts import missing_root_error

log = logging.getLogger("i2pmae")


def _split_name(split: str) -> str:
    """The test split doubles as validation split (docs/data.md §3)."""
    if split not in ("train", "test", "val"):
        raise ValueError(f"split must be train, test or val (= test), got {split!r}")
    return "test" if split == "val" else split


def _read_lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]


# =========================================================================== resampled text / .dat


def resolve_modelnet40(root: str | Path, num_category: int = 40) -> Path:
    root = Path(root).expanduser()
    names = f"modelnet{num_category}_shape_names.txt"
    for cand in (root, root / "ModelNet" / "modelnet40_normal_resampled", root / "modelnet40_normal_resampled"):
        if (cand / names).is_file():
            return cand
    if not root.exists():
        raise missing_root_error("modelnet40", root)
    raise missing_root_error("modelnet40", root, root / "ModelNet" / "modelnet40_normal_resampled" / names)


class ModelNet40(PointCloudDataset):
    """Fine-tuning ModelNet40: normalised (npoints, 3) clouds, point order shuffled for train.

    Reads the authors' ``modelnet40_<split>_<npoints>pts_fps.dat`` pickle when
    present (through a restricted unpickler). Otherwise builds a cache once
    from the text files by FPS from index 0 (deterministic, unlike the authors'
    random start; uses ``i2pmae.ops.farthest_point_sample`` when available) and
    stores it as ``.npz`` in the user cache directory (or ``cache_dir``), never in the data.
    """

    format = "modelnet40"

    def __init__(self, root: str | Path, split: str = "train", npoints: int = 8192, seed: int = 0,
                 on_bad_file: str = "error", num_category: int = 40, cache_dir: str | None = None,
                 shuffle_points: bool | None = None) -> None:
        super().__init__(split, seed, on_bad_file)
        self.split_file = _split_name(split)
        self.folder = resolve_modelnet40(root, num_category)
        self.npoints = int(npoints)
        self.num_category = num_category
        self.shuffle_points = (self.split_file == "train") if shuffle_points is None else bool(shuffle_points)
        self.classes = _read_lines(self.folder / f"modelnet{num_category}_shape_names.txt")
        stem = f"modelnet{num_category}_{self.split_file}_{self.npoints}pts_fps"
        ids_file = self.folder / f"modelnet{num_category}_{self.split_file}.txt"
        self.ids = _read_lines(ids_file) if ids_file.is_file() else None
        dat = self.folder / f"{stem}.dat"
        if dat.is_file():
            points, labels, names, bad = self._load_dat(dat)
        else:
            if self.ids is None:
                raise missing_root_error("modelnet40", root, ids_file)
            cache = cache_dir_for(self.folder, cache_dir, "modelnet40") / f"{stem}.i2pmae.npz"
            points, labels, names, bad = self._load_or_build_cache(cache)
        self.points, self.names = points, names
        self._set_items(len(points), labels)
        self._drop(bad)
        self.policy.report(len(points))

    # ----------------------------------------------------------------- the authors' pickle
    def _load_dat(self, dat: Path) -> tuple[np.ndarray, np.ndarray, list[str], set[int]]:
        obj = safe_pickle_load(dat)
        if not (isinstance(obj, (list, tuple)) and len(obj) == 2 and len(obj[0]) == len(obj[1])):
            raise BadFileError(dat, "expected a pickled [points_list, labels_list] pair of equal lengths")
        plist, llist = obj
        n = len(plist)
        names = list(self.ids) if self.ids is not None and len(self.ids) == n else \
            [f"{self.split_file}_{i:05d}" for i in range(n)]
        points = np.zeros((n, self.npoints, 3), dtype=np.float32)
        labels = np.full(n, -1, dtype=np.int64)
        bad: set[int] = set()
        for i, (pts, lab) in enumerate(zip(plist, llist)):
            try:
                check_cloud(pts, dat, index=i)
                if len(pts) != self.npoints:
                    raise BadFileError(dat, f"has {len(pts)} points, expected {self.npoints}", i)
                labels[i] = self._check_label(lab, dat, i)
                points[i] = pts[:, :3]
            except BadFileError as err:
                bad.add(i)
                self.policy.handle(err)
        return points, labels, names, bad

    def _check_label(self, lab: Any, where: Path, i: int) -> int:
        arr = np.asarray(lab).reshape(-1)
        if arr.size != 1 or arr.dtype.kind not in "iu" or not 0 <= int(arr[0]) < len(self.classes):
            raise BadFileError(where, f"label {lab!r} is not a class index in [0, {len(self.classes)})", i)
        return int(arr[0])

    # ----------------------------------------------------------------- our cache of the text files
    def _text_files(self) -> list[Path]:
        return [self.folder / sid.rsplit("_", 1)[0] / f"{sid}.txt" for sid in self.ids]

    def _fingerprint(self) -> str:
        """Names, sizes and times of the text files that exist: a changed or repaired file rebuilds the cache."""
        return files_fingerprint([p for p in self._text_files() if p.is_file()], self.npoints, "v1")

    def _load_or_build_cache(self, cache: Path) -> tuple[np.ndarray, np.ndarray, list[str], set[int]]:
        z = None
        if cache.is_file():
            try:
                z = load_npz(cache)
                if str(z["fingerprint"]) != self._fingerprint():
                    raise ValueError("the text files changed since it was built")
            except (OSError, KeyError, ValueError) as exc:
                log.warning("modelnet40: not using cache %s (%s); rebuilding", cache, exc)
                z = None
        if z is None:
            return self._build_cache(cache)
        for entry in z["skipped"].tolist():  # files skipped when the cache was built
            where, problem = entry.split("\t", 1)
            self.policy.handle(BadFileError(where, problem))
        log.info("modelnet40: loaded cache %s", cache)
        return z["points"], z["labels"], z["names"].tolist(), set()

    def _build_cache(self, cache: Path) -> tuple[np.ndarray, np.ndarray, list[str], set[int]]:
        from i2pmae.engine.logging import progress_iter  # a bar on a terminal, a few log lines otherwise

        cls = {c: k for k, c in enumerate(self.classes)}
        log.info("modelnet40: building %s from %d text files (only once)", cache, len(self.ids))
        kept_pts, kept_labels, kept_names, skipped = [], [], [], []
        pending: list[tuple[np.ndarray, int, str]] = []

        def flush() -> None:
            if pending:
                clouds = np.stack([p for p, _, _ in pending])
                idx = fps_batch(clouds, self.npoints)
                kept_pts.append(np.take_along_axis(clouds, idx[..., None], axis=1))
                kept_labels.extend(lab for _, lab, _ in pending)
                kept_names.extend(name for _, _, name in pending)
                pending.clear()

        todo = list(zip(self.ids, self._text_files()))
        for shape_id, path in progress_iter(todo, desc=f"modelnet40 {self.split_file} cache", unit="shape"):
            cname = shape_id.rsplit("_", 1)[0]
            try:
                if cname not in cls:
                    raise BadFileError(path, f"class {cname!r} is not in modelnet{self.num_category}_shape_names.txt")
                pts = check_cloud(read_text_points(path), path, min_points=self.npoints)[:, :3]
            except BadFileError as err:
                self.policy.handle(err)
                skipped.append(f"{err.where}\t{err.problem}")
                continue
            if pending and len(pts) != len(pending[0][0]) or len(pending) >= 32:
                flush()
            pending.append((pts, cls[cname], shape_id))
        flush()
        points = np.concatenate(kept_pts) if kept_pts else np.zeros((0, self.npoints, 3), np.float32)
        labels = np.array(kept_labels, dtype=np.int64)
        save_npz_atomic(cache, points=points.astype(np.float32), labels=labels,
                        fingerprint=np.array(self._fingerprint()), names=np.array(kept_names, dtype=str),
                        skipped=np.array(skipped, dtype=str))
        return points, labels, kept_names, set()

    # ----------------------------------------------------------------- items
    def _name(self, j: int) -> str:
        return self.names[j]

    def _get(self, j: int) -> dict[str, Any]:
        pts = normalize(self.points[j])
        if self.shuffle_points:
            pts = pts[self.rng(j).permutation(len(pts))]
        return item(pts, self.names[j], int(self._labels[j]))


# =========================================================================== HDF5 (linear SVM)


def resolve_modelnet40_h5(root: str | Path) -> Path:
    root = Path(root).expanduser()
    for cand in (root / "modelnet40_ply_hdf5_2048", root, root / "ModelNet" / "modelnet40_ply_hdf5_2048"):
        if any(cand.glob("ply_data_*.h5")):
            return cand
    if not root.exists():
        raise missing_root_error("modelnet40_h5", root)
    raise missing_root_error("modelnet40_h5", root, root / "modelnet40_ply_hdf5_2048" / "ply_data_train0.h5")


def read_h5_arrays(path: Path, label_key: str = "label") -> tuple[np.ndarray, np.ndarray]:
    """(data float32 (n,P,C), label int64 (n,)) of one HDF5 container; problems name the file."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            for key in ("data", label_key):
                if key not in f:
                    raise BadFileError(path, f"missing key {key!r} (found {sorted(f.keys())})")
            data = np.asarray(f["data"][:], dtype=np.float32)
            label = np.asarray(f[label_key][:])
    except BadFileError:
        raise
    except Exception as exc:  # OSError for truncated/corrupt files
        raise BadFileError(path, f"unreadable or truncated HDF5 file ({type(exc).__name__}: {exc})") from None
    if data.ndim != 3 or data.shape[2] < 3:
        raise BadFileError(path, f"'data' must be (n, points, 3), got shape {data.shape}")
    label = label.reshape(len(label), -1) if label.ndim > 1 else label.reshape(-1, 1)
    if label.shape != (len(data), 1):
        raise BadFileError(path, f"'{label_key}' must hold one label per cloud: shape {label.shape} "
                           f"for {len(data)} clouds")
    if label.dtype.kind not in "iu" and not (label.dtype.kind == "f" and np.all(label == np.round(label))):
        raise BadFileError(path, f"'{label_key}' must be integer class indices, got dtype {label.dtype}")
    return data, label.reshape(-1).astype(np.int64)


class H5Clouds(PointCloudDataset):
    """Shared loader of stacked (n, P, 3) clouds from HDF5 containers, with per-row validation."""

    def _load_containers(self, files: list[Path], num_classes: int | None) -> None:
        chunks, labels, names = [], [], []
        bad: set[int] = set()
        offset = 0
        for path in files:
            try:
                data, lab = read_h5_arrays(path)
            except BadFileError as err:
                self.policy.handle(err)
                continue
            problems = bad_rows(data)
            for i in np.flatnonzero((lab < 0) | ((lab >= num_classes) if num_classes else False)):
                problems.setdefault(int(i), f"label {int(lab[i])} outside [0, {num_classes})")
            for i, problem in sorted(problems.items()):
                bad.add(offset + i)
                self.policy.handle(BadFileError(path, problem, i))
            chunks.append(data[..., :3])
            labels.append(lab)
            names += [f"{path.name}[{i}]" for i in range(len(data))]
            offset += len(data)
        if chunks and len({c.shape[1] for c in chunks}) > 1:
            raise ValueError(f"containers hold clouds of different sizes: "
                             f"{ {f.name: c.shape[1] for f, c in zip(files, chunks)} }")
        self.data = np.concatenate(chunks) if chunks else np.zeros((0, 0, 3), np.float32)
        self.names = names
        self._set_items(len(self.data), np.concatenate(labels) if labels else np.zeros(0, np.int64))
        self._drop(bad)
        self.policy.report(len(self.data))

    def _name(self, j: int) -> str:
        return self.names[j]


class ModelNet40H5(H5Clouds):
    """``ply_data_<split>*.h5``: the first ``npoints`` points in stored order, no normalisation (SVM protocol).

    Files are read in sorted order (the authors' glob order is unspecified).
    """

    format = "modelnet40_h5"

    def __init__(self, root: str | Path, split: str = "train", npoints: int = 1024, seed: int = 0,
                 on_bad_file: str = "error") -> None:
        super().__init__(split, seed, on_bad_file)
        self.split_file = _split_name(split)
        self.folder = resolve_modelnet40_h5(root)
        files = sorted(self.folder.glob(f"ply_data_{self.split_file}*.h5"))
        if not files:
            raise missing_root_error("modelnet40_h5", root, self.folder / f"ply_data_{self.split_file}0.h5")
        names_file = self.folder / "shape_names.txt"
        self.classes = _read_lines(names_file) if names_file.is_file() else []
        self._load_containers(files, len(self.classes) or None)
        if not self.classes and len(self._labels):
            self.classes = [f"class_{k}" for k in range(int(self._labels.max()) + 1)]
        self.npoints = int(npoints)
        if self.data.shape[1] < self.npoints:
            raise ValueError(f"{files[0]}: clouds have {self.data.shape[1]} points, fewer than npoints={npoints}")

    def _get(self, j: int) -> dict[str, Any]:
        return item(self.data[j, : self.npoints], self.names[j], int(self._labels[j]))


# =========================================================================== few-shot folds


def resolve_fewshot(root: str | Path, way: int, shot: int, fold: int) -> Path:
    root = Path(root).expanduser()
    rel = Path(f"{way}way_{shot}shot") / f"{fold}.pkl"
    for cand in (root / "ModelNetFewshot" / rel, root / rel, root / f"{fold}.pkl"):
        if cand.is_file():
            return cand
    if not root.exists():
        raise missing_root_error("modelnet40_fewshot", root)
    raise missing_root_error("modelnet40_fewshot", root, root / "ModelNetFewshot" / rel)


class ModelNet40FewShot(PointCloudDataset):
    """One fold ``{way}way_{shot}shot/{fold}.pkl``: normalised xyz, normals dropped, order shuffled for train.

    All stored points (8192) are returned unless ``npoints`` asks for a prefix.
    """

    format = "modelnet40_fewshot"

    def __init__(self, root: str | Path, split: str = "train", way: int = 5, shot: int = 10, fold: int = 0,
                 seed: int = 0, on_bad_file: str = "error", shape_names: str | None = None,
                 npoints: int | None = None) -> None:
        super().__init__(split, seed, on_bad_file)
        self.split_file = _split_name(split)
        self.way, self.shot, self.fold = int(way), int(shot), int(fold)
        self.file = resolve_fewshot(root, self.way, self.shot, self.fold)
        obj = safe_pickle_load(self.file)
        if not isinstance(obj, dict) or self.split_file not in obj:
            raise BadFileError(self.file, f"expected a pickled dict with keys 'train' and 'test', got "
                               f"{sorted(obj) if isinstance(obj, dict) else type(obj).__name__}")
        entries = obj[self.split_file]
        clouds, labels, originals = [], [], []
        bad: set[int] = set()
        for i, entry in enumerate(entries):
            try:
                if not (isinstance(entry, (tuple, list)) and len(entry) >= 2):
                    raise BadFileError(self.file, "entry is not a (points, label, original_label) tuple", i)
                pts = check_cloud(entry[0], self.file, index=i)
                lab = np.asarray(entry[1]).reshape(-1)
                if lab.size != 1 or lab.dtype.kind not in "iu" or not 0 <= int(lab[0]) < self.way:
                    raise BadFileError(self.file, f"label {entry[1]!r} is not in [0, {self.way})", i)
                if clouds and len(pts) != len(clouds[0]):
                    raise BadFileError(self.file, f"has {len(pts)} points, others have {len(clouds[0])}", i)
            except BadFileError as err:
                bad.add(i)
                self.policy.handle(err)
                clouds.append(None)
                labels.append(-1)
                originals.append(-1)
                continue
            clouds.append(np.asarray(pts[:, :3], dtype=np.float32))
            labels.append(int(lab[0]))
            originals.append(int(np.asarray(entry[2]).reshape(-1)[0]) if len(entry) > 2 else -1)
        size = next((c.shape[0] for c in clouds if c is not None), 0)
        self.points = np.stack([c if c is not None else np.zeros((size, 3), np.float32) for c in clouds]) \
            if clouds else np.zeros((0, 0, 3), np.float32)
        self.classes = self._class_names(originals, labels, root, shape_names)
        if npoints is not None:  # the stored rows are in FPS order, so a prefix is an FPS subset
            if int(npoints) > self.points.shape[1]:
                raise ValueError(f"{self.file}: clouds have {self.points.shape[1]} points, "
                                 f"fewer than npoints={npoints}")
            self.points = np.ascontiguousarray(self.points[:, : int(npoints)])
        self._set_items(len(entries), np.array(labels))
        self._drop(bad)
        self.policy.report(len(entries))

    def _class_names(self, originals: list[int], labels: list[int], root: str | Path,
                     shape_names: str | None) -> list[str]:
        """The ModelNet40 name of each of the ``way`` labels when the shape-names file can be found."""
        names40: list[str] = []
        candidates = [Path(shape_names)] if shape_names else []
        base = Path(root).expanduser()
        resampled = Path("ModelNet") / "modelnet40_normal_resampled"
        candidates += [d / resampled / "modelnet40_shape_names.txt" for d in (base, base.parent)]
        for cand in candidates:
            if cand.is_file():
                names40 = _read_lines(cand)
                break
        out = [f"class_{k}" for k in range(self.way)]
        for orig, lab in zip(originals, labels):
            if lab >= 0 and orig >= 0:
                out[lab] = names40[orig] if orig < len(names40) else f"modelnet40_{orig}"
        return out

    def _name(self, j: int) -> str:
        return f"{self.file.parent.name}/{self.file.name}:{self.split_file}[{j}]"

    def _get(self, j: int) -> dict[str, Any]:
        pts = normalize(self.points[j])
        if self.split_file == "train":
            pts = pts[self.rng(j).permutation(len(pts))]
        return item(pts, self._name(j), int(self._labels[j]))
