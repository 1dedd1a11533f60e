"""The paper's Table 1 in miniature, on the built-in procedural shapes.

Linear-SVM and k-NN accuracy of (a) a randomly initialised encoder, (b)
pre-training without 2D guidance (random masking, 3D loss only) and (c) I2P-MAE,
each over several seeds, the C each SVM chose, a paired test of (c) against (b),
and the 2D teacher's own multi-view accuracy for reference. Every number is the
*last* checkpoint's: nothing is selected on the test split.

Worker processes die with their parent (``PR_SET_PDEATHSIG`` on Linux, plus a
thread watching the parent's pid elsewhere), so killing the command never leaves
orphans writing into the run folders.
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
from i2pmae.tasks.pretrain import run_pretrain
from i2pmae.engine.runs import build_teacher_from_config
from i2pmae.engine.seeding import seed_everything
from i2pmae.tasks.svm import KNN_K, linear_svm_probe, parse_svm_c, parse_svm_grid
from i2pmae.tasks.svm_eval import (build_encoder, parse_bn_statistics, parse_standardize, probe_encoder,
                                   shard_loader)

log = logging.getLogger("i2pmae")

VARIANTS = {
    "random_init": "(a) randomly initialised encoder",
    "w/o_2d": "(b) pre-trained w/o 2D guidance (random masking, 3D loss)",
    "i2p-mae": "(c) I2P-MAE (2D-guided masking, 3D + 2D losses)",
}


def ensure_synthetic_data(cfg: dict) -> Path:
    """Generate the procedural shapes under ``data.root`` unless they are already there."""
    from i2pmae.data.paths import resolve_data_path
    from i2pmae.data.synth import write_synthetic

    root = resolve_data_path(cfg["data"]["root"])  # $I2PMAE_CACHE/... = the user cache, not the cwd
    if (root / "synth.json").is_file():
        return root
    synth = cfg.get("synth", {})
    log.info("generating procedural shapes in %s", root)
    summary = write_synthetic(root, per_class=int(synth.get("per_class", 80)),
                              test_per_class=synth.get("test_per_class"), seed=int(synth.get("seed", 0)))
    log.info("%d classes, %d training and %d test shapes", len(summary["classes"]), summary["train"], summary["test"])
    return root


@torch.no_grad()
def teacher_features(teacher: Any, dataset: Any, views: tuple[int, ...], dist: DistInfo) -> tuple[np.ndarray, np.ndarray]:
    """A teacher's multi-view features of every cloud of ``dataset``: per view, the mean of its feature map;
    views concatenated. Returns (features, labels) as numpy arrays."""
    from i2pmae.projection import project_views

    feats, labels = [], []
    for batch in shard_loader(dataset, dist, 32):
        images, _ = project_views(batch["points"].to(dist.device), views=views)
        b, v = images.shape[:2]
        f, _ = teacher(images.flatten(0, 1))
        feats.append(f.float().mean(dim=(2, 3)).view(b, v, -1).flatten(1).cpu())
        labels.append(batch["label"].view(-1))
    return torch.cat(feats).numpy(), torch.cat(labels).numpy()


@torch.no_grad()
def teacher_probe(cfg: dict, dist: DistInfo, data_key: str = "svm") -> dict[str, Any]:
    """Both probes on the teacher's multi-view features (:func:`teacher_features`); the config's ``svm``
    options (C or cv, grid, standardize); the data of ``data.<data_key>`` (``svm``: the test split,
    ``unseen``: the unseen families)."""
    teacher = build_teacher_from_config(cfg, dist.device)
    views = tuple(cfg["model"].get("views", (0, 1, 2)))
    svm_cfg = cfg["data"][data_key]
    tr_x, tr_y = teacher_features(teacher, build_dataset(svm_cfg, "train"), views, dist)
    te_x, te_y = teacher_features(teacher, build_dataset(svm_cfg, "test"), views, dist)
    opts = cfg.get("svm") or {}
    return linear_svm_probe(tr_x, tr_y, te_x, te_y, parse_svm_c(opts.get("C", 0.01)), opts.get("grid"),
                            parse_standardize(opts.get("standardize")), KNN_K,
                            f"2D teacher {cfg.get('teacher', {}).get('name')}"
                            + ("" if data_key == "svm" else f" ({UNSEEN_TITLE})"))


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


def die_with_parent(parent_pid: int) -> None:
    """Pool initializer: end this worker as soon as its parent process is gone (even after SIGKILL).

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``; everywhere: a daemon thread that polls ``os.getppid()``
    (re-parenting to init or a subreaper changes it) and kills this process when it differs.
    """
    import signal
    import sys
    import threading
    import time

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
            time.sleep(0.5)

    threading.Thread(target=watch, name="i2pmae-parent-watch", daemon=True).start()


def _worker_setup(run_dir: str | None, threads: int) -> None:
    """A worker process: ``threads`` CPU threads, no progress bars, details to ``run_dir/log.txt`` only."""
    from i2pmae.engine.logging import PROGRESS_LOGGER_NAME, setup_logging

    torch.set_num_threads(threads)
    os.environ["I2PMAE_PROGRESS"] = "0"
    logger = setup_logging(run_dir)
    tag = f"[{Path(run_dir).name}] " if run_dir else ""

    def console_filter(record: logging.LogRecord) -> bool:
        """Warnings and the loop's progress lines (tagged with the run) reach the console; the rest of the
        run's log goes to its log.txt only (several workers share one console)."""
        if record.name == PROGRESS_LOGGER_NAME and not str(record.msg).startswith(tag):
            record.msg = tag + str(record.msg)
        return record.levelno >= logging.WARNING or record.name == PROGRESS_LOGGER_NAME

    for handler in logger.handlers:
        if not isinstance(handler, logging.FileHandler):
            handler.addFilter(console_filter)


def _pretrain_job(cfg: dict, run_dir: str, resume: bool, seed: int, threads: int) -> None:
    """One pre-training run in a worker process (CPU)."""
    _worker_setup(run_dir, threads)
    seed_everything(seed)
    run_pretrain(cfg, Path(run_dir), DistInfo(), resume=resume)


UNSEEN_TITLE = "unseen families"


def probe_sets(cfg: dict) -> dict[str, tuple]:
    """The probes' (train, test) datasets: ``test`` from ``data.svm`` and, when the config has ``data.unseen``,
    ``unseen`` (the transfer test of families pre-training never sees)."""
    out = {"test": (build_dataset(cfg["data"]["svm"], "train", "data.svm"),
                    build_dataset(cfg["data"]["svm"], "test", "data.svm"))}
    if cfg["data"].get("unseen"):
        out["unseen"] = (build_dataset(cfg["data"]["unseen"], "train", "data.unseen"),
                         build_dataset(cfg["data"]["unseen"], "test", "data.unseen"))
    return out


def probe_run(cfg: dict, variant: str, seed: int, run_dir: str | None, dist: DistInfo,
              datasets: tuple | dict | None = None) -> dict[str, Any]:
    """Both probes (SVM with its C, k-NN) of one encoder: the last checkpoint of ``run_dir``, or with
    ``run_dir=None`` the encoder as ``seed`` initialises it (variant (a)). With ``data.unseen`` configured the
    same probes on the unseen families go under ``result["unseen"]`` (after the test split's, which they
    leave unchanged). ``datasets``: :func:`probe_sets` (or the test split's (train, test) pair) to reuse."""
    if datasets is None:
        datasets = probe_sets(cfg)
    elif isinstance(datasets, tuple):
        datasets = {"test": datasets}
    seed_everything(seed)
    ckpt = None if run_dir is None else str(Path(run_dir) / "last.pth")
    encoder = build_encoder(cfg["model"], ckpt).to(dist.device)
    log.info("seed %d %s: probing (linear SVM and %d-NN)", seed, variant, KNN_K)
    result = probe_encoder(encoder, *datasets["test"], cfg.get("svm"), dist, name=f"seed {seed} {variant}")
    if cfg["data"].get("unseen"):
        unseen = datasets.get("unseen") or probe_sets(cfg)["unseen"]
        result["unseen"] = probe_encoder(encoder, *unseen, cfg.get("svm"), dist,
                                         name=f"seed {seed} {variant} ({UNSEEN_TITLE})")
    return result


def _probe_job(cfg: dict, variant: str, seed: int, run_dir: str | None, threads: int) -> dict[str, Any]:
    _worker_setup(run_dir, threads)
    return probe_run(cfg, variant, seed, run_dir, DistInfo())


def check_recipe(cfg: dict, out_dir: Path, seeds: list[int]) -> None:
    """Refuse (ValueError naming the differing keys) before anything is written when ``out_dir`` holds runs
    trained with another recipe; called by the CLI before the run folder's config.yaml is saved."""
    for seed in seeds:
        for variant in ("w/o_2d", "i2p-mae"):
            run_dir = Path(out_dir) / "runs" / f"{variant.replace('/', '')}-seed{seed}"
            if (run_dir / "last.pth").is_file():
                _finished(run_dir, variant_config(cfg, variant, seed))


def paired_test(b: list[float], c: list[float]) -> dict[str, Any]:
    """Two-sided paired t-test of (c) against (b) over seeds: mean difference c - b, its std, t and p
    (``None`` with fewer than 2 seeds, and p = 1 when every difference is the same)."""
    d = np.asarray(c, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    out: dict[str, Any] = {"mean_diff": float(d.mean()) if len(d) else None, "n": int(len(d)), "t": None, "p": None,
                           "test": "two-sided paired t-test over seeds"}
    if len(d) >= 2:
        sd = float(d.std(ddof=1))
        out["std_diff"] = sd
        if sd == 0.0:
            out["p"] = 1.0 if d.mean() == 0 else 0.0
        else:
            from scipy import stats

            res = stats.ttest_rel(c, b)
            out["t"], out["p"] = float(res.statistic), float(res.pvalue)
    return out


def run_table1(cfg: dict, out_dir: Path, dist: DistInfo, seeds: list[int], jobs: int | None = None) -> dict[str, Any]:
    """All runs of the miniature Table 1; returns and writes ``table1.json`` / ``table1.md``.

    ``jobs`` pre-training runs (then the probes) go at once in worker processes on a CPU (default: one
    per core); every run draws the same numbers whichever way it is scheduled (its seed fixes everything).
    """
    out_dir = Path(out_dir)
    ensure_synthetic_data(cfg)
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
    probes = [("random_init", seed, cfg, None) for seed in seeds] + [(v, s, c, d) for v, s, c, d in planned]
    jobs = resolve_jobs(jobs, dist, max(len(pending), len(probes)))
    if jobs > 1:
        scores = _run_in_workers(pending, probes, jobs)
    else:
        for variant, seed, vcfg, run_dir, resume in pending:
            log.info("seed %d %s: pre-training in %s", seed, variant, run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
            seed_everything(seed)
            run_pretrain(vcfg, run_dir, dist, resume=resume)
        sets = probe_sets(cfg)
        scores = {(v, s): probe_run(c, v, s, None if d is None else str(d), dist, sets) for v, s, c, d in probes}
    teacher = teacher_probe(cfg, dist)
    if cfg["data"].get("unseen"):
        teacher["unseen"] = teacher_probe(cfg, dist, "unseen")
    summary = summarise(seeds, scores, cfg, {v: [str(d) for vv, _, _, d in planned if vv == v] for v in VARIANTS
                                              if v != "random_init"}, teacher)
    for (variant, seed), r in sorted(scores.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        log.info("seed %d %s: SVM %.2f%% (C=%g%s), %d-NN %.2f%%", seed, variant, r["svm_acc"], r["C"],
                 ", at the grid's edge" if r["C_at_edge"] else "", KNN_K, r["knn_acc"])
        if "unseen" in r:
            u = r["unseen"]
            log.info("seed %d %s, %s: SVM %.2f%% (C=%g%s), %d-NN %.2f%%", seed, variant, UNSEEN_TITLE, u["svm_acc"],
                     u["C"], ", at the grid's edge" if u["C_at_edge"] else "", KNN_K, u["knn_acc"])
    if dist.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "table1.json").write_text(json.dumps(summary, indent=2))
        (out_dir / "table1.md").write_text(table1_markdown(summary))
    return summary


def summarise(seeds: list[int], scores: dict, cfg: dict, runs: dict, teacher: dict) -> dict[str, Any]:
    """The table's JSON: per-variant per-seed SVM and k-NN accuracy, chosen C, means, stds, paired tests."""
    opts = cfg.get("svm") or {}
    setting = parse_svm_c(opts.get("C", 0.01))
    acc = {k: [scores[(k, s)]["svm_acc"] for s in seeds] for k in VARIANTS}
    knn = {k: [scores[(k, s)]["knn_acc"] for s in seeds] for k in VARIANTS}
    return {
        "seeds": seeds, "C": setting, "grid": list(parse_svm_grid(opts.get("grid"))) if setting == "cv" else None,
        "standardize": parse_standardize(opts.get("standardize")), "knn_k": KNN_K,
        "bn_statistics": parse_bn_statistics(opts.get("bn_statistics")),
        "accuracy": acc, "knn": knn,
        "C_chosen": {k: [scores[(k, s)]["C"] for s in seeds] for k in VARIANTS},
        "C_at_edge": {k: [scores[(k, s)]["C_at_edge"] for s in seeds] for k in VARIANTS},
        "mean": {k: float(np.mean(v)) for k, v in acc.items()}, "std": {k: float(np.std(v)) for k, v in acc.items()},
        "knn_mean": {k: float(np.mean(v)) for k, v in knn.items()},
        "knn_std": {k: float(np.std(v)) for k, v in knn.items()},
        "paired_c_vs_b": {"svm": paired_test(acc["w/o_2d"], acc["i2p-mae"]),
                          "knn": paired_test(knn["w/o_2d"], knn["i2p-mae"])},
        "runs": runs, "teacher": cfg.get("teacher", {}).get("name"), "teacher_svm": teacher["svm_acc"],
        "teacher_knn": teacher["knn_acc"], "teacher_C": teacher["C"],
        **({"unseen": _unseen_summary(seeds, scores, cfg, teacher.get("unseen"))}
           if all("unseen" in scores[(k, s)] for k in VARIANTS for s in seeds) else {}),
    }


def _unseen_summary(seeds: list[int], scores: dict, cfg: dict, teacher: dict | None) -> dict[str, Any]:
    """The unseen-family columns: per-variant per-seed SVM and k-NN accuracy, C, means, stds, paired tests of
    each pre-training against random init and of (c) against (b)."""
    acc = {k: [scores[(k, s)]["unseen"]["svm_acc"] for s in seeds] for k in VARIANTS}
    knn = {k: [scores[(k, s)]["unseen"]["knn_acc"] for s in seeds] for k in VARIANTS}
    pairs = {"b_vs_a": ("random_init", "w/o_2d"), "c_vs_a": ("random_init", "i2p-mae"), "c_vs_b": ("w/o_2d", "i2p-mae")}
    out = {
        "data": cfg["data"]["unseen"], "accuracy": acc, "knn": knn,
        "C_chosen": {k: [scores[(k, s)]["unseen"]["C"] for s in seeds] for k in VARIANTS},
        "C_at_edge": {k: [scores[(k, s)]["unseen"]["C_at_edge"] for s in seeds] for k in VARIANTS},
        "mean": {k: float(np.mean(v)) for k, v in acc.items()}, "std": {k: float(np.std(v)) for k, v in acc.items()},
        "knn_mean": {k: float(np.mean(v)) for k, v in knn.items()},
        "knn_std": {k: float(np.std(v)) for k, v in knn.items()},
        "paired": {name: {"svm": paired_test(acc[lo], acc[hi]), "knn": paired_test(knn[lo], knn[hi])}
                   for name, (lo, hi) in pairs.items()},
    }
    if teacher:
        out.update(teacher_svm=teacher["svm_acc"], teacher_knn=teacher["knn_acc"], teacher_C=teacher["C"])
    return out


def _run_in_workers(pending: list, probes: list, jobs: int) -> dict[tuple[str, int], dict]:
    """The ``pending`` pre-trainings, then every probe, in ``jobs`` worker processes that die with this one
    (I2P-MAE runs first: they are the longest, so the cores stay busy)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from i2pmae.engine.logging import progress_bar

    threads = max(1, _cpu_cores() // jobs)
    log.info("%d pre-training run(s), then %d probe(s), %d at a time in worker processes (%d thread(s) each); "
             "each run logs to its own log.txt", len(pending), len(probes), jobs, threads)
    scores: dict[tuple[str, int], dict] = {}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"), initializer=die_with_parent,
                             initargs=(os.getpid(),)) as pool:
        bar = progress_bar(total=len(pending) + len(probes), desc="table 1 jobs", unit="job")
        for stage in ("pretrain", "probe"):
            futures = {}
            if stage == "pretrain":
                for variant, seed, vcfg, run_dir, resume in sorted(pending, key=lambda job: job[0] != "i2p-mae"):
                    run_dir.mkdir(parents=True, exist_ok=True)
                    futures[pool.submit(_pretrain_job, vcfg, str(run_dir), resume, seed, threads)] = (
                        variant, seed, run_dir)
            else:
                for variant, seed, vcfg, run_dir in probes:
                    futures[pool.submit(_probe_job, vcfg, variant, seed, None if run_dir is None else str(run_dir),
                                        threads)] = (variant, seed, run_dir)
            for future in as_completed(futures):
                variant, seed, run_dir = futures[future]
                try:
                    value = future.result()
                except BaseException as exc:
                    for f in futures:
                        f.cancel()
                    where = f"; see {run_dir / 'log.txt'}" if run_dir else ""
                    raise RuntimeError(f"table 1 job failed (seed {seed}, {variant}, {stage}): {exc}{where}") from exc
                if stage == "probe":
                    scores[(variant, seed)] = value
                else:
                    log.info("seed %d %s: pre-training finished (%s)", seed, variant, run_dir)
                bar.update(1)
        bar.close()
    return scores


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


def _fmt_c(values: list[float]) -> str:
    return ", ".join(f"{c:g}" for c in values)


def table1_markdown(summary: dict) -> str:
    n = len(summary["seeds"])
    k = summary.get("knn_k", KNN_K)
    unseen = summary.get("unseen")
    lines = [
        f"| pre-training | linear SVM (%), mean ± std over {n} seed{'s' if n > 1 else ''} | per seed | SVM C per seed "
        f"| {k}-NN (%), mean ± std | per seed |" + (f" {UNSEEN_TITLE}: linear SVM (%) | per seed | {UNSEEN_TITLE}: "
                                                   f"{k}-NN (%) | per seed |" if unseen else ""),
        "|---|---|---|---|---|---|" + ("---|---|---|---|" if unseen else ""),
    ]

    def cells(part: dict, key: str, probe: str) -> str:
        accs = part.get("accuracy" if probe == "svm" else "knn", {}).get(key, [])
        if not accs:
            return "- | |"
        mean, std = (part["mean"], part["std"]) if probe == "svm" else (part["knn_mean"], part["knn_std"])
        return f"{mean[key]:.2f} ± {std[key]:.2f} | " + ", ".join(f"{a:.2f}" for a in accs) + " |"

    def teacher_cells(part: dict) -> tuple[str, str, str]:
        t_knn, t_c = part.get("teacher_knn"), part.get("teacher_C")
        svm = "-" if part.get("teacher_svm") is None else f"{part['teacher_svm']:.2f}"
        return svm, _fmt_c([t_c]) if t_c else "-", "-" if t_knn is None else f"{t_knn:.2f}"

    for key, title in VARIANTS.items():
        cs = summary.get("C_chosen", {}).get(key, [])
        svm_cells = cells(summary, key, "svm").split(" | ", 1)
        lines.append(f"| {title} | {svm_cells[0]} | {svm_cells[1]} {_fmt_c(cs) if cs else '-'} | "
                     f"{cells(summary, key, 'knn')}"
                     + (f" {cells(unseen, key, 'svm')} {cells(unseen, key, 'knn')}" if unseen else ""))
    t_svm, t_c, t_knn = teacher_cells(summary)
    row = (f"| 2D teacher `{summary['teacher']}` on its multi-view features (reference) | {t_svm} | | {t_c} | "
           f"{t_knn} | |")
    if unseen:
        u_svm, _, u_knn = teacher_cells(unseen)
        row += f" {u_svm} | | {u_knn} | |"
    lines.append(row)
    lines.append("")
    paired = summary.get("paired_c_vs_b") or {}
    for probe, name in (("svm", "linear SVM"), ("knn", f"{k}-NN")):
        pt = paired.get(probe)
        if pt and pt.get("p") is not None:
            lines.append(f"(c) − (b), {name}: {pt['mean_diff']:+.2f} points (std of the difference "
                         f"{pt['std_diff']:.2f}), {pt['test']} p = {pt['p']:.3g} (n = {pt['n']}).")
        elif pt:
            lines.append(f"(c) − (b), {name}: {pt['mean_diff']:+.2f} points (one seed: no paired test).")
    if paired:
        lines.append("")
    if unseen:
        names = {"b_vs_a": "(b) − (a)", "c_vs_a": "(c) − (a)", "c_vs_b": "(c) − (b)"}
        for pair, label in names.items():
            parts = []
            for probe, name in (("svm", "linear SVM"), ("knn", f"{k}-NN")):
                pt = (unseen.get("paired") or {}).get(pair, {}).get(probe)
                if pt and pt.get("p") is not None:
                    parts.append(f"{name} {pt['mean_diff']:+.2f} points (std {pt['std_diff']:.2f}, p = {pt['p']:.3g})")
                elif pt:
                    parts.append(f"{name} {pt['mean_diff']:+.2f} points")
            if parts:
                lines.append(f"{UNSEEN_TITLE.capitalize()}, {label}: {'; '.join(parts)} (n = {n}).")
        spec = ", ".join(f"{key}: {str(value).lower() if isinstance(value, bool) else value}"
                         for key, value in (unseen.get("data") or {}).items())
        lines += ["", f"Unseen families: shapes of the procedural families that pre-training never sees "
                  f"(`data.unseen` = {{{spec}}}; their own seed stream), probed exactly as the test split "
                  "(their own training split for the SVM and the neighbours, C chosen anew per encoder).", ""]
    c = summary["C"]
    if c == "cv":
        edge = [f"{v} seed {s}" for v in VARIANTS for s, e in zip(summary["seeds"], summary["C_at_edge"][v]) if e]
        c_text = (f"C chosen per encoder by 3-fold cross-validation on the training split from "
                  f"{_fmt_c(summary['grid'])}; " + (f"**at the grid's edge for {', '.join(edge)}**" if edge else
                                                    "inside the grid for every encoder"))
    else:
        c_text = f"C={c}"
    scaling = "features standardised with training-split statistics" if summary.get("standardize") else \
        "raw features (no scaling)"
    bn = {"debiased": "BatchNorm running statistics as saved, without their initial value's share (debiased)",
          "saved": "BatchNorm running statistics as saved in each checkpoint",
          "recalibrated": "BatchNorm running statistics re-estimated on the training split's clouds",
          }.get(summary.get("bn_statistics") or "saved")
    lines.append(f"SVM: sklearn linear SVC, {c_text}; {scaling}. {k}-NN: cosine similarity of features centred "
                 f"on the training mean, majority vote (parameter-free). {bn}. Last checkpoint of each run "
                 "(nothing selected on the test split); std is the population std (numpy default).")
    return "\n".join(lines) + "\n"
