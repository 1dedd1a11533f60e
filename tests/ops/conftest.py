"""Shared fixtures for the geometry-op tests: clouds with duplicates and exact ties."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def make_cloud():
    """Factory: random clouds (B, N, 3) with some duplicated points, or integer-grid clouds (exact ties)."""

    def make(B: int, N: int, seed: int = 0, dtype=torch.float64, kind: str = "random") -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        if kind == "grid":  # small integers: many exactly equal distances
            return torch.randint(-3, 4, (B, N, 3), generator=g).to(dtype)
        x = torch.rand(B, N, 3, generator=g, dtype=torch.float64) * 2 - 1
        if kind == "duplicates" and N >= 4:  # copy a quarter of the points onto other points
            n_dup = N // 4
            src = torch.randint(0, N, (B, n_dup), generator=g)
            dst = torch.randint(0, N, (B, n_dup), generator=g)
            for b in range(B):
                x[b, dst[b]] = x[b, src[b]]
        return x.to(dtype)

    return make
