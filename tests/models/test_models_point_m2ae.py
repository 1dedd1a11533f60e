"""Point-M2AE's released checkpoints, written here in their layout (``base_model`` with DDP ``module.``
prefixes, their 3D head ``rec_head`` predicting 16 points per token, no 2D head), in svm / embed /
finetune --pretrained / evaluate."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from i2pmae.engine.runs import load_weights
from i2pmae.tasks.svm_eval import build_encoder
from i2pmae.models import build_model
from i2pmae.models.point_m2ae import is_point_m2ae_pretrain, m2ae_concat_pool

ENC = dict(num_groups=[32, 16, 8], group_sizes=[8, 4, 4], encoder_dims=[16, 32, 64], encoder_depths=[1, 1, 1],
           num_heads=2, embed_widths=[8, 16, 32])
PRE = dict(ENC, name="I2PMAE", decoder_dims=[64, 32], decoder_depths=[1, 1])


def _clouds(b=3, n=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, n, 3, generator=g) * torch.tensor([1.0, 0.5, 0.2])
    return x / x.norm(dim=-1).amax(dim=1).view(-1, 1, 1)


def _randomise(sd, seed=0):
    """Random values of the same shapes (BatchNorm variances kept positive)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in sd.items():
        if not v.is_floating_point():
            out[k] = v
        elif k.endswith("running_var"):
            out[k] = torch.rand(v.shape, generator=g) + 0.5
        else:
            out[k] = torch.randn(v.shape, generator=g) * 0.2
    return out


def m2ae_pretrain_checkpoint(path, seed=0):
    """Their pre-train.pth layout: {'base_model': {'module.' + name: tensor}, 'optimizer', 'epoch', 'metrics', ...};
    the 3D head is ``rec_head`` (Conv1d dec -> 3 x group_sizes[0]) and there is no 2D head."""
    ours = build_model(dict(PRE, masking="random", reconstruct_2d=False)).state_dict()
    sd = {k: v for k, v in _randomise(ours, seed).items() if not k.startswith("rec_head_3d.")}
    dec = PRE["decoder_dims"][-1]
    sd["rec_head.weight"] = torch.randn(3 * PRE["group_sizes"][0], dec, 1)
    sd["rec_head.bias"] = torch.randn(3 * PRE["group_sizes"][0])
    torch.save({"base_model": {"module." + k: v for k, v in sd.items()},
                "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3, "params": [0]}]}, "epoch": 299,
                "metrics": {"acc": 92.87}, "best_metrics": {"acc": 92.87}}, path)
    return sd


def test_svm_features_pool_mean_plus_max(tmp_path, caplog):
    sd = m2ae_pretrain_checkpoint(tmp_path / "pre-train.pth")
    assert is_point_m2ae_pretrain(load_weights(tmp_path / "pre-train.pth"))
    with caplog.at_level(logging.INFO, logger="i2pmae"):
        enc = build_encoder(PRE, str(tmp_path / "pre-train.pth")).eval()
    assert "Point-M2AE pre-training checkpoint" in caplog.text and "rec_head.weight" in caplog.text
    for k, v in enc.state_dict().items():
        if k in sd:
            assert torch.equal(v, sd[k]), k
    assert enc.feature_pooling == "add"
    pts = _clouds()
    with torch.no_grad():
        top = enc.encode(enc.tokenize(pts), None)[1][-1]
        ref = top.mean(dim=1) + top.max(dim=1).values  # Point-M2AE: x_vis.mean(1) + x_vis.max(1)[0]
    torch.testing.assert_close(enc.extract_features(pts), ref)
    # selectable: an explicit model.feature_pooling wins
    assert build_encoder(dict(PRE, feature_pooling="max"), str(tmp_path / "pre-train.pth")).feature_pooling == "max"
    # our own checkpoints keep the I2P-MAE protocol (max)
    ours = build_model(dict(PRE, masking="random"))
    torch.save({"base_model": ours.state_dict()}, tmp_path / "ours.pth")
    assert build_encoder(PRE, str(tmp_path / "ours.pth")).feature_pooling == "max"


def test_embed_cli_uses_their_pooling(tmp_path):
    from helpers_cli import run_cli

    m2ae_pretrain_checkpoint(tmp_path / "pre-train.pth", seed=1)
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("model: {name: I2PMAE, num_groups: [32, 16, 8], group_sizes: [8, 4, 4], encoder_dims: [16, 32, 64], "
                   "encoder_depths: [1, 1, 1], num_heads: 2, embed_widths: [8, 16, 32], decoder_dims: [64, 32], "
                   "decoder_depths: [1, 1], masking: random}\ndata: {npoints: 128}\n")
    pts = _clouds(2)
    for i, p in enumerate(pts):
        np.save(tmp_path / f"c{i}.npy", p.numpy())
    out = tmp_path / "f.npy"
    assert run_cli("embed", tmp_path / "c0.npy", tmp_path / "c1.npy", "--checkpoint", tmp_path / "pre-train.pth",
                   "-c", cfg, "--out", out, "--device", "cpu") == 0
    enc = build_encoder(build_cfg(cfg), str(tmp_path / "pre-train.pth")).eval()
    assert enc.feature_pooling == "add"
    feats = np.load(out)
    assert feats.shape == (2, 64)
    from i2pmae.data.folder import load_cloud

    clouds = torch.stack([torch.as_tensor(load_cloud(tmp_path / f"c{i}.npy", 128)) for i in range(2)]).float()
    np.testing.assert_allclose(feats, enc.extract_features(clouds).numpy(), rtol=1e-5, atol=1e-6)


def build_cfg(path):
    from i2pmae.engine.config import load_config

    return load_config(path)["model"]


def test_finetune_pretrained_reports_their_keys(tmp_path, caplog):
    sd = m2ae_pretrain_checkpoint(tmp_path / "pre-train.pth")
    clf = build_model(dict(ENC, name="I2PMAEClassifier", num_classes=15, pooling="m2ae_concat"))
    with caplog.at_level(logging.INFO, logger="i2pmae"):
        missing, unexpected = clf.load_pretrained(load_weights(tmp_path / "pre-train.pth"))
    assert "rec_head.weight" in unexpected and "mask_token" in unexpected
    assert sorted({k.split(".")[0] for k in missing}) == ["cls_head_finetune", "norm"]
    assert "rec_head.weight" in caplog.text
    own = clf.state_dict()
    assert all(torch.equal(own[k], sd[k]) for k in own if k.startswith("h_encoder."))


def test_their_finetuned_scanobjectnn_head(tmp_path):
    """scan_*.pth: h_encoder, norm, cls_head_finetune (768 -> 256 ...); their max skips token 0."""
    clf = build_model(dict(ENC, name="I2PMAEClassifier", num_classes=15, pooling="m2ae_concat")).eval()
    sd = _randomise(clf.state_dict(), seed=2)
    assert sd["cls_head_finetune.0.weight"].shape[1] == 2 * ENC["encoder_dims"][-1]
    torch.save({"base_model": {"module." + k: v for k, v in sd.items()}, "epoch": 250,
                "metrics": {"acc": 91.2}}, tmp_path / "scan_obj-bg.pth")
    missing, unexpected = clf.load_pretrained(load_weights(tmp_path / "scan_obj-bg.pth"))
    assert missing == [] and unexpected == []
    pts = _clouds()
    from i2pmae.models.tokenizer import multi_scale_tokens

    with torch.no_grad():
        tokens = clf.norm(clf.h_encoder(multi_scale_tokens(pts, clf.num_groups, clf.group_sizes))[-1])
        ref = torch.cat((tokens.mean(1), tokens[:, 1:].max(1)[0]), dim=1)  # their Point_M2AE_ScanObjectNN
        torch.testing.assert_close(clf.forward_features(pts), ref)
        assert clf(pts).shape == (3, 15)


def test_m2ae_concat_differs_from_concat_when_token0_is_max():
    x = torch.randn(2, 5, 4)
    x[:, 0] = 10.0
    got = m2ae_concat_pool(x)
    assert torch.equal(got[:, 4:], x[:, 1:].amax(1)) and torch.equal(got[:, :4], x.mean(1))
    assert not torch.equal(got[:, 4:], x.amax(1))
    with pytest.raises(ValueError, match="m2ae_concat"):
        build_model(dict(ENC, name="I2PMAEClassifier", num_classes=15, pooling="nope"))


def test_evaluate_cli_their_finetuned_checkpoint(tmp_path, capsys):
    """`i2pmae evaluate -c finetune/point-m2ae-scan_objbg` on a scan_obj-bg.pth in their layout."""
    import json

    from helpers_cli import run_cli, write_scanobjectnn

    data = write_scanobjectnn(tmp_path / "data")
    clf = build_model(dict(ENC, name="I2PMAEClassifier", num_classes=15, pooling="m2ae_concat"))
    torch.save({"base_model": {"module." + k: v for k, v in _randomise(clf.state_dict(), seed=3).items()},
                "epoch": 250, "metrics": {"acc": 91.2}}, tmp_path / "scan_obj-bg.pth")
    tiny = [f"model.{k}={json.dumps(v)}" for k, v in ENC.items()]
    code = run_cli("evaluate", "-c", "finetune/point-m2ae-scan_objbg", "--checkpoint", tmp_path / "scan_obj-bg.pth",
                   "--out", tmp_path / "ev", "--device", "cpu", *tiny, f"data.dataset.root={data / 'ScanObjectNN'}",
                   "data.npoints=256")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert 0.0 <= json.loads((tmp_path / "ev" / "evaluate.json").read_text())["acc"] <= 100.0
    assert "unexpected" not in captured.err
