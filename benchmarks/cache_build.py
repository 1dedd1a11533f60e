"""Teacher-cache builder throughput and size: ``build_teacher_cache`` over random clouds with a random CLIP.

Not a test. Writes ``--shapes`` random clouds (8192 points) in the ShapeNet-55 layout, builds the cache of
``configs/pretrain/i2p-mae.yaml`` with a randomly initialised CLIP ViT-B/16 on ``--device`` (fp16 on CUDA,
fp32 on CPU: ``teacher.dtype: auto``), and prints shapes/s, bytes per shape and what ShapeNet-55's 41,952
training shapes would take.  ``--quick``: 8 shapes and a narrow random teacher (a CPU smoke test).

    python benchmarks/cache_build.py [--device cuda] [--shapes 256] [--batch-size 32] [--quick] [--json F]
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
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json")
    args = p.parse_args()
    if args.quick:
        args.shapes = min(args.shapes, 8)
    from i2pmae.engine.distributed import init_distributed
    from i2pmae.tasks.teacher_cache import build_teacher_cache

    ns = argparse.Namespace(teacher_dtype="auto", quick=args.quick, amp="none")
    dist = init_distributed(args.device)
    with tempfile.TemporaryDirectory(prefix="i2pmae-cache-bench-") as tmp:
        root = Path(tmp)
        write_shapes(root, args.shapes)
        cfg = paper_config(ns, root)
        t0 = time.perf_counter()
        s = build_teacher_cache(cfg, root / "cache", batch_size=args.batch_size, jobs=args.jobs, dist=dist)
        wall = time.perf_counter() - t0
    per = s["bytes_per_shape"]
    peak = torch.cuda.max_memory_allocated() / 2**30 if dist.device.type == "cuda" else float("nan")
    print(f"teacher cache of {s['shapes']} shapes on {dist.device} (random CLIP ViT-B/16"
          f"{', narrow (--quick)' if args.quick else ''}): {s['shapes_per_s']:.1f} shapes/s in the teacher loop, "
          f"{wall:.1f} s in all (teacher built, manifest, shards); {per / 2**10:.1f} KiB per shape, "
          f"{s['bytes'] / 2**20:.1f} MiB on disk; ShapeNet-55 ({SHAPENET55_TRAIN} shapes): "
          f"{SHAPENET55_TRAIN * per / 2**30:.1f} GiB; peak GPU memory {peak:.2f} GiB")
    if args.json:
        Path(args.json).write_text(json.dumps({**s, "wall_s": wall, "peak_gib": peak,
                                               "shapenet55_gib": SHAPENET55_TRAIN * per / 2**30}, indent=2))


if __name__ == "__main__":
    main()
