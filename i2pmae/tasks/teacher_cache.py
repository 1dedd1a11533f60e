"""Building a teacher cache (``i2pmae teacher cache``) and checking one against a pre-training run.

The frozen 2D teacher runs once over every training shape's canonical cloud (the dataset's epoch-0
draw, un-augmented); see :mod:`i2pmae.data.teacher_cache` for the format.  Shards of ``shard_size``
shapes are the unit of work: each is written to a temporary directory and renamed when complete, so
a killed build resumes at the first unfinished shard and never reads a half-written one.  Under
torchrun rank r builds shards r, r + W, r + 2W, ...
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from i2pmae.data import build_dataset
from i2pmae.data.teacher_cache import (
    FORMAT,
    MANIFEST,
    VERSION,
    TeacherCache,
    bytes_per_shape,
    cloud_crc,
    dataset_shapes,
    pixel_dtype,
    shard_name,
    weights_digest,
)
from i2pmae.engine.distributed import DistInfo, barrier
from i2pmae.engine.logging import progress_bar
from i2pmae.engine.runs import build_teacher_from_config
from i2pmae.projection import VIEW_PERMUTATIONS, project_views
from i2pmae.projection.views import MARGIN, SPLAT_RADIUS

log = logging.getLogger("i2pmae")


def _model_views(cfg: dict) -> tuple[list[int], int]:
    model = cfg.get("model", {})
    return [int(v) for v in model.get("views", (0, 1, 2))], int(model.get("image_size", 224))


def expected_manifest(cfg: dict, teacher: torch.nn.Module, dataset: Any) -> dict[str, Any]:
    """The manifest fields a cache must hold to serve this config (compared key by key)."""
    views, image_size = _model_views(cfg)
    tcfg = cfg.get("teacher") or {}
    return {
        "format": FORMAT,
        "version": VERSION,
        "teacher": {"name": tcfg.get("name", "clip-vit-b16"), "weights_sha256": weights_digest(teacher),
                    "feature_dim": int(teacher.feature_dim), "grid": list(teacher.grid)},
        "views": views,
        "image_size": image_size,
        "projection": {"permutations": [list(VIEW_PERMUTATIONS[v]) for v in views], "splat_radius": SPLAT_RADIUS,
                       "margin": MARGIN, "normalisation": "imagenet"},
        "dataset": {"format": getattr(dataset, "format", type(dataset).__name__),
                    "npoints": getattr(dataset, "npoints", None), "seed": getattr(dataset, "seed", None)},
    }


def _build_teacher(cfg: dict, device: torch.device, seeded: bool = False) -> torch.nn.Module:
    """The configured teacher; ``seeded``: built from ``train.seed`` like a run's (only matters for
    ``weights: random``, whose digest then matches the run's), without touching the caller's RNG."""
    if seeded:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(cfg.get("train", {}).get("seed", 0)))
            return _build_teacher(cfg, device)
    teacher = build_teacher_from_config(cfg, device)
    if teacher is None:
        raise ValueError("this config's model needs no 2D teacher (model.masking: random without fusion); "
                         "there is nothing to cache")
    return teacher


def open_cache_for_run(cfg: dict, dataset: Any) -> TeacherCache:
    """The run's ``teacher.cache`` opened and checked: teacher, weights, views, projection, dataset, shapes."""
    root = (cfg.get("teacher") or {}).get("cache")
    cache = TeacherCache(root)
    # Built only to hash its weights (not kept), at the point of the run where the online path builds it,
    # so the 3D network's initial weights (drawn next) are those of the online run with the same seed.
    teacher = _build_teacher(cfg, torch.device("cpu"))
    if (cfg.get("teacher") or {}).get("weights") == "random":  # untrained (tests): hash the builder's seeded draw
        teacher = _build_teacher(cfg, torch.device("cpu"), seeded=True)
    expected = expected_manifest(cfg, teacher, dataset)
    del teacher
    cache.check_matches(expected, dataset_shapes(dataset))
    return cache


def _write_shard(tmp: Path, arrays: dict[str, np.ndarray], names: list[str]) -> None:
    tmp.mkdir(parents=True)
    for key, arr in arrays.items():
        np.save(tmp / f"{key}.npy", arr)
    (tmp / "names.json").write_text(json.dumps(names))
    for f in tmp.iterdir():  # on disk before the rename makes the shard visible
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())


def build_teacher_cache(cfg: dict, out: str | Path, *, batch_size: int = 16, jobs: int = 0,
                        shard_size: int = 256, dist: DistInfo | None = None,
                        max_shards: int | None = None) -> dict[str, Any]:
    """Run the configured teacher over every training shape of ``cfg['data']['dataset']`` into ``out``.

    Resumable: finished shards are kept, unfinished ones redone.  ``max_shards`` stops after that many
    shards of this process (tests of the resume path).  Returns a summary (shapes, bytes, seconds).
    """
    dist = dist or DistInfo()
    out = Path(out).expanduser()
    if batch_size < 1 or shard_size < 1 or jobs < 0:
        raise ValueError(f"--batch-size and --shard-size must be >= 1 and --jobs >= 0; received "
                         f"{batch_size}, {shard_size}, {jobs}")
    dataset = build_dataset(cfg["data"]["dataset"], "train")
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(0)  # the canonical draw: what CachedTeacherDataset serves during training
    teacher = _build_teacher(cfg, dist.device, seeded=True)
    manifest = expected_manifest(cfg, teacher, dataset)
    shapes = dataset_shapes(dataset)
    names = [s["name"] for s in shapes]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})[:3]
        raise ValueError(f"the dataset's item names are not unique (e.g. {dup}); a teacher cache keys shapes by name")
    manifest.update(shapes=shapes, shard_size=int(shard_size),
                    info={"compute_dtype": str(teacher.compute_dtype).replace("torch.", ""), "store_dtype": "float16",
                          "teacher_weights": (cfg.get("teacher") or {}).get("weights"),
                          "dataset_root": str(cfg["data"]["dataset"].get("root"))})
    path = out / MANIFEST
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        if path.is_file():
            old = TeacherCache(out)
            if old.shard_size != int(shard_size):
                raise ValueError(f"{out} holds a cache with shard size {old.shard_size}; resume with "
                                 f"--shard-size {old.shard_size} or use another --out")
            old.check_matches({k: v for k, v in manifest.items() if k not in ("shapes", "shard_size", "info")},
                              shapes, require_complete=False)
            if [s["name"] for s in old.shapes] != names:
                raise ValueError(f"{out} holds a cache of another list of shapes; use another --out")
        else:
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(manifest, indent=1))
            os.replace(tmp, path)
    barrier()
    cache = TeacherCache(out)
    V, S = len(manifest["views"]), int(manifest["image_size"])
    mine = [k for k in range(cache.num_shards) if k % dist.world_size == dist.rank]
    todo = [k for k in mine if not cache.shard_complete(k)]
    for stale in out.glob(".shard-*.tmp*"):  # leftovers of killed builds (ours only: named by shard)
        k = int(stale.name.split("-")[1].split(".")[0])
        if k in todo:
            shutil.rmtree(stale, ignore_errors=True)
    if max_shards is not None:
        todo = todo[:max_shards]
    n_todo = sum(min(shard_size, len(shapes) - k * shard_size) for k in todo)
    log.info("teacher cache %s: %d shapes, %d shards (%d to build on rank %d), %.2f MiB per shape",
             out, len(shapes), cache.num_shards, len(todo), dist.rank,
             bytes_per_shape(V, manifest["teacher"]["feature_dim"], manifest["teacher"]["grid"],
                             int(manifest["dataset"]["npoints"] or 0), S) / 2**20)
    bar = progress_bar(total=n_todo, desc=f"teacher cache (rank {dist.rank})", enabled=True, unit="shape")
    t0 = time.perf_counter()
    done = 0
    views = manifest["views"]
    for k in todo:
        lo, hi = k * shard_size, min((k + 1) * shard_size, len(shapes))
        loader = DataLoader(Subset(dataset, range(lo, hi)), batch_size=batch_size, num_workers=jobs,
                            pin_memory=dist.device.type == "cuda")
        chunks: dict[str, list[np.ndarray]] = {"feats": [], "attn": [], "pixels": [], "crc": []}
        shard_names: list[str] = []
        for batch in loader:
            points = batch["points"]
            crcs = [cloud_crc(p) for p in points]
            pts = points.to(dist.device, non_blocking=True).float()
            images, mapping = project_views(pts, views, S)
            B = pts.shape[0]
            flat = images.transpose(0, 1).reshape(V * B, *images.shape[2:])  # view-major, like I2PMAE
            feats, attn = teacher(flat)
            feats = feats.reshape(V, B, *feats.shape[1:]).transpose(0, 1)
            attn = attn.reshape(V, B, *attn.shape[1:]).transpose(0, 1)
            chunks["feats"].append(feats.half().cpu().numpy())
            chunks["attn"].append(attn.half().cpu().numpy())
            chunks["pixels"].append(mapping.pixels(pts).cpu().numpy().astype(pixel_dtype(S)))
            chunks["crc"].append(np.asarray(crcs, dtype=np.uint32))
            shard_names += list(batch["name"])
            bar.update(B)
            done += B
        if shard_names != names[lo:hi]:  # bad-file skipping served other items: keys would be wrong
            raise ValueError(f"{shard_name(k)}: the dataset served other items than listed (unreadable files "
                             f"skipped?); fix the data (`i2pmae data check`) and build again")
        tmp = out / f".{shard_name(k)}.tmp{os.getpid()}"
        _write_shard(tmp, {a: np.concatenate(c) for a, c in chunks.items()}, shard_names)
        os.replace(tmp, cache.shard_dir(k))
    bar.close()
    seconds = time.perf_counter() - t0
    barrier()
    summary = {"out": str(out), "shapes": len(shapes), "shards": cache.num_shards, "built_shapes": done,
               "missing_shards": len(cache.missing_shards()), "bytes": cache.size_bytes(),
               "bytes_per_shape": bytes_per_shape(V, manifest["teacher"]["feature_dim"], manifest["teacher"]["grid"],
                                                  int(manifest["dataset"]["npoints"] or 0), S),
               "seconds": seconds, "shapes_per_s": done / seconds if seconds > 0 else 0.0}
    return summary
