"""`i2pmae svm` end to end: our checkpoint, random init, and the authors' checkpoint format."""

from __future__ import annotations

import json

import h5py
import numpy as np
import torch
from sklearn.svm import SVC

from helpers_cli import TINY_PRETRAIN, run_cli
from i2pmae.engine.config import load_config
from i2pmae.models import build_model


def _reference_svm_acc(cli_data, checkpoint, c: float) -> float:
    """Assembled by hand: the HDF5 files read with h5py (first 128 points, files in name order), the tiny
    network loaded from the checkpoint with debiased BatchNorm statistics, max-pooled features, sklearn's
    linear SVC with the config's C."""
    cfg = load_config("svm/modelnet40", TINY_PRETRAIN)["model"]
    model = build_model({**cfg, "masking": "random"})
    state = torch.load(checkpoint, weights_only=True)["model"]
    model.load_state_dict({k: v for k, v in state.items() if k in model.state_dict()}, strict=False)
    model.eval()
    with torch.no_grad():  # the probes' default: moving averages without their initial (0, 1) share
        for bn in model.modules():
            if isinstance(bn, torch.nn.BatchNorm1d) and int(bn.num_batches_tracked) > 0:
                share = 0.9 ** int(bn.num_batches_tracked)
                bn.running_mean.copy_(bn.running_mean.double() / (1 - share))
                bn.running_var.copy_((bn.running_var.double() - share) / (1 - share))
    folder = cli_data.modelnet_h5 / "modelnet40_ply_hdf5_2048"
    xy = {}
    for split in ("train", "test"):
        pts, labels = [], []
        for f in sorted(folder.glob(f"ply_data_{split}*.h5")):
            with h5py.File(f, "r") as h:
                pts.append(h["data"][:, :128])
                labels.append(h["label"][:, 0])
        with torch.no_grad():
            feats = model.extract_features(torch.from_numpy(np.concatenate(pts)).float()).numpy()
        xy[split] = (feats, np.concatenate(labels))
    return 100.0 * SVC(kernel="linear", C=c).fit(*xy["train"]).score(*xy["test"])


def _svm(cli_data, out, *flags: object, extra: list[str] = ()) -> dict:
    code = run_cli("svm", "-c", "svm/modelnet40", *flags, "--out", out, "--device", "cpu", *TINY_PRETRAIN,
                   f"data.svm.root={cli_data.modelnet_h5}", "data.svm.npoints=128", *extra)
    assert code == 0
    return json.loads((out / "svm.json").read_text())


def test_svm_checkpoint_random_and_authors_format(cli_data, pretrained_run, tmp_path, capsys):
    c = load_config("svm/modelnet40")["svm"]["C"]
    ours = _svm(cli_data, tmp_path / "ours", "--checkpoint", pretrained_run / "last.pth")
    out = capsys.readouterr().out
    assert "svm_acc" in out and f"C: {c:.4g}" in out  # C printed unrounded (0.0093, not 0.01)
    random_init = _svm(cli_data, tmp_path / "random")
    assert "random init" in capsys.readouterr().out
    for result in (ours, random_init):
        assert 0.0 <= result["svm_acc"] <= 100.0
        assert result["C"] == c and result["train_items"] == 9 and result["test_items"] == 6

    # The authors' released format: {"base_model": {"module.<key>": tensor}} of the same network.
    state = torch.load(pretrained_run / "last.pth", weights_only=True)["model"]
    authors = tmp_path / "pretrain_authors.pth"
    torch.save({"base_model": {f"module.{k}": v for k, v in state.items()}, "epoch": 1}, authors)
    theirs = _svm(cli_data, tmp_path / "authors", "--checkpoint", authors)
    assert theirs == ours
    assert abs(ours["svm_acc"] - _reference_svm_acc(cli_data, pretrained_run / "last.pth", c)) < 1e-9
    # A large C fits these tiny features more tightly (not all at the chance level): still the reference.
    ours_c100 = _svm(cli_data, tmp_path / "c100", "--checkpoint", pretrained_run / "last.pth", extra=["svm.C=100"])
    assert ours_c100["C"] == 100
    assert abs(ours_c100["svm_acc"] - _reference_svm_acc(cli_data, pretrained_run / "last.pth", 100.0)) < 1e-9


def test_svm_rejects_checkpoint_of_another_model_size(cli_data, pretrained_run, tmp_path, capsys):
    """Proves the checkpoint is really read: a wider model config does not silently load it."""
    code = run_cli("svm", "--checkpoint", pretrained_run / "last.pth", "--out", tmp_path / "svm", "--device", "cpu",
                   *TINY_PRETRAIN, "model.encoder_dims=[16,32,48]", "model.decoder_dims=[48,32]",
                   f"data.svm.root={cli_data.modelnet_h5}", "data.svm.npoints=128")
    assert code == 1
    err = capsys.readouterr().err
    assert "last.pth" in err and "shapes differ" in err
