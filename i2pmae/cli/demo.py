"""`i2pmae demo`: the whole method on the built-in procedural shapes, offline, on a CPU.

Generates the data, runs the miniature Table 1 (random init vs pre-training
without 2D guidance vs I2P-MAE, linear SVM, several seeds), and writes a
report with plots and the supplementary's Figure 5 for a test shape.
"""

from __future__ import annotations

import argparse


def seed_list(text: str) -> list[int]:
    """'0,1,2' -> [0, 1, 2] (argparse type)."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes comma-separated integers, e.g. 0,1,2; got {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError("--seeds needs at least one seed")
    return seeds


def add_jobs_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", type=int, default=None,
                   help="pre-training runs at once on a CPU, each in its own process (default: one per core, "
                   "at most one per 2 GiB of free memory; always 1 on a GPU)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="built-in demo: procedural data, pre-training, linear SVM, report (CPU, minutes)",
                       description="Runs `experiment table1` on the quickstart config and writes "
                       "OUT/report.md with the table, training curves and the Figure-5 visualisation.")
    p.add_argument("-c", "--config", default="quickstart", help="config (default: quickstart)")
    p.add_argument("--out", default="demo", help="output folder (default: demo)")
    p.add_argument("--seeds", type=seed_list, default=[0, 1, 2], help="comma-separated seeds (default: 0,1,2)")
    add_jobs_flag(p)
    p.add_argument("--device")
    p.add_argument("--debug", action="store_true")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. train.epochs=2")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    import torch

    from i2pmae.cli.common import overrides_with
    from i2pmae.data import build_dataset
    from i2pmae.engine.config import load_config
    from i2pmae.tasks.experiment import check_recipe, run_table1, table1_markdown
    from i2pmae.engine.runs import build_teacher_from_config, load_weights, start_run
    from i2pmae.models import build_model
    from i2pmae.viz.curves import DEMO_LOSS_TERMS, plot_runs
    from i2pmae.viz.figure5 import visualize_cloud
    from i2pmae.viz.report import table1_bar_chart, write_report

    start = time.time()
    overrides = overrides_with(args)
    check_recipe(load_config(args.config, overrides), Path(args.out), args.seeds)  # before config.yaml is written
    cfg, out, dist = start_run(args.config, overrides, args.out, None, "demo", args.device)
    out = Path(out)
    summary = run_table1(cfg, out, dist, args.seeds, args.jobs)
    if not dist.is_main:
        return 0
    figures: dict[str, Path] = {}
    figures["Linear-SVM accuracy (miniature Table 1)"] = table1_bar_chart(summary, out / "table1.png")
    seed_runs = [summary["runs"]["w/o_2d"][0], summary["runs"]["i2p-mae"][0]]
    # Comparable terms only: loss_3d for both runs, loss_2d for I2P-MAE (the totals sum different terms).
    figures["Pre-training losses (seed %d): 3D loss of both runs, 2D loss of I2P-MAE" % args.seeds[0]] = plot_runs(
        seed_runs, out / "curves.png", metrics=list(DEMO_LOSS_TERMS), x="step",
        labels=["w/o 2D guidance", "I2P-MAE"])
    # Figure 5 for the first test shape, with the seed-0 I2P-MAE checkpoint.
    model = build_model(cfg["model"], teacher=build_teacher_from_config(cfg, dist.device))
    model.load_state_dict(load_weights(Path(summary["runs"]["i2p-mae"][0]) / "last.pth"))
    test_set = build_dataset(cfg["data"]["svm"], "test")
    sample = test_set[_showcase_index(test_set)]
    paths = visualize_cloud(model.to(dist.device), sample["points"].to(dist.device), out / "figure5.png",
                            seed=args.seeds[0])
    for i, path in enumerate(paths):
        figures["Figure 5: masking, attention cloud and reconstruction" if i == 0
                else "Depth maps with the teacher's attention"] = Path(path)
    minutes = (time.time() - start) / 60
    report = write_report(out, {**summary, "table_md": table1_markdown(summary)}, figures,
                          extra_md=f"Total demo time: {minutes:.1f} min on {dist.device} "
                          f"({torch.get_num_threads()} CPU threads).")
    print(table1_markdown(summary))
    print(f"report: {report}")
    for title, path in figures.items():
        print(f"  {title}: {path}")
    return 0


SHOWCASE = ("chair", "airplane", "lamp", "table", "mug")


def _showcase_index(dataset) -> int:
    """The first test shape of a structured class (a sphere shows little of the masking)."""
    classes = list(getattr(dataset, "classes", []) or [])
    wanted = [classes.index(c) for c in SHOWCASE if c in classes]
    labels = dataset.labels() if hasattr(dataset, "labels") else []
    for target in wanted:
        for i, label in enumerate(labels):
            if int(label) == target:
                return i
    return 0
