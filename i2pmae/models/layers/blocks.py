"""Pre-norm ViT blocks with an additive attention mask, and the initialisations the authors use.

Keys (``norm1``, ``attn.qkv``, ``attn.proj``, ``mlp.fc1``, ``mlp.fc2``, ``norm2``) and the
``<stage>.blocks.<i>`` nesting follow the authors' ``Block`` / ``Encoder_Block`` so their
checkpoints load as they are.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from timm.layers import DropPath
from torch import Tensor, nn

# Added to the attention logits of keys that must not be attended (the authors' value).
MASK_VALUE = -100000.0


@torch.no_grad()
def trunc_normal_(tensor: Tensor, std: float = 0.02) -> Tensor:
    """timm's ``trunc_normal_(t, std=.02)``: N(0, std) cut at -2 and 2.  Those cut-offs lie 100 std out, so
    a clamped normal draw is the same distribution (and much faster than torch's inverse-CDF version)."""
    return tensor.normal_(0.0, std).clamp_(-2.0, 2.0)


def init_trunc_normal(module: nn.Module) -> None:
    """The authors' ``_init_weights``: Linear / 1x1 Conv1d weights N(0, 0.02) truncated, biases 0, LayerNorm (1, 0)."""
    if isinstance(module, (nn.Linear, nn.Conv1d)):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def init_xavier(module: nn.Module) -> None:
    """The authors' decoder-block init: Xavier-uniform Linear weights, biases 0, LayerNorm (1, 0)."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class Mlp(nn.Module):
    """Linear -> GELU -> Linear (MLP ratio 4 in every block of the paper)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    """Multi-head self-attention, no qkv bias; ``bias`` (B, 1 or H, L, L) is added to the logits."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"the token width {dim} must be divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, bias: Tensor | None = None) -> Tensor:
        B, L, C = x.shape
        qkv = self.qkv(x).reshape(B, L, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        if bias is not None:
            bias = bias.to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.proj(out.transpose(1, 2).reshape(B, L, C))


class Block(nn.Module):
    """Pre-norm transformer block: x + DropPath(Attn(LN(x))), then x + DropPath(MLP(LN(x)))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor, bias: Tensor | None = None) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), bias))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class TransformerStage(nn.Module):
    """The blocks of one scale; the positional embedding is added to the input of *every* block."""

    def __init__(self, dim: int, depth: int, num_heads: int, drop_path: Sequence[float]) -> None:
        super().__init__()
        if len(drop_path) != depth:
            raise ValueError(f"need one drop-path rate per block ({depth}); received {len(drop_path)}")
        self.blocks = nn.ModuleList(Block(dim, num_heads, drop_path=float(p)) for p in drop_path)

    def forward(self, x: Tensor, pos: Tensor, bias: Tensor | None = None) -> Tensor:
        for block in self.blocks:
            x = block(x + pos, bias)
        return x


def drop_path_schedule(rate: float, depths: Sequence[int]) -> list[list[float]]:
    """Stochastic-depth rates rising linearly from 0 to ``rate`` over all blocks, split per stage."""
    rates = torch.linspace(0, rate, sum(depths)).tolist()
    out, start = [], 0
    for d in depths:
        out.append(rates[start:start + d])
        start += d
    return out


def position_mlp(dim: int) -> nn.Sequential:
    """Positional embedding of centre coordinates: Linear(3, C), GELU, Linear(C, C)."""
    return nn.Sequential(nn.Linear(3, dim), nn.GELU(), nn.Linear(dim, dim))
