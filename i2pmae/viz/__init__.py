"""Figures and reports: the supplementary's Figure 5, depth maps with 2D attention, training curves,
the accuracy-vs-data-fraction plot and the demo's markdown report.

Everything draws with matplotlib's Agg backend (files only, no display); matplotlib is imported
inside the functions so that ``import i2pmae`` stays light.
"""

from __future__ import annotations

__all__ = [
    "visualize_cloud",
    "figure5_data",
    "draw_figure5",
    "draw_depthmaps",
    "plot_runs",
    "plot_fraction",
    "write_report",
    "table1_bar_chart",
]


def __getattr__(name: str):  # lazy: the submodules import matplotlib
    if name in ("visualize_cloud", "figure5_data", "draw_figure5"):
        from i2pmae.viz import figure5

        return getattr(figure5, name)
    if name == "draw_depthmaps":
        from i2pmae.viz.depthmaps import draw_depthmaps

        return draw_depthmaps
    if name in ("plot_runs", "plot_fraction"):
        from i2pmae.viz import curves

        return getattr(curves, name)
    if name in ("write_report", "table1_bar_chart"):
        from i2pmae.viz import report

        return getattr(report, name)
    raise AttributeError(f"module 'i2pmae.viz' has no attribute {name!r}")
