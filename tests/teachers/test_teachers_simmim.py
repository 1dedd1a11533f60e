"""SimMIM ViT-B/16 teacher: a random checkpoint in SimMIM's released layout (``encoder.`` names, shared
relative position bias, pickled yacs config) loads into timm's BEiT and equals a float64 forward written
from scratch; offline without weights it fails clearly."""

from __future__ import annotations

import math
import sys
import types

import pytest
import torch
import torch.nn.functional as F

from i2pmae.teachers import TeacherWeightsError, build_teacher
from i2pmae.teachers.simmim import SIMMIM_FILE, convert_simmim_state_dict, load_simmim_state_dict

TINY = dict(embed_dim=64, depth=2, num_heads=4)


def simmim_checkpoint(width=64, depth=2, heads=4, patch=16, image=224, seed=0) -> dict[str, torch.Tensor]:
    """Random tensors under SimMIM's pre-training names (encoder + mask token + decoder)."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, std=1.0, mean=0.0):
        return torch.randn(*shape, generator=g) * std + mean

    grid = image // patch
    n_rel = (2 * grid - 1) ** 2 + 3
    sd = {
        "encoder.cls_token": rnd(1, 1, width, std=0.5),
        "encoder.mask_token": rnd(1, 1, width),
        "encoder.patch_embed.proj.weight": rnd(width, 3, patch, patch, std=1 / math.sqrt(3 * patch * patch)),
        "encoder.patch_embed.proj.bias": rnd(width, std=0.1),
        "encoder.rel_pos_bias.relative_position_bias_table": rnd(n_rel, heads, std=0.5),
        "encoder.rel_pos_bias.relative_position_index": torch.zeros(grid * grid + 1, grid * grid + 1, dtype=torch.long),
        "encoder.norm.weight": rnd(width, std=0.1, mean=1.0), "encoder.norm.bias": rnd(width, std=0.1),
        "decoder.0.weight": rnd(patch * patch * 3, width, 1, 1), "decoder.0.bias": rnd(patch * patch * 3),
    }
    for i in range(depth):
        p = f"encoder.blocks.{i}."
        sd.update({
            p + "gamma_1": rnd(width, std=0.1, mean=0.5), p + "gamma_2": rnd(width, std=0.1, mean=0.5),
            p + "norm1.weight": rnd(width, std=0.1, mean=1.0), p + "norm1.bias": rnd(width, std=0.1),
            p + "attn.qkv.weight": rnd(3 * width, width, std=2 / math.sqrt(width)),
            p + "attn.q_bias": rnd(width, std=0.1), p + "attn.v_bias": rnd(width, std=0.1),
            p + "attn.proj.weight": rnd(width, width, std=1 / math.sqrt(width)),
            p + "attn.proj.bias": rnd(width, std=0.1),
            p + "norm2.weight": rnd(width, std=0.1, mean=1.0), p + "norm2.bias": rnd(width, std=0.1),
            p + "mlp.fc1.weight": rnd(4 * width, width, std=1 / math.sqrt(width)),
            p + "mlp.fc1.bias": rnd(4 * width, std=0.1),
            p + "mlp.fc2.weight": rnd(width, 4 * width, std=1 / math.sqrt(4 * width)),
            p + "mlp.fc2.bias": rnd(width, std=0.1),
        })
    return sd


def relative_index(grid: int) -> torch.Tensor:
    """BEiT's index into the shared table: patch pairs by (dy, dx) offset, then cls->patch, patch->cls, cls->cls."""
    n = grid * grid
    n_rel = (2 * grid - 1) ** 2 + 3
    idx = torch.empty(n + 1, n + 1, dtype=torch.long)
    for a in range(n):
        for b in range(n):
            dy, dx = a // grid - b // grid, a % grid - b % grid
            idx[a + 1, b + 1] = (dy + grid - 1) * (2 * grid - 1) + (dx + grid - 1)
    idx[0, :] = n_rel - 3
    idx[:, 0] = n_rel - 2
    idx[0, 0] = n_rel - 1
    return idx


def simmim_reference(sd: dict[str, torch.Tensor], images: torch.Tensor, heads: int):
    """SimMIM's ViT encoder in float64 from its own tensors: (normed patch tokens (B, C, g, g),
    last block's CLS attention over patches (B, g, g))."""
    p = {k[len("encoder."):]: v.double() for k, v in sd.items() if k.startswith("encoder.") and v.is_floating_point()}
    w = p["patch_embed.proj.weight"]
    width = w.shape[0]
    x = F.conv2d(images.double(), w, p["patch_embed.proj.bias"], stride=w.shape[-1])
    b, _, g, _ = x.shape
    x = torch.cat([p["cls_token"].expand(b, 1, width), x.flatten(2).transpose(1, 2)], dim=1)
    n = x.shape[1]
    bias = p["rel_pos_bias.relative_position_bias_table"][relative_index(g).reshape(-1)].reshape(n, n, heads)
    bias = bias.permute(2, 0, 1)
    ln = lambda t, name: F.layer_norm(t, (width,), p[name + ".weight"], p[name + ".bias"], eps=1e-6)  # noqa: E731
    d = width // heads
    depth = len({k.split(".")[1] for k in p if k.startswith("blocks.")})
    for i in range(depth):
        r = f"blocks.{i}."
        qkv_b = torch.cat([p[r + "attn.q_bias"], torch.zeros_like(p[r + "attn.q_bias"]), p[r + "attn.v_bias"]])
        qkv = ln(x, r + "norm1") @ p[r + "attn.qkv.weight"].T + qkv_b
        q, k, v = (t.reshape(b, n, heads, d).transpose(1, 2) for t in qkv.chunk(3, dim=-1))
        a = ((q / math.sqrt(d)) @ k.transpose(-2, -1) + bias).softmax(dim=-1)
        cls_attn = a.mean(dim=1)[:, 0, 1:]
        o = (a @ v).transpose(1, 2).reshape(b, n, width) @ p[r + "attn.proj.weight"].T + p[r + "attn.proj.bias"]
        x = x + p[r + "gamma_1"] * o
        h = F.gelu(ln(x, r + "norm2") @ p[r + "mlp.fc1.weight"].T + p[r + "mlp.fc1.bias"])
        x = x + p[r + "gamma_2"] * (h @ p[r + "mlp.fc2.weight"].T + p[r + "mlp.fc2.bias"])
    x = ln(x, "norm")
    return x[:, 1:].transpose(1, 2).reshape(b, width, g, g), cls_attn.reshape(b, g, g)


@pytest.fixture
def fake_yacs(monkeypatch):
    """A stand-in for yacs' CfgNode (a dict subclass with attributes), so torch.save pickles it like SimMIM's
    checkpoints do; the loader must read it back without importing it."""
    class CfgNode(dict):
        def __init__(self, d=None):
            super().__init__(d or {})
            self.__dict__["__immutable__"] = True
            self.__dict__["__new_allowed__"] = False

    CfgNode.__module__, CfgNode.__qualname__ = "yacs.config", "CfgNode"
    mod = types.ModuleType("yacs.config")
    mod.CfgNode = CfgNode
    monkeypatch.setitem(sys.modules, "yacs", types.ModuleType("yacs"))
    monkeypatch.setitem(sys.modules, "yacs.config", mod)
    return CfgNode


def _save_released_layout(sd, path, cfg_cls):
    cfg = cfg_cls({"MODEL": cfg_cls({"TYPE": "vit", "VIT": cfg_cls({"USE_SHARED_RPB": True})}), "AMP_OPT_LEVEL": "O1"})
    torch.save({"model": sd, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]},
                "lr_scheduler": {"milestones": [700]}, "max_accuracy": 0.0, "epoch": 799, "config": cfg}, path)


def test_released_layout_round_trip_equals_reference(tmp_path, fake_yacs, images):
    sd = simmim_checkpoint()
    path = tmp_path / SIMMIM_FILE
    _save_released_layout(sd, path, fake_yacs)
    del sys.modules["yacs.config"]  # loading must not need yacs
    t = build_teacher("simmim-vit-b16", weights=path, arch_overrides=TINY)
    assert (t.feature_dim, t.grid, t.name) == (64, (14, 14), "simmim-vit-b16")
    feats, attn = t(images)
    ref_f, ref_a = simmim_reference(sd, images, heads=4)
    torch.testing.assert_close(feats, ref_f.float(), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(attn, ref_a.float(), atol=1e-6, rtol=1e-4)
    # in float64 the timm network equals the reference to rounding
    t.model.double()
    with torch.no_grad():
        f64, a64 = t._forward(images.double())
    torch.testing.assert_close(f64, ref_f, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(a64.double(), ref_a, atol=1e-6, rtol=0)  # attention softmax runs in float32


def test_key_mapping():
    sd = simmim_checkpoint()
    conv = convert_simmim_state_dict(sd)
    assert "mask_token" not in conv and not any(k.startswith(("decoder.", "encoder.")) for k in conv)
    assert conv["rel_pos_bias.relative_position_bias_table"] is sd["encoder.rel_pos_bias.relative_position_bias_table"]
    assert convert_simmim_state_dict(conv).keys() == conv.keys()  # timm names pass through


def test_safetensors_and_default_location(tmp_path, offline_env, monkeypatch, images):
    from safetensors.torch import save_file

    sd = simmim_checkpoint(seed=1)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "simmim.safetensors"))
    a = build_teacher("simmim-vit-b16", weights=tmp_path / "simmim.safetensors", arch_overrides=TINY)
    # offline and nothing at torch.hub's checkpoint folder: a clear error, never the BEiT hub weights
    with pytest.raises(TeacherWeightsError, match=rf"simmim-vit-b16.*{SIMMIM_FILE}.*--teacher-weights"):
        build_teacher("simmim-vit-b16", arch_overrides=TINY)
    # the released file where torch.hub keeps downloads is found by default
    hub = offline_env / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save({"model": sd}, hub / SIMMIM_FILE)
    b = build_teacher("simmim-vit-b16", arch_overrides=TINY)
    torch.testing.assert_close(a(images)[0], b(images)[0])


def test_bad_files(tmp_path, monkeypatch):
    sd = simmim_checkpoint()
    sd.pop("encoder.blocks.1.gamma_2")
    torch.save({"model": sd}, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match="missing 1 keys.*gamma_2"):
        build_teacher("simmim-vit-b16", weights=tmp_path / "partial.pth", arch_overrides=TINY)

    class Opaque:  # any other pickled class (here importable while saving only) is refused
        pass

    Opaque.__module__, Opaque.__qualname__ = "opaque_mod", "Opaque"
    mod = types.ModuleType("opaque_mod")
    mod.Opaque = Opaque
    monkeypatch.setitem(sys.modules, "opaque_mod", mod)
    torch.save({"model": simmim_checkpoint(), "extra": Opaque()}, tmp_path / "opaque.pth")
    with pytest.raises(ValueError, match="refused to load: it references the Python object opaque_mod.Opaque") as err:
        load_simmim_state_dict(tmp_path / "opaque.pth")
    assert "weights_only=False" not in str(err.value)
    with pytest.raises(FileNotFoundError, match="not found"):
        build_teacher("simmim-vit-b16", weights=tmp_path / "nope.pth", arch_overrides=TINY)
