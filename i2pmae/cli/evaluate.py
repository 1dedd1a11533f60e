"""`i2pmae evaluate`: test a fine-tuned classifier, optionally with ModelNet40 voting."""

from __future__ import annotations

import argparse
import json

from i2pmae.cli.common import add_run_args, checkpoint_model_overrides, overrides_with, print_result


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="test a fine-tuned classifier checkpoint (with --vote: ModelNet40 voting)",
                       description="Test accuracy of a fine-tuned classifier (best.pth of a finetune run, or the "
                       "authors' released .pth) on the config's test split; --vote adds ModelNet40's voting "
                       "(10 augmented copies per cloud, best of evaluate.vote_repeats). Without -c the network "
                       "comes from the checkpoint's own config (the authors' files need -c). Writes "
                       "OUT/evaluate.json.")
    add_run_args(p, default_config="finetune/modelnet40", resumable=False)
    p.add_argument("--checkpoint", required=True, help="fine-tuned checkpoint (ours: best.pth, or the authors' .pth)")
    p.add_argument("--vote", action="store_true", help="10 augmented votes per cloud, max over evaluate.vote_repeats")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from i2pmae.tasks.classify import run_evaluate
    from i2pmae.engine.runs import start_run

    ov = checkpoint_model_overrides(args, args.checkpoint) + overrides_with(args)
    cfg, run_dir, dist = start_run(args.config, ov, args.out, None, "evaluate", args.device)
    result = run_evaluate(cfg, args.checkpoint, dist, args.vote)
    if dist.is_main:
        (run_dir / "evaluate.json").write_text(json.dumps(result, indent=2))
        print_result(f"test accuracy of {args.checkpoint}", result)
    return 0
