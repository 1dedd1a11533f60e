"""Building blocks of the I2P-MAE networks."""

from .blocks import (
    MASK_VALUE,
    Attention,
    Block,
    Mlp,
    TransformerStage,
    drop_path_schedule,
    init_trunc_normal,
    init_xavier,
    position_mlp,
    trunc_normal_,
)
from .propagation import ConvBNGELU, ResidualConv, SegPropagation, TokenPropagation
from .token_embed import TokenEmbed

__all__ = [
    "MASK_VALUE",
    "Attention",
    "Block",
    "ConvBNGELU",
    "Mlp",
    "ResidualConv",
    "SegPropagation",
    "TokenEmbed",
    "TokenPropagation",
    "TransformerStage",
    "drop_path_schedule",
    "init_trunc_normal",
    "init_xavier",
    "position_mlp",
    "trunc_normal_",
]
