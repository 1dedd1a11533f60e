"""The lean online teacher: one pass per block with fused attention, reduced precision within tolerance."""

import pytest
import torch

from i2pmae.teachers import build_teacher, cls_attention
from i2pmae.teachers.vit import block_with_cls_attention, use_fused_attention


def _two_pass(t, images):
    """The earlier teacher forward: the last block's norm1 + qkv run a second time for the CLS row."""
    m = t.model
    with torch.no_grad():
        x = m.norm_pre(m._pos_embed(m.patch_embed(images)))
        for blk in m.blocks[:-1]:
            x = blk(x)
        attn = cls_attention(m.blocks[-1], x, m.num_prefix_tokens)
        tokens = m.norm(m.blocks[-1](x))[:, m.num_prefix_tokens:]
        feats = m.head(tokens).transpose(1, 2).reshape(images.shape[0], -1, *t.grid)
    return feats, attn.reshape(images.shape[0], *t.grid)


@pytest.mark.parametrize("name", ["clip-vit-b16", "tiny-vit"])
def test_one_pass_equals_two_pass_exactly(name, tiny_arch, images):
    t = build_teacher(name, weights="random", arch_overrides=tiny_arch[name])
    assert all(blk.attn.fused_attn for blk in t.model.blocks)  # F.scaled_dot_product_attention everywhere
    feats, attn = t(images)
    ref_feats, ref_attn = _two_pass(t, images)
    assert torch.equal(feats, ref_feats) and torch.equal(attn, ref_attn)
    m = t.model
    with torch.no_grad():
        x = m.norm_pre(m._pos_embed(m.patch_embed(images)))
        out, row = block_with_cls_attention(m.blocks[0], x, m.num_prefix_tokens)
        assert torch.equal(out, m.blocks[0](x)) and torch.equal(row, cls_attention(m.blocks[0], x, 1))
    assert not m.blocks[0].attn.qkv._forward_hooks  # the hook is removed again


def test_fused_attention_equals_explicit_softmax(tiny_arch, images):
    t = build_teacher("clip-vit-b16", weights="random", arch_overrides=tiny_arch["clip-vit-b16"])
    fused = t(images)
    assert use_fused_attention(t.model, False) == len(t.model.blocks)
    explicit = t(images)
    torch.testing.assert_close(fused[0], explicit[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fused[1], explicit[1], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype, tol", [("bf16", 3e-2), ("fp16", 4e-3)])
def test_reduced_precision_within_stated_tolerance(dtype, tol, tiny_arch, images):
    """Stated tolerance of the reduced-precision teacher (autocast, fp32 weights and outputs): features within
    ``tol`` x max|feature| of fp32 (bf16 3e-2, fp16 4e-3), CLS attention within ``tol`` x max attention."""
    torch.manual_seed(0)
    t32 = build_teacher("clip-vit-b16", weights="random", arch_overrides=tiny_arch["clip-vit-b16"])
    t_low = build_teacher("clip-vit-b16", weights="random", arch_overrides=tiny_arch["clip-vit-b16"], dtype=dtype)
    t_low.load_state_dict(t32.state_dict())
    (f32, a32), (f_low, a_low) = t32(images), t_low(images)
    assert f_low.dtype == torch.float32 and a_low.dtype == torch.float32
    assert (f_low - f32).abs().max() <= tol * f32.abs().max()
    assert (a_low - a32).abs().max() <= tol * a32.abs().max()
    assert (f_low - f32).abs().max() > 0  # really computed in lower precision
