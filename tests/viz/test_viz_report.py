"""report.md and the Table 1 bar chart."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np

from i2pmae.viz.report import table1_bar_chart, write_report


def summary_from(accuracy: dict[str, list[float]], teacher_svm: float = 70.0) -> dict:
    return {
        "seeds": [0, 1, 2], "C": 0.01, "accuracy": accuracy, "teacher_svm": teacher_svm, "teacher": "tiny-vit",
        "mean": {k: float(np.mean(v)) for k, v in accuracy.items()},
        "std": {k: float(np.std(v)) for k, v in accuracy.items()},
    }


def test_viz_report_table_figures_and_chart(tmp_path):
    acc = {"random_init": [41.1, 42.2, 40.0], "w/o_2d": [55.5, 56.25, 54.0], "i2p-mae": [63.0, 64.5, 62.75]}
    summary = summary_from(acc)
    chart = table1_bar_chart(summary, tmp_path / "figs" / "table1.png")
    img = mpimg.imread(str(chart))
    assert img.ndim == 3 and img[..., :3].std() > 0.01
    report = write_report(tmp_path, summary, {"Miniature Table 1": chart}, extra_md="Total demo time: 3.0 min")
    text = report.read_text()
    assert report == tmp_path / "report.md"
    for key, values in acc.items():
        assert f"{np.mean(values):.2f} ± {np.std(values):.2f}" in text
        for v in values:
            assert f"{v:.2f}" in text
    assert "70.00" in text and "tiny-vit" in text and "C=0.01" in text
    assert "![Miniature Table 1](figs/table1.png)" in text  # relative link
    assert "Total demo time: 3.0 min" in text
    gain = np.mean(acc["i2p-mae"]) - np.mean(acc["w/o_2d"])
    assert f"a gain of {gain:.2f} points" in text


def test_viz_report_is_honest_when_2d_guidance_does_not_help(tmp_path):
    acc = {"random_init": [40.0, 41.0, 42.0], "w/o_2d": [60.0, 61.0, 62.0], "i2p-mae": [58.0, 59.0, 60.0]}
    text = write_report(tmp_path, summary_from(acc), {}).read_text()
    assert "(c) I2P-MAE does not beat (b) w/o 2D guidance" in text
    assert f"{np.mean(acc['w/o_2d']) - np.mean(acc['i2p-mae']):.2f} points lower" in text
    acc["i2p-mae"] = [60.5, 61.5, 62.5]  # higher on average, but within the seed spread
    text = write_report(tmp_path, summary_from(acc), {}).read_text()
    assert "within the seed-to-seed std" in text and "a gain of" not in text.split("2D guidance (the paper")[1]


def test_viz_report_uses_given_table_md(tmp_path):
    acc = {"random_init": [40.0], "w/o_2d": [50.0], "i2p-mae": [60.0]}
    summary = {**summary_from(acc), "seeds": [0], "table_md": "| my | table |\n|---|---|\n"}
    text = write_report(tmp_path, summary, {"curves": tmp_path / "curves.png"}).read_text()
    assert "| my | table |" in text and "![curves](curves.png)" in text
    assert "1 seed" in text and "one seed, so no seed-to-seed spread" in text  # no claim beyond the data


def test_viz_report_says_when_batchnorm_statistics_were_debiased(tmp_path):
    acc = {"random_init": [40.0, 41.0, 42.0], "w/o_2d": [60.0, 61.0, 62.0], "i2p-mae": [58.0, 59.0, 60.0]}
    plain = write_report(tmp_path / "a", summary_from(acc), {}).read_text()
    debiased = write_report(tmp_path / "b", {**summary_from(acc), "bn_statistics": "debiased"}, {}).read_text()
    assert "initial value's share" in debiased and "initial value's share" not in plain
