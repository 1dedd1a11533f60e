"""Issue #15 figures: accuracy against pre-training steps, comparable loss terms, depth-map colour bars."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from i2pmae.projection import project_views
from i2pmae.viz import curves, depthmaps


def _rows():
    rows = [{"variant": "random_init", "seed": s, "step": 0, "svm_acc": 80.0 + s, "knn_acc": 50.0 + s} for s in (0, 1)]
    for v, gain in (("w/o_2d", 1.0), ("i2p-mae", 2.0)):
        for s in (0, 1):
            for step in (3, 36):
                rows.append({"variant": v, "seed": s, "step": step, "svm_acc": 80.0 + s + gain * step / 3,
                             "knn_acc": 50.0 + s + gain})
    return rows


def test_accuracy_vs_steps_plot_and_table(tmp_path):
    md = curves.plot_accuracy_vs_steps(_rows(), tmp_path / "acc.png")
    assert (tmp_path / "acc.png").stat().st_size > 10_000
    lines = md.strip().splitlines()
    assert [line.split("|")[1].strip() for line in lines[2:]] == ["0", "3", "36"]  # random init is step 0
    row36 = [c.strip() for c in lines[4].split("|")[1:-1]]
    b = [80.0 + 12, 81.0 + 12]
    c = [80.0 + 24, 81.0 + 24]
    assert row36[1] == f"{np.mean(b):.2f} ± {np.std(b):.2f}" and row36[3] == f"{np.mean(c):.2f} ± {np.std(c):.2f}"
    assert row36[-1] == "2"
    one = [r for r in _rows() if not (r["variant"] == "i2p-mae" and r["seed"] == 1 and r["step"] == 36)]
    row36 = [c.strip() for c in curves.plot_accuracy_vs_steps(one, tmp_path / "one.png").strip().splitlines()[4]
             .split("|")[1:-1]]
    assert row36[3] == f"{80.0 + 24:.2f} (one seed)" and row36[-1] == "2 / 1"  # seeds per variant, no std of one
    with pytest.raises(ValueError, match="no scores"):
        curves.plot_accuracy_vs_steps([], tmp_path / "x.png")


def test_a_loss_term_a_run_does_not_optimise_is_not_drawn(tmp_path, monkeypatch):
    for name, l2d in (("b", 0.0), ("c", 0.5)):
        run = tmp_path / name
        run.mkdir()
        rows = [{"step": s, "epoch": 0, "loss": 1.0 + l2d, "loss_3d": 1.0 / s, "loss_2d": l2d / s} for s in (1, 2, 3)]
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    drawn = {}

    def capture(fig, out):
        drawn["lines"] = {ax.get_title().split(" ")[0]: [ln.get_label() for ln in ax.get_lines()] for ax in fig.axes}
        return out

    monkeypatch.setattr(curves, "save", capture)
    curves.plot_runs([tmp_path / "b", tmp_path / "c"], tmp_path / "c.png", metrics=list(curves.DEMO_LOSS_TERMS),
                     x="step", labels=["3D only", "I2P-MAE"])
    assert drawn["lines"]["loss_3d"] == ["3D only", "I2P-MAE"]
    assert drawn["lines"]["loss_2d"] == ["I2P-MAE"]  # the 3D-only run logs loss_2d = 0: left out


@pytest.mark.parametrize("with_attention", [False, True])
def test_depth_maps_have_a_colour_bar(tmp_path, monkeypatch, with_attention):
    images, _ = project_views(torch.rand(1, 64, 3, generator=torch.Generator().manual_seed(0)), (0, 1, 2), 32)
    attn = torch.rand(3, 7, 7) if with_attention else None
    seen = {}

    def capture(fig, out):
        seen["labels"] = [ax.get_ylabel() for ax in fig.axes]
        return out

    monkeypatch.setattr(depthmaps, "save", capture)
    depthmaps.draw_depthmaps(images[0], attn, (0, 1, 2), tmp_path / "d.png")
    assert any("depth-map value" in label for label in seen["labels"])
    assert any("attention" in label for label in seen["labels"]) == with_attention
