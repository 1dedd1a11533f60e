"""Hierarchical encoder (docs/method.md §1, §4, §6): token embedding/merging and transformer blocks per scale,
run on the visible tokens only.

Clouds of a batch have different numbers of visible tokens.  Each scale therefore sorts the visible
tokens first (a stable argsort, so they keep their order), pads to the batch's longest visible
sequence and masks padded *keys* with an additive -1e5 in every attention; padded query rows are
computed but never read back.  A query always sees itself, so no row is ever fully masked (no NaN,
also in float16).  Padding thus never changes a cloud's result.

Keys of the authors' ``H_Encoder`` are kept: ``token_embed``, ``encoder_pos_embeds``,
``encoder_blocks.<s>.blocks``, ``encoder_norms`` (pre-training and segmentation only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor, nn

from i2pmae.ops import index_points

from .layers import MASK_VALUE, TokenEmbed, TransformerStage, drop_path_schedule, init_trunc_normal, position_mlp
from .tokenizer import Scale


@dataclass
class Packed:
    """Visible tokens of each cloud moved to the front: ``order`` (B, L) original indices, ``valid`` (B, L)."""

    order: Tensor
    valid: Tensor
    rank: Tensor  # (B, G) position of every original token in the sorted order

    @staticmethod
    def from_visible(visible: Tensor) -> Packed:
        full = torch.argsort((~visible).to(torch.uint8), dim=1, stable=True)
        counts = visible.sum(dim=1)
        length = max(int(counts.max()), 1)
        valid = torch.arange(length, device=visible.device).unsqueeze(0) < counts.unsqueeze(1)
        return Packed(order=full[:, :length], valid=valid, rank=torch.argsort(full, dim=1))

    def gather(self, x: Tensor) -> Tensor:
        """(B, G, *C) -> (B, L, *C) visible-first."""
        return index_points(x, self.order)

    def scatter(self, packed: Tensor, fallback: Tensor, visible: Tensor) -> Tensor:
        """Back to (B, G, C): ``packed`` values at visible tokens, ``fallback`` elsewhere."""
        pos = self.rank.clamp(max=packed.shape[1] - 1)
        return torch.where(visible.unsqueeze(-1), index_points(packed, pos), fallback)


def attention_bias(centres: Tensor, valid: Tensor | None, radius: float) -> Tensor | None:
    """Additive mask (B, 1, L, L): -1e5 for padded keys and, with ``radius`` > 0, for keys whose centre is
    at distance >= radius from the query's centre (local attention, docs/method.md §6); the diagonal stays open."""
    if valid is None and radius <= 0:
        return None
    B, L, _ = centres.shape
    blocked = torch.zeros(B, L, L, dtype=torch.bool, device=centres.device)
    if valid is not None:
        blocked |= ~valid.unsqueeze(1)
    if radius > 0:
        c = centres.detach().float()
        diff = c.unsqueeze(2) - c.unsqueeze(1)  # exact per pair, independent of the batch's other clouds
        dist = (diff[..., 0] ** 2 + diff[..., 1] ** 2 + diff[..., 2] ** 2).sqrt()
        blocked |= dist >= radius
    blocked &= ~torch.eye(L, dtype=torch.bool, device=centres.device)
    bias = torch.zeros(B, 1, L, L, dtype=centres.dtype, device=centres.device)
    return bias.masked_fill(blocked.unsqueeze(1), MASK_VALUE)


class HierarchicalEncoder(nn.Module):
    """Multi-scale point transformer encoder.

    ``forward(scales, visible)`` returns one (B, G_s, C_s) tensor per scale (finest first), in the
    original token order: the encoder output (after ``encoder_norms[s]`` when ``with_norms``) at visible
    tokens and zeros at masked ones.  ``visible=None`` encodes every token (fine-tuning).
    Masked tokens of scale s - 1 still feed scale s's token merging with their raw embedding.
    """

    def __init__(self, encoder_dims: Sequence[int], encoder_depths: Sequence[int], num_heads: int,
                 drop_path_rate: float, local_radius: Sequence[float], with_norms: bool,
                 embed_widths: Sequence[int] = (128, 256, 512)) -> None:
        super().__init__()
        n = len(encoder_dims)
        if not (len(encoder_depths) == len(local_radius) == n) or n < 1:
            raise ValueError(f"encoder_dims {list(encoder_dims)}, encoder_depths {list(encoder_depths)} and "
                             f"local_radius {list(local_radius)} must have one entry per scale")
        self.encoder_dims = [int(d) for d in encoder_dims]
        self.local_radius = [float(r) for r in local_radius]
        self.token_embed = nn.ModuleList()
        self.encoder_pos_embeds = nn.ModuleList()
        for s, dim in enumerate(self.encoder_dims):
            in_c = 3 if s == 0 else self.encoder_dims[s - 1]
            self.token_embed.append(TokenEmbed(in_c, dim, first_scale=s == 0, embed_widths=tuple(embed_widths)))
            self.encoder_pos_embeds.append(position_mlp(dim))
        rates = drop_path_schedule(drop_path_rate, encoder_depths)
        self.encoder_blocks = nn.ModuleList(
            TransformerStage(dim, depth, num_heads, rates[s])
            for s, (dim, depth) in enumerate(zip(self.encoder_dims, encoder_depths))
        )
        self.encoder_norms = nn.ModuleList(nn.LayerNorm(d) for d in self.encoder_dims) if with_norms else None
        self.apply(init_trunc_normal)

    @property
    def num_scales(self) -> int:
        return len(self.encoder_dims)

    def forward(self, scales: Sequence[Scale], visible: Sequence[Tensor] | None = None) -> list[Tensor]:
        if len(scales) != self.num_scales:
            raise ValueError(f"expected {self.num_scales} scales of tokens; received {len(scales)}")
        outputs: list[Tensor] = []
        tokens: Tensor | None = None  # previous scale: encoder output at visible tokens, raw embedding elsewhere
        for s, scale in enumerate(scales):
            groups = scale.relative if s == 0 else index_points(tokens, scale.idx)
            embedded = self.token_embed[s](groups)  # (B, G, C)
            vis = None if visible is None else visible[s]
            if vis is None:
                x = embedded
                bias = attention_bias(scale.centres, None, self.local_radius[s])
                x = self.encoder_blocks[s](x, self.encoder_pos_embeds[s](scale.centres), bias)
                tokens = x
                out = x
            else:
                packed = Packed.from_visible(vis)
                centres = packed.gather(scale.centres)
                bias = attention_bias(centres, packed.valid, self.local_radius[s])
                x = self.encoder_blocks[s](packed.gather(embedded), self.encoder_pos_embeds[s](centres), bias)
                tokens = packed.scatter(x, embedded, vis)
                out = packed.scatter(x, torch.zeros_like(embedded), vis)
            if self.encoder_norms is not None:
                out = self.encoder_norms[s](out)
                if vis is not None:
                    out = out * vis.unsqueeze(-1).to(out.dtype)
            outputs.append(out)
        return outputs
