"""Feature-extraction throughput of ``embed`` / ``svm`` (shapes/s): fp32 against bf16 autocast, same run.

Not a test. Builds the encoder of a config (randomly initialised, eval mode, what ``i2pmae svm`` and
``i2pmae embed`` run: ``extract_features``, max-pooled scale-3 tokens) and times it over random clouds in
fp32 and under bf16 autocast (and fp16 on CUDA), median of ``--reps`` passes over ``--shapes`` clouds in
batches of ``--batch``. Prints shapes/s, the ratio to fp32 and how far the low-precision features lie from
fp32's: max |difference| / max |value|, and the smallest cosine similarity of a shape's two feature vectors.

    python benchmarks/extract_features.py [--config pretrain/i2p-mae] [--points 2048] [--shapes 256]
        [--batch 64] [--reps 3] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch


def run(model, clouds: torch.Tensor, batch: int, device: torch.device, dtype: torch.dtype | None) -> torch.Tensor:
    out = []
    with torch.no_grad(), torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        for s in range(0, clouds.shape[0], batch):
            out.append(model.extract_features(clouds[s:s + batch].to(device)).float())
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return torch.cat(out).cpu()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="pretrain/i2p-mae")
    p.add_argument("--points", type=int, default=2048)
    p.add_argument("--shapes", type=int, default=256)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from i2pmae.engine.config import load_config
    from i2pmae.tasks.svm_eval import build_encoder

    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_encoder(load_config(args.config)["model"], None).to(device).eval()
    clouds = torch.randn(args.shapes, args.points, 3, generator=torch.Generator().manual_seed(0))
    clouds /= clouds.norm(dim=-1, keepdim=True).amax(dim=1, keepdim=True)
    variants = {"fp32": None, "bf16": torch.bfloat16, **({"fp16": torch.float16} if device.type == "cuda" else {})}
    times, feats = {k: [] for k in variants}, {}
    run(model, clouds[: args.batch], args.batch, device, None)  # warm-up
    for _ in range(args.reps):  # interleaved
        for name, dtype in variants.items():
            t0 = time.perf_counter()
            feats[name] = run(model, clouds, args.batch, device, dtype)
            times[name].append(time.perf_counter() - t0)
    ref = feats["fp32"]
    base = args.shapes / statistics.median(times["fp32"])
    print(f"feature extraction ({args.config} encoder, random init, eval), {args.shapes} clouds x {args.points} "
          f"points, batch {args.batch}, device {device}, {torch.get_num_threads()} threads, median of {args.reps}\n")
    print("| precision | shapes/s | vs fp32 | max abs diff / max abs | min cosine to fp32 |\n|---|---|---|---|---|")
    for name in variants:
        rate = args.shapes / statistics.median(times[name])
        diff = float((feats[name] - ref).abs().max() / ref.abs().max())
        cos = float(torch.nn.functional.cosine_similarity(feats[name], ref, dim=1).min())
        print(f"| {name} | {rate:.1f} | {rate / base:.2f}x | {diff:.1e} | {cos:.5f} |")


if __name__ == "__main__":
    sys.exit(main())
