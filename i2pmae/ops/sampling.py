"""Farthest point sampling (FPS), batched in pure PyTorch.

Matches the authors' CUDA ``furthest_point_sampling``: squared Euclidean distances, a running
distance buffer initialised to a large value, and ties resolved to the lower index (``argmax``
returns the first maximum).  Unlike that op, points within 1e-3 of the origin are not skipped.
The loop over the ``n`` samples is inherent to FPS; each step is vectorised over the batch.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_cloud, check_count

_INIT_DISTANCE = 1e10


def farthest_point_sample(
    xyz: Tensor,
    n: int,
    start_idx: int | None = 0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Indices (B, n) of ``n`` points of each cloud ``xyz`` (B, N, 3) chosen by FPS.

    ``start_idx`` is the first sample of every cloud (0: the authors' deterministic choice);
    ``None`` draws one random start per cloud from ``generator`` (or torch's global RNG).
    """
    check_cloud("xyz", xyz)
    B, N, _ = xyz.shape
    check_count("n", n, 1, N, what=f" (the number of points N={N} of each cloud)")
    device = xyz.device
    if start_idx is None:
        gen_device = generator.device if generator is not None else torch.device("cpu")
        farthest = torch.randint(N, (B,), generator=generator, device=gen_device).to(device)
    else:
        check_count("start_idx", start_idx, 0, N - 1, what=" (a point index of the clouds)")
        farthest = torch.full((B,), start_idx, dtype=torch.long, device=device)

    # Coordinates as (B, 3, N) planes in at least float32 (half precision would create spurious
    # ties); the per-step work is a handful of in-place ops on preallocated buffers.
    planes = xyz.detach().to(torch.promote_types(xyz.dtype, torch.float32)).transpose(1, 2).contiguous()
    dist = torch.full((B, N), _INIT_DISTANCE, dtype=planes.dtype, device=device)
    diff = torch.empty_like(planes)
    d = torch.empty_like(dist)
    chosen = []
    for _ in range(n):
        chosen.append(farthest)
        centroid = planes.gather(2, farthest.view(B, 1, 1).expand(B, 3, 1))  # (B, 3, 1)
        torch.sub(planes, centroid, out=diff)
        diff.mul_(diff)
        torch.add(diff[:, 0], diff[:, 1], out=d)
        d.add_(diff[:, 2])  # (dx^2 + dy^2) + dz^2, as the authors' kernel
        torch.minimum(dist, d, out=dist)
        farthest = dist.argmax(dim=1)  # first maximum -> ties go to the lower index
    return torch.stack(chosen, dim=1)
