"""The CLIP teachers against from-scratch computations, and OpenAI's checkpoint formats."""

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from i2pmae.teachers import attention_pool_weights, build_teacher, cls_attention, load_state_dict_file
from i2pmae.teachers.weights import is_torchscript_archive


@pytest.fixture
def openai_sd(clip_tools):
    return clip_tools.state_dict(**clip_tools.tiny)


def test_clip_vit_matches_from_scratch_forward(clip_tools, openai_sd, images, tmp_path):
    """OpenAI-named tensors (plain .pth state dict) -> teacher == CLIP's visual forward from scratch."""
    path = tmp_path / "clip.pth"
    torch.save(openai_sd, path)
    t = build_teacher("clip-vit-b16", weights=str(path), arch_overrides=clip_tools.arch)
    feats, attn = t(images)
    ref_feats, ref_attn = clip_tools.reference(openai_sd, images, clip_tools.tiny["heads"])
    # float32 teacher vs float64 reference: 1e-5 relative to the feature scale (|f| reaches ~4 here)
    assert (feats - ref_feats).abs().max() <= 1e-5 * ref_feats.abs().max()
    torch.testing.assert_close(attn, ref_attn, atol=1e-5, rtol=1e-5)
    # the reference's attention is a real (non-uniform) distribution: the comparison is not vacuous
    assert ref_attn.flatten(1).std(1).min() > 1e-3
    # rows: non-negative, < 1 over patches; with the CLS column they sum to 1 exactly
    sums = attn.flatten(1).sum(1)
    assert (attn >= 0).all() and (sums < 1).all()
    m = t.model
    with torch.no_grad():
        x = m.norm_pre(m._pos_embed(m.patch_embed(images)))
        for blk in m.blocks[:-1]:
            x = blk(x)
        full = cls_attention(m.blocks[-1], x, num_prefix_tokens=0)
    torch.testing.assert_close(full.sum(1), torch.ones(2), atol=1e-6, rtol=0)
    torch.testing.assert_close(full[:, 1:].reshape(attn.shape), attn)


def test_openai_torchscript_archive_equals_plain_and_converted(clip_tools, openai_sd, images, tmp_path):
    """The same tensors as a TorchScript archive (OpenAI's ViT-B-16.pt format), as a plain state dict and
    converted to timm names in .safetensors all give the teacher built from the converted timm model."""
    ts = clip_tools.save_torchscript(openai_sd, tmp_path / "ViT-B-16.pt")
    assert is_torchscript_archive(ts)
    loaded = load_state_dict_file(ts)
    assert set(loaded) == set(openai_sd)
    assert all(torch.equal(loaded[k], openai_sd[k]) for k in openai_sd)

    plain = tmp_path / "clip_plain.bin"
    torch.save({"state_dict": openai_sd}, plain)  # wrapped, as some exports are
    t_ts = build_teacher("clip-vit-b16", weights=ts, arch_overrides=clip_tools.arch)
    t_plain = build_teacher("clip-vit-b16", weights=str(plain), arch_overrides=clip_tools.arch)
    timm_sd = {k: v.contiguous() for k, v in t_ts.model.state_dict().items()}
    conv = tmp_path / "clip_timm.safetensors"
    save_file(timm_sd, str(conv))
    t_conv = build_teacher("clip-vit-b16", weights=str(conv), arch_overrides=clip_tools.arch)

    # the converted timm model holds OpenAI's tensors under timm's names
    assert torch.equal(timm_sd["head.weight"], openai_sd["visual.proj"].float().T)
    assert torch.equal(timm_sd["cls_token"].flatten(), openai_sd["visual.class_embedding"].float())
    assert torch.equal(timm_sd["blocks.1.attn.qkv.weight"],
                       openai_sd["visual.transformer.resblocks.1.attn.in_proj_weight"].float())
    outs = [t(images) for t in (t_ts, t_plain, t_conv)]
    for f, a in outs[1:]:
        torch.testing.assert_close(f, outs[0][0], atol=0, rtol=0)
        torch.testing.assert_close(a, outs[0][1], atol=0, rtol=0)
    # the converted timm model's own forward agrees with the teacher's CLS-token path
    with torch.no_grad():
        ref_cls = t_conv.model(images)  # timm: ln_post on CLS, then proj
        m = t_conv.model
        toks = m.norm(m.blocks(m.norm_pre(m._pos_embed(m.patch_embed(images)))))
    torch.testing.assert_close(m.head(toks[:, 0]), ref_cls)
    torch.testing.assert_close(outs[0][0], m.head(toks[:, 1:]).transpose(1, 2).reshape(outs[0][0].shape))


def test_clip_vit_mismatched_checkpoint_is_an_error(clip_tools, openai_sd, tmp_path):
    broken = dict(openai_sd)
    del broken["visual.ln_post.weight"]
    path = tmp_path / "broken.pth"
    torch.save(broken, path)
    with pytest.raises(ValueError, match=r"broken\.pth.*missing 1 keys.*norm\.weight"):
        build_teacher("clip-vit-b16", weights=str(path), arch_overrides=clip_tools.arch)
    wide = clip_tools.state_dict(**dict(clip_tools.tiny, out=16))
    torch.save(wide, path)
    with pytest.raises(ValueError, match=r"shapes do not match.*head\.weight"):
        build_teacher("clip-vit-b16", weights=str(path), arch_overrides=clip_tools.arch)


def test_clip_rn50_attention_pool_matches_multi_head_attention(tiny_arch, images):
    """CLIP-RN50 attention = the attnpool query's weights, as torch's own multi-head attention (used by
    OpenAI's CLIP AttentionPool2d) reports them, head-averaged, position columns."""
    t = build_teacher("clip-rn50", weights="random", arch_overrides=tiny_arch["clip-rn50"])
    feats, attn = t(images)
    pool = t.model.head
    with torch.no_grad():
        ref_feats = t.model.forward_features(images)
        x = ref_feats.flatten(2).permute(2, 0, 1)  # (HW, B, C), OpenAI layout
        x = torch.cat([x.mean(0, keepdim=True), x], dim=0) + pool.pos_embed[:, None]
        out, weights = F.multi_head_attention_forward(
            query=x[:1], key=x, value=x, embed_dim_to_check=x.shape[-1], num_heads=pool.num_heads,
            q_proj_weight=pool.q.weight, k_proj_weight=pool.k.weight, v_proj_weight=pool.v.weight,
            in_proj_weight=None, in_proj_bias=torch.cat([pool.q.bias, pool.k.bias, pool.v.bias]),
            bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0,
            out_proj_weight=pool.proj.weight, out_proj_bias=pool.proj.bias, use_separate_proj_weight=True,
            training=False, need_weights=True, average_attn_weights=True)
        pooled = t.model.head(ref_feats)
    torch.testing.assert_close(out[0], pooled, atol=1e-5, rtol=1e-5)  # same pool as timm's head
    torch.testing.assert_close(feats, ref_feats)
    torch.testing.assert_close(attn, weights[:, 0, 1:].reshape(attn.shape), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(attention_pool_weights(pool, ref_feats), attn)
