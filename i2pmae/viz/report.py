"""The demo's ``report.md``: the miniature Table 1, a plain-words reading of it, and the figures.

The reading is computed from the numbers, never assumed: when I2P-MAE (c) does not beat the
pre-training without 2D guidance (b), or the gain is within the seed-to-seed spread, it says so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ._mpl import pyplot, save

VARIANTS = {
    "random_init": "(a) randomly initialised encoder",
    "w/o_2d": "(b) pre-trained w/o 2D guidance (random masking, 3D loss)",
    "i2p-mae": "(c) I2P-MAE (2D-guided masking, 3D + 2D losses)",
}
SHORT = {"random_init": "(a) random init", "w/o_2d": "(b) w/o 2D guidance", "i2p-mae": "(c) I2P-MAE"}


def _stats(summary: Mapping[str, Any], key: str) -> tuple[float, float, list[float]]:
    """(mean, std, per-seed) of one variant; mean/std recomputed from the accuracies when absent."""
    accs = [float(a) for a in (summary.get("accuracy") or {}).get(key, [])]
    mean = (summary.get("mean") or {}).get(key)
    std = (summary.get("std") or {}).get(key)
    if mean is None:
        mean = float(np.mean(accs)) if accs else float("nan")
    if std is None:
        std = float(np.std(accs)) if accs else float("nan")
    return float(mean), float(std), accs


def _check_summary(summary: Mapping[str, Any]) -> None:
    missing = [k for k in VARIANTS if k not in (summary.get("accuracy") or {}) and k not in (summary.get("mean") or {})]
    if missing:
        raise ValueError(f"the Table 1 summary has no results for {missing}; it needs 'accuracy' (and/or 'mean', "
                         f"'std') for the variants {list(VARIANTS)}; received keys {sorted(summary)}")


def render_table(summary: Mapping[str, Any]) -> str:
    """Markdown of the miniature Table 1 from a summary (used when it carries no ``table_md``)."""
    _check_summary(summary)
    n = len(summary.get("seeds") or [])
    lines = [f"| pre-training | linear-SVM accuracy (%), mean ± std over {n} seed{'' if n == 1 else 's'} | per seed |",
             "|---|---|---|"]
    for key, title in VARIANTS.items():
        mean, std, accs = _stats(summary, key)
        lines.append(f"| {title} | {mean:.2f} ± {std:.2f} | {', '.join(f'{a:.2f}' for a in accs)} |")
    if summary.get("teacher_svm") is not None:
        lines.append(f"| 2D teacher `{summary.get('teacher')}` on its multi-view features (reference) | "
                     f"{float(summary['teacher_svm']):.2f} | |")
    if summary.get("C") is not None:
        lines += ["", f"Linear SVM with C={summary['C']}."]
    return "\n".join(lines) + "\n"


def _compare(better: str, worse: str, summary: Mapping[str, Any]) -> tuple[float, float]:
    """(mean difference, the larger of the two stds): a gain counts only beyond the seed spread."""
    m1, s1, _ = _stats(summary, better)
    m2, s2, _ = _stats(summary, worse)
    return m1 - m2, max(s1, s2)


def _verdict(a: str, b: str, summary: Mapping[str, Any], n_seeds: int) -> str:
    delta, spread = _compare(a, b, summary)
    ma, _, _ = _stats(summary, a)
    mb, _, _ = _stats(summary, b)
    head = f"{SHORT[a]} reaches {ma:.2f}% against {mb:.2f}% for {SHORT[b]}"
    if n_seeds < 2 and delta > 0:
        return f"{head}: {delta:.2f} points higher (one seed, so no seed-to-seed spread to judge it against)."
    if delta > spread and delta > 0:
        return f"{head}: a gain of {delta:.2f} points, larger than the seed-to-seed std ({spread:.2f})."
    if delta > 0:
        return (f"{head}: {delta:.2f} points higher, but within the seed-to-seed std ({spread:.2f}), so this is "
                f"not a clear gain at this scale.")
    if delta == 0:
        return f"{head}: no difference, so {SHORT[a]} does not beat {SHORT[b]} here."
    return f"{head}: {-delta:.2f} points lower, so {SHORT[a]} does not beat {SHORT[b]} here."


def interpretation(summary: Mapping[str, Any]) -> str:
    """The "what this shows" paragraph with the numbers filled in."""
    _check_summary(summary)
    n = len(summary.get("seeds") or []) or len(_stats(summary, "i2p-mae")[2])
    parts = [
        f"Each encoder is frozen and its global features are classified by a linear SVM "
        f"(mean ± std over {n} seed{'' if n == 1 else 's'})"
        + ("; BatchNorm running statistics without their initial value's share, so that a short run's score "
           "measures its weights, not how young its moving averages are." if summary.get("bn_statistics") ==
           "debiased" else "."),
        "Pre-training itself: " + _verdict("w/o_2d", "random_init", summary, n),
        "2D guidance (the paper's claim): " + _verdict("i2p-mae", "w/o_2d", summary, n),
    ]
    if summary.get("teacher_svm") is not None:
        t = float(summary["teacher_svm"])
        mc, _, _ = _stats(summary, "i2p-mae")
        side = "above" if mc > t else "below"
        parts.append(f"For reference, the 2D teacher `{summary.get('teacher')}` classifies its own multi-view "
                     f"features at {t:.2f}%; I2P-MAE's 3D encoder is {abs(mc - t):.2f} points {side} it.")
    if n < 3:
        parts.append(f"With {n} seed{'' if n == 1 else 's'} the spread is poorly estimated; use more seeds before "
                     f"drawing conclusions.")
    return " ".join(parts)


def _link(path: Path, out_dir: Path) -> str:
    try:
        rel = os.path.relpath(Path(path).resolve(), out_dir.resolve())
    except ValueError:  # another drive on Windows
        rel = str(Path(path).resolve())
    return Path(rel).as_posix()


def write_report(out_dir: str | os.PathLike, table1_summary: Mapping[str, Any], figures: Mapping[str, Path],
                 extra_md: str = "") -> Path:
    """Write ``out_dir/report.md``: title, Table 1 (``summary['table_md']`` or rendered from the summary),
    what it shows, the figures as embedded PNG links (relative to ``out_dir``), then ``extra_md``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = table1_summary.get("table_md") or render_table(table1_summary)
    lines = [
        "# I2P-MAE: miniature Table 1 report",
        "",
        "Does 2D guidance help 3D masked-autoencoder pre-training? Three encoders of the same architecture: "
        "(a) randomly initialised, (b) pre-trained with random masking and the 3D loss only, (c) I2P-MAE.",
        "",
        "## Linear-SVM accuracy",
        "",
        table.rstrip("\n"),
        "",
        "## What this shows",
        "",
        interpretation(table1_summary),
        "",
    ]
    if figures:
        lines += ["## Figures", ""]
        for title, path in figures.items():
            lines += [f"### {title}", "", f"![{title}]({_link(Path(path), out)})", ""]
    if extra_md:
        lines += [extra_md.rstrip("\n"), ""]
    report = out / "report.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    return report


def table1_bar_chart(summary: Mapping[str, Any], out_png: str | os.PathLike) -> Path:
    """Bars (mean, std error bars, per-seed dots) for the three variants and a dashed line for the teacher."""
    _check_summary(summary)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    colours = ["#9e9e9e", "#6a8caf", "#d9534f"]
    top = 0.0
    for i, key in enumerate(VARIANTS):
        mean, std, accs = _stats(summary, key)
        ax.bar(i, mean, yerr=std if np.isfinite(std) else None, capsize=6, color=colours[i], width=0.6,
               edgecolor="black", linewidth=0.6)
        if accs:
            jitter = np.linspace(-0.12, 0.12, len(accs)) if len(accs) > 1 else np.zeros(1)
            ax.scatter(i + jitter, accs, s=14, color="black", zorder=3, alpha=0.7,
                       label="single seeds" if i == 0 else None)
        ax.text(i, mean + (std if np.isfinite(std) else 0) + 0.8, f"{mean:.1f}±{std:.1f}", ha="center",
                va="bottom", fontsize=9)
        top = max(top, mean + (std if np.isfinite(std) else 0), *accs)
    if summary.get("teacher_svm") is not None:
        t = float(summary["teacher_svm"])
        ax.axhline(t, color="black", linestyle="--", linewidth=1.2,
                   label=f"2D teacher {summary.get('teacher')} ({t:.1f}%)")
        top = max(top, t)
    ax.set_xticks(range(len(VARIANTS)), [SHORT[k] for k in VARIANTS])
    ax.set_ylabel("linear-SVM accuracy (%)")
    ax.set_ylim(0, min(100.0, top * 1.15 + 2))
    n = len(summary.get("seeds") or [])
    ax.set_title(f"Miniature Table 1: mean ± std over {n} seed{'' if n == 1 else 's'}")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return save(fig, out_png)
