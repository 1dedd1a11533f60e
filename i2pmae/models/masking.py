"""Token masking (docs/method.md §4): 2D-guided or random at the top scale, then propagated to lower scales.

All masks here are *visibility* masks: ``True`` = the token is visible to the encoder.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

MASKINGS = ("2d_guided", "random")
VIEW_REDUCTIONS = ("mean", "max", "min")


def num_visible(num_tokens: int, mask_ratio: float) -> int:
    """Tokens kept visible: G - int(ratio * G), the authors' rounding (at least one)."""
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1); received {mask_ratio}")
    keep = num_tokens - int(mask_ratio * num_tokens)
    if keep < 1:
        raise ValueError(f"mask_ratio={mask_ratio} masks all {num_tokens} top-scale tokens; lower it")
    return keep


def _keep_first(order: Tensor, keep: int) -> Tensor:
    """Visibility (B, G) that keeps the first ``keep`` tokens of each row of ``order`` (B, G)."""
    visible = torch.zeros(order.shape, dtype=torch.bool, device=order.device)
    return visible.scatter(1, order[:, :keep], True)


def random_visible(batch: int, num_tokens: int, mask_ratio: float, device: torch.device | str,
                   generator: torch.Generator | None = None) -> Tensor:
    """Uniformly random visibility (B, G) with exactly ``num_visible`` tokens per cloud (Point-M2AE)."""
    keep = num_visible(num_tokens, mask_ratio)
    gen_device = generator.device if generator is not None else device
    noise = torch.rand(batch, num_tokens, generator=generator, device=gen_device).to(device)
    return _keep_first(noise.argsort(dim=1), keep)


def guided_visible(scores: Tensor, mask_ratio: float, temperature: float = 1.0,
                   generator: torch.Generator | None = None) -> Tensor:
    """2D-guided visibility (B, G): draw an order of the tokens without replacement from
    softmax(scores / temperature) and keep the first ``num_visible``; high scores stay visible more often.

    temperature 1 with raw attention probabilities as scores is the authors' (nearly uniform) behaviour.
    """
    if scores.dim() != 2:
        raise ValueError(f"scores must be (B, G); received {tuple(scores.shape)}")
    if not temperature > 0:
        raise ValueError(f"mask_temperature must be > 0; received {temperature}")
    keep = num_visible(scores.shape[1], mask_ratio)
    probs = torch.softmax(scores.float() / temperature, dim=1)
    if generator is not None and generator.device != probs.device:
        probs = probs.to(generator.device)
    order = torch.multinomial(probs, scores.shape[1], replacement=False, generator=generator)
    return _keep_first(order.to(scores.device), keep)


def propagate_visible(visible_upper: Tensor, idx_upper: Tensor, num_lower: int) -> Tensor:
    """Lower-scale visibility: a token is visible iff it is among the k neighbours (``idx_upper``
    (B, G_upper, k) into the lower scale) of at least one visible upper token."""
    B, G, k = idx_upper.shape
    hits = visible_upper.unsqueeze(-1).expand(B, G, k).reshape(B, G * k).to(torch.int32)
    counts = torch.zeros(B, num_lower, dtype=torch.int32, device=idx_upper.device)
    counts.scatter_add_(1, idx_upper.reshape(B, G * k), hits)
    return counts > 0


def multi_scale_visible(visible_top: Tensor, idxs: Sequence[Tensor], sizes: Sequence[int]) -> list[Tensor]:
    """Visibility of every scale, finest first, from the top scale's; ``idxs[s]`` groups scale s from
    scale s - 1 and ``sizes[s]`` is the token count of scale s."""
    out = [visible_top]
    for s in range(len(sizes) - 1, 0, -1):
        out.append(propagate_visible(out[-1], idxs[s], sizes[s - 1]))
    return out[::-1]


def reduce_views(values: Tensor, how: str, dim: int = 1) -> Tensor:
    """Combine per-view values along ``dim`` by mean, max or min (the attention cloud, docs/method.md §4)."""
    if how == "mean":
        return values.mean(dim=dim)
    if how == "max":
        return values.amax(dim=dim)
    if how == "min":
        return values.amin(dim=dim)
    raise ValueError(f"attention_reduction must be one of {VIEW_REDUCTIONS}; received {how!r}")
