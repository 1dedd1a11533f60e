"""`i2pmae svm`: linear-SVM evaluation of a pre-trained encoder."""

from __future__ import annotations

import argparse
import json

from i2pmae.cli.common import add_run_args, overrides_with, print_result


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("svm", help="linear-SVM accuracy of a pre-trained encoder (ModelNet40, ScanObjectNN)",
                       description="Extracts max-pooled scale-3 features (no masking) and fits sklearn's linear "
                       "SVC. Works with our checkpoints and the authors' pre-train.pth.")
    add_run_args(p, default_config="svm/modelnet40", resumable=False)
    p.add_argument("--checkpoint", help="pre-training checkpoint; omit for a randomly initialised encoder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from i2pmae.engine.runs import start_run
    from i2pmae.tasks.svm_eval import run_svm

    from i2pmae.cli.common import checkpoint_model_overrides  # no -c: the checkpoint's own model config
    ov = checkpoint_model_overrides(args, args.checkpoint) + overrides_with(args)
    cfg, run_dir, dist = start_run(args.config, ov, args.out, None, "svm", args.device)
    result = run_svm(cfg, args.checkpoint, dist)
    if dist.is_main:
        (run_dir / "svm.json").write_text(json.dumps(result, indent=2))
        print_result(f"linear SVM ({args.checkpoint or 'random init'})", result)
    return 0
