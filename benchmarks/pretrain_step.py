"""One pre-training step at the paper's configuration: the authors' code path vs i2pmae online vs from a cache.

Not a test. Builds the network of ``configs/pretrain/i2p-mae.yaml`` with a randomly initialised CLIP ViT-B/16
(no weights are downloaded) and times one full step (augmentation, forward, backward, AdamW step) of
three paths, each in its own worker process (so peak memory is per path: ``ru_maxrss`` of that process on
CPU, ``torch.cuda.max_memory_allocated`` on CUDA), interleaved round by round, median of ``--reps``:

 (i)   reference, written here (not imported) as the authors' code does it: the teacher online in the
       authors' precision for the device (their ``clip.load`` keeps CLIP's weights in fp16 on CUDA and
       converts them to fp32 on CPU: so fp16 weights on CUDA, fp32 on CPU, whatever ``--teacher-dtype``)
       with explicit softmax attention in every block and the CLS row from a second pass, back-projection
       by bicubic upsampling of every map to S x S and a gather, kNN grouping by a full ``cdist`` +
       ``topk``, and the authors' per-cloud Python loop in the encoder's visible-token selection (at every
       scale, each cloud's visible tokens and centres are copied one cloud at a time into zero-padded
       tensors and its block of the (B, L, L) attention mask is filled); the 3D network in fp32 (the
       authors train without autocast), whatever ``--amp``;
 (ii)  i2pmae online: the lean teacher (fused attention, one pass), window back-projection, chunked kNN;
 (iii) i2pmae from a teacher cache: no 2D model; the batch comes from ``CachedTeacherDataset``.

(ii) and (iii) run with ``--amp auto --teacher-dtype auto`` by default, what users get (``auto``: fp16 teacher
and bf16 autocast on CUDA, bf16 teacher on a CPU with native bf16; ``i2pmae.teachers.cpu_native_bf16``);
``--amp none --teacher-dtype fp32`` gives their fp32 variants.

Roofline: one more step of each path runs under ``torch.utils.flop_counter.FlopCounterMode``, counting the
FLOPs of every matmul, convolution and attention kernel per part (element-wise ops count nothing); the
achieved rate of a part is its FLOPs over its time in the median step, printed as % of the machine's peak
for that part's precision, measured in the same run by timing a large fp32 and bf16 (and on CUDA fp16)
matmul with the same number of threads.

Then a per-part breakdown of (ii) and (iii) (timed by wrapping the model's parts: inside the timed steps on
CPU, where the wrappers only read the clock; one more synchronised step each on CUDA) and
the cache loader's shapes/s (DataLoader over ``CachedTeacherDataset`` alone, ``--jobs`` workers) against
(iii)'s step shapes/s.  The data are random clouds of 8192 points written in the ShapeNet-55 layout in a
temporary folder; the cache holds random fp16 maps of CLIP's size (512 x 14 x 14, 3 views) with real
pixels and checksums (the teacher's values do not change the step's arithmetic).

    python benchmarks/pretrain_step.py [--device cpu|cuda] [--batch B] [--reps 3] [--quick] [--amp auto|none|bf16]
        [--teacher-dtype auto|fp32|bf16|fp16] [--paths reference,online,cache (or i,ii,iii)] [--compile] [--old-embed]

``--compile``: path (iii) also runs compiled as ``train.compile: true`` does (``i2pmae.engine.compile``), in its
own process, interleaved with the others; its first ``WARMUP_COMPILED`` steps (compilation, then the recompile
for a new visible-token count) are not timed but reported as the compile warm-up, and the compiled step's
loss is compared with the eager one's on the same data, seeds and weights. ``--old-embed``: path (iii) also
runs with the token embedding's earlier implementation (``TokenEmbed.forward_concat``: concatenation, separate
BatchNorm, ReLU and casts), interleaved, to time the current one against it in the same run.

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
          "cache": "(iii) i2pmae from cache", "cache+compile": "(iii) from cache, train.compile",
          "cache+old-embed": "(iii) from cache, earlier token embedding"}
COMPILED = "cache+compile"  # --compile: path (iii) once more with train.compile (i2pmae.engine.compile)
OLD_EMBED = "cache+old-embed"  # --old-embed: path (iii) with TokenEmbed.forward_concat (before issue 19 item 2)
WARMUP_COMPILED = 3  # warm-up steps of the compiled path (first compile, then the dynamic-shape recompile)
ALIASES = {"i": "reference", "ii": "online", "iii": "cache", **{q: q for q in PATHS}}
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


def reference_teacher(teacher, device: torch.device) -> torch.dtype:
    """The authors' CLIP forward: explicit softmax attention in every block, the CLS row from a second pass,
    in their precision for the device: ``clip.load`` keeps fp16 weights on CUDA and converts to fp32 on CPU
    (the images are cast to the weights' dtype, no autocast). Returns that dtype."""
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
    teacher.compute_dtype = torch.float32  # no autocast: the weights' own dtype, as clip.load leaves it
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    teacher.to(dtype=dtype)  # Teacher.forward casts the images to the weights' dtype
    return dtype


class LoopPacked:
    """The authors' visible-token selection (``H_Encoder.forward`` in their ``models/I2P_MAE.py``), written
    here: per scale, a Python loop over the clouds copies each cloud's visible tokens (and centres) into
    zero-padded (B, L, C) tensors and fills its (n, n) block of a (B, L, L) mask; the encoder's output goes
    back by one boolean-mask assignment. Same values as ``i2pmae.models.encoder.Packed`` (checked in
    :func:`check_reference`), the authors' cost structure (B small copies per tensor and scale, forward and
    backward, and a host sync per cloud on CUDA)."""

    def __init__(self, visible: torch.Tensor) -> None:
        self.visible = visible
        counts = visible.sum(dim=1)
        self.length = max(int(counts.max()), 1)
        B, L = visible.shape[0], self.length
        mask = torch.ones(B, L, L, device=visible.device)
        for b in range(B):  # the authors' loop: mask_vis[bz][0:n, 0:n] = 0
            n = counts[b]
            mask[b][0:n, 0:n] = 0
        self.valid = mask[:, :, 0] == 0

    @staticmethod
    def from_visible(visible: torch.Tensor) -> "LoopPacked":
        return LoopPacked(visible)

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        out = x.new_zeros(x.shape[0], self.length, *x.shape[2:])
        for b in range(x.shape[0]):  # the authors' loop: x_vis[bz][0:n] = tokens[bz][vis[bz]]
            sel = x[b][self.visible[b]]
            out[b][0:sel.shape[0]] = sel
        return out

    def scatter(self, packed: torch.Tensor, fallback: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        out = fallback.clone()
        out[visible] = packed[self.valid].to(out.dtype)  # group_input_tokens[vis] = x_vis[valid]
        return out


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
    from i2pmae.models.encoder import Packed

    visible = torch.rand(4, 32, generator=g) < 0.3
    visible[:, 0] = True
    x, fallback = torch.randn(4, 32, 5, generator=g), torch.randn(4, 32, 5, generator=g)
    ours, loop = Packed.from_visible(visible), LoopPacked.from_visible(visible)
    v = ours.valid  # padded rows differ (never read: padded keys are masked, padded queries dropped)
    assert torch.equal(v, loop.valid) and torch.equal(ours.gather(x)[v], loop.gather(x)[v]), "reference packing differs"
    y = torch.randn_like(ours.gather(x))
    assert torch.equal(ours.scatter(y, fallback, visible), loop.scatter(y, fallback, visible)), "reference scatter differs"


# ----------------------------------------------------------------------------------------------- timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PartTimer:
    """Seconds spent in each part of a step, by wrapping the functions the model calls."""

    def __init__(self, model, device: torch.device, counter=None) -> None:
        import i2pmae.models.i2pmae as mod

        self.device, self.seconds, self._undo = device, {p: 0.0 for p in PARTS}, []
        self.counter, self.flops = counter, {p: 0 for p in PARTS}
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
            f0 = self.counter.get_total_flops() if self.counter is not None else 0
            t0 = time.perf_counter()
            out = original(*a, **kw)
            _sync(self.device)
            self.seconds[part] += time.perf_counter() - t0
            if self.counter is not None:
                self.flops[part] += self.counter.get_total_flops() - f0
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
    compiled = path == COMPILED
    if path == OLD_EMBED:
        from i2pmae.models.layers import TokenEmbed

        TokenEmbed.fused = False
    path = "cache" if path in (COMPILED, OLD_EMBED) else path
    torch.set_num_threads(ns.threads or torch.get_num_threads())
    device = torch.device(ns.device)
    import i2pmae.models.encoder as enc
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
    if compiled:
        from i2pmae.engine.compile import compile_model

        compile_model(model)
    amp = resolve_amp(ns.amp, device)
    teacher_dtype = getattr(model.teacher, "compute_dtype", None) if getattr(model, "teacher", None) else None
    if path == "reference":
        teacher_dtype = reference_teacher(model.teacher, device)
        amp = None  # the authors' pre-training runs without autocast
        encode, ours = model.h_encoder.forward, enc.Packed

        def loop_encode(*a, **kw):  # the encoder's visible-token selection only (the decoder keeps ours)
            enc.Packed = LoopPacked
            try:
                return encode(*a, **kw)
            finally:
                enc.Packed = ours

        model.h_encoder.forward = loop_encode
    opt = build_optimizer(model, cfg["train"])
    augment = build_transforms(["scale_translate"])
    data = build_dataset(cfg["data"]["dataset"], "train")
    if cache is not None:
        data = CachedTeacherDataset(data, cache)
    batch = torch.utils.data.default_collate([data[i % len(data)] for i in range(ns.batch)])
    batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
    maps = teacher_maps(batch)
    gen = torch.Generator().manual_seed(0)
    losses = []

    def step(timer: PartTimer | None) -> float:
        count = (lambda: timer.counter.get_total_flops()) if timer is not None and timer.counter else (lambda: 0)
        _sync(device)
        t0, f0 = time.perf_counter(), count()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            points = augment(batch["points"], generator=gen)
            out = model(points) if maps is None else model(points, teacher_maps=maps)
        _sync(device)
        t1, f1 = time.perf_counter(), count()
        losses.append(out["loss"].detach())
        out["loss"].backward()
        _sync(device)
        t2, f2 = time.perf_counter(), count()
        opt.step()
        _sync(device)
        t3, f3 = time.perf_counter(), count()
        if timer is not None:
            s = timer.seconds
            s["backward"], s["optimiser"] = t2 - t1, t3 - t2
            s["masking, decoder, losses"] = (t1 - t0) - sum(s[p] for p in PARTS[:5])
            fl = timer.flops
            fl["backward"], fl["optimiser"] = f2 - f1, f3 - f2
            fl["masking, decoder, losses"] = (f1 - f0) - sum(fl[p] for p in PARTS[:5])
        return t3 - t0

    warmup = [step(None) for _ in range(WARMUP_COMPILED if ns.compile else 1)]  # same steps in every path
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    conn.send({"ready": True, "warmup_s": warmup, "warmup_losses": [float(x) for x in losses]})
    while True:
        cmd = conn.recv()
        if cmd == "flops":  # one more step under the FLOP counter (not timed)
            from torch.utils.flop_counter import FlopCounterMode

            with FlopCounterMode(display=False) as counter:
                timer = PartTimer(model, device, counter)
                step(timer)
                timer.close()
            conn.send({"flops": dict(timer.flops), "total": counter.get_total_flops(),
                       "teacher_dtype": str(teacher_dtype).replace("torch.", ""),
                       "amp": str(amp).replace("torch.", "") if amp is not None else "float32"})
            continue
        if cmd == "step" and device.type == "cpu" and path != "reference":
            # CPU: the parts are timed inside the timed steps (the wrappers only read the clock)
            timer = PartTimer(model, device)
            total = step(timer)
            timer.close()
            conn.send({"total": total, "loss": float(losses[-1]), **timer.seconds})
        elif cmd == "step":
            total = step(None)
            conn.send({"total": total, "loss": float(losses[-1])})
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


def parse_paths(value: str) -> list[str]:
    """``--paths``: comma-separated names (reference, online, cache) or numerals (i, ii, iii); unknown
    names are refused before any work."""
    names = [q.strip().lower() for q in value.split(",") if q.strip()]
    bad = [q for q in names if q not in ALIASES]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"unknown path name(s) {', '.join(map(repr, bad)) or '(none given)'}; use a comma-separated subset of "
            f"{', '.join(PATHS)} (or i, ii, iii)")
    return list(dict.fromkeys(ALIASES[q] for q in names))


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int | None = None, reps: int = 5) -> float:
    """Measured peak FLOP/s of this machine for ``dtype``: the best of ``reps`` timed (n x n) @ (n x n)."""
    n = n or (8192 if device.type == "cuda" else 2048)
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    a @ b  # warm-up (kernel selection, packing buffers)
    best = float("inf")
    for _ in range(reps):
        _sync(device)
        t0 = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch", type=int, help="clouds per step (default 8 on CPU, 64 on CUDA)")
    p.add_argument("--reps", type=int, default=3, help="timed steps per path (median)")
    p.add_argument("--quick", action="store_true", help="batch 2, 1 rep, a narrow teacher: a smoke test")
    p.add_argument("--amp", default="auto", help="autocast of the 3D network in (ii), (iii): auto (as train.amp: "
                   "auto) | none | bf16 | fp16; (i) always runs without autocast, as the authors' code")
    p.add_argument("--teacher-dtype", default="auto", help="teacher of (ii): auto (as teacher.dtype: auto) | fp32 | "
                   "bf16 | fp16; (i) always uses the authors' precision: fp16 on CUDA, fp32 on CPU")
    p.add_argument("--jobs", type=int, default=2, help="loader worker processes for the loader measurement")
    p.add_argument("--threads", type=int, default=0, help="torch threads per path process (0: torch's default)")
    p.add_argument("--paths", type=parse_paths, default=list(PATHS),
                   help="which paths, comma-separated: reference,online,cache (or i,ii,iii)")
    p.add_argument("--compile", action="store_true", help="also time path (iii) with train.compile (torch.compile "
                   "of the heavy parts), interleaved with the others; compile warm-up reported, not timed")
    p.add_argument("--old-embed", action="store_true", help="also time path (iii) with the earlier token embedding "
                   "(TokenEmbed.forward_concat), interleaved with the others")
    p.add_argument("--json", help="also write the results here")
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.batch is None:
        args.batch = 2 if args.quick else (64 if args.device.startswith("cuda") else 8)
    if args.quick:
        args.reps = 1
    paths = list(args.paths)
    if (args.compile or args.old_embed) and "cache" not in paths:
        paths.append("cache")
    paths += [OLD_EMBED] * args.old_embed + [COMPILED] * args.compile
    device = torch.device(args.device)
    check_reference()

    with tempfile.TemporaryDirectory(prefix="i2pmae-bench-") as tmp:
        root = Path(tmp)
        write_shapes(root, max(4 * args.batch, 64))
        write_cache(paper_config(args, root), root / "cache")
        ctx = mp.get_context("spawn")
        workers, warmups = {}, {}
        for q in paths:  # one at a time: building three CLIPs at once would skew nothing but memory
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(q, vars(args), str(root), child), daemon=True)
            proc.start()
            while not parent.poll(1.0):  # a worker that dies while building must not leave us waiting
                if not proc.is_alive():
                    raise RuntimeError(f"path {q} failed to start (exit code {proc.exitcode}; its traceback is above)")
            hello = parent.recv()
            if not (isinstance(hello, dict) and hello.get("ready")):
                raise RuntimeError(f"path {q} failed to start")
            warmups[q] = hello
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
        flops = {}
        for q in paths:
            if q not in ("reference", COMPILED, OLD_EMBED):  # compiled: (iii)'s FLOPs; the earlier embedding: not counted
                workers[q][1].send("flops")
                flops[q] = workers[q][1].recv()
        peaks = {}
        for q in paths:
            workers[q][1].send("peak")
            peaks[q] = workers[q][1].recv()
            workers[q][0].join(timeout=60)
        rate = loader_rate(root, args, n_batches=8 if not args.quick else 2) if "cache" in paths else None

    torch.set_num_threads(args.threads or torch.get_num_threads())  # the path processes' thread count
    peak_dtypes = [torch.float32, torch.bfloat16] + ([torch.float16] if device.type == "cuda" else [])
    machine = {str(d).replace("torch.", ""): matmul_peak(device, d) for d in peak_dtypes}
    med = {q: statistics.median(t) for q, t in times.items()}
    ref = med.get("reference")
    mem = "peak GPU memory (max_memory_allocated)" if device.type == "cuda" else "peak RSS (own process)"
    print(f"\npre-training step, configs/pretrain/i2p-mae.yaml, random CLIP ViT-B/16{' (narrow, --quick)' if args.quick else ''}, "
          f"batch {args.batch} x 2048 points, device {device}, {args.threads or torch.get_num_threads()} threads per "
          f"path process, amp {args.amp}, teacher dtype {args.teacher_dtype} (online), "
          f"median of {args.reps} interleaved steps")
    if "reference" in paths:
        print(f"(i) = the authors' code path re-written here: teacher in "
              f"{'fp16 weights' if device.type == 'cuda' else 'fp32'} as their clip.load on {device.type}, no autocast, "
              f"explicit attention + second CLS pass, bicubic back-projection, cdist kNN, their per-cloud Python "
              f"loop in the visible-token selection")
    for q, f in flops.items():
        print(f"{LABELS[q]}: teacher {f['teacher_dtype']}, 3D network autocast {f['amp']}")
    print()
    print(f"| path | s/step | shapes/s | vs (i) | {mem} |\n|---|---|---|---|---|")
    for q in paths:
        ratio = f"{ref / med[q]:.2f}x" if ref else "-"
        print(f"| {LABELS[q]} | {med[q]:.3f} | {args.batch / med[q]:.2f} | {ratio} | {peaks[q] / 2**30:.2f} GiB |")
    if parts:
        how = "the median step's parts" if device.type == "cpu" else "one more step, synchronised around every part"
        print(f"\nper part (s; {how})\n")
        cols = [q for q in ("online", "cache", OLD_EMBED, COMPILED) if q in parts]
        print("| part | " + " | ".join(LABELS[q] for q in cols) + " |\n" + "|---" * (len(cols) + 1) + "|")
        for part in PARTS:
            print(f"| {part} | " + " | ".join(f"{parts[q][part]:.3f} ({100 * parts[q][part] / parts[q]['total']:.0f}%)"
                                              for q in cols) + " |")
        print("| total | " + " | ".join(f"{parts[q]['total']:.3f}" for q in cols) + " |")
    if flops:
        print("\nmachine peak (best of 5 timed matmuls, same threads): " +
              ", ".join(f"{k} {v / 1e9:.1f} GFLOP/s" for k, v in machine.items()))
        print("\nroofline per part: counted GFLOP (matmul, conv, attention; FlopCounterMode, one more step) / "
              "seconds of the median step = GFLOP/s, % of the peak of the part's precision\n")
        cols = [q for q in ("online", "cache") if q in flops and q in parts]
        print("| part | " + " | ".join(LABELS[q] for q in cols) + " |\n" + "|---" * (len(cols) + 1) + "|")
        for part in PARTS + ("total",):
            cells = []
            for q in cols:
                f = flops[q]["flops"].get(part, 0) if part != "total" else flops[q]["total"]
                sec = parts[q][part]
                prec = flops[q]["teacher_dtype"] if part == "teacher" else flops[q]["amp"]
                if part == "total":
                    prec = flops[q]["amp"]
                pk = machine.get(prec, machine["float32"])
                rate_ = f / sec if sec > 0 else 0.0
                cells.append(f"{f / 1e9:.2f} GFLOP, {rate_ / 1e9:.1f} GFLOP/s, {100 * rate_ / pk:.1f}% of {prec} peak"
                             if f else f"0 counted ({sec:.3f} s)")
            print(f"| {part} | " + " | ".join(cells) + " |")
    if OLD_EMBED in paths:
        print(f"\ntoken embedding: (iii) {med['cache']:.3f} s/step vs the earlier one's {med[OLD_EMBED]:.3f} s/step in "
              f"the same run = {med[OLD_EMBED] / med['cache']:.2f}x")
    if COMPILED in paths:
        w, eager_w = warmups[COMPILED], warmups["cache"]
        print(f"\ntrain.compile: (iii) compiled {med[COMPILED]:.3f} s/step vs eager {med['cache']:.3f} s/step in the same "
              f"run = {med['cache'] / med[COMPILED]:.2f}x; compile warm-up (first {len(w['warmup_s'])} steps, not timed): "
              f"{sum(w['warmup_s']):.1f} s (eager: {sum(eager_w['warmup_s']):.1f} s)")
        pairs = list(zip(eager_w["warmup_losses"] + [r["loss"] for r in rounds["cache"]],
                         w["warmup_losses"] + [r["loss"] for r in rounds[COMPILED]]))
        rel = [abs(a - b) / max(abs(a), 1e-12) for a, b in pairs]
        print(f"losses, eager vs compiled, same data and seeds: relative difference {rel[0]:.2e} at the first step, "
              f"largest {max(rel):.2e} over {len(rel)} steps (later steps drift: the weights were updated by different "
              f"rounding, and inductor draws drop-path's random numbers from its own generator)")
    if rate is not None:
        step_rate = args.batch / med["cache"]
        print(f"\ncache loader alone ({args.jobs} workers, batch {args.batch}): {rate:.1f} shapes/s = "
              f"{rate / step_rate:.1f}x the step's {step_rate:.2f} shapes/s of (iii)")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "times": times, "median": med, "peak_bytes": peaks,
                                               "parts": parts, "flops": flops, "machine_peak_flops": machine,
                                               "warmup": warmups, "rounds": rounds,
                                               "loader_shapes_per_s": rate}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
