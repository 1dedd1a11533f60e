"""Token embedding (scale 1) and token merging (scales > 1): a two-step mini-PointNet.

Module names (``first_conv``, ``second_conv``) and layer indices follow the authors' ``Token_Embed``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class TokenEmbed(nn.Module):
    """Maps each group of k inputs (B, G, k, C_in) to one token (B, G, C_out).

    Per-point conv, BN, ReLU, conv; max over the k points; the max is concatenated to every point;
    conv, BN, ReLU, conv; max over k.  The first scale (xyz inputs) uses the wide variant, whose widths
    ``embed_widths`` are the authors' (128, 256, 512); it costs most of a CPU step, so small configs
    (the quickstart) may narrow it.
    """

    def __init__(self, in_channels: int, out_channels: int, first_scale: bool,
                 embed_widths: tuple[int, int, int] = (128, 256, 512)) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        if len(embed_widths) != 3 or min(embed_widths) < 1:
            raise ValueError(f"embed_widths must be three positive widths (hidden, mid, wide); received {embed_widths}")
        hidden, mid = (embed_widths[0], embed_widths[1]) if first_scale else (in_channels, in_channels)
        wide = embed_widths[2] if first_scale else out_channels
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
        # Points as rows (B*G*k, C): the 1x1 convolutions become matrix products, several times faster
        # than CPU convolution kernels on these shapes; BatchNorm over rows equals BatchNorm1d over (N, L).
        x = _pointwise(self.first_conv, groups.reshape(B * G * k, C)).reshape(B * G, k, -1)
        glob = x.max(dim=1, keepdim=True).values
        x = torch.cat([glob.expand(-1, k, -1), x], dim=2).reshape(B * G * k, -1)
        x = _pointwise(self.second_conv, x).reshape(B * G, k, -1)
        return x.max(dim=1).values.reshape(B, G, self.out_channels)


def _pointwise(layers: nn.Sequential, x: Tensor) -> Tensor:
    """Apply Conv1d(kernel 1) / BatchNorm1d / activation layers to rows of ``x`` (N, C)."""
    for layer in layers:
        if isinstance(layer, nn.Conv1d):
            x = F.linear(x, layer.weight.squeeze(-1), layer.bias)
        else:
            x = layer(x)
    return x
