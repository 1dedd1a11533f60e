"""Swin-B teacher (timm ``swin_base_patch4_window7_224``).

Features: the last stage's tokens after the final LayerNorm (C = 1024, 7x7 at 224 px). Swin has no CLS
token and its windows attend locally, so the attention map is the same saliency as for plain CNNs:
softmax over positions of the z-scored channel-L2 norm (:func:`i2pmae.teachers.base.saliency_attention`).
"""

from __future__ import annotations

import torch
from torch import nn

from i2pmae.teachers.base import Teacher, saliency_attention

__all__ = ["SwinTeacher"]


class SwinTeacher(Teacher):
    def __init__(self, model: nn.Module, name: str, compute_dtype: torch.dtype = torch.float32) -> None:
        img = model.patch_embed.img_size
        image_size = int(img[0] if isinstance(img, (tuple, list)) else img)
        reduction = int(model.feature_info[-1]["reduction"])
        grid = (image_size // reduction, image_size // reduction)
        super().__init__(name, int(model.num_features), grid, image_size=image_size,
                         compute_dtype=compute_dtype)
        self.model = model
        self.freeze()

    def _forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.model.forward_features(images)  # (B, h, w, C), normed
        feats = feats.permute(0, 3, 1, 2)
        return feats, saliency_attention(feats)
