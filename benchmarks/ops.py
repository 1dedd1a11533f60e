"""Benchmark of i2pmae.ops and i2pmae.projection against straightforward references.

Not a test.  For each op it prints the time per call of i2pmae's version and of a plain reference
written here (python loop over the batch for FPS, full ``torch.cdist`` + ``topk`` for kNN, full
distance matrices for Chamfer, one view at a time for projection, upsample-then-gather for
back-projection), checks that both give the same result, and adds scipy's cKDTree / fpsample as
peers when they are installed.  Peak memory of back-projection is measured with
``torch.cuda.max_memory_allocated`` on CUDA; on CPU each method runs in a fresh subprocess and the
growth of its peak resident set size (``VmHWM`` of ``/proc/self/status``) is reported, next to the
analytic size of the largest intermediate.

    python benchmarks/ops.py [--device cpu|cuda] [--quick] [--markdown] [--threads T]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from i2pmae.ops import chamfer_distance, farthest_point_sample, knn
from i2pmae.projection import back_project, project_views
from i2pmae.projection.backproject import BACKPROJECT_CHUNK_ELEMENTS

try:
    from scipy.spatial import cKDTree
except ImportError:  # optional peer
    cKDTree = None
try:
    import fpsample
except ImportError:  # optional peer
    fpsample = None


# ---------------------------------------------------------------- references
def fps_loop_reference(xyz: torch.Tensor, n: int) -> torch.Tensor:
    """FPS one cloud at a time (the usual pure-PyTorch port, looping over the batch)."""
    out = []
    for cloud in xyz:
        dist = torch.full((cloud.shape[0],), 1e10, dtype=cloud.dtype, device=cloud.device)
        far = torch.zeros((), dtype=torch.long, device=cloud.device)
        idx = []
        for _ in range(n):
            idx.append(far)
            dist = torch.minimum(dist, ((cloud - cloud[far]) ** 2).sum(-1))
            far = dist.argmax()
        out.append(torch.stack(idx))
    return torch.stack(out)


def knn_cdist_reference(query: torch.Tensor, ref: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    d = torch.cdist(query, ref)
    val, idx = d.topk(k, dim=-1, largest=False)
    return val**2, idx


def chamfer_reference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    d = torch.cdist(a, b) ** 2
    return d.min(dim=2).values.mean() + d.min(dim=1).values.mean()


def project_one_view_reference(pc: torch.Tensor, S: int = 224) -> torch.Tensor:
    """One view, the authors' way (dense 25-offset tensor, scatter), for one permuted cloud."""
    B, N, _ = pc.shape
    r = torch.arange(-2, 3, device=pc.device, dtype=pc.dtype)
    offsets = torch.stack(torch.meshgrid(r, r, indexing="ij"), -1).reshape(25, 2)
    mn = pc.min(dim=1).values[:, :2]
    g = (pc.max(dim=1).values - pc.min(dim=1).values)[:, :2].max(dim=-1).values / (S - 3)
    idx = torch.floor((pc[:, :, :2] - mn[:, None]) / g[:, None, None])
    dense = (idx[:, :, None] + offsets).reshape(B, N * 25, 2) + 1
    centre = torch.floor((dense.max(dim=1).values + dense.min(dim=1).values) / 2)
    dense = dense + (S // 2 - centre - 1)[:, None]
    dense = dense + (dense < 0).to(dense.dtype) - (dense > S - 1).to(dense.dtype)
    flat = (dense[..., 0] * S + dense[..., 1]).long()
    depth = pc[:, :, None, 2].expand(B, N, 25).reshape(B, N * 25)
    img = torch.zeros(B, S * S, dtype=pc.dtype, device=pc.device).scatter_add_(1, flat, depth)
    img = torch.sigmoid(img).reshape(B, 1, S, S).expand(B, 3, S, S)
    mean = torch.tensor([0.485, 0.456, 0.406], device=pc.device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=pc.device).view(1, 3, 1, 1)
    return (img - mean) / std


def project_reference(points: torch.Tensor) -> torch.Tensor:
    perms = ((0, 1, 2), (2, 0, 1), (1, 2, 0))
    return torch.stack([project_one_view_reference(points[..., list(p)]) for p in perms], dim=1)


def upsample_then_gather(maps: torch.Tensor, points: torch.Tensor, mapping) -> torch.Tensor:
    B, V, C, h, w = maps.shape
    S = mapping.image_size
    up = F.interpolate(maps.reshape(B * V, C, h, w), size=(S, S), mode="bicubic", align_corners=False)
    pix = mapping.pixels(points)
    flat = pix[..., 0] * S + pix[..., 1]
    return up.reshape(B, V, C, S * S).gather(3, flat.unsqueeze(2).expand(-1, -1, C, -1)).permute(0, 1, 3, 2)


# ---------------------------------------------------------------- timing
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timeit(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median seconds per call after one warm-up call."""
    fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


ROWS: list[dict] = []


def report(op: str, setting: str, ours: float, ref_name: str, ref: float | None, match: str, note: str = "") -> None:
    ratio = (f"{ref / ours:.1f}x" if ref / ours >= 1 else f"{ref / ours:.2f}x") if ref is not None else "-"
    ref_ms = f"{ref * 1e3:.1f}" if ref is not None else "-"
    row = dict(op=op, setting=setting, ours=f"{ours * 1e3:.1f}", ref_name=ref_name, ref=ref_ms, ratio=ratio,
               match=match, note=note)
    ROWS.append(row)
    print(f"{op:<16} {setting:<34} ours {row['ours']:>9} ms | {ref_name:<28} {ref_ms:>9} ms | "
          f"speed-up {ratio:>6} | {match} {note}", flush=True)


# ---------------------------------------------------------------- memory probe (CPU, subprocess)
def peak_rss() -> int:
    """Peak resident set size of this process in bytes: VmHWM, which (unlike ru_maxrss, kept
    across fork + exec on Linux) starts afresh in a new program."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def memory_probe(method: str, B: int, M: int, C: int) -> None:
    """Run one back-projection in this (fresh) process and print the growth of peak RSS in bytes."""
    g = torch.Generator().manual_seed(0)
    cloud = torch.rand(B, 2048, 3, generator=g)
    points = cloud[:, :M]
    maps = torch.randn(B, 3, C, 14, 14, generator=g)
    _, mapping = project_views(cloud)
    fn = (lambda: back_project(maps, points, mapping)) if method == "ours" else (
        lambda: upsample_then_gather(maps, points, mapping))
    before = peak_rss()
    out = fn()
    after = peak_rss()
    print(json.dumps({"peak_growth": after - before, "out": out.numel() * out.element_size()}))


def cpu_peak_growth(method: str, B: int, M: int, C: int) -> int:
    res = subprocess.run([sys.executable, __file__, "--memory-probe", method, str(B), str(M), str(C)],
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])["peak_growth"]


# ---------------------------------------------------------------- benchmark
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--quick", action="store_true", help="fewer repeats, skip N=8192")
    p.add_argument("--markdown", action="store_true", help="also print the results as a markdown table")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--memory-probe", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.memory_probe:
        method, B, M, C = args.memory_probe
        memory_probe(method, int(B), int(M), int(C))
        return

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    reps = 2 if args.quick else 5
    B = 8
    g = torch.Generator().manual_seed(0)
    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else platform.processor() or 'cpu'}), "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, B={B}, median of {reps} calls")

    sizes = (2048,) if args.quick else (2048, 8192)
    for N in sizes:
        xyz = torch.rand(B, N, 3, generator=g).to(device)
        r = reps if N == 2048 else max(1, reps // 2)
        # FPS to 512
        ours = timeit(lambda: farthest_point_sample(xyz, 512), device, r)
        ref = timeit(lambda: fps_loop_reference(xyz, 512), device, max(1, r // 2))
        same = torch.equal(farthest_point_sample(xyz, 512), fps_loop_reference(xyz, 512))
        report("FPS", f"{N} -> 512", ours, "python loop over batch", ref, "same order" if same else "DIFFERENT")
        if fpsample is not None:
            arr = xyz.cpu().numpy()
            t = timeit(lambda: [fpsample.fps_sampling(c, 512, start_idx=0) for c in arr], torch.device("cpu"), r)
            report("FPS", f"{N} -> 512", ours, "fpsample (CPU, per cloud)", t, "peer")
        # kNN k=16 of 512 centres
        centres = xyz[:, :512]
        ours = timeit(lambda: knn(centres, xyz, 16), device, r)
        ref = timeit(lambda: knn_cdist_reference(centres, xyz, 16), device, r)
        d_ours, _ = knn(centres, xyz, 16)
        d_ref, _ = knn_cdist_reference(centres, xyz, 16)
        ok = torch.allclose(d_ours, d_ref, atol=1e-5)
        report("kNN k=16", f"512 centres in {N}", ours, "cdist + topk (full matrix)", ref,
               "same distances" if ok else "DIFFERENT")
        if cKDTree is not None:
            arr, q = xyz.cpu().numpy(), centres.cpu().numpy()
            t = timeit(lambda: [cKDTree(a).query(c, k=16) for a, c in zip(arr, q)], torch.device("cpu"), r)
            report("kNN k=16", f"512 centres in {N}", ours, "scipy cKDTree build+query", t, "peer")

    # Chamfer on B*256 groups of 8 vs 8
    a = torch.rand(B * 256, 8, 3, generator=g).to(device)
    b = torch.rand(B * 256, 8, 3, generator=g).to(device)
    ours = timeit(lambda: chamfer_distance(a, b), device, reps * 4)
    ref = timeit(lambda: chamfer_reference(a, b), device, reps * 4)
    ok = torch.allclose(chamfer_distance(a, b), chamfer_reference(a, b), atol=1e-6)
    report("Chamfer L2", f"{B}x256 groups, 8 vs 8", ours, "cdist, min both ways", ref, "same" if ok else "DIFFERENT")
    a.requires_grad_()
    ours = timeit(lambda: chamfer_distance(a, b).backward(), device, reps * 4)
    ref = timeit(lambda: chamfer_reference(a, b).backward(), device, reps * 4)
    report("Chamfer L2 +bwd", f"{B}x256 groups, 8 vs 8", ours, "cdist, min both ways", ref, "-")

    # Projection of 3 views
    cloud = torch.rand(B, 2048, 3, generator=g).to(device) * 2 - 1
    ours = timeit(lambda: project_views(cloud), device, reps)
    ref = timeit(lambda: project_reference(cloud), device, reps)
    ok = torch.allclose(project_views(cloud)[0], project_reference(cloud), atol=1e-5)
    report("projection", f"3 views of 2048 points, 224^2", ours, "one view at a time", ref, "same" if ok else "DIFFERENT")

    # Back-projection of 512-d 14x14 maps at 2048 points, 3 views
    C, M = 512, 2048
    maps = torch.randn(B, 3, C, 14, 14, generator=g).to(device)
    points = cloud
    _, mapping = project_views(cloud)
    ours = timeit(lambda: back_project(maps, points, mapping), device, reps)
    ref = timeit(lambda: upsample_then_gather(maps, points, mapping), device, max(1, reps // 2))
    err = (back_project(maps, points, mapping) - upsample_then_gather(maps, points, mapping)).abs().max().item()
    report("back-projection", f"3x{C}x14x14 at {M} points", ours, "upsample then gather", ref, f"max |diff| {err:.1e}")

    # Memory of back-projection
    out_bytes = B * 3 * M * C * 4
    up_bytes = B * 3 * C * 224 * 224 * 4
    chunk = min(M, max(1, BACKPROJECT_CHUNK_ELEMENTS // (B * 3 * 196)))
    ours_bytes = B * 3 * chunk * 196 * 4 + out_bytes
    print(f"back-projection memory, analytic largest intermediates: ours {ours_bytes / 2**20:.0f} MiB "
          f"(weights {chunk} points x 196 per image + output), upsample-then-gather {up_bytes / 2**20:.0f} MiB "
          f"(upsampled maps) + output {out_bytes / 2**20:.0f} MiB")
    if device.type == "cuda":
        peaks = {}
        for name, fn in (("ours", lambda: back_project(maps, points, mapping)),
                         ("ref", lambda: upsample_then_gather(maps, points, mapping))):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            fn()
            torch.cuda.synchronize()
            peaks[name] = torch.cuda.max_memory_allocated() - base
        method = "torch.cuda.max_memory_allocated growth"
    else:
        peaks = {name: cpu_peak_growth(name, B, M, C) for name in ("ours", "ref")}
        method = "peak RSS (VmHWM) growth in a fresh subprocess"
    print(f"back-projection peak memory ({method}): ours {peaks['ours'] / 2**20:.0f} MiB, "
          f"upsample-then-gather {peaks['ref'] / 2**20:.0f} MiB ({peaks['ref'] / max(peaks['ours'], 1):.1f}x)")
    ROWS.append(dict(op="back-projection memory", setting=f"3x{C}x14x14 at {M} points",
                     ours=f"{peaks['ours'] / 2**20:.0f} MiB", ref_name="upsample then gather",
                     ref=f"{peaks['ref'] / 2**20:.0f} MiB", ratio=f"{peaks['ref'] / max(peaks['ours'], 1):.1f}x less",
                     match=method, note=""))

    if args.markdown:
        print("\n| op | setting | i2pmae | reference / peer | reference | ratio | check |")
        print("|---|---|---|---|---|---|---|")
        for r in ROWS:
            unit = "" if "MiB" in r["ours"] else " ms"
            print(f"| {r['op']} | {r['setting']} | {r['ours']}{unit} | {r['ref_name']} | {r['ref']}{unit} | "
                  f"{r['ratio']} | {r['match']} |")


if __name__ == "__main__":
    main()
