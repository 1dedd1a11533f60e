"""`i2pmae plot`: training curves of runs, or accuracy vs the fraction of pre-training data."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  i2pmae plot runs/finetune-scan_pb-a runs/finetune-scan_pb-scratch --metric eval/acc \\
      --labels "from I2P-MAE" "from scratch" --out finetune.png      (supplementary Figures 2-3)
  i2pmae plot runs/pretrain-* --fraction --out fraction.png          (supplementary Figure 1)
  i2pmae plot runs/pretrain-a runs/pretrain-b --metric loss --metric eval/svm_acc --x step
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot", help="plot training curves of runs (or accuracy vs fraction of pre-training data)",
        description="Curves from each RUN_DIR/metrics.jsonl, all runs on one figure, one subplot per metric "
        "(default: every eval/* metric plus loss). With --fraction: the final value of --metric (default "
        "eval/svm_acc) against each run's data.dataset.fraction (RUN_DIR/config.yaml), one line per group.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories (holding metrics.jsonl)")
    p.add_argument("--metric", action="append", metavar="NAME", help="metric to plot, e.g. eval/acc; repeat "
                   "for several (default: every eval/* metric plus loss; with --fraction: eval/svm_acc)")
    p.add_argument("--x", choices=["epoch", "step", "time"], default="epoch", help="x axis (default: epoch)")
    p.add_argument("--labels", nargs="+", metavar="LABEL", help="one legend label per run (default: folder names)")
    p.add_argument("--smooth", type=float, help="EMA weight for per-step metrics, 0 = raw (default: 0.9 when a "
                   "curve has more than 50 points)")
    p.add_argument("--out", help="PNG to write (default: curves.png, or fraction.png with --fraction)")
    p.add_argument("--title", help="figure title")
    p.add_argument("--fraction", action="store_true",
                   help="plot the final metric against the fraction of pre-training data (supplementary Figure 1)")
    p.add_argument("--group", nargs="+", metavar="LABEL", help="--fraction: one group label per run "
                   "(default: from the config key --group-by)")
    p.add_argument("--group-by", default="model.masking", metavar="KEY",
                   help="--fraction: config key that groups runs into lines (default: model.masking, i.e. "
                   "I2P-MAE vs 3D-only)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from i2pmae.data.paths import IMAGE_SUFFIXES, check_output_path
    from i2pmae.viz.curves import DEFAULT_FRACTION_METRIC, plot_fraction, plot_runs

    for run_dir in args.runs:
        if not Path(run_dir).is_dir():
            raise FileNotFoundError(f"RUN_DIR {run_dir}: " + ("not a folder" if Path(run_dir).exists() else
                                                               "no such folder"))
    if args.smooth is not None and not 0 <= args.smooth < 1:
        raise ValueError(f"--smooth must be in [0, 1), got {args.smooth}")
    check_output_path(args.out or ("fraction.png" if args.fraction else "curves.png"), "--out", IMAGE_SUFFIXES)
    if args.fraction:
        if args.metric and len(args.metric) > 1:
            raise ValueError(f"--fraction plots one metric; received --metric {' '.join(args.metric)}")
        metric = args.metric[0] if args.metric else DEFAULT_FRACTION_METRIC
        groups = args.group or args.labels
        out = plot_fraction(args.runs, args.out or "fraction.png", metric=metric, group_by=args.group_by,
                            groups=groups, title=args.title)
    else:
        if args.group:
            raise ValueError("--group applies to --fraction; use --labels to name the runs' curves")
        out = plot_runs(args.runs, args.out or "curves.png", metrics=args.metric, x=args.x, labels=args.labels,
                        title=args.title, smooth=args.smooth)
    print(f"wrote {out}")
    return 0
