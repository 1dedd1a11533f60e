"""Training curves from runs' ``metrics.jsonl`` and the accuracy-vs-pre-training-data plot.

``plot_runs``: several runs on one figure, one subplot per metric (supplementary Figures 2-3:
fine-tuning from I2P-MAE vs from scratch is one call).  ``plot_fraction``: the final value of a
metric against the run's ``data.dataset.fraction``, one line per group (supplementary Figure 1).

In ``metrics.jsonl`` a training row of epoch e (0-based) is logged during that epoch and an
evaluation row (``eval/...``) after it; on the epoch axis training rows sit at fractional epochs
inside (e, e + 1] and evaluations at e + 1, the number of epochs completed.  A resumed run may
log a step twice; the later row wins.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ._mpl import pyplot, save

X_AXES = ("epoch", "step", "time")
X_LABELS = {"epoch": "epoch", "step": "optimiser step", "time": "wall-clock time (minutes)"}
DEFAULT_FRACTION_METRIC = "eval/svm_acc"
MASKING_LABELS = {"2d_guided": "I2P-MAE (2D-guided masking, 2D + 3D targets)",
                  "random": "3D-only (random masking, w/o 2D guidance)"}
BOOKKEEPING = {"step", "epoch", "time"}


def load_run(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of ``run_dir/metrics.jsonl`` (or of a metrics file given directly).

    Raises FileNotFoundError naming the run when there is no metrics file, ValueError for a line
    that is not JSON (a truncated last line of a killed run is skipped).
    """
    path = Path(run_dir)
    metrics = path / "metrics.jsonl" if path.is_dir() else path
    if not path.exists():
        raise FileNotFoundError(f"run directory not found: {path}")
    if not metrics.is_file():
        raise FileNotFoundError(f"{path} has no metrics.jsonl; give the run directory of a pretrain/finetune/"
                                f"segment run (it writes RUN_DIR/metrics.jsonl)")
    lines = metrics.read_text(encoding="utf-8").splitlines()
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            if i == len(lines) - 1:  # the process was killed while writing its last line
                continue
            raise ValueError(f"{metrics}: line {i + 1} is not JSON ({exc})") from None
        if isinstance(rec, dict):
            records.append(rec)
    if not records:
        raise ValueError(f"{metrics} holds no records yet; has the run logged a step?")
    return records


def metric_names(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Numeric metric keys of a run, in first-seen order."""
    seen: dict[str, None] = {}
    for rec in records:
        for key, value in rec.items():
            if key not in BOOKKEEPING and isinstance(value, (int, float)) and not isinstance(value, bool):
                seen.setdefault(key, None)
    return list(seen)


def default_metrics(runs: Sequence[Sequence[Mapping[str, Any]]]) -> list[str]:
    """Every ``eval/*`` metric present in any run, plus ``loss``: what ``i2pmae plot`` draws by default.

    ``loss_3d`` is added when some run's ``loss`` is more than its 3D loss (I2P-MAE adds the 2D loss):
    comparing I2P-MAE with the 3D-only baseline is then only fair on ``loss_3d``.
    """
    names: dict[str, None] = {}
    for records in runs:
        for name in metric_names(records):
            if name.startswith("eval/"):
                names.setdefault(name, None)
    out = sorted(names)
    if any("loss" in metric_names(r) for r in runs):
        out.append("loss")
        if any(isinstance(rec.get("loss_3d"), (int, float)) and isinstance(rec.get("loss"), (int, float))
               and abs(rec["loss"] - rec["loss_3d"]) > 1e-12 for r in runs for rec in r):
            out.append("loss_3d")
    return out


def metric_series(records: Sequence[Mapping[str, Any]], metric: str, x: str = "epoch") -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of one metric of one run, ordered by step, duplicate steps resolved to the last row."""
    if x not in X_AXES:
        raise ValueError(f"x must be one of {X_AXES}; received {x!r}")
    by_step: dict[int, Mapping[str, Any]] = {}
    for rec in records:
        value = rec.get(metric)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and "step" in rec:
            by_step[int(rec["step"])] = rec
    steps = sorted(by_step)
    rows = [by_step[s] for s in steps]
    y = np.array([float(r[metric]) for r in rows], dtype=np.float64)
    if x == "step":
        return np.array(steps, dtype=np.float64), y
    if x == "time":
        t0 = min(float(r["time"]) for r in records if isinstance(r.get("time"), (int, float)))
        return np.array([(float(r.get("time", np.nan)) - t0) / 60.0 for r in rows]), y
    epochs = np.array([np.nan if r.get("epoch") is None else float(r["epoch"]) for r in rows])
    if metric.startswith("eval/"):
        xs = epochs + 1.0
    else:  # spread the rows of each epoch over (e, e + 1]
        xs = epochs.copy()
        for e in np.unique(epochs[~np.isnan(epochs)]):
            where = np.flatnonzero(epochs == e)
            xs[where] = e + np.arange(1, len(where) + 1) / len(where)
    keep = ~np.isnan(xs)
    return xs[keep], y[keep]


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """Bias-corrected exponential moving average (TensorBoard's smoothing)."""
    out = np.empty_like(values)
    acc, norm = 0.0, 0.0
    for i, v in enumerate(values):
        acc = weight * acc + (1 - weight) * v
        norm = weight * norm + (1 - weight)
        out[i] = acc / norm
    return out


def run_labels(run_dirs: Sequence[str | os.PathLike], labels: Sequence[str] | None) -> list[str]:
    """``labels`` when given (one per run), else the run folders' names (with their parent if ambiguous)."""
    if labels is not None:
        if len(labels) != len(run_dirs):
            raise ValueError(f"{len(labels)} labels for {len(run_dirs)} runs; give one label per run")
        return list(labels)
    names = [Path(r).resolve().name for r in run_dirs]
    if len(set(names)) < len(names):
        names = ["/".join(Path(r).resolve().parts[-2:]) for r in run_dirs]
    return names


def default_smoothing(points: int) -> float:
    """EMA weight averaging over ~2% of the points (at most 10): a short run's curve must not lag its data."""
    return 0.0 if points <= 50 else min(0.9, 1.0 - 50.0 / points)


def plot_runs(run_dirs: Sequence[str | os.PathLike], out_png: str | os.PathLike,
              metrics: Sequence[str] | None = None, x: str = "epoch", labels: Sequence[str] | None = None,
              title: str | None = None, smooth: float | None = None) -> Path:
    """Curves of ``metrics`` (default: every ``eval/*`` metric plus ``loss``) for all runs, one subplot
    per metric, one colour per run.  Per-step metrics with many points are drawn raw (faint) and
    smoothed (``smooth``: EMA weight, default ``default_smoothing``, 0 disables)."""
    if not run_dirs:
        raise ValueError("give at least one run directory")
    if x not in X_AXES:
        raise ValueError(f"--x must be one of {X_AXES}; received {x!r}")
    runs = [load_run(r) for r in run_dirs]
    names = run_labels(run_dirs, labels)
    metrics = list(metrics) if metrics else default_metrics(runs)
    if not metrics:
        raise ValueError(f"no eval/* metric and no loss in {', '.join(map(str, run_dirs))}")
    for m in metrics:
        if not any(m in metric_names(r) for r in runs):
            available = sorted({n for r in runs for n in metric_names(r)})
            raise ValueError(f"metric {m!r} is in none of the runs; available: {', '.join(available)}")
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    cols = min(3, len(metrics))
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows + (0.5 if title else 0.1)),
                             squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes.flat, metrics):
        smoothed = False
        for i, (records, name) in enumerate(zip(runs, names)):
            xs, ys = metric_series(records, metric, x)
            if len(xs) == 0 or _unused_loss_term(metric, ys):
                continue
            colour = colours[i % len(colours)]
            weight = smooth if smooth is not None else default_smoothing(len(xs))
            if metric.startswith("eval/") or weight <= 0:
                ax.plot(xs, ys, color=colour, label=name, marker="o" if len(xs) <= 30 else None, ms=3)
            else:
                ax.plot(xs, ys, color=colour, alpha=0.25, lw=0.8)
                ax.plot(xs, ema(ys, weight), color=colour, label=name)
                smoothed = True
        ax.set_title(metric + (" (EMA-smoothed; raw curve faint)" if smoothed else ""), fontsize=10)
        ax.set_xlabel(X_LABELS[x])
        if x in ("epoch", "step"):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(left=0)  # also keeps a lone evaluation point from getting a zoomed-in axis
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save(fig, out_png)


def _unused_loss_term(metric: str, ys: np.ndarray) -> bool:
    """A loss term the run does not optimise (logged as exactly 0 throughout, e.g. ``loss_2d`` of the 3D-only
    baseline): drawing it as a flat zero line would suggest a perfect fit."""
    return metric.startswith("loss_") and bool(np.all(ys == 0.0))


DEMO_LOSS_TERMS = ("loss_3d", "loss_2d")  # comparable across (b) and (c); the total loss is not


def mean_spread(values: Sequence[float], pm: str = "±") -> str:
    """``mean ± std`` (population std) of a value over seeds; with one seed there is no spread to show."""
    return f"{np.mean(values):.2f}" + (f" {pm} {np.std(values):.2f}" if len(values) > 1 else " (one seed)")


def plot_accuracy_vs_steps(rows: Sequence[Mapping[str, Any]], out_png: str | os.PathLike,
                           title: str = "Probe accuracy against pre-training steps") -> str:
    """Mean ± std over seeds of SVM and k-NN accuracy against pre-training steps, one line per variant, from
    rows ``{variant, seed, step, svm_acc, knn_acc}`` (``random_init`` rows are step 0 of every variant);
    writes ``out_png`` and returns the same numbers as a markdown table."""
    if not rows:
        raise ValueError("no scores to plot: give rows with variant, seed, step, svm_acc and knn_acc")
    variants = [v for v in ("w/o_2d", "i2p-mae") if any(r["variant"] == v for r in rows)]
    base = [r for r in rows if r["variant"] == "random_init"]
    table: dict[tuple[str, int], dict[str, list[float]]] = {}
    for v in variants:
        for r in [*base, *[r for r in rows if r["variant"] == v]]:
            cell = table.setdefault((v, int(r["step"])), {"svm_acc": [], "knn_acc": []})
            for key in cell:
                cell[key].append(float(r[key]))
    names = {"w/o_2d": "(b) w/o 2D guidance", "i2p-mae": "(c) I2P-MAE"}
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.0), squeeze=False)
    for ax, key, label in zip(axes[0], ("svm_acc", "knn_acc"), ("linear SVM", "k-NN")):
        for v in variants:
            steps = sorted(s for vv, s in table if vv == v)
            mean = np.array([np.mean(table[(v, s)][key]) for s in steps])
            std = np.array([np.std(table[(v, s)][key]) for s in steps])
            xs = np.array(steps, dtype=float)
            ax.plot(xs, mean, marker="o", ms=4, label=names[v])
            ax.fill_between(xs, mean - std, mean + std, alpha=0.2)
        if base:
            ax.axhline(np.mean([float(r[key]) for r in base]), color="grey", ls="--", lw=1, label="(a) random init")
        ax.set_xscale("symlog", linthresh=3)
        marks = sorted({s for _, s in table})
        ax.set_xlim(0, max(marks) * 1.25 if marks and max(marks) > 0 else 1)
        labelled = [m for i, m in enumerate(marks) if i + 1 == len(marks) or marks[i + 1] >= 1.5 * m or m == 0]
        ax.set_xticks(labelled, [str(m) for m in labelled],  # 4608 and 5000 would overprint: the last one stays
                      rotation=45, fontsize=8)
        ax.minorticks_off()
        ax.set_xlabel("pre-training steps (batch 32; symlog axis)")
        ax.set_ylabel(f"{label} accuracy (%)")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save(fig, out_png)
    lines = ["| steps | " + " | ".join(f"{names[v]} SVM | {names[v]} k-NN" for v in variants) + " | seeds |",
             "|---" * (2 * len(variants) + 2) + "|"]
    for step in sorted({s for _, s in table}):
        cells, counts = [], []
        for v in variants:
            c = table.get((v, step))
            if c is None:
                cells += ["-", "-"]
                continue
            counts.append(len(c["svm_acc"]))  # a variant may have fewer seeds at a mark
            cells += [mean_spread(c[k]) for k in ("svm_acc", "knn_acc")]
        n = str(counts[0]) if len(set(counts)) == 1 else " / ".join(map(str, counts))
        lines.append(f"| {step} | " + " | ".join(cells) + f" | {n} |")
    return "\n".join(lines) + "\n"


def final_value(records: Sequence[Mapping[str, Any]], metric: str, where: str = "") -> float:
    """The metric's value at the run's last logged step."""
    _, ys = metric_series(records, metric, "step")
    if len(ys) == 0:
        available = ", ".join(metric_names(records)) or "none"
        raise ValueError(f"{where or 'run'} never logged {metric!r}; its metrics: {available}")
    return float(ys[-1])


def run_config(run_dir: str | os.PathLike) -> dict:
    from i2pmae.engine.config import load_config

    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; the fraction plot reads data.dataset.fraction and the group "
                                f"from each run's saved config")
    return load_config(path)


def fraction_table(run_dirs: Sequence[str | os.PathLike], metric: str = DEFAULT_FRACTION_METRIC,
                   group_by: str = "model.masking", groups: Sequence[str] | None = None,
                   ) -> dict[str, dict[float, list[float]]]:
    """{group: {fraction: [final metric of each run]}}: fraction = ``data.dataset.fraction`` of the run's
    config (1.0 when unset), group = ``groups[i]`` or the config value at ``group_by``."""
    from i2pmae.engine.config import get

    if not run_dirs:
        raise ValueError("give at least one run directory")
    if groups is not None and len(groups) != len(run_dirs):
        raise ValueError(f"{len(groups)} --group labels for {len(run_dirs)} runs; give one per run")
    table: dict[str, dict[float, list[float]]] = {}
    for i, run in enumerate(run_dirs):
        records = load_run(run)
        cfg = run_config(run)
        fraction = get(cfg, "data.dataset.fraction", None)
        fraction = 1.0 if fraction is None else float(fraction)
        if groups is not None:
            group = groups[i]
        else:
            value = get(cfg, group_by, None)
            group = MASKING_LABELS.get(value, str(value)) if group_by == "model.masking" else f"{group_by}={value}"
        table.setdefault(group, {}).setdefault(fraction, []).append(final_value(records, metric, where=str(run)))
    return table


def plot_fraction(run_dirs: Sequence[str | os.PathLike], out_png: str | os.PathLike,
                  metric: str = DEFAULT_FRACTION_METRIC, group_by: str = "model.masking",
                  groups: Sequence[str] | None = None, title: str | None = None) -> Path:
    """Final ``metric`` against the fraction of pre-training data, one line per group (see
    ``fraction_table``); runs sharing a group and a fraction (seeds) give the mean, their std as error bar."""
    table = fraction_table(run_dirs, metric, group_by, groups)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for group, by_fraction in table.items():
        fr = np.array(sorted(by_fraction))
        mean = np.array([np.mean(by_fraction[f]) for f in fr])
        std = np.array([np.std(by_fraction[f]) for f in fr])
        line = ax.errorbar(fr * 100, mean, yerr=std, marker="o", capsize=3, label=group)
        for f in fr:
            if len(by_fraction[f]) > 1:
                ax.scatter([f * 100] * len(by_fraction[f]), by_fraction[f], s=8, alpha=0.4,
                           color=line[0].get_color())
    all_fr = sorted({f for g in table.values() for f in g})
    ax.set_xticks([f * 100 for f in all_fr], [f"{f * 100:g}%" for f in all_fr])
    ax.set_xlabel("pre-training data used (data.dataset.fraction)")
    ax.set_ylabel(f"{metric} (final)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or f"{metric} vs fraction of pre-training data")
    fig.tight_layout()
    return save(fig, out_png)
