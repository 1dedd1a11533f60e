"""`i2pmae pretrain`: self-supervised I2P-MAE pre-training."""

from __future__ import annotations

import argparse

from i2pmae.cli.common import add_run_args, overrides_with, print_result


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain", help="pre-train I2P-MAE (or the 3D-only baseline) on point clouds",
                       description="Pre-train I2P-MAE. Single GPU/CPU: `i2pmae pretrain -c pretrain/i2p-mae`; "
                       "many GPUs: `torchrun --nproc_per_node=N -m i2pmae pretrain -c pretrain/i2p-mae`.")
    add_run_args(p, default_config="pretrain/i2p-mae")
    p.add_argument("--teacher", help="2D teacher name (teacher.name), e.g. clip-vit-b16, tiny-vit")
    p.add_argument("--teacher-weights", help="local weights file of the 2D teacher (teacher.weights)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from i2pmae.tasks.pretrain import run_pretrain
    from i2pmae.engine.runs import start_run

    ov = overrides_with(args, **{"teacher.name": args.teacher, "teacher.weights": args.teacher_weights})
    cfg, run_dir, dist = start_run(args.config, ov, args.out, args.resume, "pretrain", args.device)
    summary = run_pretrain(cfg, run_dir, dist, resume=bool(args.resume))
    if dist.is_main:
        print_result(f"pre-training finished: {run_dir}", {k: v for k, v in summary.items() if k != "history"})
    return 0
