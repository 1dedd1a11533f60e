"""Figure 5 data and the `i2pmae visualize` command on a tiny I2P-MAE."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import torch

from i2pmae.cli.main import main
from i2pmae.models.masking import num_visible
from i2pmae.viz.figure5 import figure5_data


def test_viz_guided_panels_match_the_model(tiny_guided, chair):
    model = tiny_guided.train()  # figure5_data must evaluate in eval mode and restore the mode
    data = figure5_data(model, chair, seed=3)
    assert model.training
    G = model.num_groups[-1]
    assert data.num_tokens == G and data.num_visible == num_visible(G, model.mask_ratio)

    # Reference: the model's own forward with the same seed; each point takes the visibility of its
    # nearest top-scale centre (brute force over all centres).
    model.eval()
    with torch.no_grad():
        ref = model(chair[None], return_details=True, generator=torch.Generator().manual_seed(3))
    model.train()
    vis_top = ref["visible"][-1][0].numpy()
    centres = ref["centres"][-1][0].numpy()
    pts = data.points
    d2 = ((pts[:, None, :].astype(np.float64) - centres[None].astype(np.float64)) ** 2).sum(-1)
    np.testing.assert_array_equal(data.model_visible, vis_top[d2.argmin(axis=1)])
    # The centres are input points: each is drawn exactly as its own token is.
    idx = [int(np.flatnonzero((pts == c).all(axis=1))[0]) for c in centres]
    np.testing.assert_array_equal(data.model_visible[idx], vis_top)
    np.testing.assert_array_equal(data.top_centres, centres)

    # The attention drawn at every point, read at the top-scale centres (which are input points),
    # is the attention cloud the masking used.
    np.testing.assert_allclose(data.attention_points[idx], ref["attention_cloud"][0].numpy(), rtol=1e-4, atol=1e-6)

    # The reconstruction panel holds k points per masked token of the reconstructed scale.
    rec_scale = ref["rec_scale"]
    n_masked = int(ref["masks"][rec_scale][0].sum())
    assert data.reconstruction.shape == (n_masked * model.group_sizes[rec_scale], 3)

    # Depth maps and per-view teacher attention for the second figure.
    assert data.images.shape == (len(model.views), 3, model.image_size, model.image_size)
    assert data.attention_2d.shape[0] == len(model.views)


def test_viz_random_panel_is_seeded_and_separate(tiny_guided, chair):
    a = figure5_data(tiny_guided, chair, seed=0)
    b = figure5_data(tiny_guided, chair, seed=0)
    c = figure5_data(tiny_guided, chair, seed=1)
    np.testing.assert_array_equal(a.random_visible, b.random_visible)
    np.testing.assert_array_equal(a.model_visible, b.model_visible)
    assert not np.array_equal(a.random_visible, c.random_visible) or not np.array_equal(
        a.model_visible, c.model_visible)


def test_viz_random_masking_model_has_no_attention(tiny_random, chair):
    data = figure5_data(tiny_random, chair, seed=0)
    assert not data.guided and data.attention_points is None and data.attention_2d is None
    np.testing.assert_array_equal(data.random_visible, data.model_visible)  # its own mask is the random one
    assert data.images is not None  # depth maps are still drawn, without attention


def _png(path) -> np.ndarray:
    img = mpimg.imread(str(path))
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    assert img[..., :3].std() > 0.01  # something was drawn
    return img


def test_viz_cli_writes_figure5_and_depthmaps(checkpoints, tmp_path, capsys):
    out_g, out_r = tmp_path / "g" / "fig5.png", tmp_path / "r" / "fig5.png"
    assert main(["visualize", str(checkpoints["guided"]), "--input", str(checkpoints["cloud"]),
                 "--out", str(out_g), "--device", "cpu"]) == 0
    assert main(["visualize", str(checkpoints["random"]), "--input", str(checkpoints["cloud"]),
                 "--out", str(out_r), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert str(out_g) in printed and "fig5_depthmaps.png" in printed
    g, r = _png(out_g), _png(out_r)
    # Same panel size: 5 panels (2D-guided) against 3 (random masking: attention panels skipped).
    assert g.shape[0] == r.shape[0]
    assert abs(g.shape[1] / r.shape[1] - 5 / 3) < 0.01
    # Depth maps: a second row with the attention overlay only when there is a teacher.
    dg, dr = _png(out_g.with_name("fig5_depthmaps.png")), _png(out_r.with_name("fig5_depthmaps.png"))
    assert dg.shape[0] > 1.7 * dr.shape[0]
    # The overlay is coloured (heat map), the plain depth maps are grey.
    assert np.abs(dg[..., 0] - dg[..., 2]).max() > 0.3
    assert np.abs(dr[..., 0] - dr[..., 2]).max() < 0.02


def test_viz_cli_bad_input_names_the_file(checkpoints, tmp_path, capsys):
    missing = tmp_path / "nope.npy"
    assert main(["visualize", str(checkpoints["guided"]), "--input", str(missing), "--out",
                 str(tmp_path / "x.png")]) == 1
    assert str(missing) in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
    few = tmp_path / "few.npy"
    np.save(few, np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32))
    assert main(["visualize", str(checkpoints["guided"]), "--input", str(few), "--out",
                 str(tmp_path / "y.png")]) == 1
    err = capsys.readouterr().err
    assert str(few) in err and "too few points" in err


def test_viz_cli_checkpoint_without_config(checkpoints, tmp_path, capsys):
    out = tmp_path / "authors.png"
    args = ["visualize", str(checkpoints["no_config"]), "--input", str(checkpoints["cloud"]), "--out", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "--config" in err and str(checkpoints["no_config"]) in err
    assert main(args + ["--config", str(checkpoints["config_yaml"]), "--npoints", "128"]) == 0
    assert out.is_file() and out.with_name("authors_depthmaps.png").is_file()
    assert "128 points" in capsys.readouterr().out


def test_viz_cli_rejects_a_downstream_checkpoint(checkpoints, tmp_path, capsys):

    bad = tmp_path / "cls.pth"
    torch.save({"model": {"w": torch.zeros(1)}, "config": {"model": {"name": "I2PMAEClassifier"}}}, bad)
    assert main(["visualize", str(bad), "--out", str(tmp_path / "z.png")]) == 1
    assert "I2PMAE" in capsys.readouterr().err
