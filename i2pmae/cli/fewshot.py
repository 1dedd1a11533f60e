"""`i2pmae fewshot`: ModelNet40 few-shot, every setting x fold, mean +- std table."""

from __future__ import annotations

import argparse

from i2pmae.cli.common import ENCODER_KEYS, add_run_args, checkpoint_model_overrides, overrides_with


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fewshot", help="few-shot classification over (way, shot) settings and folds",
                       description="Runs every fold of every setting in the config's `fewshot:` section; "
                       "re-running with the same --out skips finished folds and resumes the current one.")
    add_run_args(p, default_config="fewshot/modelnet40", resumable=False)
    p.add_argument("--pretrained", help="pre-training checkpoint to start every fold from")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from i2pmae.tasks.classify import run_fewshot
    from i2pmae.engine.runs import start_run

    ov = checkpoint_model_overrides(args, args.pretrained, ENCODER_KEYS) + overrides_with(args, pretrained=args.pretrained)
    cfg, run_dir, dist = start_run(args.config, ov, args.out, None, "fewshot", args.device)
    result = run_fewshot(cfg, run_dir, dist)
    if dist.is_main:
        print(result["table"])
        print(f"written to {run_dir / 'fewshot.md'}")
    return 0
