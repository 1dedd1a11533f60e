"""`i2pmae pretrain`: self-supervised I2P-MAE pre-training."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from i2pmae.cli.common import add_run_args, overrides_with, print_result

if TYPE_CHECKING:
    from i2pmae.engine.distributed import DistInfo


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain", help="pre-train I2P-MAE (or the 3D-only baseline) on point clouds",
                       description="Pre-train I2P-MAE. Single GPU/CPU: `i2pmae pretrain -c pretrain/i2p-mae`; "
                       "many GPUs: `torchrun --nproc_per_node=N -m i2pmae pretrain -c pretrain/i2p-mae`.")
    add_run_args(p, default_config="pretrain/i2p-mae")
    p.add_argument("--teacher", help="2D teacher name (teacher.name), e.g. clip-vit-b16, tiny-cnn")
    p.add_argument("--teacher-weights", help="local weights file of the 2D teacher (teacher.weights)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from i2pmae.tasks.pretrain import run_pretrain
    from i2pmae.engine.runs import start_run

    ov = overrides_with(args, **{"teacher.name": args.teacher, "teacher.weights": args.teacher_weights})
    cfg, run_dir, dist = start_run(args.config, ov, args.out, args.resume, "pretrain", args.device)
    make_procedural_data(cfg, dist)
    summary = run_pretrain(cfg, run_dir, dist, resume=bool(args.resume))
    if dist.is_main:
        print_result(f"pre-training finished: {run_dir}", {k: v for k, v in summary.items() if k != "history"})
    return 0


def make_procedural_data(cfg: dict, dist: "DistInfo") -> None:
    """Generate the quickstart's procedural shapes on first use, as ``demo`` does, so
    ``i2pmae pretrain -c quickstart`` works in a fresh environment.

    Only for a config with a ``synth:`` section whose ``data.root`` does not hold a draw yet and that some
    configured dataset reads from; a folder that exists but holds no draw is written only when it is the
    built-in location (``$I2PMAE_CACHE/procedural``), never a user's own folder. Rank 0 writes, the others wait.
    """
    from i2pmae.data.paths import builtin_data_root, resolve_data_path
    from i2pmae.engine.distributed import barrier
    from i2pmae.tasks.experiment import ensure_synthetic_data

    data = cfg.get("data") or {}
    if not cfg.get("synth") or not data.get("root"):
        return
    root = resolve_data_path(data["root"]).absolute()
    if (root / "synth.json").is_file():
        return
    if root.exists() and root.resolve() != builtin_data_root().absolute().resolve():
        return  # someone's folder: check_data_paths says what is missing
    readers = [resolve_data_path(ds["root"]).absolute() for ds in data.values()
               if isinstance(ds, dict) and ds.get("root") is not None]
    if not any(r == root or root in r.parents for r in readers):
        return  # no dataset reads the procedural shapes (data.dataset / data.svm point elsewhere)
    try:
        if dist.is_main:
            ensure_synthetic_data(cfg)  # logs "generating procedural shapes in ROOT"
    finally:  # the other ranks never wait for a rank 0 that failed (they then stop at the missing data)
        barrier()
