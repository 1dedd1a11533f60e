"""`i2pmae segment`: ShapeNetPart part segmentation."""

from __future__ import annotations

import argparse

from i2pmae.cli.common import ENCODER_KEYS, add_run_args, checkpoint_model_overrides, overrides_with, print_result


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("segment", help="part segmentation on ShapeNetPart (class and instance mIoU)",
                       description="Train Point-M2AE's segmentation head on the I2P-MAE encoder on ShapeNetPart "
                       "(train + val), testing class and instance mIoU after every epoch; best.pth follows "
                       "instance mIoU. Start from a pre-training checkpoint with --pretrained (without -c, the "
                       "encoder's shape comes from its config), continue a stopped run with --resume RUN_DIR.")
    add_run_args(p, default_config="segmentation/shapenetpart")
    p.add_argument("--pretrained", help="pre-training checkpoint to start from")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from i2pmae.engine.runs import start_run
    from i2pmae.tasks.segment import run_segment

    ov = checkpoint_model_overrides(args, args.pretrained, ENCODER_KEYS) + overrides_with(args, pretrained=args.pretrained)
    cfg, run_dir, dist = start_run(args.config, ov, args.out, args.resume, "segment", args.device)
    summary = run_segment(cfg, run_dir, dist, resume=bool(args.resume))
    if dist.is_main:
        print_result(f"segmentation finished: {run_dir} (best = best instance mIoU)",
                     {k: v for k, v in summary.items() if k != "history"})
    return 0
