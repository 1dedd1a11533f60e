"""Token embedding (scale 1) and token merging (scales > 1): a two-step mini-PointNet.

Module names (``first_conv``, ``second_conv``) and layer indices follow the authors' ``Token_Embed``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class TokenEmbed(nn.Module):
    """Maps each group of k inputs (B, G, k, C_in) to one token (B, G, C_out).

    Per-point conv, BN, ReLU, conv; max over the k points; the max is concatenated to every point;
    conv, BN, ReLU, conv; max over k.  The first scale (xyz inputs) uses the wide 128/256/512 variant.
    """

    def __init__(self, in_channels: int, out_channels: int, first_scale: bool) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        hidden, mid = (128, 256) if first_scale else (in_channels, in_channels)
        wide = 512 if first_scale else out_channels
        self.first_conv = nn.Sequential(
            nn.Conv1d(in_channels, hidden, 1), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Conv1d(hidden, mid, 1)
        )
        self.second_conv = nn.Sequential(
            nn.Conv1d(2 * mid, wide, 1), nn.BatchNorm1d(wide), nn.ReLU(inplace=True), nn.Conv1d(wide, out_channels, 1)
        )

    def forward(self, groups: Tensor) -> Tensor:
        B, G, k, C = groups.shape
        if C != self.in_channels:
            raise ValueError(f"groups must be (B, G, k, {self.in_channels}); received {tuple(groups.shape)}")
        x = self.first_conv(groups.reshape(B * G, k, C).transpose(1, 2))  # (BG, mid, k)
        glob = x.max(dim=2, keepdim=True).values
        x = self.second_conv(torch.cat([glob.expand(-1, -1, k), x], dim=1))
        return x.max(dim=2).values.reshape(B, G, self.out_channels)
