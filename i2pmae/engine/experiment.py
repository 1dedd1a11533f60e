"""The paper's Table 1 in miniature, on the built-in procedural shapes.

Linear-SVM accuracy of (a) a randomly initialised encoder, (b) pre-training
without 2D guidance (random masking, 3D loss only) and (c) I2P-MAE, each over
several seeds, plus the 2D teacher's own SVM accuracy on its multi-view
features for reference. Every number is the *last* checkpoint's: nothing is
selected on the test split.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from i2pmae.data import build_dataset
from i2pmae.engine.distributed import DistInfo
from i2pmae.engine.pretrain import run_pretrain
from i2pmae.engine.runs import build_teacher_from_config
from i2pmae.engine.seeding import seed_everything
from i2pmae.engine.svm import CV_GRID, linear_svm_accuracy, parse_svm_c
from i2pmae.engine.svm_eval import build_encoder, shard_loader, svm_accuracy

log = logging.getLogger("i2pmae")

VARIANTS = {
    "random_init": "(a) randomly initialised encoder",
    "w/o_2d": "(b) pre-trained w/o 2D guidance (random masking, 3D loss)",
    "i2p-mae": "(c) I2P-MAE (2D-guided masking, 3D + 2D losses)",
}


def ensure_synthetic_data(cfg: dict) -> Path:
    """Generate the procedural shapes under ``data.root`` unless they are already there."""
    from i2pmae.data.synth import write_synthetic

    root = Path(cfg["data"]["root"])
    if (root / "synth.json").is_file():
        return root
    synth = cfg.get("synth", {})
    log.info("generating procedural shapes in %s", root)
    summary = write_synthetic(root, per_class=int(synth.get("per_class", 80)),
                              test_per_class=synth.get("test_per_class"), seed=int(synth.get("seed", 0)))
    log.info("%d classes, %d training and %d test shapes", len(summary["classes"]), summary["train"], summary["test"])
    return root


@torch.no_grad()
def teacher_svm_accuracy(cfg: dict, dist: DistInfo) -> float:
    """SVM on the teacher's multi-view features: per view, mean of its patch features; views concatenated."""
    from i2pmae.projection import project_views

    teacher = build_teacher_from_config(cfg, dist.device)
    views = tuple(cfg["model"].get("views", (0, 1, 2)))
    svm_cfg = cfg["data"]["svm"]

    def encode(split: str) -> tuple[np.ndarray, np.ndarray]:
        feats, labels = [], []
        for batch in shard_loader(build_dataset(svm_cfg, split), dist, 32):
            images, _ = project_views(batch["points"].to(dist.device), views=views)
            b, v = images.shape[:2]
            f, _ = teacher(images.flatten(0, 1))
            feats.append(f.float().mean(dim=(2, 3)).view(b, v, -1).flatten(1).cpu())
            labels.append(batch["label"].view(-1))
        return torch.cat(feats).numpy(), torch.cat(labels).numpy()

    tr_x, tr_y = encode("train")
    te_x, te_y = encode("test")
    return linear_svm_accuracy(tr_x, tr_y, te_x, te_y, parse_svm_c(cfg.get("svm", {}).get("C", 0.01)))


def variant_config(cfg: dict, variant: str, seed: int) -> dict:
    out = copy.deepcopy(cfg)
    out["train"]["seed"] = seed
    if variant == "w/o_2d":
        out["model"]["masking"] = "random"
    return out


def resolve_jobs(jobs: int | None, dist: DistInfo, runs: int) -> int:
    """How many pre-training runs go at once: 1 on GPUs and under torchrun; on a CPU, by default one per core
    (fewer if free memory is short: ~2 GiB each).

    The small quickstart networks use a second thread poorly, so independent runs in their own processes
    finish sooner (1.21x on 2 cores, ``benchmarks/table1_jobs.py``).
    """
    if jobs is not None and jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}")
    if dist.distributed or dist.device.type != "cpu":
        return 1
    if jobs is None:
        jobs = min(_cpu_cores(), _free_memory_bytes() // JOB_MEMORY_BYTES)
    return max(1, min(jobs, runs))


JOB_MEMORY_BYTES = 2 << 30  # a quickstart pre-training process peaks at ~1.4 GiB resident


def _cpu_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _free_memory_bytes() -> int:
    """Available physical memory (Linux, macOS); a large number where the platform does not say."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 1 << 50


def _worker_setup(run_dir: str | None, threads: int) -> None:
    """A worker process: ``threads`` CPU threads, no progress bars, details to ``run_dir/log.txt`` only."""
    from i2pmae.engine.logging import setup_logging

    torch.set_num_threads(threads)
    os.environ["I2PMAE_PROGRESS"] = "0"
    logger = setup_logging(run_dir)
    for handler in logger.handlers:  # the parent reports progress
        if not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.WARNING)


def _pretrain_job(cfg: dict, run_dir: str, resume: bool, seed: int, threads: int) -> None:
    """One pre-training run in a worker process (CPU)."""
    _worker_setup(run_dir, threads)
    seed_everything(seed)
    run_pretrain(cfg, Path(run_dir), DistInfo(), resume=resume)


def random_init_accuracy(cfg: dict, seed: int, dist: DistInfo, datasets: tuple | None = None) -> float:
    """(a): linear-SVM accuracy of the encoder as ``seed`` initialises it (``datasets``: the SVM's
    (train, test) sets if already built)."""
    svm_cfg = cfg["data"]["svm"]
    train_set, test_set = datasets or (build_dataset(svm_cfg, "train"), build_dataset(svm_cfg, "test"))
    seed_everything(seed)
    encoder = build_encoder(cfg["model"], None).to(dist.device)
    return svm_accuracy(encoder, train_set, test_set, parse_svm_c(cfg.get("svm", {}).get("C", 0.01)), dist,
                        cfg.get("svm"))


def _random_init_job(cfg: dict, seed: int, threads: int) -> float:
    _worker_setup(None, threads)
    return random_init_accuracy(cfg, seed, DistInfo())


def run_table1(cfg: dict, out_dir: Path, dist: DistInfo, seeds: list[int], jobs: int | None = None) -> dict[str, Any]:
    """All runs of the miniature Table 1; returns and writes ``table1.json`` / ``table1.md``.

    ``jobs`` pre-training runs go at once in worker processes on a CPU (default: one per core);
    every run draws the same numbers whichever way it is scheduled (its seed fixes everything).
    """
    out_dir = Path(out_dir)
    ensure_synthetic_data(cfg)
    svm_cfg = cfg["data"]["svm"]
    svm_train, svm_test = build_dataset(svm_cfg, "train"), build_dataset(svm_cfg, "test")
    c = parse_svm_c(cfg.get("svm", {}).get("C", 0.01))
    results: dict[str, list[float]] = {k: [] for k in VARIANTS}
    runs: dict[str, list[str]] = {k: [] for k in VARIANTS if k != "random_init"}
    planned: list[tuple[str, int, dict, Path]] = []
    pending: list[tuple[str, int, dict, Path, bool]] = []
    for seed in seeds:
        for variant in ("w/o_2d", "i2p-mae"):
            vcfg = variant_config(cfg, variant, seed)
            run_dir = out_dir / "runs" / f"{variant.replace('/', '')}-seed{seed}"
            planned.append((variant, seed, vcfg, run_dir))
            resume = (run_dir / "last.pth").is_file()
            if resume and _finished(run_dir, vcfg):
                log.info("seed %d %s: already trained in %s", seed, variant, run_dir)
            else:
                pending.append((variant, seed, vcfg, run_dir, resume))
    jobs = resolve_jobs(jobs, dist, len(pending) + len(seeds))

    if jobs > 1:
        results["random_init"] = _run_in_workers(cfg, seeds, pending, jobs)
    else:
        for seed in seeds:
            results["random_init"].append(random_init_accuracy(cfg, seed, dist, (svm_train, svm_test)))
            log.info("seed %d (a) random init: SVM %.2f%%", seed, results["random_init"][-1])
        for variant, seed, vcfg, run_dir, resume in pending:
            log.info("seed %d %s: pre-training in %s", seed, variant, run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
            seed_everything(seed)
            run_pretrain(vcfg, run_dir, dist, resume=resume)
    for variant, seed, vcfg, run_dir in planned:
        acc = _last_epoch_svm(run_dir, vcfg)
        if acc is None:  # the run did not score its last epoch: score its last checkpoint now
            encoder = build_encoder(vcfg["model"], str(run_dir / "last.pth")).to(dist.device)
            acc = svm_accuracy(encoder, svm_train, svm_test, c, dist, cfg.get("svm"))
        results[variant].append(acc)
        runs[variant].append(str(run_dir))
        log.info("seed %d %s: SVM %.2f%%", seed, variant, acc)
    teacher_acc = teacher_svm_accuracy(cfg, dist)
    summary = {
        "seeds": seeds, "C": c, "accuracy": results, "runs": runs, "teacher_svm": teacher_acc,
        "teacher": cfg.get("teacher", {}).get("name"),
        "mean": {k: float(np.mean(v)) for k, v in results.items()},
        "std": {k: float(np.std(v)) for k, v in results.items()},
    }
    if dist.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "table1.json").write_text(json.dumps(summary, indent=2))
        (out_dir / "table1.md").write_text(table1_markdown(summary))
    return summary


def _run_in_workers(cfg: dict, seeds: list[int], pending: list, jobs: int) -> list[float]:
    """The ``pending`` pre-trainings and the random-init scores in ``jobs`` worker processes (longest
    first, so the cores stay busy); returns the random-init accuracies in seed order."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from i2pmae.engine.logging import progress_bar

    threads = max(1, _cpu_cores() // jobs)
    log.info("%d pre-training run(s) and %d random-init score(s), %d at a time in worker processes (%d thread(s) "
             "each); each run logs to its own log.txt", len(pending), len(seeds), jobs, threads)
    random_init: dict[int, float] = {}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
        futures = {}
        for variant, seed, vcfg, run_dir, resume in sorted(pending, key=lambda job: job[0] != "i2p-mae"):
            run_dir.mkdir(parents=True, exist_ok=True)
            futures[pool.submit(_pretrain_job, vcfg, str(run_dir), resume, seed, threads)] = (variant, seed, run_dir)
        for seed in seeds:
            futures[pool.submit(_random_init_job, cfg, seed, threads)] = ("random_init", seed, None)
        bar = progress_bar(total=len(futures), desc="table 1 jobs", unit="job")
        for future in as_completed(futures):
            variant, seed, run_dir = futures[future]
            try:
                value = future.result()
            except BaseException as exc:
                for f in futures:
                    f.cancel()
                where = f"; see {run_dir / 'log.txt'}" if run_dir else ""
                raise RuntimeError(f"table 1 job failed (seed {seed}, {variant}): {exc}{where}") from exc
            if run_dir is None:
                random_init[seed] = value
                log.info("seed %d (a) random init: SVM %.2f%%", seed, value)
            else:
                log.info("seed %d %s: pre-training finished (%s)", seed, variant, run_dir)
            bar.update(1)
        bar.close()
    return [random_init[seed] for seed in seeds]


def _last_epoch_svm(run_dir: Path, cfg: dict) -> float | None:
    """The run's own SVM score of its last epoch (same data, same C), if it logged one."""
    from i2pmae.engine.logging import read_metrics

    metrics = run_dir / "metrics.jsonl"
    if not metrics.is_file():
        return None
    last_epoch = int(cfg["train"]["epochs"]) - 1
    rows = [r for r in read_metrics(metrics) if "eval/svm_acc" in r and r.get("epoch") == last_epoch]
    return float(rows[-1]["eval/svm_acc"]) if rows else None


RECIPE_SECTIONS = ("model", "teacher", "data", "augment", "train")


def _finished(run_dir: Path, cfg: dict) -> bool:
    """Whether the run in ``run_dir`` is complete; an error if it was trained with another recipe."""
    from i2pmae.engine.checkpoint import load_checkpoint

    saved = load_checkpoint(run_dir / "last.pth")
    differ = config_differences({k: saved.get("config", {}).get(k) for k in RECIPE_SECTIONS},
                                {k: cfg.get(k) for k in RECIPE_SECTIONS})
    if differ:
        raise ValueError(f"{run_dir} holds a run trained with another config ({', '.join(differ[:5])}"
                         f"{' ...' if len(differ) > 5 else ''}); give another --out or delete that folder")
    return saved["loop"]["epoch"] >= int(cfg["train"]["epochs"])


def config_differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config trees, e.g. ``['train.lr: 0.001 != 0.0005']``."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b), key=str):
            out += config_differences(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return [] if a == b else [f"{prefix.rstrip('.')}: {a!r} != {b!r}"]


def table1_markdown(summary: dict) -> str:
    n = len(summary["seeds"])
    lines = [
        f"| pre-training | linear-SVM accuracy (%), mean ± std over {n} seed{'s' if n > 1 else ''} | per seed |",
        "|---|---|---|",
    ]
    for key, title in VARIANTS.items():
        accs = summary["accuracy"][key]
        lines.append(f"| {title} | {summary['mean'][key]:.2f} ± {summary['std'][key]:.2f} | "
                     + ", ".join(f"{a:.2f}" for a in accs) + " |")
    lines.append(f"| 2D teacher `{summary['teacher']}` on its multi-view features (reference) | "
                 f"{summary['teacher_svm']:.2f} | |")
    lines.append("")
    c = summary["C"]
    c_text = (f"C chosen per encoder by 3-fold cross-validation on the training split from {list(CV_GRID)}"
              if c == "cv" else f"C={c}")
    lines.append(f"SVM: sklearn linear SVC, {c_text}; last checkpoint of each run "
                 "(nothing selected on the test split); std is the population std (numpy default).")
    return "\n".join(lines) + "\n"
