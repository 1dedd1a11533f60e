"""Every teacher family: shapes, attention ranges, frozen/eval/no-grad behaviour, dtype, input checks."""

import pytest
import torch
from torch import nn

from i2pmae.teachers import Teacher, available_teachers, build_teacher, saliency_attention, teacher_spec

FAMILIES = ["clip-vit-b16", "clip-rn50", "dino-vit-b16", "vit-b16-in1k", "swin-b", "resnet50", "resnet101",
            "simmim-vit-b16", "tiny-vit", "tiny-cnn"]
CLS_QUERY = {"clip-vit-b16", "dino-vit-b16", "vit-b16-in1k", "tiny-vit", "clip-rn50", "simmim-vit-b16", "tiny-cnn"}


def test_registry_lists_all_families():
    assert set(available_teachers()) == set(FAMILIES)
    assert available_teachers()[0] == "clip-vit-b16"
    with pytest.raises(ValueError, match="unknown 2D teacher 'nope'.*clip-vit-b16"):
        teacher_spec("nope")


@pytest.mark.parametrize("name", FAMILIES)
def test_shapes_and_attention(name, tiny_arch, images):
    t = build_teacher(name, weights="random", arch_overrides=tiny_arch[name])
    assert isinstance(t, Teacher) and t.name == name
    images = images[..., : t.image_size, : t.image_size]  # the tiny Swin runs at 64 px
    feats, attn = t(images)
    h, w = t.grid
    assert feats.shape == (2, t.feature_dim, h, w) and attn.shape == (2, h, w)
    assert feats.dtype == attn.dtype == torch.float32
    assert torch.isfinite(feats).all() and torch.isfinite(attn).all()
    assert (attn >= 0).all()
    sums = attn.flatten(1).sum(1)
    if name in CLS_QUERY:  # softmax over query token + positions, then the position columns
        assert (sums <= 1 + 1e-6).all() and (sums > 0.5).all()
    else:  # saliency: softmax over positions
        torch.testing.assert_close(sums, torch.ones(2))
    # images differ -> maps differ (no constant outputs)
    assert not torch.allclose(feats[0], feats[1])


def test_grids_and_feature_dims(tiny_arch):
    expected = {"clip-vit-b16": (32, (14, 14)), "dino-vit-b16": (64, (14, 14)), "vit-b16-in1k": (64, (14, 14)),
                "swin-b": (256, (2, 2)), "resnet50": (64 * 4, (7, 7)), "clip-rn50": (128, (7, 7)),
                "tiny-vit": (16, (14, 14)), "tiny-cnn": (32, (7, 7))}
    for name, (c, grid) in expected.items():
        t = build_teacher(name, weights="random", arch_overrides=tiny_arch[name])
        assert (t.feature_dim, t.grid) == (c, grid), name


def test_full_width_clip_vit_b16_dims():
    """Paper-size widths (768 wide, 12 heads, projection 768 -> 512, QuickGELU), one block to stay fast."""
    t = build_teacher("clip-vit-b16", weights="random", arch_overrides={"depth": 1})
    assert (t.feature_dim, t.grid, t.image_size) == (512, (14, 14), 224)
    assert t.model.embed_dim == 768 and t.model.blocks[0].attn.num_heads == 12
    assert t.model.head.in_features == 768 and t.model.head.out_features == 512
    assert type(t.model.blocks[0].mlp.act).__name__ == "QuickGELU"
    feats, attn = t(torch.randn(1, 3, 224, 224))
    assert feats.shape == (1, 512, 14, 14) and attn.shape == (1, 14, 14)


def test_saliency_matches_formula(tiny_arch, images):
    t = build_teacher("resnet50", weights="random", arch_overrides=tiny_arch["resnet50"])
    feats, attn = t(images)
    with torch.no_grad():
        ref_feats = t.model.forward_features(images)
    torch.testing.assert_close(feats, ref_feats)
    norms = ref_feats.pow(2).sum(1).sqrt().flatten(1).double()
    z = (norms - norms.mean(1, keepdim=True)) / (norms.std(1, keepdim=True, unbiased=False) + 1e-6)
    ref = torch.exp(z) / torch.exp(z).sum(1, keepdim=True)
    torch.testing.assert_close(attn, ref.float().reshape(attn.shape), atol=1e-6, rtol=1e-5)
    # scale-invariant: scaling the features leaves the map unchanged
    torch.testing.assert_close(saliency_attention(3.0 * ref_feats), attn, atol=1e-6, rtol=1e-5)


def test_frozen_eval_and_no_gradient(tiny_arch, images):
    t = build_teacher("clip-vit-b16", weights="random", arch_overrides=tiny_arch["clip-vit-b16"])
    student = nn.Linear(t.feature_dim, t.feature_dim)

    class Parent(nn.Module):
        def __init__(self):
            super().__init__()
            self.student, self.teacher = student, t

    parent = Parent()
    parent.train()
    t.requires_grad_(True)  # a direct request cannot unfreeze it
    assert not t.training and all(not m.training for m in t.modules())
    assert parent.student.training
    assert all(not p.requires_grad for p in t.parameters())

    x = images.clone().requires_grad_(True)
    feats, attn = t(x)
    assert not feats.requires_grad and not attn.requires_grad and feats.grad_fn is None
    assert not feats.is_inference() and not attn.is_inference()  # usable inside autograd graphs
    pred = student(feats.flatten(2).transpose(1, 2))
    loss = (pred - feats.flatten(2).transpose(1, 2)).pow(2).mean() + (attn * pred.mean()).sum()
    loss.backward()
    assert student.weight.grad is not None
    assert all(p.grad is None for p in t.parameters())
    assert x.grad is None
    # even if something flips requires_grad on the teacher's tensors (e.g. parent.requires_grad_(True)
    # walks all nested parameters), the no_grad forward keeps gradients out of the teacher
    parent.requires_grad_(True)
    feats, attn = t(x)
    assert feats.grad_fn is None and attn.grad_fn is None


def test_dropout_would_be_off(tiny_arch, images):
    """Eval mode is real: a teacher built with dropout gives identical outputs twice after .train()."""
    t = build_teacher("dino-vit-b16", weights="random",
                      arch_overrides=dict(tiny_arch["dino-vit-b16"], drop_rate=0.5, attn_drop_rate=0.5))
    t.train()
    a = t(images)
    b = t(images)
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[1], b[1])


def test_bf16_compute_returns_float32_close_to_fp32(tiny_arch, images):
    t32 = build_teacher("tiny-vit", weights="random", arch_overrides=tiny_arch["tiny-vit"])
    t16 = build_teacher("tiny-vit", weights="random", arch_overrides=tiny_arch["tiny-vit"], dtype="bf16")
    t16.load_state_dict(t32.state_dict())
    f32, a32 = t32(images)
    f16, a16 = t16(images)
    assert t16.compute_dtype == torch.bfloat16
    assert f16.dtype == a16.dtype == torch.float32
    assert (f16 - f32).abs().max() < 0.1 * f32.abs().max()
    assert (a16 - a32).abs().max() < 0.1 * a32.max()


def test_bad_inputs(tiny_arch):
    t = build_teacher("tiny-vit", weights="random", arch_overrides=tiny_arch["tiny-vit"])
    with pytest.raises(ValueError, match=r"\(B, 3, 224, 224\).*\(2, 1, 224, 224\)"):
        t(torch.zeros(2, 1, 224, 224))
    with pytest.raises(ValueError, match="received"):
        t(torch.zeros(3, 224, 224))
    with pytest.raises(ValueError, match="dtype"):
        build_teacher("tiny-vit", weights="random", dtype="int8")
    with pytest.raises(ValueError, match="weights"):
        build_teacher("tiny-vit", weights=3)
