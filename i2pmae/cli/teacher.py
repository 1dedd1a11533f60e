"""`i2pmae teacher`: train (and inspect) the bundled stand-in 2D teacher."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("teacher", help="train the small stand-in 2D teacher on procedural depth maps")
    tsub = p.add_subparsers(dest="teacher_command", metavar="ACTION")
    t = tsub.add_parser("train", help="train a small stand-in teacher (tiny-cnn / tiny-vit) on depth maps of procedural shapes",
                        description="With --corpus (how the bundled teachers were made): trains tiny-cnn (default) or tiny-vit to "
                        "classify depth maps of fresh procedural shapes drawn for every batch (28 deformed, randomly "
                        "rotated families; never the built-in train/test draws). Without it: generates the "
                        "procedural shapes if --data does not exist and trains on their training split. Use the "
                        "result with `teacher.weights=PATH`; the package's own files are never overwritten.")
    t.add_argument("--data", default=None, help="procedural data root (made by `i2pmae data synth`; default "
                   "the built-in draw in $I2PMAE_CACHE/procedural); with --corpus: a draw whose test split is only logged (default: none)")
    t.add_argument("--out", default=None,
                   help="weights to write (default runs/teacher-<arch>.safetensors)")
    t.add_argument("--corpus", action="store_true", help="train on the procedural corpus (the bundled teacher)")
    t.add_argument("--arch", choices=("tiny-cnn", "tiny-vit"), default=None,
                   help="--corpus: the network (default tiny-cnn, the quickstart's teacher; without --corpus "
                   "always tiny-vit)")
    t.add_argument("--amp", choices=("auto", "bf16", "fp32"), default="auto",
                   help="--corpus: autocast precision (auto = bf16 on CUDA and on CPUs with native bf16)")
    t.add_argument("--steps", type=int, default=2000, help="--corpus: optimiser steps (fresh shapes every step)")
    t.add_argument("--epochs", type=int, default=40)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--per-class", type=int, default=80, help="shapes per class when generating the data")
    t.add_argument("--device")
    t.add_argument("--debug", action="store_true")
    t.set_defaults(func=run_train)
    from i2pmae.cli.teacher_cache import register_cache

    register_cache(tsub)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def run_train(args: argparse.Namespace) -> int:
    import logging
    from pathlib import Path

    from i2pmae.tasks.teacher_train import train_tiny_teacher

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    arch = args.arch or ("tiny-cnn" if args.corpus else "tiny-vit")
    if args.out is None:
        args.out = f"runs/teacher-{arch}.safetensors"
    _refuse_package_path(Path(args.out))
    if args.corpus:
        from i2pmae.tasks.teacher_train import train_corpus_teacher

        if args.data is not None and not (Path(args.data) / "modelnet40_ply_hdf5_2048").is_dir():
            raise FileNotFoundError(f"--data {args.data}: no procedural draw there (make one with "
                                    "`i2pmae data synth --seed 1 --out DIR`)")
        summary = train_corpus_teacher(args.out, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                                       seed=args.seed, device=args.device, dev_root=args.data,
                                       model_name=arch, amp=args.amp)
        last = summary["last_log"]
        print(f"{arch} teacher written to {summary['weights']} (log {summary['log']}): "
              f"{summary['shapes_seen']} corpus shapes, held-out corpus accuracy "
              f"{last['corpus_val_multiview_acc']:.1f}% multi-view; use it with teacher.weights={summary['weights']}")
        return 0
    if arch != "tiny-vit":
        raise ValueError(f"--arch {args.arch} needs --corpus (without it the teacher is always tiny-vit)")
    if args.data is None:  # the built-in draw, in the user cache directory (never the working directory)
        from i2pmae.data.paths import builtin_data_root

        args.data = str(builtin_data_root())
    if not (Path(args.data) / "modelnet40_ply_hdf5_2048").is_dir():
        from i2pmae.data.synth import write_synthetic

        write_synthetic(args.data, per_class=args.per_class, test_per_class=30, seed=0)
    summary = train_tiny_teacher(args.data, args.out, args.epochs, args.batch_size, args.lr, seed=args.seed,
                                 device=args.device)
    print(f"tiny-vit teacher written to {summary['weights']} (log {summary['log']}): "
          f"test accuracy {summary['test_view_acc']:.1f}% per view, {summary['test_multiview_acc']:.1f}% multi-view")
    return 0


def _refuse_package_path(out: "Path") -> None:
    """The bundled teacher is part of the installed package: a re-training must not replace it."""
    from pathlib import Path

    import i2pmae

    package = Path(i2pmae.__file__).resolve().parent
    target = out.resolve()
    if target == package or package in target.parents:
        raise ValueError(f"--out {out} is inside the installed package ({package}); write elsewhere (default "
                         "runs/teacher-<arch>.safetensors) and use it with teacher.weights=PATH")
