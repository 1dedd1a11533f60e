"""`i2pmae teacher cache`: run the frozen 2D teacher once over the pre-training shapes (see
:mod:`i2pmae.tasks.teacher_cache`); pre-train from it with ``teacher.cache=DIR``."""

from __future__ import annotations

import argparse

from i2pmae.cli.common import overrides_with


def register_cache(tsub: argparse._SubParsersAction) -> None:
    """Add the ``cache`` action to the ``i2pmae teacher`` sub-parsers."""
    c = tsub.add_parser(
        "cache", help="cache the 2D teacher's outputs for every pre-training shape (teacher.cache=DIR)",
        description="Runs the configured teacher once on every training shape's canonical cloud (epoch-0 "
        "subsample, no augmentation) and stores features and CLS attention (fp16, memory-mapped shards) with a "
        "manifest. Resumable: run it again with the same arguments to continue. Many GPUs: "
        "`torchrun --nproc_per_node=N -m i2pmae teacher cache -c CONFIG --out DIR`.")
    c.add_argument("-c", "--config", default="pretrain/i2p-mae", help="pre-training config (default: pretrain/i2p-mae)")
    c.add_argument("--out", required=True, help="cache directory to write (or complete)")
    c.add_argument("--batch-size", type=int, default=16, help="shapes per teacher batch (x views images)")
    c.add_argument("--jobs", type=int, default=0, help="data-loading worker processes")
    c.add_argument("--shard-size", type=int, default=256, help="shapes per shard (the unit of resume)")
    c.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available; torchrun sets it per rank)")
    c.add_argument("--teacher", help="2D teacher name (teacher.name)")
    c.add_argument("--teacher-weights", help="local weights file of the 2D teacher (teacher.weights)")
    c.add_argument("--debug", action="store_true", help="show full tracebacks")
    c.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. data.dataset.root=/data")
    c.set_defaults(func=run_cache)


def run_cache(args: argparse.Namespace) -> int:
    import logging

    from i2pmae.engine.config import load_config
    from i2pmae.engine.distributed import cleanup, init_distributed
    from i2pmae.tasks.teacher_cache import build_teacher_cache

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = load_config(args.config, overrides_with(args, **{"teacher.name": args.teacher,
                                                           "teacher.weights": args.teacher_weights}))
    dist = init_distributed(args.device)
    try:
        s = build_teacher_cache(cfg, args.out, batch_size=args.batch_size, jobs=args.jobs,
                                shard_size=args.shard_size, dist=dist)
    except BaseException:
        cleanup(synchronize=False)
        raise
    cleanup()
    if dist.is_main:
        state = "complete" if s["missing_shards"] == 0 else f"{s['missing_shards']} shard(s) still missing"
        print(f"teacher cache {s['out']}: {s['shapes']} shapes in {s['shards']} shards ({state}), "
              f"{s['bytes'] / 2**20:.1f} MiB on disk, {s['bytes_per_shape'] / 2**10:.1f} KiB per shape; "
              f"built {s['built_shapes']} shapes here at {s['shapes_per_s']:.1f} shapes/s")
    return 0
