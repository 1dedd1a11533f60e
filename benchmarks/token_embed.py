"""Speed of the scale-1 token embedding with accurate row batch-norm against the previous kernel.

Not a test. The token embedding normalises rows (B*G*k, C). PyTorch's CPU BatchNorm kernel on 2-D
float32 input (what i2pmae used before) loses precision on channels with large means and small spreads;
``batch_norm_rows`` computes the statistics with ``torch.var_mean``. This script times forward+backward
of the whole ``TokenEmbed`` both ways in the same run, interleaved, and also the authors' layout
(Conv1d + BatchNorm1d on (B*G, C, k)), and prints the accuracy of each against float64.

    python benchmarks/token_embed.py [--batch 8] [--groups 512] [--k 32] [--reps 7] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time
from unittest import mock

import torch

from i2pmae.models.layers import token_embed as te


def authors_layout(embed: te.TokenEmbed, groups: torch.Tensor) -> torch.Tensor:
    """Conv1d + BatchNorm1d on (B*G, C, k), as the authors' Token_Embed."""
    B, G, k, C = groups.shape
    x = embed.first_conv(groups.reshape(B * G, k, C).transpose(1, 2))
    glob = x.max(dim=2, keepdim=True).values
    x = embed.second_conv(torch.cat([glob.expand(-1, -1, k), x], dim=1))
    return x.max(dim=2).values.reshape(B, G, -1)


def step(embed: te.TokenEmbed, groups: torch.Tensor, path: str) -> torch.Tensor:
    x = groups.clone().requires_grad_(True)
    if path == "rows, accurate BN (now)":
        y = embed(x)
    elif path == "rows, 2-D BN kernel (before)":
        with mock.patch.object(te, "batch_norm_rows", lambda bn, t: bn(t)):
            y = embed(x)
    else:
        y = authors_layout(embed, x)
    y.square().mean().backward()
    return y.detach()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--groups", type=int, default=512, help="scale-1 groups per cloud (paper: 512)")
    ap.add_argument("--k", type=int, default=16, help="points per group (paper: 16)")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    embed = te.TokenEmbed(3, 96, first_scale=True).to(device)  # the paper's widths 128/256/512
    groups = (torch.randn(args.batch, args.groups, args.k, 3, device=device) * 0.05)
    paths = ["rows, accurate BN (now)", "rows, 2-D BN kernel (before)", "authors' Conv1d layout"]

    ref = step(embed.double(), groups.double(), paths[2])
    embed.float()
    print(f"TokenEmbed forward+backward, batch {args.batch} x {args.groups} groups x {args.k} points, "
          f"widths 128/256/512, {device}, {torch.get_num_threads()} threads, median of {args.reps}")
    times: dict[str, list[float]] = {p: [] for p in paths}
    errors = {p: float((step(embed, groups, p).double() - ref).abs().max() / ref.abs().max()) for p in paths}
    for _ in range(args.reps):
        for p in paths:  # interleaved
            sync(device)
            t0 = time.perf_counter()
            step(embed, groups, p)
            sync(device)
            times[p].append(time.perf_counter() - t0)
    base = statistics.median(times[paths[1]])
    print(f"| path | ms | speed vs before | max rel. error vs float64 |\n|---|---|---|---|")
    for p in paths:
        med = statistics.median(times[p])
        print(f"| {p} | {med * 1e3:.1f} | {base / med:.2f}x | {errors[p]:.1e} |")


if __name__ == "__main__":
    main()
