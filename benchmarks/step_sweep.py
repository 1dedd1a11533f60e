"""Accuracy against pre-training steps (issue #15, part 2), on the *dev* draw only.

One long run per (variant, seed) with the quickstart model and a constant learning rate after a
one-epoch warm-up (``train.cosine_epochs`` set far beyond the run, so the cosine never bends): the
checkpoint at step s is then a fair "s-step" model, and all marks share one schedule. The run stops
at each mark (``train.max_steps``), copies ``last.pth`` to ``step{s}.pth`` and resumes, which the
loop guarantees is bit-identical to an uninterrupted run.

    python benchmarks/step_sweep.py train --variant w/o_2d --seed 0 --out runs/step_sweep
    python benchmarks/step_sweep.py score --out runs/step_sweep   # both probes, every checkpoint
    python benchmarks/step_sweep.py plot --out runs/step_sweep    # accuracy_vs_steps.png + .md

The quickstart's probe debiases BatchNorm running statistics (``svm.bn_statistics: debiased``) and
writes ``scores.jsonl``; ``score ... svm.bn_statistics=saved`` (or ``recalibrated``) scores the same
checkpoints another way into ``scores_saved.jsonl`` (``scores_recalibrated.jsonl``). With the statistics
as saved, accuracy peaks at 36-72 steps and falls by 144: the moving averages' initial value, not
learning (``bn_artefact.py``).

The dev draw is ``i2pmae data synth --seed 1`` (same sizes as the quickstart), written to
``OUT/data`` on first use; nothing here touches the reported test split. ``score`` also probes every
checkpoint on the unseen families (``data.unseen``, dev draw: seed 1, the 13 procedural families
pre-training never sees) into ``scores_unseen.jsonl`` (``data.unseen=null`` skips it), and ``plot`` draws
them next to the dev test split. ``train --fresh`` pre-trains on ``data.dataset.format: procedural`` (new
shapes every epoch) instead of the fixed draw.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

MARKS = (3, 36, 72, 144, 288, 576, 1152, 2304, 4608, 9216)  # doubling; train stops at --max-step
DEFAULT_MAX_STEP = 576
VARIANTS = ("w/o_2d", "i2p-mae")


def sweep_config(out: Path, variant: str, seed: int, last_mark: int, teacher_weights: str | None,
                 overrides: list[str]) -> dict:
    from i2pmae.engine.config import load_config
    from i2pmae.tasks.experiment import variant_config

    data = out / "data"
    cfg = load_config("quickstart", [
        f"data.root={data}", f"data.dataset.root={data}/ShapeNet55-34",
        f"data.svm.root={data}/modelnet40_ply_hdf5_2048", "synth.seed=1", "data.unseen.seed=1",
        f"train.epochs={-(-MARKS[-1] // 18)}", "train.cosine_epochs=1000000", "train.eval_every=0",
        "train.checkpoint_every_steps=0", *overrides,  # the user's overrides last, checked by the schema
    ])
    if teacher_weights:
        cfg["teacher"]["weights"] = teacher_weights
    return variant_config(cfg, variant, seed)


def train(args: argparse.Namespace) -> None:
    import torch

    from i2pmae.engine.distributed import DistInfo
    from i2pmae.tasks.experiment import ensure_synthetic_data
    from i2pmae.tasks.pretrain import run_pretrain
    from i2pmae.engine.seeding import seed_everything

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    marks = [m for m in MARKS if m <= args.max_step]
    cfg = sweep_config(out, args.variant, args.seed, marks[-1], args.teacher_weights, args.overrides)
    ensure_synthetic_data(cfg)
    run_dir = out / "runs" / f"{args.variant.replace('/', '')}{'-fresh' if args.fresh else ''}-seed{args.seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    if args.fresh:  # the memorisation test: same size, classes and pose, but new shapes every epoch
        from i2pmae.data import build_dataset

        fixed = cfg["data"]["dataset"]
        cfg["data"]["dataset"] = {"format": "procedural", "npoints": int(fixed["npoints"]),
                                  "size": len(build_dataset(fixed, "train")), "seed": 1000 + args.seed}
    t0 = time.time()
    for mark in marks:
        if (run_dir / f"step{mark}.pth").is_file():
            continue
        cfg["train"]["max_steps"] = mark
        seed_everything(args.seed)
        run_pretrain(cfg, run_dir, DistInfo(), resume=(run_dir / "last.pth").is_file())
        shutil.copyfile(run_dir / "last.pth", run_dir / f"step{mark}.pth")
        print(f"{args.variant} seed {args.seed}: step {mark} at {time.time() - t0:.0f} s", flush=True)


def score(args: argparse.Namespace) -> None:
    import torch

    from i2pmae.engine.distributed import DistInfo
    from i2pmae.engine.seeding import seed_everything
    from i2pmae.tasks.experiment import probe_sets
    from i2pmae.tasks.svm_eval import build_encoder, parse_bn_statistics, probe_encoder

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    cfg = sweep_config(out, "w/o_2d", 0, MARKS[-1], None, args.overrides)
    sets = probe_sets(cfg)  # the dev test split, and the unseen families when data.unseen is set
    how = parse_bn_statistics(cfg["svm"].get("bn_statistics"))
    name = "scores" + ("" if how == "debiased" else f"_{how}") + ("_masked" if args.masked_features else "")
    paths = {which: out / f"{name}{'' if which == 'test' else '_' + which}.jsonl" for which in sets}
    done: dict[str, set] = {which: set() for which in sets}
    for which, path in paths.items():
        if path.is_file():
            done[which] = {(r["variant"], r["seed"], r["step"]) for r in map(json.loads, path.read_text().splitlines())}
    jobs = [("random_init", s, 0, None) for s in args.seeds]
    for run_dir in sorted((out / "runs").glob(args.runs)):
        stem = run_dir.name.rsplit("-seed", 1)[0]
        variant = stem.replace("wo_2d", "w/o_2d")
        seed = int(run_dir.name.rsplit("seed", 1)[1])
        for mark in MARKS:
            if (run_dir / f"step{mark}.pth").is_file() and (args.marks is None or mark in args.marks):
                jobs.append((variant, seed, mark, run_dir / f"step{mark}.pth"))
    for variant, seed, mark, ckpt in jobs:
        for which in sets:  # the test split first, exactly as before the unseen families were added
            if (variant, seed, mark) in done[which]:
                continue
            seed_everything(seed)
            encoder = build_encoder(cfg["model"], None if ckpt is None else str(ckpt))
            if args.masked_features:
                masked_extraction(encoder)
            row = probe_encoder(encoder, *sets[which], cfg.get("svm", {}), DistInfo(),
                                name=f"{variant} seed {seed} step {mark}{'' if which == 'test' else ' ' + which}")
            row.update(variant=variant, seed=seed, step=mark, split=which)
            with paths[which].open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


def masked_extraction(model, draws: int = 4) -> None:
    """Diagnostic: features as pre-training sees the cloud (80% of top tokens masked, the encoder on the
    visible ones, max-pooled over them), averaged over ``draws`` masks seeded per batch. If these keep
    their accuracy while all-token features lose it, the drop is the train/extract input mismatch."""
    import torch

    from i2pmae.models.masking import random_visible

    @torch.no_grad()
    def features(points: torch.Tensor) -> torch.Tensor:
        gen = torch.Generator().manual_seed(int(points.shape[0]))
        scales = model.tokenize(points)
        out = 0
        for _ in range(draws):
            vis = random_visible(points.shape[0], scales[-1].num_tokens, model.mask_ratio, points.device, gen)
            visible, encoded = model.encode(scales, vis)
            top = encoded[-1].masked_fill(~visible[-1].unsqueeze(-1), float("-inf"))
            out = out + top.amax(dim=1)
        return out / draws

    model.extract_features = features


def plot(args: argparse.Namespace) -> None:
    from i2pmae.viz.curves import plot_accuracy_vs_steps

    out = Path(args.out)
    for name, suffix, title in (("scores", "", "BatchNorm statistics debiased"),
                                ("scores_unseen", "_unseen", "unseen families, BatchNorm statistics debiased"),
                                ("scores_saved", "_saved", "BatchNorm statistics as saved"),
                                ("scores_recalibrated", "_recalibrated", "BatchNorm statistics re-estimated")):
        if not (out / f"{name}.jsonl").is_file():
            continue
        rows = [json.loads(line) for line in (out / f"{name}.jsonl").read_text().splitlines()]
        base = [r for r in rows if r["variant"] == "random_init"]
        fresh = [{**r, "variant": r["variant"][:-len("-fresh")]} for r in rows if r["variant"].endswith("-fresh")]
        fixed = [r for r in rows if r["variant"] in VARIANTS]
        for part, tag, data in ((fixed, "", "fixed draw"), (fresh, "_fresh", "fresh procedural shapes")):
            if not part:
                continue
            md = plot_accuracy_vs_steps(base + part, out / f"accuracy_vs_steps{suffix}{tag}.png",
                                        title=f"Probe accuracy against pre-training steps (dev draw; {title}; "
                                              f"pre-trained on {data})")
            (out / f"accuracy_vs_steps{suffix}{tag}.md").write_text(md)
            print(f"{name}, pre-trained on {data}:\n{md}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("train", "score", "plot"))
    p.add_argument("--out", default="runs/step_sweep")
    p.add_argument("--variant", choices=VARIANTS, default="w/o_2d")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", default="0,1,2", help="score: random-init seeds")
    p.add_argument("--max-step", type=int, default=DEFAULT_MAX_STEP,
                   help=f"train: last mark to reach (marks {MARKS}; default {DEFAULT_MAX_STEP})")
    p.add_argument("--teacher-weights", default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--fresh", action="store_true", help="train: new shapes every epoch (memorisation test)")
    p.add_argument("--runs", default="*-seed*", help="score: run folders to score (glob under OUT/runs)")
    p.add_argument("--marks", default=None, help="score: only these step marks (comma-separated; default all)")
    p.add_argument("--masked-features", action="store_true", help="score: features of masked clouds (diagnostic)")
    p.add_argument("overrides", nargs="*")
    args = p.parse_intermixed_args(argv)  # KEY=VALUE overrides may follow the options
    args.seeds = [int(s) for s in str(args.seeds).split(",") if s]
    args.marks = None if args.marks is None else {int(m) for m in args.marks.split(",") if m}
    {"train": train, "score": score, "plot": plot}[args.action](args)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
