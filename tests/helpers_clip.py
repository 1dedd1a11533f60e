"""A tiny two-tower CLIP in OpenAI's state-dict layout, written from scratch, and float64 references of
its image embedding (CLS after ln_post and proj) and text embedding (end-of-text token after ln_final
and text_projection). Shared by tests/zeroshot and tests/cli/test_cli_zeroshot.py."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

VOCAB = 49408  # open_clip's BPE vocabulary (token ids up to 49407)
TINY = dict(vision_width=128, vision_layers=2, patch=16, image=224, text_width=64, text_layers=2,
            context=77, embed=32)


def clip_resblocks(rnd, prefix: str, width: int, layers: int) -> dict[str, torch.Tensor]:
    """Random tensors of ``layers`` OpenAI CLIP residual blocks under ``prefix`` (``rnd(*shape, std, mean)`` draws)."""
    out = {}
    for i in range(layers):
        p = f"{prefix}resblocks.{i}."
        out.update({
            p + "ln_1.weight": rnd(width, std=0.1, mean=1.0), p + "ln_1.bias": rnd(width, std=0.1),
            p + "attn.in_proj_weight": rnd(3 * width, width, std=2 / math.sqrt(width)),
            p + "attn.in_proj_bias": rnd(3 * width, std=0.1),
            p + "attn.out_proj.weight": rnd(width, width, std=1 / math.sqrt(width)),
            p + "attn.out_proj.bias": rnd(width, std=0.1),
            p + "ln_2.weight": rnd(width, std=0.1, mean=1.0), p + "ln_2.bias": rnd(width, std=0.1),
            p + "mlp.c_fc.weight": rnd(4 * width, width, std=1 / math.sqrt(width)),
            p + "mlp.c_fc.bias": rnd(4 * width, std=0.1),
            p + "mlp.c_proj.weight": rnd(width, 4 * width, std=1 / math.sqrt(4 * width)),
            p + "mlp.c_proj.bias": rnd(width, std=0.1),
        })
    return out


def clip_visual_stem(rnd, width: int, patch: int, image: int, out: int) -> dict[str, torch.Tensor]:
    """The visual tower's tensors outside its blocks, under OpenAI CLIP's names, drawn in this order from
    ``rnd(*shape, std, mean)``."""
    n = (image // patch) ** 2 + 1
    return {
        "visual.conv1.weight": rnd(width, 3, patch, patch, std=1 / math.sqrt(3 * patch * patch)),
        "visual.class_embedding": rnd(width, std=0.5),
        "visual.positional_embedding": rnd(n, width, std=0.5),
        "visual.ln_pre.weight": rnd(width, std=0.1, mean=1.0),
        "visual.ln_pre.bias": rnd(width, std=0.1),
        "visual.ln_post.weight": rnd(width, std=0.1, mean=1.0),
        "visual.ln_post.bias": rnd(width, std=0.1),
        "visual.proj": rnd(width, out, std=1 / math.sqrt(width)),
    }


def clip_state_dict(seed: int = 0, dtype: torch.dtype = torch.float32, vision_width=128, vision_layers=2, patch=16,
                    image=224, text_width=64, text_layers=2, context=77, embed=32) -> dict[str, torch.Tensor]:
    """Random tensors under OpenAI CLIP's names, both towers (heads = width / 64, as OpenAI's)."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, std=1.0, mean=0.0):
        return (torch.randn(*shape, generator=g) * std + mean).to(dtype)


    sd = {
        **clip_visual_stem(rnd, vision_width, patch, image, embed),
        "token_embedding.weight": rnd(VOCAB, text_width, std=0.5),
        "positional_embedding": rnd(context, text_width, std=0.1),
        "ln_final.weight": rnd(text_width, std=0.1, mean=1.0), "ln_final.bias": rnd(text_width, std=0.1),
        "text_projection": rnd(text_width, embed, std=1 / math.sqrt(text_width)),
        "logit_scale": torch.tensor(math.log(100.0), dtype=dtype),
        "input_resolution": torch.tensor(image), "context_length": torch.tensor(context),
        "vocab_size": torch.tensor(VOCAB),
    }
    sd.update(clip_resblocks(rnd, "visual.transformer.", vision_width, vision_layers))
    sd.update(clip_resblocks(rnd, "transformer.", text_width, text_layers))
    return sd


def _transformer(p: dict[str, torch.Tensor], prefix: str, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    width = x.shape[-1]
    heads = width // 64
    d = width // heads
    b, n, _ = x.shape
    ln = lambda t, name: F.layer_norm(t, (width,), p[name + ".weight"], p[name + ".bias"], eps=1e-5)  # noqa: E731
    layers = len({k[len(prefix):].split(".")[1] for k in p if k.startswith(prefix + "resblocks.")})
    for i in range(layers):
        r = f"{prefix}resblocks.{i}."
        qkv = ln(x, r + "ln_1") @ p[r + "attn.in_proj_weight"].T + p[r + "attn.in_proj_bias"]
        q, k, v = (t.reshape(b, n, heads, d).transpose(1, 2) for t in qkv.chunk(3, dim=-1))
        logits = (q / math.sqrt(d)) @ k.transpose(-2, -1)
        if mask is not None:
            logits = logits.masked_fill(mask, float("-inf"))
        o = (logits.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, width)
        x = x + o @ p[r + "attn.out_proj.weight"].T + p[r + "attn.out_proj.bias"]
        h = ln(x, r + "ln_2") @ p[r + "mlp.c_fc.weight"].T + p[r + "mlp.c_fc.bias"]
        h = h * torch.sigmoid(1.702 * h)  # QuickGELU
        x = x + h @ p[r + "mlp.c_proj.weight"].T + p[r + "mlp.c_proj.bias"]
    return x


def image_reference(sd: dict[str, torch.Tensor], images: torch.Tensor) -> torch.Tensor:
    """CLIP's image embedding in float64 (not normalised): (N, 3, S, S) -> (N, embed)."""
    p = {k[len("visual."):]: v.double() for k, v in sd.items() if k.startswith("visual.")}
    w = p["conv1.weight"]
    width = w.shape[0]
    x = F.conv2d(images.double(), w, stride=w.shape[-1]).flatten(2).transpose(1, 2)
    x = torch.cat([p["class_embedding"].expand(x.shape[0], 1, width), x], dim=1) + p["positional_embedding"]
    x = F.layer_norm(x, (width,), p["ln_pre.weight"], p["ln_pre.bias"], eps=1e-5)
    x = _transformer(p, "transformer.", x, None)
    cls = F.layer_norm(x[:, 0], (width,), p["ln_post.weight"], p["ln_post.bias"], eps=1e-5)
    return cls @ p["proj"]


def text_reference(sd: dict[str, torch.Tensor], tokens: torch.Tensor) -> torch.Tensor:
    """CLIP's text embedding in float64 (not normalised): token ids (N, L) -> (N, embed); causal attention,
    the end-of-text token (the largest id) read out."""
    p = {k: v.double() for k, v in sd.items() if not k.startswith("visual.") and v.is_floating_point()}
    n_ctx = tokens.shape[1]
    x = p["token_embedding.weight"][tokens] + p["positional_embedding"][:n_ctx]
    causal = torch.ones(n_ctx, n_ctx, dtype=torch.bool).triu(1)
    x = _transformer(p, "transformer.", x, causal)
    width = x.shape[-1]
    x = F.layer_norm(x, (width,), p["ln_final.weight"], p["ln_final.bias"], eps=1e-5)
    return x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)] @ p["text_projection"]


class _Holder(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def save_torchscript(sd: dict[str, torch.Tensor], path: Path) -> Path:
    """A TorchScript archive whose ``state_dict()`` is ``sd``, like OpenAI's ``ViT-B-16.pt``."""
    root = _Holder()
    for key, value in sd.items():
        *mods, leaf = key.split(".")
        m = root
        for name in mods:
            if not hasattr(m, name):
                m.add_module(name, nn.Module())
            m = getattr(m, name)
        m.register_buffer(leaf, value.clone())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(root, torch.zeros(1)), str(path))
    return path


def save_clip_safetensors(sd: dict[str, torch.Tensor], path: Path) -> Path:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    return path


@pytest.fixture
def offline_env(tmp_path, monkeypatch):
    """No network, empty Hugging Face cache, empty torch hub and OpenAI CLIP caches (the teacher and zero-shot
    tests import this fixture into their conftest)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("I2PMAE_CLIP_CACHE", str(tmp_path / "clip"))
    return tmp_path
