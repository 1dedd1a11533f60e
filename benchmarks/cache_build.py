"""Teacher-cache builder throughput and size: ``build_teacher_cache`` over random clouds with a random CLIP.

Not a test. Writes ``--shapes`` random clouds (8192 points) in the ShapeNet-55 layout, builds the cache of
``configs/pretrain/i2p-mae.yaml`` with a randomly initialised (seeded, so identical) CLIP ViT-B/16 on
``--device`` once per ``--teacher-dtypes`` (default ``fp32,auto``; ``auto`` = fp16 on CUDA, bf16 on a CPU
with native bf16, else fp32), in the same run, and prints shapes/s (and the ratio to the first dtype), bytes
per shape, what ShapeNet-55's 41,952 training shapes would take, and how far each cache's stored features
and attention lie from the first one's (max |difference| / max |value| over all shapes).
``--quick``: 8 shapes and a narrow random teacher (a CPU smoke test).

    python benchmarks/cache_build.py [--device cuda] [--shapes 256] [--batch-size 32] [--teacher-dtypes fp32,auto]
        [--quick] [--json F]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pretrain_step import paper_config, write_shapes  # noqa: E402

SHAPENET55_TRAIN = 41952


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--shapes", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--jobs", type=int, default=2, help="data-loading workers")
    p.add_argument("--teacher-dtypes", default="fp32,auto", help="comma-separated teacher.dtype values to build")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json")
    args = p.parse_args()
    dtypes = [d.strip() for d in args.teacher_dtypes.split(",") if d.strip()]
    for d in dtypes:
        if d not in ("auto", "fp32", "bf16", "fp16"):
            p.error(f"--teacher-dtypes: unknown dtype {d!r}; use auto, fp32, bf16 or fp16")
    if args.quick:
        args.shapes = min(args.shapes, 8)
    from i2pmae.engine.distributed import init_distributed
    from i2pmae.tasks.teacher_cache import build_teacher_cache

    import numpy as np

    from i2pmae.data.teacher_cache import TeacherCache
    from i2pmae.teachers import resolve_dtype

    dist = init_distributed(args.device)
    results = {}
    with tempfile.TemporaryDirectory(prefix="i2pmae-cache-bench-") as tmp:
        root = Path(tmp)
        write_shapes(root, args.shapes)
        first = None
        for d in dtypes:
            cfg = paper_config(argparse.Namespace(teacher_dtype=d, quick=args.quick, amp="none"), root)
            t0 = time.perf_counter()
            s = build_teacher_cache(cfg, root / f"cache-{d}", batch_size=args.batch_size, jobs=args.jobs, dist=dist)
            s["wall_s"] = time.perf_counter() - t0
            s["compute_dtype"] = str(resolve_dtype(d, dist.device)).replace("torch.", "")
            cache = TeacherCache(root / f"cache-{d}")
            names = [shape["name"] for shape in cache.shapes]
            maps = {k: np.stack([cache.read(n)[k].astype(np.float32) for n in names]) for k in ("feats", "attn")}
            if first is None:
                first = maps
            for k in ("feats", "attn"):
                s[f"{k}_rel_diff"] = float(np.abs(maps[k] - first[k]).max() / max(np.abs(first[k]).max(), 1e-12))
            results[d] = s
    base = results[dtypes[0]]["shapes_per_s"]
    for d, s in results.items():
        print(f"teacher.dtype {d} ({s['compute_dtype']}): {s['shapes_per_s']:.2f} shapes/s in the teacher loop "
              f"({s['shapes_per_s'] / base:.2f}x {dtypes[0]}), {s['wall_s']:.1f} s in all; stored features within "
              f"{s['feats_rel_diff']:.1e}, attention within {s['attn_rel_diff']:.1e} of {dtypes[0]}'s "
              f"(max |diff| / max |value|)")
    s = results[dtypes[-1]]
    wall = s["wall_s"]
    per = s["bytes_per_shape"]
    peak = torch.cuda.max_memory_allocated() / 2**30 if dist.device.type == "cuda" else float("nan")
    print(f"teacher cache of {s['shapes']} shapes on {dist.device} (random CLIP ViT-B/16"
          f"{', narrow (--quick)' if args.quick else ''}): {s['shapes_per_s']:.1f} shapes/s in the teacher loop, "
          f"{wall:.1f} s in all (teacher built, manifest, shards); {per / 2**10:.1f} KiB per shape, "
          f"{s['bytes'] / 2**20:.1f} MiB on disk; ShapeNet-55 ({SHAPENET55_TRAIN} shapes): "
          f"{SHAPENET55_TRAIN * per / 2**30:.1f} GiB; peak GPU memory {peak:.2f} GiB")
    if args.json:
        Path(args.json).write_text(json.dumps({**s, "runs": results, "peak_gib": peak,  # top level: the last dtype
                                               "shapenet55_gib": SHAPENET55_TRAIN * per / 2**30}, indent=2))


if __name__ == "__main__":
    main()
