"""Convolutional teachers: ImageNet ResNet-50/101 and CLIP's ResNet-50 (timm ``resnet*``/``resnet50_clip``).

Features: the raw last-stage feature map (C = 2048 for ResNet-50/101 and CLIP-RN50; 7x7 at 224 px); no
projection is added, so the 2D-semantic target is exactly what the 2D network computed.

Attention, since CNNs have no CLS query:
- plain ResNets: :func:`i2pmae.teachers.base.saliency_attention` (softmax over positions of the z-scored
  channel-L2 norm);
- CLIP-RN50: its attention pool *is* a one-query attention layer: the query is the spatial mean token
  (plus its positional embedding), the keys are the mean token and the 49 positions. We take that
  query's attention, head average, softmax over mean + positions, then the 49 position columns, i.e. the
  exact analogue of the ViT CLS attention (rows sum to at most 1), computed from the pool's own weights.
"""

from __future__ import annotations

import torch
from torch import nn

from i2pmae.teachers.base import Teacher, saliency_attention

__all__ = ["ResNetTeacher", "ClipResNetTeacher", "attention_pool_weights"]


def _feature_grid(model: nn.Module, image_size: int) -> tuple[int, int]:
    reduction = int(model.feature_info[-1]["reduction"])
    if image_size % reduction:
        raise ValueError(f"image size {image_size} is not a multiple of the network stride {reduction}")
    return image_size // reduction, image_size // reduction


class ResNetTeacher(Teacher):
    """A timm CNN (``forward_features`` -> (B, C, h, w)) with the saliency attention map."""

    def __init__(self, model: nn.Module, name: str, image_size: int = 224,
                 compute_dtype: torch.dtype = torch.float32) -> None:
        super().__init__(name, int(model.num_features), _feature_grid(model, image_size),
                         image_size=image_size, compute_dtype=compute_dtype)
        self.model = model
        self.freeze()

    def _forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.model.forward_features(images)
        return feats, saliency_attention(feats)


def attention_pool_weights(pool: nn.Module, feats: torch.Tensor) -> torch.Tensor:
    """The mean-token query's attention over the positions of a timm ``AttentionPool2d`` (CLIP's
    attnpool): feats (B, C, h, w) -> (B, h, w), head average, softmax over mean token + positions."""
    from timm.layers import resample_abs_pos_embed

    b, _, h, w = feats.shape
    n = h * w
    x = feats.flatten(2).transpose(1, 2)
    if getattr(pool, "cls_token", None) is not None:
        x = torch.cat([pool.cls_token.expand(b, -1, -1).to(x.dtype), x], dim=1)
    else:
        x = torch.cat([x.mean(1, keepdim=True), x], dim=1)
    pos = resample_abs_pos_embed(pool.pos_embed.unsqueeze(0), (h, w), old_size=pool.feat_size,
                                 num_prefix_tokens=1)
    x = x + pos.to(x.dtype)
    heads, dh = pool.num_heads, pool.head_dim
    if pool.qkv is None:
        q = pool.q(x[:, :1])
        k = pool.k(x)
    else:
        qkv = pool.qkv(x)
        q, k = qkv[:, :1, : heads * dh], qkv[:, :, heads * dh: 2 * heads * dh]
    q = q.reshape(b, 1, heads, dh).transpose(1, 2).float() * pool.scale
    k = k.reshape(b, n + 1, heads, dh).transpose(1, 2).float()
    probs = (q @ k.transpose(-2, -1)).softmax(dim=-1).mean(dim=1)[:, 0]  # (B, n+1)
    return probs[:, 1:].reshape(b, h, w)


class ClipResNetTeacher(Teacher):
    """CLIP's ResNet-50 (timm ``resnet50_clip``): last-stage map + attention-pool query weights."""

    def __init__(self, model: nn.Module, name: str, image_size: int = 224,
                 compute_dtype: torch.dtype = torch.float32) -> None:
        if not hasattr(model.head, "pos_embed"):
            raise ValueError(f"teacher {name!r} needs the CLIP attention-pool head; the model has "
                             f"{type(model.head).__name__}")
        super().__init__(name, int(model.num_features), _feature_grid(model, image_size),
                         image_size=image_size, compute_dtype=compute_dtype)
        self.model = model
        self.freeze()

    def _forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.model.forward_features(images)
        return feats, attention_pool_weights(self.model.head, feats)
