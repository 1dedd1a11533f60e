"""`i2pmae experiment table1`: the paper's Table 1 in miniature on the procedural shapes."""

from __future__ import annotations

import argparse

from i2pmae.cli.demo import add_jobs_flag, seed_list


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("experiment", help="multi-run experiments (table1: random init vs w/o 2D vs I2P-MAE)")
    esub = p.add_subparsers(dest="experiment", metavar="NAME")
    t = esub.add_parser("table1", help="linear-SVM accuracy of (a) random init, (b) w/o 2D guidance, (c) I2P-MAE",
                        description="Pre-trains the 3D-only baseline and I2P-MAE for every seed, scores every "
                        "last checkpoint with the linear SVM, and the 2D teacher's own features for reference. "
                        "Re-running with the same --out reuses finished runs and resumes unfinished ones.")
    t.add_argument("-c", "--config", default="quickstart", help="config (default: quickstart)")
    t.add_argument("--out", default="runs/table1", help="output folder (default: runs/table1)")
    t.add_argument("--seeds", type=seed_list, default=[0, 1, 2, 3, 4],
                   help="comma-separated seeds (default: 0,1,2,3,4)")
    add_jobs_flag(t)
    t.add_argument("--device")
    t.add_argument("--debug", action="store_true")
    t.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    t.set_defaults(func=run_table1)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def run_table1(args: argparse.Namespace) -> int:
    from pathlib import Path

    from i2pmae.cli.common import overrides_with
    from i2pmae.engine.config import load_config
    from i2pmae.tasks.experiment import check_recipe, run_table1
    from i2pmae.engine.runs import start_run

    overrides = overrides_with(args)
    check_recipe(load_config(args.config, overrides), Path(args.out), args.seeds)  # before config.yaml is written
    cfg, out, dist = start_run(args.config, overrides, args.out, None, "table1", args.device)
    summary = run_table1(cfg, Path(out), dist, args.seeds, args.jobs)
    if dist.is_main:
        print((Path(out) / "table1.md").read_text())
        print(f"written to {Path(out) / 'table1.md'} and table1.json")
    return 0
