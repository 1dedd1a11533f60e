"""`i2pmae teacher`: train (and inspect) the bundled stand-in 2D teacher."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("teacher", help="train the small stand-in 2D teacher on procedural depth maps")
    tsub = p.add_subparsers(dest="teacher_command", metavar="ACTION")
    t = tsub.add_parser("train", help="train tiny-vit on depth maps of procedural shapes (the bundled teacher)",
                        description="Generates the procedural shapes if --data does not exist, then trains the "
                        "tiny ViT to classify their projected depth maps (training split only).")
    t.add_argument("--data", default="data/procedural", help="procedural data root (made by `i2pmae data synth`)")
    t.add_argument("--out", default="i2pmae/assets/teacher-tiny-vit.safetensors", help="weights to write")
    t.add_argument("--epochs", type=int, default=40)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--per-class", type=int, default=80, help="shapes per class when generating the data")
    t.add_argument("--device")
    t.add_argument("--debug", action="store_true")
    t.set_defaults(func=run_train)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def run_train(args: argparse.Namespace) -> int:
    import logging
    from pathlib import Path

    from i2pmae.engine.teacher_train import train_tiny_teacher

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not (Path(args.data) / "modelnet40_ply_hdf5_2048").is_dir():
        from i2pmae.data.synth import write_synthetic

        write_synthetic(args.data, per_class=args.per_class, test_per_class=30, seed=0)
    summary = train_tiny_teacher(args.data, args.out, args.epochs, args.batch_size, args.lr, seed=args.seed,
                                 device=args.device)
    print(f"tiny-vit teacher written to {summary['weights']} (log {summary['log']}): "
          f"test accuracy {summary['test_view_acc']:.1f}% per view, {summary['test_multiview_acc']:.1f}% multi-view")
    return 0
