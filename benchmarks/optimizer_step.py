"""Time one AdamW step over I2P-MAE's parameters: the single-tensor loop vs the optimiser the loop builds.

Not a test. Builds the pre-training network of a shipped config (without its 2D teacher, which is
frozen and outside the optimiser), gives every parameter a random gradient, and times
``optimizer.step()`` of (a) ``torch.optim.AdamW(..., foreach=False)`` -- a Python loop over ~200
parameter tensors, PyTorch's fallback -- and (b) ``i2pmae.engine.optim.build_optimizer`` (multi-tensor
``foreach`` on CPU, ``fused`` on CUDA), same groups, same hyper-parameters, both in the same run.
It also checks that the two land on the same weights (max abs difference after the timed steps).

    python benchmarks/optimizer_step.py [--config pretrain/i2p-mae] [--device cpu|cuda] [--steps 10] [--threads T]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from i2pmae.engine.config import load_config
from i2pmae.engine.optim import build_optimizer
from i2pmae.models import build_model


def _time_steps(model: torch.nn.Module, opt: torch.optim.Optimizer, grads: list[torch.Tensor], steps: int,
                device: torch.device) -> list[float]:
    params = [p for p in model.parameters() if p.requires_grad]
    times = []
    for _ in range(steps):
        for p, g in zip(params, grads):
            p.grad = g.clone()
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="pretrain/i2p-mae")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = load_config(args.config)
    model_cfg = dict(cfg["model"], masking="random", fusion="none", loss_weights={"3d": 1.0, "2d": 0.0})
    torch.manual_seed(0)
    base = build_model(model_cfg).to(device)
    n_params = sum(p.numel() for p in base.parameters() if p.requires_grad)
    n_tensors = sum(1 for p in base.parameters() if p.requires_grad)
    gen = torch.Generator().manual_seed(1)
    grads = [torch.randn(p.shape, generator=gen).to(device) * 1e-3 for p in base.parameters() if p.requires_grad]
    tcfg = {"lr": 1e-3, "weight_decay": 0.05}

    ref_model, new_model = copy.deepcopy(base), copy.deepcopy(base)
    groups = [dict(g) for g in build_optimizer(ref_model, tcfg).param_groups]
    ref_opt = torch.optim.AdamW(groups, lr=1e-3, weight_decay=0.05, foreach=False)
    new_opt = build_optimizer(new_model, tcfg)
    kind = "fused" if new_opt.defaults.get("fused") else "foreach"
    _time_steps(ref_model, ref_opt, grads, 2, device)  # warm-up (state allocation)
    _time_steps(new_model, new_opt, grads, 2, device)
    ref_t = _time_steps(ref_model, ref_opt, grads, args.steps, device)
    new_t = _time_steps(new_model, new_opt, grads, args.steps, device)
    with torch.no_grad():
        diff = max(float((a - b).abs().max()) for a, b in zip(ref_model.parameters(), new_model.parameters()))
    ref_ms, new_ms = statistics.median(ref_t) * 1e3, statistics.median(new_t) * 1e3
    print(f"{args.config}: {n_params:,} trainable parameters in {n_tensors} tensors, {device}, "
          f"{torch.get_num_threads()} threads, median of {args.steps} steps")
    print("| optimiser | ms per step | ratio (single-tensor / this) |")
    print("|---|---|---|")
    print(f"| AdamW single-tensor loop (foreach=False) | {ref_ms:.1f} | 1.00x |")
    print(f"| build_optimizer: AdamW {kind} | {new_ms:.1f} | {ref_ms / new_ms:.2f}x |")
    print(f"max abs weight difference after {args.steps + 2} steps: {diff:.2e}")


if __name__ == "__main__":
    main()
