"""Shared helpers for the teacher tests: tiny architectures, a tiny OpenAI-format CLIP state dict,
a from-scratch CLIP visual forward, and a TorchScript writer for OpenAI-style archives."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from helpers_clip import offline_env  # noqa: F401 (fixture)
from helpers_clip import clip_resblocks, clip_visual_stem, save_torchscript  # OpenAI-format tensors, archives

# Tiny timm architectures per teacher family (random weights; no downloads).
TINY_VIT = dict(depth=2, embed_dim=64, num_heads=4)
TINY_ARCH = {
    "clip-vit-b16": dict(TINY_VIT, num_classes=32),
    "dino-vit-b16": TINY_VIT,
    "vit-b16-in1k": TINY_VIT,
    "simmim-vit-b16": TINY_VIT,
    # 64 px with 2x2 windows: stages of 16, 8, 4, 2 tokens a side (Swin's 224 px first stage is slow)
    "swin-b": dict(embed_dim=32, depths=(1, 1, 1, 1), num_heads=(1, 1, 2, 2), img_size=64, window_size=2),
    "resnet50": dict(layers=(1, 1, 1, 1), channels=(8, 16, 32, 64), stem_width=8),
    "resnet101": dict(layers=(1, 1, 1, 1), channels=(8, 16, 32, 64), stem_width=8),
    "tiny-vit": dict(depth=2, embed_dim=48, num_heads=3, feature_dim=16, num_classes=5),
    "tiny-cnn": dict(channels=(8, 16, 16, 32), feature_dim=16, num_heads=2, num_classes=5),
}


def _tiny_clip_rn_blocks():
    from timm.models.byobnet import ByoBlockCfg

    return dict(blocks=tuple(ByoBlockCfg(type="bottle", d=1, c=c, s=s, br=0.25)
                             for c, s in ((32, 1), (64, 2), (64, 2), (128, 2))), num_classes=48)


@pytest.fixture
def tiny_arch():
    """name -> timm.create_model overrides of a tiny version of that teacher's architecture."""
    return dict(TINY_ARCH, **{"clip-rn50": _tiny_clip_rn_blocks()})


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(0)
    return torch.randn(2, 3, 224, 224, generator=g)


# ---------------------------------------------------------------------------------------------
# OpenAI CLIP format
CLIP_TINY = dict(width=64, layers=2, heads=4, patch=16, image=224, out=32)


def openai_clip_state_dict(width=64, layers=2, heads=4, patch=16, image=224, out=32, seed=0,
                           dtype=torch.float16) -> dict[str, torch.Tensor]:
    """Random tensors under OpenAI CLIP's names (visual tower + a few text-tower keys)."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, std=1.0, mean=0.0):
        return (torch.randn(*shape, generator=g) * std + mean).to(dtype)

    sd = {
        **clip_visual_stem(rnd, width, patch, image, out),
        # text tower and metadata: must be ignored
        "positional_embedding": rnd(7, 16),
        "token_embedding.weight": rnd(10, 16),
        "logit_scale": rnd(()),
        "input_resolution": torch.tensor(image),
    }
    sd.update(clip_resblocks(rnd, "visual.transformer.", width, layers))
    return sd


def clip_visual_reference(sd: dict[str, torch.Tensor], images: torch.Tensor, heads: int
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """CLIP's visual forward written from scratch on OpenAI-named tensors: projected patch tokens
    (B, out, g, g) after ln_post, and the last layer's head-averaged CLS attention over patches (B, g, g)."""
    p = {k[len("visual."):]: v.double() for k, v in sd.items() if k.startswith("visual.")}
    x = images.double()
    w = p["conv1.weight"]
    width, patch = w.shape[0], w.shape[-1]
    x = F.conv2d(x, w, stride=patch)
    b, _, g, _ = x.shape
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat([p["class_embedding"].expand(b, 1, width), x], dim=1) + p["positional_embedding"]
    ln = lambda t, name: F.layer_norm(t, (width,), p[name + ".weight"], p[name + ".bias"], eps=1e-5)  # noqa: E731
    x = ln(x, "ln_pre")
    layers = len({k.split(".")[2] for k in p if k.startswith("transformer.resblocks.")})
    d = width // heads
    attn_cls = None
    for i in range(layers):
        r = f"transformer.resblocks.{i}."
        y = ln(x, r + "ln_1")
        qkv = y @ p[r + "attn.in_proj_weight"].T + p[r + "attn.in_proj_bias"]
        q, k, v = (t.reshape(b, -1, heads, d).transpose(1, 2) for t in qkv.chunk(3, dim=-1))
        a = ((q / math.sqrt(d)) @ k.transpose(-2, -1)).softmax(dim=-1)
        attn_cls = a.mean(dim=1)[:, 0, 1:]
        o = (a @ v).transpose(1, 2).reshape(b, -1, width)
        x = x + o @ p[r + "attn.out_proj.weight"].T + p[r + "attn.out_proj.bias"]
        h = ln(x, r + "ln_2") @ p[r + "mlp.c_fc.weight"].T + p[r + "mlp.c_fc.bias"]
        h = h * torch.sigmoid(1.702 * h)  # QuickGELU, as OpenAI's CLIP
        x = x + h @ p[r + "mlp.c_proj.weight"].T + p[r + "mlp.c_proj.bias"]
    x = ln(x, "ln_post")
    feats = x[:, 1:] @ p["proj"]
    return (feats.transpose(1, 2).reshape(b, -1, g, g).float(), attn_cls.reshape(b, g, g).float())


@pytest.fixture
def clip_tools():
    """The OpenAI-CLIP helpers above (tests cannot import conftest under --import-mode=importlib)."""
    from types import SimpleNamespace

    return SimpleNamespace(state_dict=openai_clip_state_dict, reference=clip_visual_reference,
                           save_torchscript=save_torchscript, tiny=CLIP_TINY,
                           arch=dict(depth=CLIP_TINY["layers"], embed_dim=CLIP_TINY["width"],
                                     num_heads=CLIP_TINY["heads"], num_classes=CLIP_TINY["out"]))
