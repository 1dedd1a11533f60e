"""Part segmentation network: Point-M2AE's head on the I2P-MAE encoder (docs/data.md §4).

Every scale's tokens (after its ``encoder_norms`` LayerNorm) are interpolated to all N points and
lifted by (conv, BN, ReLU) x 2 to 1024 channels; the three scales are concatenated (3072), a global
max + mean feature (3072) and a 64-d category embedding are broadcast to every point, and a
4-layer conv head gives log-probabilities over the 50 parts.  Keys equal Point-M2AE's
``Point_M2AE_SEG``; the head keeps PyTorch's default init (the authors never apply theirs).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checkpoint import load_matching
from .encoder import HierarchicalEncoder
from .layers import SegPropagation
from .tokenizer import multi_scale_tokens


class I2PMAESegmentation(nn.Module):
    """forward(points (B, N, 3), category (B,)) -> log-probabilities (B, N, num_parts)."""

    def __init__(
        self,
        num_parts: int = 50,
        num_categories: int = 16,
        *,
        num_groups: Sequence[int] = (512, 256, 64),
        group_sizes: Sequence[int] = (16, 8, 8),
        encoder_dims: Sequence[int] = (96, 192, 384),
        encoder_depths: Sequence[int] = (5, 5, 5),
        num_heads: int = 6,
        drop_path_rate: float = 0.1,
        embed_widths: Sequence[int] = (128, 256, 512),
        local_radius: Sequence[float] = (0.32, 0.64, 1.28),
        propagation_dims: Sequence[int] | None = None,
        label_dim: int = 64,
        head_dims: Sequence[int] = (1024, 512, 256),
        head_dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if not (len(num_groups) == len(group_sizes) == len(encoder_dims)):
            raise ValueError(f"num_groups {list(num_groups)}, group_sizes {list(group_sizes)} and encoder_dims "
                             f"{list(encoder_dims)} must have one entry per scale")
        if len(head_dims) != 3:
            raise ValueError(f"head_dims must hold 3 widths; received {list(head_dims)}")
        self.num_parts = int(num_parts)
        self.num_categories = int(num_categories)
        self.num_groups = [int(g) for g in num_groups]
        self.group_sizes = [int(k) for k in group_sizes]
        self.h_encoder = HierarchicalEncoder(encoder_dims, encoder_depths, num_heads, drop_path_rate,
                                             local_radius, with_norms=True, embed_widths=embed_widths)
        prop = list(propagation_dims) if propagation_dims is not None else [4 * encoder_dims[-1], 1024]
        self.label_conv = nn.Sequential(nn.Conv1d(self.num_categories, label_dim, 1, bias=False),
                                        nn.BatchNorm1d(label_dim), nn.LeakyReLU(0.2))
        self.propagations = nn.ModuleList(SegPropagation(d + 3, prop) for d in encoder_dims)
        per_point = prop[-1] * len(encoder_dims)
        self.convs1 = nn.Conv1d(2 * per_point + label_dim, head_dims[0], 1)
        self.dp1 = nn.Dropout(head_dropout)
        self.convs2 = nn.Conv1d(head_dims[0], head_dims[1], 1)
        self.convs3 = nn.Conv1d(head_dims[1], head_dims[2], 1)
        self.convs4 = nn.Conv1d(head_dims[2], self.num_parts, 1)
        self.bns1 = nn.BatchNorm1d(head_dims[0])
        self.bns2 = nn.BatchNorm1d(head_dims[1])
        self.bns3 = nn.BatchNorm1d(head_dims[2])

    def forward(self, points: Tensor, category: Tensor) -> Tensor:
        B, N, _ = points.shape
        category = category.reshape(-1).long()
        if category.shape[0] != B:
            raise ValueError(f"category must hold one id per cloud ({B}); received shape {tuple(category.shape)}")
        if bool(((category < 0) | (category >= self.num_categories)).any()):
            raise ValueError(f"category ids must be in [0, {self.num_categories - 1}]; received {category.tolist()}")
        scales = multi_scale_tokens(points, self.num_groups, self.group_sizes)
        tokens = self.h_encoder(scales)
        x = torch.cat([prop(points, s.centres, t) for prop, s, t in zip(self.propagations, scales, tokens)], dim=1)
        glob = x.amax(dim=2) + x.mean(dim=2)  # (B, 3072)
        one_hot = F.one_hot(category, self.num_categories).to(x.dtype).unsqueeze(-1)  # (B, 16, 1)
        label = self.label_conv(one_hot)  # (B, 64, 1)
        x = torch.cat([glob.unsqueeze(-1).expand(-1, -1, N), label.expand(-1, -1, N), x], dim=1)
        x = self.dp1(F.relu(self.bns1(self.convs1(x))))
        x = F.relu(self.bns2(self.convs2(x)))
        x = F.relu(self.bns3(self.convs3(x)))
        return F.log_softmax(self.convs4(x).float(), dim=1).transpose(1, 2)  # float32 also under autocast

    def loss(self, log_probs: Tensor, seg: Tensor) -> Tensor:
        """Negative log-likelihood averaged over all B * N points (no smoothing)."""
        if log_probs.dim() != 3 or seg.shape != log_probs.shape[:2]:
            raise ValueError(f"log_probs must be (B, N, P) and seg (B, N); received {tuple(log_probs.shape)} "
                             f"and {tuple(seg.shape)}")
        return F.nll_loss(log_probs.reshape(-1, log_probs.shape[-1]).float(), seg.reshape(-1).long())

    def load_pretrained(self, state_dict: Mapping[str, Any]) -> tuple[list[str], list[str]]:
        """Load the encoder (and its ``encoder_norms``) from a pre-training checkpoint; logs and returns
        (missing, unexpected) keys."""
        return load_matching(self, state_dict, "I2PMAESegmentation")
