"""SimMIM ViT-B/16 (supplementary Figure 4) as a teacher, on timm's BEiT architecture.

SimMIM's released ViT-B (``simmim_pretrain__vit_base__img224__800ep.pth``) is a BEiT-style ViT: no
absolute position embedding, one relative position bias table shared by all blocks, q/v biases
(no k bias), layer scale (``gamma_1``, ``gamma_2``, init 0.1), LayerNorm eps 1e-6, a final ``norm``
(no mean pooling). timm's ``Beit`` built with ``use_shared_rel_pos_bias=True, use_rel_pos_bias=False,
use_abs_pos_emb=False, init_values=0.1, use_fc_norm=False`` is exactly that network, with the same
parameter names under ``encoder.``.

Key mapping of the released pre-training checkpoint (``{'model': ..., 'config': ..., ...}``):
``encoder.X`` -> ``X`` for every encoder tensor; ``encoder.mask_token`` (SimMIM's [MASK] embedding)
and ``decoder.*`` (the 1x1 conv + pixel-shuffle reconstruction head) are dropped, and
``rel_pos_bias.relative_position_index`` (a constant that timm recomputes) is dropped by timm's own
``beit.checkpoint_filter_fn``. Fine-tuned SimMIM checkpoints (per-block tables, mean pooling) are a
different network and are refused by the strict load.

Features: the patch tokens after the final ``norm`` (768 x 14 x 14). Attention: the last block's CLS
query over CLS + patches with its shared relative position bias, softmax, head mean, patch columns
(as for the other ViTs, ``teachers/README.md``).

The released file also pickles SimMIM's yacs ``CfgNode`` config. It is read with
``torch.load(weights_only=True)``, letting only that one class through, rebuilt as a plain
``OrderedDict`` (its items and attributes are plain data); nothing else is unpickled.
"""

from __future__ import annotations

import collections
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from i2pmae.io_errors import describe_load_error
from i2pmae.teachers.base import Teacher
from i2pmae.teachers.weights import TeacherWeightsError, load_state_dict_file, weights_hint

__all__ = ["SIMMIM_TIMM_NAME", "SIMMIM_ARCH", "SIMMIM_FILE", "SimMIMTeacher", "beit_cls_attention",
           "convert_simmim_state_dict", "load_simmim_state_dict", "simmim_default_state_dict"]

SIMMIM_TIMM_NAME = "beit_base_patch16_224"
SIMMIM_ARCH = dict(use_abs_pos_emb=False, use_rel_pos_bias=False, use_shared_rel_pos_bias=True, init_values=0.1,
                   qkv_bias=True, use_fc_norm=False, num_classes=0)
SIMMIM_FILE = "simmim_pretrain__vit_base__img224__800ep.pth"
_DROPPED = ("mask_token", "decoder.")


def convert_simmim_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """SimMIM names -> timm ``Beit`` names (see the module docstring); timm-named input passes through."""
    if any(k.startswith("encoder.") for k in state_dict):
        state_dict = {k[len("encoder."):]: v for k, v in state_dict.items() if k.startswith("encoder.")}
    return {k: v for k, v in state_dict.items() if not k.startswith(_DROPPED)}


def load_simmim_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Encoder tensors of a SimMIM checkpoint (the released ``.pth`` with its pickled config, or a
    ``.safetensors`` / plain state dict), converted to timm's names."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"SimMIM weights file not found: {path}")
    if path.suffix == ".safetensors":
        return convert_simmim_state_dict(load_state_dict_file(path))
    try:
        with torch.serialization.safe_globals([(collections.OrderedDict, "yacs.config.CfgNode")]):
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - name the file and why, whatever torch raised
        raise ValueError(f"{describe_load_error(path, e)} (SimMIM's released .pth, its 'model' state dict, "
                         "or a .safetensors of it is expected)") from e
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected SimMIM's checkpoint ({{'model': state dict, ...}}) or a state dict")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return convert_simmim_state_dict(dict(obj))


def simmim_default_state_dict() -> tuple[dict[str, torch.Tensor], str]:
    """The released checkpoint where ``torch.hub`` keeps downloads (``$TORCH_HOME/hub/checkpoints``).
    SimMIM's weights are not on the Hugging Face hub, so nothing is downloaded."""
    where = Path(torch.hub.get_dir()) / "checkpoints" / SIMMIM_FILE
    if where.is_file():
        return load_simmim_state_dict(where), str(where)
    raise TeacherWeightsError(
        f"no weights for 2D teacher 'simmim-vit-b16': looked for SimMIM's released checkpoint {where} (SimMIM's "
        f"weights are not on the Hugging Face hub; get {SIMMIM_FILE} from the SimMIM repository's model zoo). "
        f"{weights_hint()}")


def beit_cls_attention(block: nn.Module, x: torch.Tensor, shared_bias: torch.Tensor | None) -> torch.Tensor:
    """The CLS query's attention over the patch keys in a timm BEiT ``block`` (input x (B, N, D)), with
    its relative position biases, softmax over all N keys in float32, head mean -> (B, N - 1)."""
    attn = block.attn
    b, n, _ = x.shape
    y = block.norm1(x)
    bias = None if attn.q_bias is None else torch.cat((attn.q_bias, torch.zeros_like(attn.v_bias), attn.v_bias))
    qkv = F.linear(y, attn.qkv.weight, bias).reshape(b, n, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
    q, k = qkv[0], qkv[1]  # (B, H, N, Dh)
    logits = (q[:, :, :1].float() * attn.scale) @ k.float().transpose(-2, -1)  # (B, H, 1, N)
    if attn.relative_position_bias_table is not None:
        logits = logits + attn._get_rel_pos_bias()[:, :, :1].float()
    if shared_bias is not None:
        logits = logits + shared_bias[:, :1].float().unsqueeze(0)
    return logits.softmax(dim=-1).mean(dim=1)[:, 0, 1:]


class SimMIMTeacher(Teacher):
    """A timm ``Beit`` (SimMIM's ViT) as a teacher: normed patch tokens, last-block CLS attention."""

    def __init__(self, model: nn.Module, name: str, compute_dtype: torch.dtype = torch.float32) -> None:
        if not hasattr(model, "rel_pos_bias") or not hasattr(model, "blocks"):
            raise ValueError(f"SimMIMTeacher needs a timm Beit; received {type(model).__name__}")
        grid = tuple(model.patch_embed.grid_size)
        img = model.patch_embed.img_size
        if img[0] != img[1]:
            raise ValueError(f"teacher {name!r}: only square inputs are supported; received {img}")
        super().__init__(name, model.embed_dim, grid, image_size=int(img[0]), compute_dtype=compute_dtype)
        self.model = model
        self.freeze()

    def _forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.model
        x = m.patch_embed(images)
        x = torch.cat((m.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        if m.pos_embed is not None:
            x = x + m.pos_embed
        x = m.pos_drop(x)
        shared = m.rel_pos_bias() if m.rel_pos_bias is not None else None
        for blk in m.blocks[:-1]:
            x = blk(x, shared_rel_pos_bias=shared)
        last = m.blocks[-1]
        attn = beit_cls_attention(last, x, shared)
        x = m.norm(last(x, shared_rel_pos_bias=shared))
        b = images.shape[0]
        h, w = self.grid
        feats = x[:, 1:].transpose(1, 2).reshape(b, x.shape[-1], h, w)
        return feats, attn.reshape(b, h, w)
