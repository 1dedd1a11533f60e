"""One pre-training step at the paper's configuration: the authors' code path vs i2pmae online vs from a cache.

Not a test. Builds the network of ``configs/pretrain/i2p-mae.yaml`` with a randomly initialised CLIP ViT-B/16
(no weights are downloaded) and times one full step (augmentation, forward, backward, AdamW step) of
three paths, each in its own worker process (so peak memory is per path: ``ru_maxrss`` of that process on
CPU, ``torch.cuda.max_memory_allocated`` on CUDA), interleaved round by round, median of ``--reps``:

 (i)   reference, written here as the authors' code does it: teacher online in fp32 with explicit softmax
       attention in every block and the CLS row from a second pass, back-projection by bicubic upsampling
       of every map to S x S and a gather, kNN grouping by a full ``cdist`` + ``topk``;
 (ii)  i2pmae online: the lean teacher (fp16 on CUDA, fused attention, one pass), window back-projection,
       chunked kNN;
 (iii) i2pmae from a teacher cache: no 2D model; the batch comes from ``CachedTeacherDataset``.

Then a per-part breakdown of (ii) and (iii) (timed by wrapping the model's parts: inside the timed steps on
CPU, where the wrappers only read the clock; one more synchronised step each on CUDA) and
the cache loader's shapes/s (DataLoader over ``CachedTeacherDataset`` alone, ``--jobs`` workers) against
(iii)'s step shapes/s.  The data are random clouds of 8192 points written in the ShapeNet-55 layout in a
temporary folder; the cache holds random fp16 maps of CLIP's size (512 x 14 x 14, 3 views) with real
pixels and checksums (the teacher's values do not change the step's arithmetic).

    python benchmarks/pretrain_step.py [--device cpu|cuda] [--batch B] [--reps 3] [--quick] [--amp none|bf16]

Defaults: batch 8 on CPU, 64 on CUDA.  ``--quick``: batch 2, 1 rep, a narrow random teacher (smoke test).
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

PATHS = ("reference", "online", "cache")
LABELS = {"reference": "(i) reference (authors' code path)", "online": "(ii) i2pmae online",
          "cache": "(iii) i2pmae from cache"}
PARTS = ("grouping", "projection", "teacher", "back-projection", "encoder", "masking, decoder, losses",
         "backward", "optimiser")


# ----------------------------------------------------------------------------------------------- set-up
def paper_config(args: argparse.Namespace, root: Path) -> dict:
    from i2pmae.engine.config import load_config

    cfg = load_config("pretrain/i2p-mae")
    cfg["teacher"].update(weights="random", dtype=args.teacher_dtype)
    if args.quick:  # a narrow ViT-B/16 stand-in: same grid and feature width, far fewer FLOPs
        cfg["teacher"]["arch_overrides"] = {"depth": 2, "embed_dim": 64, "num_heads": 2}
    cfg["data"]["dataset"] = {"format": "shapenet55", "root": str(root), "npoints": 2048}
    cfg["train"]["amp"] = args.amp
    return cfg


def write_shapes(root: Path, n: int, points: int = 8192) -> None:
    """Random clouds in the ShapeNet-55 layout (what ``write_shapenet55`` in the tests does, bigger)."""
    rng = np.random.default_rng(0)
    pc, lists = root / "ShapeNet55-34" / "shapenet_pc", root / "ShapeNet55-34" / "ShapeNet-55"
    pc.mkdir(parents=True)
    lists.mkdir(parents=True)
    names = []
    for i in range(n):
        x = rng.normal(size=(points, 3)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True) if i % 2 else 1.0
        names.append(f"0{2691156 + i % 4}-m{i:05d}.npy")
        np.save(pc / names[-1], x)
    (lists / "train.txt").write_text("\n".join(names) + "\n")
    (lists / "test.txt").write_text("\n".join(names[:2]) + "\n")


def write_cache(cfg: dict, out: Path, feature_dim: int = 512, grid: tuple[int, int] = (14, 14)) -> None:
    """A valid teacher cache of the dataset with random maps (real pixels and checksums), via the builder
    with a stand-in teacher that returns random maps of CLIP's shape."""
    from i2pmae.tasks import teacher_cache as tc

    dim, hw = feature_dim, tuple(grid)

    class RandomMaps(torch.nn.Module):
        name, feature_dim, grid, compute_dtype = "random-maps", dim, hw, torch.float32

        def forward(self, images):
            g = torch.Generator().manual_seed(images.shape[0])
            n = images.shape[0]
            return torch.randn(n, dim, *hw, generator=g), torch.rand(n, *hw, generator=g) / 200

    original = tc._build_teacher
    tc._build_teacher = lambda cfg, device, seeded=False: RandomMaps()
    try:
        tc.build_teacher_cache(cfg, out, batch_size=16, shard_size=64)
    finally:
        tc._build_teacher = original


# ----------------------------------------------------------------------------------------------- reference
def reference_group(points, centres, k):
    """kNN as the authors' CPU fallback would: the full (M x N) distance matrix, then top-k."""
    from i2pmae.ops import index_points
    from i2pmae.ops.neighbours import Groups

    idx = torch.cdist(centres, points).topk(k, dim=-1, largest=False).indices
    absolute = index_points(points, idx)
    return Groups(idx=idx, absolute=absolute, relative=absolute - centres.unsqueeze(2))


def reference_back_project(maps, points, mapping):
    """Upsample every (C, h, w) map bicubically to S x S, then read each point's pixel (the authors' way)."""
    B, V, C, h, w = maps.shape
    S = mapping.image_size
    up = F.interpolate(maps.reshape(B * V, C, h, w), size=(S, S), mode="bicubic", align_corners=False)
    pix = mapping.pixels(points)  # (B, V, M, 2)
    flat = (pix[..., 0] * S + pix[..., 1]).reshape(B * V, 1, -1).expand(-1, C, -1)
    vals = up.reshape(B * V, C, S * S).gather(2, flat)  # (BV, C, M)
    return vals.reshape(B, V, C, -1).transpose(2, 3)


def reference_teacher(teacher):
    """The authors' CLIP forward: explicit softmax attention in every block, the CLS row from a second pass."""
    from i2pmae.teachers.vit import cls_attention, use_fused_attention

    use_fused_attention(teacher.model, False)

    def _forward(images):
        m = teacher.model
        x = m.norm_pre(m.patch_drop(m._pos_embed(m.patch_embed(images))))
        for blk in m.blocks[:-1]:
            x = blk(x)
        npt = m.num_prefix_tokens
        attn = cls_attention(m.blocks[-1], x, npt)
        tokens = m.head(m.norm(m.blocks[-1](x))[:, npt:])
        b = images.shape[0]
        return tokens.transpose(1, 2).reshape(b, -1, *teacher.grid), attn.reshape(b, *teacher.grid)

    teacher._forward = _forward
    teacher.compute_dtype = torch.float32  # the authors' CPU path runs CLIP in fp32


def check_reference() -> None:
    """The reference ops compute what i2pmae's do (so the timings compare like with like)."""
    from i2pmae.ops import group
    from i2pmae.projection import back_project, project_views

    g = torch.Generator().manual_seed(0)
    pts = torch.randn(2, 512, 3, generator=g)
    a, b = group(pts, pts[:, :64], 8), reference_group(pts, pts[:, :64], 8)
    assert torch.equal(a.idx.sort(-1).values, b.idx.sort(-1).values), "reference kNN differs"
    _, mapping = project_views(pts, (0, 1, 2), 224)
    maps = torch.randn(2, 3, 16, 14, 14, generator=g)
    torch.testing.assert_close(reference_back_project(maps, pts, mapping), back_project(maps, pts, mapping),
                               rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------------------------- timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PartTimer:
    """Seconds spent in each part of a step, by wrapping the functions the model calls."""

    def __init__(self, model, device: torch.device) -> None:
        import i2pmae.models.i2pmae as mod

        self.device, self.seconds, self._undo = device, {p: 0.0 for p in PARTS}, []
        self._wrap(mod, "multi_scale_tokens", "grouping")
        self._wrap(mod, "project_views", "projection")
        self._wrap(mod, "back_project", "back-projection")
        self._wrap(mod, "back_project_pixels", "back-projection")
        self._wrap(model, "run_teacher", "teacher")
        self._wrap(model.h_encoder, "forward", "encoder")

    def _wrap(self, owner, name: str, part: str) -> None:
        original = getattr(owner, name)

        def timed(*a, **kw):
            _sync(self.device)
            t0 = time.perf_counter()
            out = original(*a, **kw)
            _sync(self.device)
            self.seconds[part] += time.perf_counter() - t0
            return out

        had = name in vars(owner)
        setattr(owner, name, timed)
        self._undo.append((owner, name, original, had))

    def close(self) -> None:
        for owner, name, original, had in reversed(self._undo):
            if had:
                setattr(owner, name, original)
            else:
                delattr(owner, name)


def _worker(path: str, args: dict, root: str, conn) -> None:
    """One path in its own process: build, then run a step whenever the parent asks."""
    ns = argparse.Namespace(**args)
    torch.set_num_threads(ns.threads or torch.get_num_threads())
    device = torch.device(ns.device)
    import i2pmae.models.i2pmae as mod
    import i2pmae.models.tokenizer as tok
    from i2pmae.data import build_dataset
    from i2pmae.data.teacher_cache import CachedTeacherDataset, TeacherCache, teacher_maps
    from i2pmae.data.transforms import build_transforms
    from i2pmae.engine.loop import resolve_amp
    from i2pmae.engine.optim import build_optimizer
    from i2pmae.tasks.pretrain import build_pretrain_model

    cfg = paper_config(ns, Path(root))
    torch.manual_seed(0)
    if path == "reference":
        tok.group = reference_group
        mod.back_project = reference_back_project
    cache = TeacherCache(Path(root) / "cache") if path == "cache" else None
    model = build_pretrain_model(cfg, device, cache).to(device).train()
    if path == "reference":
        reference_teacher(model.teacher)
    opt = build_optimizer(model, cfg["train"])
    augment = build_transforms(["scale_translate"])
    amp = resolve_amp(ns.amp, device)
    data = build_dataset(cfg["data"]["dataset"], "train")
    if cache is not None:
        data = CachedTeacherDataset(data, cache)
    batch = torch.utils.data.default_collate([data[i % len(data)] for i in range(ns.batch)])
    batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
    maps = teacher_maps(batch)
    gen = torch.Generator().manual_seed(0)

    def step(timer: PartTimer | None) -> float:
        _sync(device)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            points = augment(batch["points"], generator=gen)
            out = model(points) if maps is None else model(points, teacher_maps=maps)
        _sync(device)
        t1 = time.perf_counter()
        out["loss"].backward()
        _sync(device)
        t2 = time.perf_counter()
        opt.step()
        _sync(device)
        t3 = time.perf_counter()
        if timer is not None:
            s = timer.seconds
            s["backward"], s["optimiser"] = t2 - t1, t3 - t2
            s["masking, decoder, losses"] = (t1 - t0) - sum(s[p] for p in PARTS[:5])
        return t3 - t0

    step(None)  # warm-up
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    conn.send("ready")
    while True:
        cmd = conn.recv()
        if cmd == "step" and device.type == "cpu" and path != "reference":
            # CPU: the parts are timed inside the timed steps (the wrappers only read the clock)
            timer = PartTimer(model, device)
            total = step(timer)
            timer.close()
            conn.send({"total": total, **timer.seconds})
        elif cmd == "step":
            conn.send({"total": step(None)})
        elif cmd == "parts":
            timer = PartTimer(model, device)
            total = step(timer)
            timer.close()
            conn.send({"total": total, **timer.seconds})
        else:
            peak = (torch.cuda.max_memory_allocated(device) if device.type == "cuda"
                    else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
            conn.send(peak)
            return


def loader_rate(root: Path, args: argparse.Namespace, n_batches: int) -> float:
    """Shapes/s of a DataLoader over CachedTeacherDataset alone (points files + cache reads + collate)."""
    from i2pmae.data import build_dataset
    from i2pmae.data.teacher_cache import CachedTeacherDataset, TeacherCache

    cfg = paper_config(args, root)
    data = CachedTeacherDataset(build_dataset(cfg["data"]["dataset"], "train"), TeacherCache(root / "cache"))
    loader = torch.utils.data.DataLoader(data, batch_size=args.batch, shuffle=True, num_workers=args.jobs,
                                         drop_last=True, persistent_workers=args.jobs > 0)
    it = iter(loader)
    next(it)  # workers started, first files opened
    t0, seen = time.perf_counter(), 0
    for _ in range(n_batches):
        try:
            seen += len(next(it)["name"])
        except StopIteration:
            it = iter(loader)
    return seen / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch", type=int, help="clouds per step (default 8 on CPU, 64 on CUDA)")
    p.add_argument("--reps", type=int, default=3, help="timed steps per path (median)")
    p.add_argument("--quick", action="store_true", help="batch 2, 1 rep, a narrow teacher: a smoke test")
    p.add_argument("--amp", default="none", help="autocast of the 3D network: none | bf16 | fp16")
    p.add_argument("--teacher-dtype", default="auto", help="online teacher: auto (fp16 on CUDA) | fp32 | bf16")
    p.add_argument("--jobs", type=int, default=2, help="loader worker processes for the loader measurement")
    p.add_argument("--threads", type=int, default=0, help="torch threads per path process (0: torch's default)")
    p.add_argument("--paths", default=",".join(PATHS), help="which paths, comma-separated")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    if args.batch is None:
        args.batch = 2 if args.quick else (64 if args.device.startswith("cuda") else 8)
    if args.quick:
        args.reps = 1
    paths = [q for q in args.paths.split(",") if q]
    device = torch.device(args.device)
    check_reference()

    with tempfile.TemporaryDirectory(prefix="i2pmae-bench-") as tmp:
        root = Path(tmp)
        write_shapes(root, max(4 * args.batch, 64))
        write_cache(paper_config(args, root), root / "cache")
        ctx = mp.get_context("spawn")
        workers = {}
        for q in paths:  # one at a time: building three CLIPs at once would skew nothing but memory
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(q, vars(args), str(root), child), daemon=True)
            proc.start()
            if parent.recv() != "ready":
                raise RuntimeError(f"path {q} failed to start")
            workers[q] = (proc, parent)
        times, rounds = {q: [] for q in paths}, {q: [] for q in paths}
        for _ in range(args.reps):  # interleaved: every round times each path once
            for q in paths:
                workers[q][1].send("step")
                rounds[q].append(workers[q][1].recv())
                times[q].append(rounds[q][-1]["total"])
        parts = {}
        for q in paths:
            if q == "reference":
                continue
            if device.type == "cpu":  # the median step's own parts
                parts[q] = sorted(rounds[q], key=lambda r: r["total"])[len(rounds[q]) // 2]
            else:  # CUDA: one more step with a synchronisation around every part
                workers[q][1].send("parts")
                parts[q] = workers[q][1].recv()
        peaks = {}
        for q in paths:
            workers[q][1].send("peak")
            peaks[q] = workers[q][1].recv()
            workers[q][0].join(timeout=60)
        rate = loader_rate(root, args, n_batches=8 if not args.quick else 2) if "cache" in paths else None

    med = {q: statistics.median(t) for q, t in times.items()}
    ref = med.get("reference")
    mem = "peak GPU memory (max_memory_allocated)" if device.type == "cuda" else "peak RSS (own process)"
    print(f"\npre-training step, configs/pretrain/i2p-mae.yaml, random CLIP ViT-B/16{' (narrow, --quick)' if args.quick else ''}, "
          f"batch {args.batch} x 2048 points, device {device}, {args.threads or torch.get_num_threads()} threads per "
          f"path process, amp {args.amp}, teacher dtype {args.teacher_dtype} (online), "
          f"median of {args.reps} interleaved steps\n")
    print(f"| path | s/step | shapes/s | vs (i) | {mem} |\n|---|---|---|---|---|")
    for q in paths:
        ratio = f"{ref / med[q]:.2f}x" if ref else "-"
        print(f"| {LABELS[q]} | {med[q]:.3f} | {args.batch / med[q]:.2f} | {ratio} | {peaks[q] / 2**30:.2f} GiB |")
    if parts:
        how = "the median step's parts" if device.type == "cpu" else "one more step, synchronised around every part"
        print(f"\nper part (s; {how})\n")
        cols = [q for q in ("online", "cache") if q in parts]
        print("| part | " + " | ".join(LABELS[q] for q in cols) + " |\n" + "|---" * (len(cols) + 1) + "|")
        for part in PARTS:
            print(f"| {part} | " + " | ".join(f"{parts[q][part]:.3f} ({100 * parts[q][part] / parts[q]['total']:.0f}%)"
                                              for q in cols) + " |")
        print("| total | " + " | ".join(f"{parts[q]['total']:.3f}" for q in cols) + " |")
    if rate is not None:
        step_rate = args.batch / med["cache"]
        print(f"\ncache loader alone ({args.jobs} workers, batch {args.batch}): {rate:.1f} shapes/s = "
              f"{rate / step_rate:.1f}x the step's {step_rate:.2f} shapes/s of (iii)")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "times": times, "median": med, "peak_bytes": peaks,
                                               "parts": parts, "loader_shapes_per_s": rate}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
