"""Pre-training forward/backward: losses, gradients, the two reconstruction targets, options, teacher use."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from i2pmae.models import I2PMAE, build_model
from i2pmae.projection import project_views


def _trainable_without_grad(model):
    return [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum())]


@pytest.mark.parametrize("opts", [
    {},
    {"fusion": "add"},
    {"fusion": "concat", "views": [0, 2], "target_reduction": "mean", "attention_reduction": "max"},
    {"attention_reduction": "min", "mask_temperature": 0.01, "loss_weights": {"3d": 2.0, "2d": 0.5}},
])
def test_tiny_forward_backward_reaches_every_parameter(opts, tiny, teacher, make_clouds):
    torch.manual_seed(0)
    model = I2PMAE(teacher, **tiny, **opts)
    out = model(make_clouds(3))
    for key in ("loss", "loss_3d", "loss_2d"):
        assert out[key].dim() == 0 and torch.isfinite(out[key])
    w3, w2 = (opts.get("loss_weights") or {}).get("3d", 1.0), (opts.get("loss_weights") or {}).get("2d", 1.0)
    assert torch.allclose(out["loss"], w3 * out["loss_3d"] + w2 * out["loss_2d"])
    out["loss"].backward()
    assert _trainable_without_grad(model) == []
    # the teacher ran once, on all views of all clouds as one batch, without gradients
    assert teacher.calls == [(len(opts.get("views", [0, 1, 2])) * 3, False)]
    assert all(p.grad is None for p in teacher.parameters())


def test_random_masking_needs_no_teacher_and_has_no_2d_head(tiny, make_clouds):
    torch.manual_seed(0)
    model = build_model({"name": "I2PMAE", "masking": "random", **tiny})
    assert not hasattr(model, "rec_head_2d") and model.teacher is None
    out = model(make_clouds(2))
    assert out["loss_2d"].item() == 0.0 and torch.isfinite(out["loss_3d"])
    out["loss"].backward()
    assert _trainable_without_grad(model) == []


def test_guided_model_without_teacher_fails_clearly_in_forward_only(tiny, make_clouds):
    model = I2PMAE(None, **tiny)  # building works (e.g. to load a checkpoint for SVM features)
    assert model.extract_features(make_clouds(2)).shape == (2, tiny["encoder_dims"][-1])
    with pytest.raises(ValueError, match="needs a 2D teacher"):
        model(make_clouds(2))


def test_paper_config_forward_backward_batch_2(teacher_factory, make_clouds):
    torch.manual_seed(0)
    teacher = teacher_factory(feature_dim=512)
    model = I2PMAE(teacher)
    assert sum(p.numel() for p in model.parameters()) == 17_622_808
    out = model(make_clouds(2, n=2048), return_details=True)
    assert torch.isfinite(out["loss_3d"]) and torch.isfinite(out["loss_2d"])
    out["loss"].backward()
    assert _trainable_without_grad(model) == []
    assert [v.sum(dim=1).tolist() for v in out["visible"][-1:]] == [[13, 13]]
    assert out["reconstruction"].shape == (2, 256, 8, 3) and out["attention_cloud"].shape == (2, 64)


def _brute_chamfer_l2(a, b):
    d = torch.cdist(a.double(), b.double()) ** 2  # (L, k, k)
    return d.min(dim=2).values.mean() + d.min(dim=1).values.mean()


def test_losses_equal_brute_force_recomputation(tiny, teacher, make_clouds):
    """3D: Chamfer L2 over the masked scale-2 tokens, from the returned absolute predictions and targets.
    2D: MSE to the views' features concatenated per neighbour point, read after a full bicubic upsampling."""
    torch.manual_seed(0)
    model = I2PMAE(teacher, **tiny).eval()
    captured = {}
    model.rec_head_2d.register_forward_hook(lambda m, i, o: captured.__setitem__("pred", o))
    pts = make_clouds(3)
    with torch.no_grad():
        out = model(pts, return_details=True)
    s = out["rec_scale"]
    assert s == 1
    masked, centres = out["masks"][s], out["centres"][s]
    rec = out["reconstruction"] - centres.unsqueeze(2)
    tgt = out["target"] - centres.unsqueeze(2)
    assert torch.allclose(out["loss_3d"].double(), _brute_chamfer_l2(rec[masked], tgt[masked]), rtol=1e-5)
    # the target is each scale-2 token's 4 nearest scale-1 centres
    lower = out["centres"][s - 1]
    d = torch.cdist(out["centres"][s], lower)
    nearest = d.topk(tiny["group_sizes"][s], largest=False).indices
    assert torch.allclose(torch.sort(out["target"].sum(-1), dim=-1).values,
                          torch.sort(torch.stack([lower[b][nearest[b]] for b in range(3)]).sum(-1), dim=-1).values)

    images, mapping = project_views(pts, (0, 1, 2))
    feats, _ = teacher(images.transpose(0, 1).reshape(-1, 3, 224, 224))
    up = F.interpolate(feats, size=(224, 224), mode="bicubic", align_corners=False)  # (V*B, C, S, S)
    up = up.reshape(3, 3, *up.shape[1:])  # (V, B, C, S, S)
    visible = out["visible"][s]
    k = tiny["group_sizes"][s]
    pix = mapping.pixels(out["target"].reshape(3, -1, 3))  # (B, V, G*k, 2)
    targets = []
    for b in range(3):
        per_view = [up[v, b][:, pix[b, v, :, 0], pix[b, v, :, 1]].T for v in range(3)]  # (G*k, C) each
        t = torch.cat(per_view, dim=-1).reshape(-1, k, 3 * teacher.feature_dim)
        targets.append(t[visible[b]])
    target = torch.cat(targets)
    pred = captured["pred"].reshape(target.shape)
    assert torch.allclose(out["loss_2d"], F.mse_loss(pred, target), rtol=1e-4)


def test_details_are_consistent(tiny, teacher, make_clouds):
    torch.manual_seed(0)
    model = I2PMAE(teacher, **tiny)
    pts = make_clouds(2)
    out = model(pts, return_details=True)
    assert torch.equal(out["points"], pts)
    assert [c.shape[1] for c in out["centres"]] == tiny["num_groups"]
    assert all(not t.requires_grad for t in out["centres"] + out["visible"] + [out["reconstruction"]])
    for v, m in zip(out["visible"], out["masks"]):
        assert torch.equal(v, ~m)
    assert out["images"].shape == (2, 3, 3, 224, 224)


def test_invalid_options_raise(tiny, teacher):
    with pytest.raises(ValueError, match="masking"):
        I2PMAE(teacher, masking="block", **tiny)
    with pytest.raises(ValueError, match="views"):
        I2PMAE(teacher, views=[0, 3], **tiny)
    with pytest.raises(ValueError, match="attention_reduction"):
        I2PMAE(teacher, attention_reduction="median", **tiny)
    with pytest.raises(ValueError, match="feature_dim_2d"):
        I2PMAE(teacher, feature_dim_2d=7, **tiny)
    with pytest.raises(ValueError, match="decoder_dims"):
        I2PMAE(teacher, **dict(tiny, decoder_dims=[64, 64]))
    with pytest.raises(ValueError, match="unknown config keys"):
        build_model({"name": "I2PMAE", "mask_ration": 0.7})
    with pytest.raises(ValueError, match="unknown model name"):
        build_model({"name": "PointMAE"})
    with pytest.raises(ValueError, match="points"):
        I2PMAE(teacher, **tiny)(torch.zeros(2, 10, 3))
