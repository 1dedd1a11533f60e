"""`i2pmae plot`: training curves and accuracy vs fraction of pre-training data, from fake runs."""

from __future__ import annotations

import json

import matplotlib.image as mpimg
import numpy as np
import pytest

from i2pmae.cli.main import main
from i2pmae.engine.config import save_config
from i2pmae.viz.curves import default_metrics, default_smoothing, fraction_table, load_run, metric_series


def fake_run(path, epochs: int = 3, steps_per_epoch: int = 4, acc0: float = 50.0, gain: float = 10.0,
             fraction: float | None = None, masking: str = "2d_guided", resumed: bool = False,
             eval_key: str = "eval/acc") -> dict:
    """A run directory as the training loop writes it; returns the values it logged."""
    path.mkdir(parents=True)
    rows, step, accs = [], 0, []
    for e in range(epochs):
        for _ in range(steps_per_epoch):
            step += 1
            rows.append({"step": step, "epoch": e, "time": 1000.0 + step, "loss": 1.0 / step, "lr": 1e-3})
        accs.append(acc0 + gain * e)
        rows.append({"step": step, "epoch": e, "time": 1000.0 + step + 0.5, eval_key: accs[-1]})
    if resumed:  # a crash after step 2 of epoch 1, then the run resumed from step 4 and re-logged 5 and 6
        rows[5:5] = [{"step": 5, "epoch": 1, "time": 1.0, "loss": 99.0}, {"step": 6, "epoch": 1, "time": 2.0,
                                                                         "loss": 99.0}]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = {"model": {"name": "I2PMAE", "masking": masking}, "data": {"dataset": {"format": "shapenet55"}}}
    if fraction is not None:
        cfg["data"]["dataset"]["fraction"] = fraction
    save_config(cfg, path / "config.yaml")
    return {"accs": accs, "steps": step}


def test_viz_series_epoch_axis_and_resume_duplicates(tmp_path):
    fake_run(tmp_path / "a", epochs=3, steps_per_epoch=4, resumed=True)
    records = load_run(tmp_path / "a")
    xs, ys = metric_series(records, "loss", "epoch")
    # One point per step (the re-logged steps 5, 6 replace the crashed ones), inside (e, e + 1].
    np.testing.assert_allclose(xs, [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0])
    np.testing.assert_allclose(ys, [1.0 / s for s in range(1, 13)])
    xs, ys = metric_series(records, "eval/acc", "epoch")
    np.testing.assert_allclose(xs, [1, 2, 3])  # evaluations after 1, 2, 3 completed epochs
    xs, _ = metric_series(records, "eval/acc", "step")
    np.testing.assert_allclose(xs, [4, 8, 12])
    assert default_metrics([records]) == ["eval/acc", "loss"]
    # I2P-MAE's loss includes the 2D term: its 3D loss is then drawn too, to compare with a 3D-only run.
    guided = [{**r, "loss_3d": r["loss"] / 2} if "loss" in r else r for r in records]
    assert default_metrics([records, guided]) == ["eval/acc", "loss", "loss_3d"]


def test_viz_plot_two_runs(tmp_path, capsys):
    fake_run(tmp_path / "pre", acc0=60)
    fake_run(tmp_path / "scratch", acc0=40, eval_key="eval/acc")
    out = tmp_path / "curves.png"
    assert main(["plot", str(tmp_path / "pre"), str(tmp_path / "scratch"), "--labels", "I2P-MAE", "scratch",
                 "--out", str(out), "--title", "fine-tuning"]) == 0
    two = mpimg.imread(str(out))
    assert str(out) in capsys.readouterr().out
    out1 = tmp_path / "acc.png"
    assert main(["plot", str(tmp_path / "pre"), str(tmp_path / "scratch"), "--metric", "eval/acc",
                 "--x", "step", "--out", str(out1)]) == 0
    one = mpimg.imread(str(out1))
    # Default = eval/acc and loss side by side: twice the width of the single-metric figure.
    assert two.shape[1] == 2 * one.shape[1] and two[..., :3].std() > 0.01


def test_viz_plot_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["plot", str(tmp_path / "empty"), "--out", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert "metrics.jsonl" in err and str(tmp_path / "empty") in err
    assert main(["plot", str(tmp_path / "missing")]) == 1
    assert str(tmp_path / "missing") in capsys.readouterr().err
    fake_run(tmp_path / "a")
    assert main(["plot", str(tmp_path / "a"), "--metric", "eval/miou", "--out", str(tmp_path / "y.png")]) == 1
    err = capsys.readouterr().err
    assert "eval/miou" in err and "eval/acc" in err  # names what is available
    assert main(["plot", str(tmp_path / "a"), "--labels", "x", "y", "--out", str(tmp_path / "z.png")]) == 1
    assert not (tmp_path / "x.png").exists()


def test_viz_plot_fraction(tmp_path, capsys):
    runs, expected = [], {}
    for masking in ("2d_guided", "random"):
        for fraction in (0.25, 1.0, None):  # None: the config has no fraction, i.e. all data
            for seed in (0, 1):
                d = tmp_path / f"{masking}-{fraction}-{seed}"
                acc0 = 50 + 20 * (fraction or 1.0) + seed + (5 if masking == "2d_guided" else 0)
                logged = fake_run(d, fraction=fraction, masking=masking, acc0=acc0, eval_key="eval/svm_acc")
                expected.setdefault(masking, {}).setdefault(fraction or 1.0, []).append(logged["accs"][-1])
                runs.append(str(d))
    table = fraction_table(runs)
    assert len(table) == 2
    for group, by_fraction in table.items():
        masking = "2d_guided" if group.startswith("I2P-MAE") else "random"
        assert by_fraction == expected[masking]  # final value of each run, fraction 1.0 by default
    assert list(fraction_table(runs, groups=[str(i % 2) for i in range(len(runs))])) == ["0", "1"]
    out = tmp_path / "fraction.png"
    assert main(["plot", *runs, "--fraction", "--out", str(out)]) == 0
    assert mpimg.imread(str(out))[..., :3].std() > 0.01
    # A run never evaluated with the metric, and a run without config.yaml, are named in the error.
    assert main(["plot", *runs, "--fraction", "--metric", "eval/acc", "--out", str(out)]) == 1
    assert "eval/acc" in capsys.readouterr().err
    (tmp_path / runs[0].split("/")[-1] / "config.yaml").unlink()
    assert main(["plot", *runs, "--fraction", "--out", str(out)]) == 1
    assert "config.yaml" in capsys.readouterr().err


@pytest.mark.parametrize("bad_line", ['{"step": 3, "epoch"'])
def test_viz_truncated_last_line_is_skipped(tmp_path, bad_line):
    fake_run(tmp_path / "a", epochs=1)
    with open(tmp_path / "a" / "metrics.jsonl", "a") as f:
        f.write(bad_line)
    assert len(load_run(tmp_path / "a")) == 5


def test_default_smoothing_follows_run_length():
    assert default_smoothing(50) == 0.0  # short curves are drawn raw
    assert default_smoothing(72) == pytest.approx(1 - 50 / 72)  # a 72-step demo run: window ~1.4 points
    assert default_smoothing(250) == pytest.approx(0.8)  # window 5 points = 2% of 250
    assert default_smoothing(100_000) == 0.9  # window capped at 10 points
