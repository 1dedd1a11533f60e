"""Parameter names, shapes and counts equal the authors' released networks; checkpoints load."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from i2pmae.models import I2PMAE, I2PMAEClassifier, I2PMAESegmentation, build_model, count_parameters


class _Dim512(nn.Module):
    """A teacher stub that only announces CLIP's 512-d features (never run here)."""

    feature_dim = 512

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(7))


def _shapes(model: nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def _random_state(shapes: dict[str, list[int]], prefix: str = "") -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {prefix + k: (torch.randn(s, generator=g) if k.split(".")[-1] != "num_batches_tracked"
                         else torch.tensor(3)) for k, s in shapes.items()}


@pytest.mark.parametrize("key, build", [
    ("I2P_MAE_pretrain", lambda: I2PMAE(_Dim512())),
    ("I2P_MAE_ModelNet40", lambda: I2PMAEClassifier(40, pooling="add")),
    ("I2P_MAE_ScanObjectNN", lambda: I2PMAEClassifier(15, pooling="concat", label_smoothing=0.0)),
])
def test_keys_shapes_and_counts_match_the_authors(reference, key, build):
    model = build()
    ref = reference[key]
    assert _shapes(model) == ref["state_dict"]
    assert count_parameters(model) == ref["num_parameters"]
    # parameters() counts agree with the state dict (no hidden extra parameters, the teacher is not there)
    n_from_json = sum(torch.Size(s).numel() for k, s in ref["state_dict"].items()
                      if k.split(".")[-1] not in ("running_mean", "running_var", "num_batches_tracked"))
    assert count_parameters(model) == n_from_json


def test_teacher_is_outside_state_dict_but_moves_with_the_model(teacher):
    model = I2PMAE(teacher, num_groups=[64, 32, 8], group_sizes=[8, 4, 4], encoder_dims=[32, 64, 128],
                   encoder_depths=[1, 1, 1], num_heads=2, decoder_dims=[128, 64], decoder_depths=[1, 1])
    alone = I2PMAE(None, num_groups=[64, 32, 8], group_sizes=[8, 4, 4], encoder_dims=[32, 64, 128],
                   encoder_depths=[1, 1, 1], num_heads=2, decoder_dims=[128, 64], decoder_depths=[1, 1],
                   feature_dim_2d=teacher.feature_dim)
    assert set(model.state_dict()) == set(alone.state_dict())
    assert not any(k.startswith("_teacher") or "proj.weight" == k for k in model.state_dict())
    assert count_parameters(model) == count_parameters(alone)
    assert all(p.requires_grad is False for p in teacher.parameters())
    model.double()
    assert teacher.proj.weight.dtype == torch.float64  # .to()/.double() reach the teacher
    model.train()
    assert model.training and not teacher.training  # the teacher always stays in eval mode
    # strict loading of the 3D network's own keys works with the teacher attached
    model.load_state_dict(alone.double().state_dict(), strict=True)


def test_authors_pretraining_checkpoint_loads_strictly(reference):
    """A checkpoint with the authors' keys and a DataParallel ``module.`` prefix loads with nothing left over."""
    model = I2PMAE(_Dim512())
    state = _random_state(reference["I2P_MAE_pretrain"]["state_dict"], prefix="module.")
    missing, unexpected = model.load_pretrained({"base_model": state, "epoch": 3})
    assert missing == [] and unexpected == []
    assert torch.equal(model.rec_head_2d.bias, state["module.rec_head_2d.bias"])


def test_classifier_load_pretrained_reports_exact_keys(reference, tmp_path, caplog):
    """The authors' pre-training checkpoint (saved with ``module.``) into the ScanObjectNN classifier."""
    pre = reference["I2P_MAE_pretrain"]["state_dict"]
    cls_keys = set(reference["I2P_MAE_ScanObjectNN"]["state_dict"])
    path = tmp_path / "ckpt-last.pth"
    torch.save({"base_model": _random_state(pre, prefix="module."), "epoch": 299}, path)
    ckpt = torch.load(path, weights_only=True)

    model = build_model({"name": "I2PMAEClassifier", "num_classes": 15, "pooling": "concat",
                         "group_sizes": [32, 16, 16], "label_smoothing": 0.0})
    with caplog.at_level(logging.INFO, logger="i2pmae"):
        missing, unexpected = model.load_pretrained(ckpt["base_model"])
    # BatchNorm fills in a missing num_batches_tracked itself, so load_state_dict does not report it
    assert set(missing) == {k for k in cls_keys - set(pre) if not k.endswith("num_batches_tracked")}
    assert set(unexpected) == set(pre) - cls_keys
    assert {k.split(".")[0] for k in missing} == {"norm", "cls_head_finetune"}
    assert any(k.startswith("h_encoder.encoder_norms.") for k in unexpected)
    assert "rec_head_2d.weight" in unexpected and "mask_token" in unexpected
    w = ckpt["base_model"]["module.h_encoder.encoder_blocks.2.blocks.4.attn.qkv.weight"]
    assert torch.equal(model.h_encoder.encoder_blocks[2].blocks[4].attn.qkv.weight, w)
    text = caplog.text
    assert "missing" in text and "unexpected" in text and "cls_head_finetune.8.bias" in text


def test_segmentation_load_pretrained_takes_encoder_and_norms(reference):
    pre = reference["I2P_MAE_pretrain"]["state_dict"]
    model = I2PMAESegmentation()
    missing, unexpected = model.load_pretrained(_random_state(pre))
    own = set(model.state_dict())
    assert set(missing) == {k for k in own - set(pre) if not k.endswith("num_batches_tracked")}
    assert set(unexpected) == set(pre) - own
    assert not any(k.startswith("h_encoder.") for k in missing)  # the whole encoder, norms included
    assert {k.split(".")[0] for k in missing} == {"label_conv", "propagations", "convs1", "convs2", "convs3",
                                                  "convs4", "bns1", "bns2", "bns3"}


def test_shape_mismatch_is_an_error_not_a_silent_skip(reference):
    model = I2PMAEClassifier(10)  # 10 classes: the last layer differs from ModelNet40's
    with pytest.raises(ValueError, match="other shapes"):
        model.load_pretrained(_random_state(reference["I2P_MAE_ModelNet40"]["state_dict"]))


def test_segmentation_head_matches_point_m2ae_widths():
    """6208 = 3 x 1024 per-point + 3072 global + 64 label channels; 50 parts (docs/data.md §4)."""
    model = I2PMAESegmentation()
    assert tuple(model.convs1.weight.shape) == (1024, 6208, 1)
    assert tuple(model.convs4.weight.shape) == (50, 256, 1)
    assert tuple(model.label_conv[0].weight.shape) == (64, 16, 1) and model.label_conv[0].bias is None
    for i, d in enumerate((96, 192, 384)):
        assert tuple(model.propagations[i].mlp_convs[0].weight.shape) == (1536, d + 3, 1)
        assert tuple(model.propagations[i].mlp_convs[1].weight.shape) == (1024, 1536, 1)
