"""`i2pmae finetune`: fine-tune (or train from scratch) a classifier."""

from __future__ import annotations

import argparse

from i2pmae.cli.common import ENCODER_KEYS, add_run_args, checkpoint_model_overrides, overrides_with, print_result


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finetune", help="fine-tune a classifier on ModelNet40 / ScanObjectNN / your data",
                       description="Fine-tune a classifier from a pre-trained checkpoint (ours or the authors' "
                       "pre-train.pth); without --pretrained it trains from scratch. Without -c, the encoder's shape (widths, "
                       "depths, heads, tokens) comes from the --pretrained checkpoint's own config when it has one.")
    add_run_args(p, default_config="finetune/modelnet40")
    p.add_argument("--pretrained", help="pre-training checkpoint to start from (sets pretrained=)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from i2pmae.tasks.classify import run_finetune
    from i2pmae.engine.runs import start_run

    ov = checkpoint_model_overrides(args, args.pretrained, ENCODER_KEYS) + overrides_with(args, pretrained=args.pretrained)
    cfg, run_dir, dist = start_run(args.config, ov, args.out, args.resume, "finetune", args.device)
    summary = run_finetune(cfg, run_dir, dist, resume=bool(args.resume))
    if dist.is_main:
        print_result(f"fine-tuning finished: {run_dir} (best acc = best test accuracy over epochs)",
                     {k: v for k, v in summary.items() if k != "history"})
    return 0
