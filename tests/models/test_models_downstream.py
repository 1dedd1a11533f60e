"""Classifier and part-segmentation networks: outputs, losses, configs, DDP."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from i2pmae.models import I2PMAE, I2PMAEClassifier, I2PMAESegmentation, build_model, smoothed_cross_entropy

CONFIGS = Path(__file__).resolve().parents[2] / "i2pmae" / "configs"


@pytest.mark.parametrize("pooling, width", [("max", 1), ("mean", 1), ("add", 1), ("concat", 2)])
def test_classifier_pooling(pooling, width, tiny_encoder, make_clouds):
    torch.manual_seed(0)
    model = I2PMAEClassifier(7, pooling=pooling, **tiny_encoder)
    assert model.cls_head_finetune[0].in_features == width * tiny_encoder["encoder_dims"][-1]
    pts = make_clouds(4)
    logits = model(pts)
    assert logits.shape == (4, 7)
    loss = model.loss(logits, torch.tensor([0, 1, 2, 6]))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()  # deterministic (no drop path, BN running statistics) for the pooling check
    tokens = model.norm(model.h_encoder(model_scales(model, pts))[-1])
    expected = {"max": tokens.amax(1), "mean": tokens.mean(1), "add": tokens.amax(1) + tokens.mean(1),
                "concat": torch.cat([tokens.mean(1), tokens.amax(1)], dim=-1)}[pooling]
    assert torch.allclose(model.forward_features(pts), expected, atol=1e-6)


def model_scales(model, pts):
    from i2pmae.models import multi_scale_tokens

    return multi_scale_tokens(pts, model.num_groups, model.group_sizes)


def test_label_smoothing_off_classes_share_eps_over_n_minus_1():
    g = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(6, 40, generator=g), torch.randint(0, 40, (6,), generator=g)
    eps, n = 0.2, 40
    # PyTorch's label_smoothing e puts 1 - e + e/n on the true class and e/n elsewhere; e = eps*n/(n-1)
    # gives exactly 1 - eps and eps/(n-1), the authors' smoothing.
    reference = F.cross_entropy(logits, labels, label_smoothing=eps * n / (n - 1))
    assert torch.allclose(smoothed_cross_entropy(logits, labels, eps), reference, atol=1e-6)
    model = I2PMAEClassifier(40, label_smoothing=0.0, encoder_depths=(1, 1, 1))
    assert torch.allclose(model.loss(logits, labels), F.cross_entropy(logits, labels))


def test_segmentation_forward_and_loss(tiny_encoder, make_clouds):
    torch.manual_seed(0)
    model = I2PMAESegmentation(propagation_dims=[32, 16], head_dims=[64, 32, 16], **tiny_encoder)
    pts = make_clouds(3)
    category = torch.tensor([0, 4, 15])
    out = model(pts, category)
    assert out.shape == (3, 256, 50)
    assert torch.allclose(out.exp().sum(-1), torch.ones(3, 256), atol=1e-5)
    seg = torch.randint(0, 50, (3, 256))
    loss = model.loss(out, seg)
    assert torch.allclose(loss, -out.gather(-1, seg.unsqueeze(-1)).mean())
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with torch.no_grad():  # the category changes the prediction through the one-hot label embedding
        assert not torch.allclose(model(pts, category), model(pts, torch.tensor([1, 4, 15])))
    with pytest.raises(ValueError, match="category"):
        model(pts, torch.tensor([0, 1, 16]))


@pytest.mark.parametrize("path, count", [
    ("pretrain/i2p-mae.yaml", 17_622_808),
    ("pretrain/w-o-2d.yaml", 17_622_808 - (12288 * 192 + 12288)),
    ("finetune/modelnet40.yaml", 12_830_056),
    ("finetune/scan_pb.yaml", 12_921_935),
    ("finetune/scan_objbg.yaml", 12_921_935),
    ("finetune/scan_obj.yaml", 12_921_935),
    ("segmentation/shapenetpart.yaml", None),
])
def test_configs_build(path, count, teacher_factory):
    cfg = yaml.safe_load((CONFIGS / path).read_text())["model"]
    teacher = teacher_factory(feature_dim=512) if cfg.get("masking") == "2d_guided" else None
    model = build_model(cfg, teacher=teacher)
    if count is not None:
        assert sum(p.numel() for p in model.parameters()) == count
    if isinstance(model, I2PMAESegmentation):
        assert model.convs1.in_channels == 6208


def test_ddp_wraps_the_pretraining_network(tiny, teacher, make_clouds, tmp_path):
    """DDP (gloo, one process) over I2PMAE with its teacher; two steps without find_unused_parameters."""
    import torch.distributed as dist

    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        model = torch.nn.parallel.DistributedDataParallel(I2PMAE(teacher, **tiny))
        for step in range(2):
            out = model(make_clouds(2, seed=step))
            out["loss"].backward()
        assert not any(k.startswith("module._teacher") for k in model.state_dict())
    finally:
        dist.destroy_process_group()
