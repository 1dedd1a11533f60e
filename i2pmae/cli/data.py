"""`i2pmae data`: make the built-in synthetic data, check a dataset, show expected layouts."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="synthetic data, dataset checks and expected folder layouts",
                       description="Tools for datasets: `synth` writes procedural shapes in the real ShapeNet-55 "
                       "and ModelNet40-HDF5 layouts; `check` reads every item of a dataset and lists bad files; "
                       "`layout` prints the folder tree a format expects; `real-corpus` builds the corpus of real "
                       "meshes from Debian packages and `real-corpus-probe` probes an encoder on its left-out "
                       "sets (docs/data.md §9).")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    actions = p.add_subparsers(dest="action", metavar="ACTION")

    s = actions.add_parser("synth", help="write procedural shapes (15 classes) for pre-training, SVM and fine-tuning")
    s.add_argument("--out", required=True, help="output folder (holds ShapeNet55-34/ and modelnet40_ply_hdf5_2048/)")
    s.add_argument("--per-class", type=int, default=100, help="training shapes per class (default 100)")
    s.add_argument("--test-per-class", type=int, default=None, help="test shapes per class (default per-class/4)")
    s.add_argument("--classes", default=None, help="comma-separated class names or a count K for the first K "
                   "(default: all 15)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--points", type=int, default=None, help="points per ShapeNet-55-layout file (default 8192); "
                   "with --unseen-families points per cloud (default 1024, as the quickstart probes)")
    s.add_argument("--h5-points", type=int, default=2048, help="points per cloud in the HDF5 files (default 2048)")
    s.add_argument("--noise", type=float, default=0.01, help="Gaussian noise sigma after normalisation")
    s.add_argument("--unseen-families", action="store_true",
                   help="write the unseen-family transfer test instead: the 13 procedural families that are not "
                   "among the 15 pre-training classes, from their own seed stream, in the ModelNet40-HDF5 layout "
                   "directly under --out (the same shapes as data.*={format: procedural, unseen: true, size: "
                   "13*per-class, test_size: 13*test-per-class, seed, npoints})")
    s.add_argument("--debug", action="store_true", help="show full tracebacks")
    s.set_defaults(func=run_synth, command="data synth")

    c = actions.add_parser("check", help="validate a dataset before a long run (exit code 1 on bad files)")
    c.add_argument("root", help="dataset root folder")
    c.add_argument("--format", help="shapenet55, modelnet40, modelnet40_h5, modelnet40_fewshot, "
                   "scanobjectnn, shapenetpart or folder (default: detected from ROOT when it holds one layout)")
    c.add_argument("--split", action="append", help="split(s) to check (default: all of the format)")
    c.add_argument("--variant", help="ScanObjectNN: obj_bg, obj_only or pb_t50_rs")
    c.add_argument("--way", type=int)
    c.add_argument("--shot", type=int)
    c.add_argument("--fold", type=int)
    c.add_argument("--npoints", type=int)
    c.add_argument("--set", dest="options", action="append", default=[], metavar="KEY=VALUE",
                   help="any other dataset option, e.g. --set val_fraction=0.2")
    c.add_argument("--debug", action="store_true", help="show full tracebacks")
    c.set_defaults(func=run_check, command="data check")

    lay = actions.add_parser("layout", help="print the folder tree a format expects")
    lay.add_argument("format", help="dataset format name")
    lay.add_argument("--debug", action="store_true", help="show full tracebacks")
    lay.set_defaults(func=run_layout, command="data layout")

    from i2pmae.tasks.real_corpus_probe import add_probe_args  # light: no torch at start-up

    r = actions.add_parser(
        "real-corpus", help="build the corpus of real meshes from Debian packages (~1.5 GB download, ~250 MB out)",
        description="Reads every 3D model in nine Debian packages (KiCad parts, game and simulator models; .deb "
        "files from --debs or apt-get download), keeps one cloud per distinct object and writes the pre-training "
        "set (OUT/pretrain) and the left-out evaluation sets (OUT/eval-ufoai, OUT/eval-kicad) as format: folder, "
        "plus OUT/manifest.json. Then: i2pmae pretrain -c pretrain/real-corpus; i2pmae data real-corpus-probe "
        "--checkpoint RUN/last.pth. Re-running resumes. Same as scripts/build_real_corpus.py.")
    add_real_corpus_args(r)
    r.add_argument("--debug", action="store_true", help="show full tracebacks")
    r.set_defaults(func=run_real_corpus, command="data real-corpus")

    pr = actions.add_parser(
        "real-corpus-probe", help="5-fold linear-SVM / 10-NN probe of an encoder on the real corpus's left-out sets",
        description="Cross-validated probe (stratified folds; the project's linear SVM with C by CV and 10-NN) of "
        "a pre-training checkpoint, or of randomly initialised encoders, on the real corpus's eval-ufoai and "
        "eval-kicad sets. Runs on the CPU. Same as benchmarks/real_corpus_probe.py.")
    add_probe_args(pr)
    pr.add_argument("--debug", action="store_true", help="show full tracebacks")
    pr.set_defaults(func=run_real_corpus_probe, command="data real-corpus-probe")


def run_synth(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from i2pmae.data.paths import check_output_path
    from i2pmae.data.synth import write_synthetic

    for flag, value, least in (("--per-class", args.per_class, 1), ("--test-per-class", args.test_per_class, 0),
                               ("--points", args.points, 1), ("--h5-points", args.h5_points, 1)):
        if value is not None and value < least:
            raise ValueError(f"{flag} must be >= {least}, got {value}")
    if args.noise < 0:
        raise ValueError(f"--noise must be >= 0, got {args.noise}")
    if args.unseen_families:
        return _run_unseen(args)
    check_output_path(Path(args.out) / "synth.json", "--out")
    t0 = time.perf_counter()
    summary = write_synthetic(args.out, classes=args.classes, per_class=args.per_class,
                              test_per_class=args.test_per_class, seed=args.seed, npoints=args.points or 8192,
                              h5_points=args.h5_points, noise=args.noise)
    print(f"wrote {summary['train']} train + {summary['test']} test shapes of {len(summary['classes'])} classes "
          f"to {args.out} in {time.perf_counter() - t0:.1f}s")
    print(f"  pre-training:  format=shapenet55 root={args.out}")
    print(f"  SVM/finetune:  format=modelnet40_h5 root={args.out}")
    return 0


def _run_unseen(args: argparse.Namespace) -> int:
    """`data synth --unseen-families`: the transfer test's shapes as files (ModelNet40-HDF5 layout)."""
    import time
    from pathlib import Path

    from i2pmae.data.paths import check_output_path
    from i2pmae.data.procedural import write_unseen_families

    if args.h5_points != 2048 or args.noise != 0.01:
        raise ValueError("--unseen-families: --h5-points and --noise do not apply (use --points; the noise is "
                         "the built-in 0.01)")
    check_output_path(Path(args.out) / "unseen.json", "--out")
    t0 = time.perf_counter()
    test_per_class = max(1, args.per_class // 4) if args.test_per_class is None else args.test_per_class
    if test_per_class < 1:
        raise ValueError(f"--test-per-class must be >= 1 with --unseen-families, got {test_per_class}")
    summary = write_unseen_families(args.out, per_class=args.per_class, test_per_class=test_per_class,
                                    seed=args.seed, npoints=args.points or 1024, classes=args.classes)
    print(f"wrote {summary['train']} train + {summary['test']} test shapes of {len(summary['families'])} unseen "
          f"families to {args.out} in {time.perf_counter() - t0:.1f}s")
    print(f"  probe data:  format=modelnet40_h5 root={args.out} npoints={summary['npoints']}")
    same = ", ".join(f"{k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in summary["same_as"].items())
    print(f"  the same shapes without files:  {{{same}}}")
    return 0


def _parse_value(text: str) -> object:
    import yaml

    return yaml.safe_load(text)


def run_check(args: argparse.Namespace) -> int:
    from i2pmae.data.check import check_dataset, detect_format

    fmt = args.format
    if fmt is None:
        fmt = detect_format(args.root)
        print(f"detected format: {fmt}")
    cfg: dict = {"format": fmt, "root": args.root}
    for key in ("variant", "way", "shot", "fold", "npoints"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    for item in args.options:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        cfg[key.strip()] = _parse_value(value)
    report = check_dataset(cfg, args.split)
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1


def add_real_corpus_args(p: argparse.ArgumentParser) -> None:
    """Options of `data real-corpus` (also scripts/build_real_corpus.py, which runs this command)."""
    p.add_argument("--out", default=None, help="output folder (default: $I2PMAE_CACHE/real-corpus, the path "
                   "the pretrain/real-corpus config reads; the user cache is $XDG_CACHE_HOME/i2pmae or "
                   "~/.cache/i2pmae when I2PMAE_CACHE is not set)")
    p.add_argument("--debs", default=None, help="folder of the packages' .deb files (default: OUT/debs)")
    p.add_argument("--download", action="store_true", help="apt-get download the missing packages into --debs "
                   "(~1.5 GB; needs apt's package lists, i.e. a Debian/Ubuntu system after 'apt-get update')")
    p.add_argument("--packages", nargs="+", default=None, metavar="PACKAGE",
                   help="a subset of the nine packages (default: all; a wrong name lists them)")
    p.add_argument("--points", type=int, default=2048, help="points per object (default 2048)")
    p.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    p.add_argument("--summary", default=None, help="also write the manifest without its object list here")


def run_real_corpus(args: argparse.Namespace) -> int:
    from i2pmae.data.realcorpus import run

    return run(args)


def run_real_corpus_probe(args: argparse.Namespace) -> int:
    from i2pmae.tasks.real_corpus_probe import run

    return run(args)


def run_layout(args: argparse.Namespace) -> int:
    from i2pmae.data.build import canonical_format
    from i2pmae.data.layouts import LAYOUTS

    print(LAYOUTS[canonical_format(args.format)])
    return 0


if __name__ == "__main__":  # pragma: no cover
    from i2pmae.cli.main import main

    sys.exit(main(["data", *sys.argv[1:]]))
