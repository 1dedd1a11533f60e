"""ViT teachers (CLIP ViT-B/16, DINO ViT-B/16, supervised ViT-B/16, the bundled tiny ViT) on timm.

Features: every patch token (CLS and other prefix tokens dropped) after the final LayerNorm, and, for
CLIP, after CLIP's visual projection (timm holds it as ``head``, Linear 768 -> 512 with a zero bias).
Attention: in the last block, the CLS query's attention over all keys, softmax over CLS + patches,
averaged over heads, then the patch columns: rows are non-negative and sum to at most 1 (exactly 1
with the CLS column), as in docs/method.md §3.

The attention is computed without touching timm's code: every block runs normally with fused attention
(``F.scaled_dot_product_attention``, switched on in every block whatever ``TIMM_FUSED_ATTN`` says), and a
forward hook on the last block's ``qkv`` projection keeps its output, from which the CLS query's row of
the attention is computed (B x heads x 1 x N logits: negligible).  This is the lean path: no block is
run twice and no N x N attention matrix is materialised.  The earlier two-pass form (re-applying the
last block's ``norm1`` and ``qkv``, :func:`cls_attention`) gives bit-identical outputs (tested) and is
used for blocks without a fused ``qkv`` Linear.
"""

from __future__ import annotations

import torch
from torch import nn

from i2pmae.teachers.base import Teacher

__all__ = ["ViTTeacher", "block_with_cls_attention", "cls_attention", "use_fused_attention"]


def _cls_row(attn: nn.Module, qkv_out: torch.Tensor, num_prefix_tokens: int) -> torch.Tensor:
    """CLS-query attention (B, N - prefix) from the output (B, N, 3 * heads * head_dim) of ``attn.qkv``."""
    b, n, _ = qkv_out.shape
    qkv = qkv_out.reshape(b, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    q, k = qkv[0], qkv[1]  # (B, H, N, Dh)
    q, k = attn.q_norm(q), attn.k_norm(k)
    q_cls = q[:, :, :1].float() * attn.scale
    logits = q_cls @ k.float().transpose(-2, -1)  # (B, H, 1, N)
    probs = logits.softmax(dim=-1).mean(dim=1)[:, 0]  # (B, N)
    return probs[:, num_prefix_tokens:]


def block_with_cls_attention(block: nn.Module, x: torch.Tensor,
                             num_prefix_tokens: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(block(x), CLS attention of ``block``) in one pass of the block: its ``qkv`` output is caught by a
    forward hook.  Equal to ``(block(x), cls_attention(block, x))`` without the second qkv projection."""
    qkv = getattr(block.attn, "qkv", None)
    if not isinstance(qkv, nn.Linear) or getattr(block.attn, "gate", None) is not None:
        return block(x), cls_attention(block, x, num_prefix_tokens)
    caught: list[torch.Tensor] = []
    handle = qkv.register_forward_hook(lambda _m, _i, out: caught.append(out))
    try:
        out = block(x)
    finally:
        handle.remove()
    if len(caught) != 1:  # pragma: no cover - a block calling qkv twice is not a timm ViT block
        return out, cls_attention(block, x, num_prefix_tokens)
    return out, _cls_row(block.attn, caught[0], num_prefix_tokens)


def use_fused_attention(model: nn.Module, enabled: bool = True) -> int:
    """Switch timm's fused attention (``F.scaled_dot_product_attention``) on in every attention module
    that has the switch; returns how many were set."""
    count = 0
    for mod in model.modules():
        if hasattr(mod, "fused_attn"):
            mod.fused_attn = bool(enabled)
            count += 1
    return count


def cls_attention(block: nn.Module, x: torch.Tensor, num_prefix_tokens: int = 1) -> torch.Tensor:
    """The CLS (token 0) query's attention over the patch keys in ``block`` (a timm ViT block), head
    average: x (B, N, D) is the block's input -> (B, N - num_prefix_tokens).

    Softmax runs over all N keys (prefix tokens included) in float32, so each row sums to 1 with the
    prefix columns and to at most 1 over the patch columns.
    """
    attn = block.attn
    if getattr(attn, "qkv", None) is None:
        raise ValueError(f"cls_attention needs a fused qkv projection; {type(attn).__name__} has none")
    return _cls_row(attn, attn.qkv(block.norm1(x)), num_prefix_tokens)


class ViTTeacher(Teacher):
    """A timm ``VisionTransformer`` as a teacher.

    ``project=True`` applies ``model.head`` (CLIP's visual projection; the tiny ViT's projection) to the
    patch tokens; otherwise features are the normed tokens (C = embed_dim).
    """

    def __init__(self, model: nn.Module, name: str, project: bool = False,
                 compute_dtype: torch.dtype = torch.float32) -> None:
        if not hasattr(model, "blocks") or not hasattr(model, "patch_embed"):
            raise ValueError(f"ViTTeacher needs a timm VisionTransformer; received {type(model).__name__}")
        if getattr(model, "cls_token", None) is None:
            raise ValueError(f"teacher {name!r}: the ViT has no CLS token, its attention map is undefined")
        grid = tuple(model.patch_embed.grid_size)
        if project:
            head = model.head
            if not isinstance(head, nn.Linear):
                raise ValueError(f"teacher {name!r}: project=True needs a Linear head (the visual "
                                 f"projection); the model has {type(head).__name__}")
            feature_dim = head.out_features
        else:
            feature_dim = model.embed_dim
        img = model.patch_embed.img_size
        super().__init__(name, feature_dim, grid, image_size=int(img[0]), compute_dtype=compute_dtype)
        if img[0] != img[1]:
            raise ValueError(f"teacher {name!r}: only square inputs are supported; received {img}")
        self.model = model
        self.project = project
        use_fused_attention(model)
        self.freeze()

    def _forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.model
        x = m.patch_embed(images)
        x = m._pos_embed(x)
        x = m.patch_drop(x)
        x = m.norm_pre(x)
        for blk in m.blocks[:-1]:
            x = blk(x)
        x, attn = block_with_cls_attention(m.blocks[-1], x, m.num_prefix_tokens)
        x = m.norm(x)
        npt = m.num_prefix_tokens
        tokens = x[:, npt:]
        if self.project:
            tokens = m.head(tokens)
        b = images.shape[0]
        h, w = self.grid
        feats = tokens.transpose(1, 2).reshape(b, tokens.shape[-1], h, w)
        return feats, attn.reshape(b, h, w)
