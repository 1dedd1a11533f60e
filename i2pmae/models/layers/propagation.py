"""Feature propagation between scales: the decoder's token propagation and the segmentation head's.

Module names follow the authors' ``PointNetFeaturePropagation`` (``fuse.net``,
``extraction.operation.<i>.net1/net2``) and Point-M2AE's ``PointNetFeaturePropagation_``
(``mlp_convs``, ``mlp_bns``), so their checkpoints load.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2pmae.ops import three_nn_interpolate


class ConvBNGELU(nn.Module):
    """1x1 conv, BN, GELU (the authors' ``ConvBNReLU1D``, which in fact uses GELU)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv1d(in_channels, out_channels, 1), nn.BatchNorm1d(out_channels), nn.GELU())

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ResidualConv(nn.Module):
    """GELU(x + BN(conv(GELU(BN(conv(x))))))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.net1 = nn.Sequential(nn.Conv1d(channels, channels, 1), nn.BatchNorm1d(channels), nn.GELU())
        self.net2 = nn.Sequential(nn.Conv1d(channels, channels, 1), nn.BatchNorm1d(channels))
        self.act = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.net2(self.net1(x)) + x)


class ResidualStack(nn.Module):
    def __init__(self, channels: int, blocks: int = 1) -> None:
        super().__init__()
        self.operation = nn.Sequential(*[ResidualConv(channels) for _ in range(blocks)])

    def forward(self, x: Tensor) -> Tensor:
        return self.operation(x)


class TokenPropagation(nn.Module):
    """Decoder step to a finer scale: 3-NN interpolation of the coarse decoded tokens, concatenated
    after the fine scale's encoder output (zeros where masked), then conv-BN-GELU and a residual block."""

    def __init__(self, skip_channels: int, coarse_channels: int, out_channels: int, blocks: int = 1) -> None:
        super().__init__()
        self.fuse = ConvBNGELU(skip_channels + coarse_channels, out_channels)
        self.extraction = ResidualStack(out_channels, blocks)

    def forward(self, xyz_fine: Tensor, xyz_coarse: Tensor, skip: Tensor, coarse: Tensor) -> Tensor:
        """xyz_fine (B, N, 3), xyz_coarse (B, S, 3), skip (B, N, C_skip), coarse (B, S, C) -> (B, N, C_out)."""
        x = torch.cat([skip, three_nn_interpolate(xyz_fine, xyz_coarse, coarse)], dim=-1)
        return self.extraction(self.fuse(x.transpose(1, 2))).transpose(1, 2)


class SegPropagation(nn.Module):
    """Point-M2AE's segmentation propagation: [xyz, 3-NN-interpolated tokens] -> (conv, BN, ReLU) x len(mlp)."""

    def __init__(self, in_channels: int, mlp: Sequence[int]) -> None:
        super().__init__()
        self.mlp_convs = nn.ModuleList()
        self.mlp_bns = nn.ModuleList()
        last = in_channels
        for width in mlp:
            self.mlp_convs.append(nn.Conv1d(last, width, 1))
            self.mlp_bns.append(nn.BatchNorm1d(width))
            last = width

    def forward(self, points: Tensor, centres: Tensor, tokens: Tensor) -> Tensor:
        """points (B, N, 3), centres (B, S, 3), tokens (B, S, C) -> per-point features (B, mlp[-1], N)."""
        x = torch.cat([points, three_nn_interpolate(points, centres, tokens)], dim=-1).transpose(1, 2)
        for conv, bn in zip(self.mlp_convs, self.mlp_bns):
            x = F.relu(bn(conv(x)))
        return x
