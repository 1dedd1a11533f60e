"""`i2pmae embed` end to end: features of files with a run's checkpoint and config."""

from __future__ import annotations

import numpy as np
import torch

from helpers_cli import run_cli


def test_embed_files_with_run_config(cli_data, pretrained_run, tmp_path):
    files = sorted((cli_data.shapenet55 / "ShapeNet55-34" / "shapenet_pc").glob("*.npy"))[:3]
    out = tmp_path / "feats" / "feats.npy"
    code = run_cli("embed", "--checkpoint", pretrained_run / "last.pth", "-c", pretrained_run / "config.yaml",
                   *files, "--out", out, "--device", "cpu", "--batch-size", "2")
    assert code == 0
    feats = np.load(out)
    assert feats.shape == (3, 64) and feats.dtype == np.float32 and np.isfinite(feats).all()
    assert out.with_suffix(".txt").read_text().splitlines() == [str(f) for f in files]
    assert not np.allclose(feats[0], feats[1])  # different clouds, different features

    # The authors' checkpoint format gives the very same features; a folder input is expanded.
    state = torch.load(pretrained_run / "last.pth", weights_only=True)["model"]
    authors = tmp_path / "authors.pth"
    torch.save({"base_model": {f"module.{k}": v for k, v in state.items()}}, authors)
    folder = tmp_path / "clouds"
    folder.mkdir()
    for f in files:
        (folder / f.name).write_bytes(f.read_bytes())
    out2 = tmp_path / "feats2.npy"
    assert run_cli("embed", str(folder), "--checkpoint", authors, "-c", pretrained_run / "config.yaml",
                   "--out", out2, "--device", "cpu") == 0
    np.testing.assert_allclose(np.load(out2), feats, rtol=0, atol=1e-5)  # batch 32 vs 2: float rounding only


def test_embed_uses_the_probes_debiased_batchnorm_statistics(cli_data, pretrained_run, tmp_path):
    """`embed` gives what the SVM probe sees: the checkpoint's BatchNorm moving averages without their
    initial value's share (issue #15); a young run's saved statistics would give other features."""
    import yaml

    from i2pmae.data.folder import load_cloud
    from i2pmae.tasks.svm_eval import build_encoder, debias_batchnorm

    files = sorted((cli_data.shapenet55 / "ShapeNet55-34" / "shapenet_pc").glob("*.npy"))[:2]
    out = tmp_path / "feats.npy"
    assert run_cli("embed", "--checkpoint", pretrained_run / "last.pth", "-c", pretrained_run / "config.yaml",
                   *files, "--out", out, "--device", "cpu") == 0
    cfg = yaml.safe_load((pretrained_run / "config.yaml").read_text())
    enc = build_encoder(cfg["model"], str(pretrained_run / "last.pth")).eval()
    npoints = int(cfg["data"]["npoints"])
    clouds = torch.from_numpy(np.stack([load_cloud(f, npoints) for f in files]))
    saved = enc.extract_features(clouds).numpy()
    assert debias_batchnorm(enc) > 0  # the tiny run is young: its moving averages still hold their start
    np.testing.assert_allclose(np.load(out), enc.extract_features(clouds).numpy(), rtol=0, atol=1e-5)
    assert not np.allclose(np.load(out), saved, rtol=0, atol=1e-5)
