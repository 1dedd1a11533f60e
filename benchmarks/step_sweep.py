"""Accuracy against pre-training steps (issue #15, part 2), on the *dev* draw only.

One long run per (variant, seed) with the quickstart model and a constant learning rate after a
one-epoch warm-up (``train.cosine_epochs`` set far beyond the run, so the cosine never bends): the
checkpoint at step s is then a fair "s-step" model, and all marks share one schedule. The run stops
at each mark (``train.max_steps``), copies ``last.pth`` to ``step{s}.pth`` and resumes, which the
loop guarantees is bit-identical to an uninterrupted run.

    python benchmarks/step_sweep.py train --variant w/o_2d --seed 0 --out runs/step_sweep
    python benchmarks/step_sweep.py score --out runs/step_sweep   # both probes, every checkpoint
    python benchmarks/step_sweep.py plot --out runs/step_sweep    # accuracy_vs_steps.png + .md
    python benchmarks/step_sweep.py report --out runs/step_sweep --marks 1152   # one mark over seeds

A step count chosen on the dev curves is then scored once on the quickstart's reported draw
(``score --draw reported --marks N`` into ``scores_reported*.jsonl``; ``report --draw reported``): the
encoders pre-trained on fresh shapes never saw either draw.

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

The real corpus (issue 23; ``i2pmae data real-corpus``) runs the same sweep with its own config, probed on its
left-out sets by the 5-fold probe of ``i2pmae data real-corpus-probe``, and on the dev test split as above:

    python benchmarks/step_sweep.py train --config pretrain/real-corpus --variant w/o_2d --seed 0 --max-step 2304
    python benchmarks/step_sweep.py score --probe real-corpus --runs 'real-corpus-*'   # scores_real_corpus.jsonl
    python benchmarks/step_sweep.py score --runs 'real-corpus-*'                       # the dev test split
    python benchmarks/step_sweep.py report --probe real-corpus --marks 2304            # over seeds, paired tests
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

MARKS = (3, 36, 72, 144, 288, 576, 1152, 2304, 4608, 9216)  # doubling; train stops at --max-step
DEFAULT_MAX_STEP = 576
VARIANTS = ("w/o_2d", "i2p-mae")
DATA = {"": "fixed draw", "fresh": "fresh procedural shapes", "real-corpus": "the real corpus"}


def split_variant(variant: str) -> tuple[str, str]:
    """A scores row's variant -> (what it pre-trained on, the variant): ``w/o_2d`` -> ("", "w/o_2d"),
    ``i2p-mae-fresh`` -> ("fresh", "i2p-mae"), ``real-corpus-w/o_2d`` -> ("real-corpus", "w/o_2d") (the stem
    of ``--config``, whatever the config file is called)."""
    if variant.endswith("-fresh"):
        return "fresh", variant.removesuffix("-fresh")
    for base in VARIANTS:
        if variant.endswith("-" + base):
            return variant.removesuffix("-" + base), base
    return "", variant


def read_rows(path: Path) -> list[dict]:
    """The rows of a scores ``*.jsonl`` file ([] when it does not exist yet)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def sweep_config(out: Path, variant: str, seed: int, last_mark: int, teacher_weights: str | None,
                 overrides: list[str], draw: str = "dev", config: str = "quickstart") -> dict:
    """The quickstart recipe on the dev draw (``OUT/data``, synth seed 1), or with ``draw="reported"`` on the
    quickstart's own built-in draw (seed 0, the reported test split and unseen families). Another ``config``
    (``pretrain/real-corpus``) keeps its own data; the epochs then cover ``last_mark`` at its dataset's size."""
    from i2pmae.engine.config import load_config
    from i2pmae.tasks.experiment import variant_config

    data = out / "data"
    dev = [f"data.root={data}", f"data.dataset.root={data}/ShapeNet55-34",
           f"data.svm.root={data}/modelnet40_ply_hdf5_2048", "synth.seed=1", "data.unseen.seed=1"]
    schedule = ["train.cosine_epochs=1000000", "train.eval_every=0", "train.checkpoint_every_steps=0"]
    if config != "quickstart":
        from i2pmae.data import build_dataset

        cfg = load_config(config, [*schedule, *overrides])
        steps_per_epoch = len(build_dataset(cfg["data"]["dataset"], "train")) // int(cfg["train"]["batch_size"])
        if steps_per_epoch < 1:
            raise SystemExit(f"{config}: its pre-training set holds fewer shapes than one batch")
        cfg["train"]["epochs"] = -(-last_mark // steps_per_epoch)
    else:
        cfg = load_config("quickstart", [
            *(dev if draw == "dev" else []), f"train.epochs={-(-max(MARKS[-1], last_mark) // 18)}", *schedule,
            *overrides,  # the user's overrides last, checked by the schema
        ])
    if teacher_weights:
        cfg["teacher"]["weights"] = teacher_weights
    return variant_config(cfg, variant, seed)


def run_name(config: str, variant: str, fresh: bool, seed: int) -> str:
    """``wo_2d-fresh-seed0`` for the quickstart; ``real-corpus-wo_2d-seed0`` for ``pretrain/real-corpus``."""
    tag = "" if config == "quickstart" else Path(config).stem + "-"
    return f"{tag}{variant.replace('/', '')}{'-fresh' if fresh else ''}-seed{seed}"


def train(args: argparse.Namespace) -> None:
    import torch

    from i2pmae.engine.distributed import DistInfo
    from i2pmae.tasks.experiment import ensure_synthetic_data
    from i2pmae.tasks.pretrain import run_pretrain
    from i2pmae.engine.seeding import seed_everything

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    marks = [m for m in MARKS if m < args.max_step] + [args.max_step]  # a last mark off the doubling (5000) too
    if args.fresh and args.config != "quickstart":
        raise SystemExit("--fresh (new procedural shapes every epoch) is for the quickstart config only")
    cfg = sweep_config(out, args.variant, args.seed, marks[-1], args.teacher_weights, args.overrides,
                       config=args.config)
    if cfg.get("synth"):
        ensure_synthetic_data(cfg)
    run_dir = out / "runs" / run_name(args.config, args.variant, args.fresh, args.seed)
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
    if args.probe == "real-corpus":
        return score_real_corpus(args)
    cfg = sweep_config(out, "w/o_2d", 0, MARKS[-1], None, args.overrides, args.draw)
    from i2pmae.tasks.experiment import ensure_synthetic_data

    ensure_synthetic_data(cfg)  # the dev draw (OUT/data) or the reported one; a real-corpus sweep has neither yet
    sets = probe_sets(cfg)  # the test split, and the unseen families when data.unseen is set
    how = parse_bn_statistics(cfg["svm"].get("bn_statistics"))
    name = ("scores" + ("" if how == "debiased" else f"_{how}") + ("_masked" if args.masked_features else "")
            + ("_reported" if args.draw == "reported" else ""))
    paths = {which: out / f"{name}{'' if which == 'test' else '_' + which}.jsonl" for which in sets}
    done: dict[str, set] = {which: set() for which in sets}
    for which, path in paths.items():
        done[which] = {(r["variant"], r["seed"], r["step"]) for r in read_rows(path)}
    for variant, seed, mark, ckpt in score_jobs(args):
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


def score_jobs(args: argparse.Namespace) -> list[tuple[str, int, int, Path | None]]:
    """(variant, seed, step, checkpoint) to score: random init for ``--seeds``, then every step mark of the
    run folders matching ``--runs`` (only ``--marks`` when given)."""
    jobs: list[tuple[str, int, int, Path | None]] = [("random_init", s, 0, None) for s in args.seeds]
    for run_dir in sorted((Path(args.out) / "runs").glob(args.runs)):
        variant = run_dir.name.rsplit("-seed", 1)[0].replace("wo_2d", "w/o_2d")
        seed = int(run_dir.name.rsplit("seed", 1)[1])
        saved = sorted(int(p.stem[4:]) for p in run_dir.glob("step*.pth") if p.stem[4:].isdigit())
        for mark in saved:  # the doubling marks, and a last one off it (--max-step 5000)
            if args.marks is None or mark in args.marks:
                jobs.append((variant, seed, mark, run_dir / f"step{mark}.pth"))
    return jobs


def score_real_corpus(args: argparse.Namespace) -> None:
    """The real corpus's 5-fold probe (``i2pmae data real-corpus-probe``) of every checkpoint on each
    left-out set, one row per (variant, seed, step, set) in ``OUT/scores_real_corpus.jsonl``."""
    import torch

    from i2pmae.data.locations import resolve_data_path
    from i2pmae.engine.config import load_config
    from i2pmae.tasks.real_corpus_probe import open_sets, probe_set
    from i2pmae.tasks.svm_eval import build_encoder

    cfg = load_config(args.config if args.config != "quickstart" else "pretrain/real-corpus", args.overrides)
    sets = open_sets(resolve_data_path(args.corpus), args.sets, int(cfg["data"]["npoints"]), args.folds)
    path = Path(args.out) / "scores_real_corpus.jsonl"
    done = {(r["variant"], r["seed"], r["step"], r["set"]) for r in read_rows(path)}
    for variant, seed, mark, ckpt in score_jobs(args):
        todo = [n for n in sets if (variant, seed, mark, n) not in done]
        if not todo:
            continue
        torch.manual_seed(seed)
        model = build_encoder(cfg["model"], None if ckpt is None else str(ckpt))
        for name in todo:
            r = probe_set(model, sets[name], dict(cfg.get("svm") or {}), args.folds, seed)
            row = {"variant": variant, "seed": seed, "step": mark, "set": name, "svm_acc": r["svm_mean"],
                   "svm_std": r["svm_std"], "knn_acc": r["knn_mean"], "knn_std": r["knn_std"], "folds": args.folds,
                   "objects": r["objects"], "classes": r["classes"], "C": [f["C"] for f in r["folds"]],
                   "C_at_edge": r["C_at_edge"]}
            with path.open("a") as f:
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
        rows = [r for r in read_rows(out / f"{name}.jsonl") if r["seed"] in args.seeds]
        base = [r for r in rows if r["variant"] == "random_init"]
        groups: dict[str, list[dict]] = {}
        for r in rows:
            if r["variant"] != "random_init":
                tag, variant = split_variant(r["variant"])
                groups.setdefault(tag, []).append({**r, "variant": variant})
        for tag, part in sorted(groups.items()):
            data, file_tag = DATA.get(tag, f"config {tag}"), ("_" + tag.replace("-", "_")) if tag else ""
            md = plot_accuracy_vs_steps(base + part, out / f"accuracy_vs_steps{suffix}{file_tag}.png",
                                        title=f"Probe accuracy against pre-training steps (dev draw; {title}; "
                                              f"pre-trained on {data})")
            (out / f"accuracy_vs_steps{suffix}{file_tag}.md").write_text(md)
            print(f"{name}, pre-trained on {data}:\n{md}")
    if (out / "scores_real_corpus.jsonl").is_file():  # the real corpus's left-out sets (score --probe real-corpus)
        rows = [r for r in read_rows(out / "scores_real_corpus.jsonl") if r["seed"] in args.seeds]
        for name in sorted({r["set"] for r in rows}):
            part = [{**r, "variant": split_variant(r["variant"])[1]} for r in rows if r["set"] == name]
            md = plot_accuracy_vs_steps(part, out / f"accuracy_vs_steps_{name}.png",
                                        title=f"Probe accuracy against pre-training steps ({name}, 5-fold CV; "
                                              "pre-trained on the real corpus)")
            (out / f"accuracy_vs_steps_{name}.md").write_text(md)
            print(f"{name}:\n{md}")


def seed_table(per: dict[str, dict[int, dict]]) -> tuple[list[str], dict]:
    """Markdown lines and values for one split: each variant's SVM / 10-NN over its seeds (mean, population
    std as in table1, none for one seed, per-seed values), paired t-tests over the seeds two variants share (p needs >= 2)."""
    from i2pmae.tasks.experiment import paired_test
    from i2pmae.viz.curves import mean_spread

    lines = ["| variant | seeds | SVM mean +- std | per seed | 10-NN mean +- std | per seed |", "|---|---|---|---|---|---|"]
    vals: dict[str, dict] = {}
    for v in (v for v in ("random_init", "w/o_2d", "i2p-mae") if v in per):
        seeds = sorted(per[v])
        svm, knn = [per[v][s]["svm_acc"] for s in seeds], [per[v][s]["knn_acc"] for s in seeds]
        vals[v] = {"seeds": seeds, "svm": svm, "knn": knn, "C_at_edge": [per[v][s].get("C_at_edge") for s in seeds]}
        lines.append(f"| {v} | {','.join(map(str, seeds))} | {mean_spread(svm, '+-')} | "
                     f"{', '.join(f'{x:.2f}' for x in svm)} | {mean_spread(knn, '+-')} | "
                     f"{', '.join(f'{x:.2f}' for x in knn)} |")
    lines.append("")
    tests = {}
    for hi, lo in (("w/o_2d", "random_init"), ("i2p-mae", "random_init"), ("i2p-mae", "w/o_2d")):
        if hi not in per or lo not in per:
            continue
        common = sorted(set(per[hi]) & set(per[lo]))
        t = {m: paired_test([per[lo][s][f"{m}_acc"] for s in common], [per[hi][s][f"{m}_acc"] for s in common])
             for m in ("svm", "knn")}
        tests[f"{hi} - {lo}"] = {**t, "seeds": common}
        if common:
            p_text = {m: "n/a, one seed" if t[m]["p"] is None else f"{t[m]['p']:.3g}" for m in t}
            lines.append(f"- {hi} - {lo} (seeds {','.join(map(str, common))}): SVM {t['svm']['mean_diff']:+.2f} "
                         f"(p = {p_text['svm']}), 10-NN {t['knn']['mean_diff']:+.2f} (p = {p_text['knn']})")
    edge = [v for v in vals if any(vals[v]["C_at_edge"])]
    unknown = [v for v in vals if None in vals[v]["C_at_edge"]]  # rows scored before C_at_edge was recorded
    lines += [f"- SVM C at the grid's edge: {', '.join(edge) if edge else 'none'}"
              + (f" (not recorded for {', '.join(unknown)})" if unknown else ""), ""]
    return lines, {"values": vals, "paired_tests": tests}


def report(args: argparse.Namespace) -> None:
    """One mark's table over seeds: (a) random init, (b), (c) with mean, std, per-seed values and paired
    t-tests, from the scores of ``--draw`` (dev or reported), for the test split and the unseen families;
    with ``--probe real-corpus``, from ``scores_real_corpus.jsonl``, for each left-out set."""
    out = Path(args.out)
    if args.marks is None or len(args.marks) != 1:
        raise SystemExit("report: give exactly one step mark with --marks N")
    (mark,) = args.marks
    if args.probe == "real-corpus":
        return report_real_corpus(out, mark)
    suffix = "_reported" if args.draw == "reported" else ""
    lines = [f"Draw: {args.draw}; pre-trained on fresh procedural shapes; step {mark}; "
             "linear SVM / 10-NN on debiased features (mean +- std over seeds, per-seed values)", ""]
    table: dict = {"draw": args.draw, "step": mark}
    for split, tag in (("test", ""), ("unseen", "_unseen")):
        path = out / f"scores{suffix}{tag}.jsonl"
        if not path.is_file():
            continue
        per: dict[str, dict[int, dict]] = {}
        for r in read_rows(path):
            if r["variant"] == "random_init" or (r["variant"].endswith("-fresh") and r["step"] == mark):
                per.setdefault(r["variant"].removesuffix("-fresh"), {})[r["seed"]] = r
        seeds = sorted(set.intersection(*(set(v) for v in per.values()))) if len(per) == 3 else []
        if not seeds:
            raise SystemExit(f"report: {path} lacks random_init, w/o_2d-fresh and i2p-mae-fresh rows at step {mark} "
                             "for a common seed; run score first")
        per = {v: {s: per[v][s] for s in seeds} for v in per}
        body, table[split] = seed_table(per)
        table[split]["seeds"] = seeds
        lines += [f"{split} ({path.name}), seeds {seeds}:", "", *body]
    write_report(out / f"report_{args.draw}_step{mark}", lines, table)


def report_real_corpus(out: Path, mark: int) -> None:
    """The real corpus's left-out sets at one mark (issue 23's targets): random init against (b) and (c),
    each over the seeds it has at that mark."""
    path = out / "scores_real_corpus.jsonl"
    rows = read_rows(path)
    lines = [f"Real corpus, left-out sets, 5-fold CV; step {mark}; linear SVM / 10-NN on debiased features "
             "(each value a mean over folds; mean +- std over seeds, per-seed values)", ""]
    table: dict = {"probe": "real-corpus", "step": mark}
    for name in sorted({r["set"] for r in rows}):
        per: dict[str, dict[int, dict]] = {}
        for r in rows:
            if r["set"] == name and (r["variant"] == "random_init" or r["step"] == mark):
                per.setdefault(split_variant(r["variant"])[1], {})[r["seed"]] = r
        if "random_init" not in per or len(per) < 2:
            raise SystemExit(f"report: {path} lacks random_init or pre-trained rows at step {mark} for {name}; "
                             "run score --probe real-corpus first")
        body, table[name] = seed_table(per)
        lines += [f"{name}:", "", *body]
    if len(table) == 2:
        raise SystemExit(f"report: no rows in {path}; run score --probe real-corpus first")
    write_report(out / f"report_real_corpus_step{mark}", lines, table)


def write_report(stem: Path, lines: list[str], table: dict) -> None:
    md = "\n".join(lines)
    stem.with_suffix(".md").write_text(md + "\n")
    stem.with_suffix(".json").write_text(json.dumps(table, indent=1) + "\n")
    print(md)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("train", "score", "plot", "report"))
    p.add_argument("--out", default="runs/step_sweep")
    p.add_argument("--variant", choices=VARIANTS, default="w/o_2d")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", default="0,1,2", help="score: random-init seeds; plot: the seeds drawn (default 0,1,2)")
    p.add_argument("--max-step", type=int, default=DEFAULT_MAX_STEP,
                   help=f"train: last step; checkpoints at the marks {MARKS} below it and at it (default {DEFAULT_MAX_STEP})")
    p.add_argument("--teacher-weights", default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--fresh", action="store_true", help="train: new shapes every epoch (memorisation test)")
    p.add_argument("--runs", default="*-seed*", help="score: run folders to score (glob under OUT/runs)")
    p.add_argument("--marks", default=None, help="score: only these step marks (comma-separated; default all)")
    p.add_argument("--masked-features", action="store_true", help="score: features of masked clouds (diagnostic)")
    p.add_argument("--config", default="quickstart", help="train/score: pre-train with this config instead "
                   "(pretrain/real-corpus: the real corpus; runs named <config>-<variant>-seed<N>)")
    p.add_argument("--probe", choices=("procedural", "real-corpus"), default="procedural",
                   help="score/report: the procedural test split and unseen families, or the real corpus's left-out sets")
    p.add_argument("--corpus", default="$I2PMAE_CACHE/real-corpus", help="score --probe real-corpus: the corpus")
    p.add_argument("--sets", nargs="+", default=["eval-ufoai", "eval-kicad"], help="score --probe real-corpus")
    p.add_argument("--folds", type=int, default=5, help="score --probe real-corpus: cross-validation folds")
    p.add_argument("--draw", choices=("dev", "reported"), default="dev",
                   help="score/report: the dev draw (choices are made here) or the quickstart's reported draw")
    p.add_argument("overrides", nargs="*")
    args = p.parse_intermixed_args(argv)  # KEY=VALUE overrides may follow the options
    args.seeds = [int(s) for s in str(args.seeds).split(",") if s]
    args.marks = None if args.marks is None else {int(m) for m in args.marks.split(",") if m}
    {"train": train, "score": score, "plot": plot, "report": report}[args.action](args)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
