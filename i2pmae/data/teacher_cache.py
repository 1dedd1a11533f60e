"""Reading a teacher cache: the frozen 2D model's outputs for every training shape, computed once.

Why: the 2D teacher is frozen, so recomputing its outputs every epoch is waste (it is most of a
pre-training step's arithmetic).  ``i2pmae teacher cache`` (:mod:`i2pmae.tasks.teacher_cache`) runs it
once per shape on the shape's *canonical* cloud (the dataset's epoch-0 draw: a fixed subsample, no
augmentation) and stores, per shape and view, the feature map (C, h, w) and CLS attention map (h, w) in
float16 plus every canonical point's pixel in that projection.  Pre-training with ``teacher.cache: DIR``
reads them here and attaches 2D values to points by identity (a deviation from the paper, whose teacher
sees each step's augmented cloud).

On disk (``DIR``)::

    manifest.json             format, teacher (name, sha256 of its weights), views, image size,
                              projection settings, dataset (format, npoints, seed), shapes (name,
                              file, size) in order, shard size
    shard-00000/feats.npy     (n, V, C, h, w) float16    read memory-mapped, one row per shape
    shard-00000/attn.npy      (n, V, h, w) float16
    shard-00000/pixels.npy    (n, V, N, 2) uint8 / int16 (row, column) of each canonical point
    shard-00000/crc.npy       (n,) uint32                crc32 of the canonical cloud's float32 bytes
    shard-00000/names.json    the shard's shape names

A shard directory appears under its final name only once complete (written as a temporary directory,
then renamed), so a half-written shard is never read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

log = logging.getLogger("i2pmae")

FORMAT = "i2pmae.teacher-cache"
VERSION = 1
MANIFEST = "manifest.json"
ARRAYS = ("feats", "attn", "pixels", "crc")


def shard_name(k: int) -> str:
    return f"shard-{k:05d}"


def cloud_crc(points: torch.Tensor | np.ndarray) -> int:
    """crc32 of a cloud's float32 bytes: identifies the exact canonical cloud a cache entry was made from."""
    arr = points.detach().cpu().numpy() if isinstance(points, torch.Tensor) else np.asarray(points)
    return zlib.crc32(np.ascontiguousarray(arr, dtype=np.float32).tobytes()) & 0xFFFFFFFF


def weights_digest(module: torch.nn.Module) -> str:
    """sha256 over a module's state dict (sorted names, shapes, float32 bytes): which weights the cache holds."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu()
        h.update(f"{name}:{tuple(t.shape)}:".encode())
        if t.is_floating_point():
            t = t.float()
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def pixel_dtype(image_size: int) -> np.dtype:
    return np.dtype(np.uint8) if image_size <= 256 else np.dtype(np.int16)


def bytes_per_shape(views: int, feature_dim: int, grid: Sequence[int], npoints: int, image_size: int) -> int:
    """Bytes one shape takes in a cache (features + attention in fp16, pixels, crc)."""
    h, w = grid
    return views * feature_dim * h * w * 2 + views * h * w * 2 + views * npoints * 2 * pixel_dtype(
        image_size).itemsize + 4


def dataset_shapes(dataset: Any) -> list[dict[str, Any]]:
    """Name, file (relative to the dataset's folder when known) and size in bytes of every visible item."""
    names = dataset.item_names()
    files = getattr(dataset, "files", None)
    index = getattr(dataset, "_index", None)
    base = getattr(dataset, "folder", None) or getattr(dataset, "root", None)
    out = []
    for pos, name in enumerate(names):
        entry: dict[str, Any] = {"name": name, "file": None, "size": None}
        if files is not None and index is not None:
            path = Path(files[int(index[pos])])
            try:
                entry["file"] = str(path.relative_to(base)) if base is not None else path.name
            except ValueError:
                entry["file"] = path.name
            entry["size"] = path.stat().st_size if path.is_file() else None
        out.append(entry)
    return out


class TeacherCache:
    """A teacher cache directory opened for reading; shards are memory-mapped on first use (per process)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()
        path = self.root / MANIFEST
        if not path.is_file():
            raise FileNotFoundError(f"teacher cache {self.root}: no {MANIFEST} there; build one with "
                                    f"`i2pmae teacher cache -c CONFIG --out {self.root}`")
        try:
            self.manifest = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"teacher cache {path}: unreadable manifest ({exc})") from None
        if self.manifest.get("format") != FORMAT or self.manifest.get("version") != VERSION:
            raise ValueError(f"teacher cache {path}: not an i2pmae teacher cache of version {VERSION} "
                             f"(format {self.manifest.get('format')!r}, version {self.manifest.get('version')!r})")
        self.shard_size = int(self.manifest["shard_size"])
        self.shapes = self.manifest["shapes"]
        self._where = {s["name"]: pos for pos, s in enumerate(self.shapes)}
        self._open: dict[int, dict[str, np.ndarray]] = {}

    # ---------------------------------------------------------------- layout
    @property
    def num_shards(self) -> int:
        return (len(self.shapes) + self.shard_size - 1) // self.shard_size

    @property
    def views(self) -> list[int]:
        return list(self.manifest["views"])

    @property
    def feature_dim(self) -> int:
        return int(self.manifest["teacher"]["feature_dim"])

    def shard_dir(self, k: int) -> Path:
        return self.root / shard_name(k)

    def shard_complete(self, k: int) -> bool:
        d = self.shard_dir(k)
        return all((d / f"{a}.npy").is_file() for a in ARRAYS) and (d / "names.json").is_file()

    def missing_shards(self) -> list[int]:
        return [k for k in range(self.num_shards) if not self.shard_complete(k)]

    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.root.glob("shard-*/*") if f.is_file())

    # ---------------------------------------------------------------- reading
    def position(self, name: str) -> int:
        if name not in self._where:
            raise KeyError(name)
        return self._where[name]

    def _shard(self, k: int) -> dict[str, np.ndarray]:
        if k not in self._open:
            if not self.shard_complete(k):
                raise ValueError(f"teacher cache {self.root}: {shard_name(k)} is missing or unfinished; "
                                 f"run `i2pmae teacher cache` again with the same config and --out to complete it")
            d = self.shard_dir(k)
            self._open[k] = {a: np.load(d / f"{a}.npy", mmap_mode="r") for a in ARRAYS}
        return self._open[k]

    def read(self, name: str) -> dict[str, np.ndarray]:
        """Cached arrays of shape ``name``: feats (V, C, h, w) f16, attn (V, h, w) f16, pixels (V, N, 2), crc."""
        if name not in self._where:
            raise ValueError(f"shape {name!r} is not in the teacher cache {self.root} (it holds "
                             f"{len(self.shapes)} shapes); rebuild the cache for this dataset")
        pos = self._where[name]
        k, row = divmod(pos, self.shard_size)
        arrays = self._shard(k)
        return {a: np.array(arrays[a][row]) for a in ARRAYS}

    # ---------------------------------------------------------------- matching a run
    def check_matches(self, expected: dict[str, Any], shapes: Sequence[dict[str, Any]],
                      require_complete: bool = True) -> None:
        """Refuse (ValueError naming the difference) a cache made for another teacher, weights, views,
        projection or dataset, or one lacking any of the run's ``shapes`` (from :func:`dataset_shapes`)."""
        diffs = [f"{key}: cache {have!r}, run {want!r}" for key, have, want in _flat_diff(self.manifest, expected)]
        if diffs:
            raise ValueError(f"teacher cache {self.root} does not match this run: " + "; ".join(diffs[:6])
                             + "; rebuild it with `i2pmae teacher cache` (or set teacher.cache: null)")
        missing = [s["name"] for s in shapes if s["name"] not in self._where]
        if missing:
            raise ValueError(f"teacher cache {self.root}: {len(missing)} shape(s) of the run are not cached, e.g. "
                             f"{', '.join(missing[:5])}; rebuild the cache for this dataset")
        changed = []
        for s in shapes:
            c = self.shapes[self._where[s["name"]]]
            if (s.get("file"), s.get("size")) != (c.get("file"), c.get("size")):
                changed.append(f"{s['name']} (file {c.get('file')}, {c.get('size')} bytes cached; now "
                               f"{s.get('file')}, {s.get('size')} bytes)")
        if changed:
            raise ValueError(f"teacher cache {self.root}: dataset files changed since the cache was built: "
                             f"{'; '.join(changed[:3])}; rebuild the cache")
        if not require_complete:
            return
        bad = sorted({self._where[s["name"]] // self.shard_size for s in shapes} & set(self.missing_shards()))
        if bad:
            first = self.shapes[bad[0] * self.shard_size]["name"]
            raise ValueError(f"teacher cache {self.root}: {len(bad)} shard(s) unfinished ({shard_name(bad[0])}, "
                             f"shape {first!r} onwards); run `i2pmae teacher cache` again to complete it")


def _flat_diff(have: dict, want: dict, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, cached value, run value) for every key of ``want`` whose cached value differs."""
    out = []
    for key, value in want.items():
        name = f"{prefix}{key}"
        cached = have.get(key) if isinstance(have, dict) else None
        if isinstance(value, dict):
            out += _flat_diff(cached if isinstance(cached, dict) else {}, value, name + ".")
        elif _norm(cached) != _norm(value):
            out.append((name, cached, value))
    return out


def _norm(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


class CachedTeacherDataset(Dataset):
    """A pre-training dataset plus each item's cached teacher outputs (by shape name).

    The underlying dataset is kept at epoch 0, so every item is its canonical cloud (the one the
    teacher saw); ``set_epoch`` is a no-op.  Items gain ``teacher_feats`` (V, C, h, w) float16,
    ``teacher_attn`` (V, h, w) float16 and ``teacher_pixels`` (V, N, 2) int16.  A cloud that differs from
    the cached one (other npoints/seed, or changed file) is an error naming the shape.
    """

    def __init__(self, base: Dataset, cache: TeacherCache) -> None:
        self.base = base
        self.cache = cache
        if getattr(base, "fresh_every_epoch", False):
            log.warning("teacher.cache with data.dataset.format procedural: the cache holds epoch 0's %d shapes, so "
                        "every epoch replays them (not fresh shapes); for new shapes every epoch drop teacher.cache "
                        "(online teacher)", len(base))
        if hasattr(base, "set_epoch"):
            base.set_epoch(0)

    def __len__(self) -> int:
        return len(self.base)

    def set_epoch(self, epoch: int) -> None:
        """The 3D input stays the canonical cloud; fresh randomness comes from the per-step augmentation."""

    def __getattr__(self, name: str) -> Any:  # classes, labels(), item_names() ... of the base dataset
        if name in ("base", "cache"):
            raise AttributeError(name)
        return getattr(self.base, name)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.base[i]
        name = item["name"]
        cached = self.cache.read(name)
        if cloud_crc(item["points"]) != int(cached["crc"]):
            raise ValueError(f"shape {name!r}: its canonical cloud differs from the one in the teacher cache "
                             f"{self.cache.root} (data.dataset npoints/seed or the file changed); rebuild the cache")
        out = dict(item)
        out["teacher_feats"] = torch.from_numpy(cached["feats"])
        out["teacher_attn"] = torch.from_numpy(cached["attn"])
        out["teacher_pixels"] = torch.from_numpy(cached["pixels"].astype(np.int16))
        return out


def teacher_maps(batch: dict[str, Any]) -> dict[str, torch.Tensor] | None:
    """The ``teacher_maps`` argument of ``I2PMAE.forward`` from a collated cached batch (None otherwise)."""
    if "teacher_feats" not in batch:
        return None
    return {"feats": batch["teacher_feats"], "attn": batch["teacher_attn"], "pixels": batch["teacher_pixels"]}
