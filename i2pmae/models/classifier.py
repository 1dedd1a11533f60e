"""Shape classification network (docs/method.md §6, docs/data.md §5): the hierarchical encoder with local attention,
a LayerNorm on the top-scale tokens, pooling and a 3-layer MLP head.

Keys equal the authors' ``I2P_MAE_ModelNet40`` / ``I2P_MAE_ScanObjectNN`` (``h_encoder.*``, ``norm``,
``cls_head_finetune``).  The encoder is initialised like the pre-training encoder (truncated normal,
as Point-M2AE's classifier does; the authors' I2P-MAE classifier forgets to call its init), the head
keeps PyTorch's default initialisation (as the authors').
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checkpoint import load_matching
from .encoder import HierarchicalEncoder
from .i2pmae import POOLINGS, pool_tokens
from .point_m2ae import m2ae_concat_pool
from .tokenizer import multi_scale_tokens

# + Point-M2AE's ScanObjectNN head: [mean of all tokens, max of tokens 1..] (models/point_m2ae.py)
CLASSIFIER_POOLINGS = POOLINGS + ("m2ae_concat",)


def smoothed_cross_entropy(logits: Tensor, labels: Tensor, smoothing: float) -> Tensor:
    """Cross-entropy against 1 - eps on the true class and eps / (n - 1) on every other class
    (the authors' ``smooth_loss``; PyTorch's ``label_smoothing`` spreads eps / n instead)."""
    if smoothing == 0:
        return F.cross_entropy(logits, labels)
    n = logits.shape[1]
    target = torch.full_like(logits, smoothing / (n - 1)).scatter(1, labels.view(-1, 1), 1.0 - smoothing)
    return -(target * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


class I2PMAEClassifier(nn.Module):
    """Fine-tuning classifier.  Defaults are the ModelNet40 settings (40 classes, max + mean pooling,
    k = 48/24/24, radii 0.24/0.48/0.96, label smoothing 0.2)."""

    def __init__(
        self,
        num_classes: int = 40,
        *,
        pooling: str = "add",
        num_groups: Sequence[int] = (512, 256, 64),
        group_sizes: Sequence[int] = (48, 24, 24),
        encoder_dims: Sequence[int] = (96, 192, 384),
        encoder_depths: Sequence[int] = (5, 5, 5),
        num_heads: int = 6,
        drop_path_rate: float = 0.1,
        embed_widths: Sequence[int] = (128, 256, 512),
        local_radius: Sequence[float] = (0.24, 0.48, 0.96),
        label_smoothing: float = 0.2,
        head_dim: int = 256,
        head_dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if pooling not in CLASSIFIER_POOLINGS:
            raise ValueError(f"pooling must be one of {CLASSIFIER_POOLINGS}; received {pooling!r}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2; received {num_classes}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1); received {label_smoothing}")
        if not (len(num_groups) == len(group_sizes) == len(encoder_dims)):
            raise ValueError(f"num_groups {list(num_groups)}, group_sizes {list(group_sizes)} and encoder_dims "
                             f"{list(encoder_dims)} must have one entry per scale")
        self.num_classes = int(num_classes)
        self.pooling = pooling
        self.num_groups = [int(g) for g in num_groups]
        self.group_sizes = [int(k) for k in group_sizes]
        self.label_smoothing = float(label_smoothing)
        self.h_encoder = HierarchicalEncoder(encoder_dims, encoder_depths, num_heads, drop_path_rate,
                                             local_radius, with_norms=False, embed_widths=embed_widths)
        feat = encoder_dims[-1] * (2 if pooling in ("concat", "m2ae_concat") else 1)
        self.norm = nn.LayerNorm(encoder_dims[-1])
        self.cls_head_finetune = nn.Sequential(
            nn.Linear(feat, head_dim), nn.BatchNorm1d(head_dim), nn.ReLU(inplace=True), nn.Dropout(head_dropout),
            nn.Linear(head_dim, head_dim), nn.BatchNorm1d(head_dim), nn.ReLU(inplace=True), nn.Dropout(head_dropout),
            nn.Linear(head_dim, self.num_classes),
        )

    def forward_features(self, points: Tensor) -> Tensor:
        """Pooled, normalised top-scale tokens (B, C) (2C for concat pooling)."""
        scales = multi_scale_tokens(points, self.num_groups, self.group_sizes)
        tokens = self.norm(self.h_encoder(scales)[-1])
        return m2ae_concat_pool(tokens) if self.pooling == "m2ae_concat" else pool_tokens(tokens, self.pooling)

    def forward(self, points: Tensor) -> Tensor:
        """Logits (B, num_classes) of clouds ``points`` (B, N, 3)."""
        return self.cls_head_finetune(self.forward_features(points))

    def loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Label-smoothed (``label_smoothing`` > 0, ModelNet40) or plain (ScanObjectNN) cross-entropy."""
        labels = labels.reshape(-1).long()
        if logits.dim() != 2 or labels.shape[0] != logits.shape[0]:
            raise ValueError(f"logits must be (B, C) with one label per row; received logits "
                             f"{tuple(logits.shape)} and labels {tuple(labels.shape)}")
        return smoothed_cross_entropy(logits.float(), labels, self.label_smoothing)

    def load_pretrained(self, state_dict: Mapping[str, Any]) -> tuple[list[str], list[str]]:
        """Load the encoder from a pre-training (or fine-tuned) checkpoint; ``module.`` prefixes are stripped,
        missing / unexpected keys are logged (logger ``i2pmae``) and returned."""
        return load_matching(self, state_dict, "I2PMAEClassifier")
