"""`i2pmae zeroshot` end to end on a tiny ModelNet40-h5 set with a tiny two-tower CLIP file."""

from __future__ import annotations

import json

import h5py
import pytest
import torch

from helpers_cli import CLASSES, run_cli, write_modelnet_h5
from helpers_clip import clip_state_dict, save_clip_safetensors


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("zs")
    data = write_modelnet_h5(root / "mn", test=5)
    clip = save_clip_safetensors(clip_state_dict(seed=3), root / "clip.safetensors")
    return data, clip


def test_zeroshot_cli_end_to_end(setup, tmp_path, capsys):
    data, clip = setup
    out = tmp_path / "zs"
    code = run_cli("zeroshot", "--data", data, "--format", "modelnet40_h5", "--teacher-weights", clip,
                   "-o", "npoints=256", "--views", "0,1", "--prompt", "a depth map of a {}.", "--prompt", "a {}.",
                   "--out", out, "--batch-size", "2", "--device", "cpu")
    captured = capsys.readouterr()
    text = captured.out
    assert code == 0, captured.err
    rep = json.loads((out / "results.json").read_text())
    assert (out / "confusion.png").stat().st_size > 1000
    assert rep["items"] == 5 and rep["classes"] == CLASSES and rep["views"] == [0, 1]
    assert "per class" in text and "view 1:" in text and "averaged" in text
    # the command's numbers are the Python API's on the same clouds
    from i2pmae.zeroshot import classify, load_clip

    with h5py.File(data / "modelnet40_ply_hdf5_2048" / "ply_data_test0.h5") as f:
        pts, labels = torch.from_numpy(f["data"][:]), torch.from_numpy(f["label"][:].reshape(-1).astype("int64"))
    api = classify(pts, CLASSES, load_clip(clip), views=(0, 1), prompts=["a depth map of a {}.", "a {}."])
    assert rep["accuracy"] == pytest.approx(100 * (api.predictions == labels).float().mean().item())
    view1 = 100 * (api.view_predictions[:, 1] == labels).float().mean().item()
    assert rep["view_accuracy"]["1"] == pytest.approx(view1)


def test_zeroshot_cli_errors(setup, tmp_path, capsys, monkeypatch):
    data, clip = setup
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("I2PMAE_CLIP_CACHE", str(tmp_path / "clip"))
    assert run_cli("zeroshot", "--data", data, "--format", "modelnet40_h5", "-o", "npoints=256",
                   "--out", tmp_path / "o") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("i2pmae zeroshot: error: no CLIP weights")
    assert "--teacher-weights" in err[0]
    names = tmp_path / "names.txt"
    names.write_text("a\nb\n")
    assert run_cli("zeroshot", "--data", data, "--format", "modelnet40_h5", "--teacher-weights", clip,
                   "--classes", names, "-o", "npoints=256", "--out", tmp_path / "o") == 1
    assert "2 class names, but the data has 3 classes" in capsys.readouterr().err
    assert run_cli("zeroshot", "--data", data, "--format", "modelnet40_h5", "--views", "0,3") == 2
    assert "views" in capsys.readouterr().err
