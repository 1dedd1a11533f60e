"""Train the bundled stand-in 2D teacher (`tiny-vit`) on depth maps of procedural shapes.

CLIP cannot be shipped or downloaded here, so the quickstart uses a small ViT
that learns to classify the *projected depth maps* (docs/method.md §2, all three views,
the same images I2P-MAE feeds its teacher) of the procedural shapes' training
split. Only the training split is used for fitting; the test split is scored
once per epoch for the log and never used to pick anything (the last epoch is
saved).
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from i2pmae.data import build_dataset
from i2pmae.data.transforms import ScaleAndTranslate
from i2pmae.engine.logging import progress_bar
from i2pmae.engine.seeding import seed_everything
from i2pmae.projection import project_views
from i2pmae.teachers import build_tiny_vit_classifier, save_tiny_vit
from i2pmae.teachers.tiny_cnn import build_tiny_cnn_classifier, save_tiny_cnn

log = logging.getLogger("i2pmae")

DEFAULT_ARCH = {"patch_size": 32, "embed_dim": 96, "depth": 3, "num_heads": 3, "feature_dim": 64}
# the project's own teachers: name -> (builder, writer, default architecture)
ARCHS = {"tiny-vit": (build_tiny_vit_classifier, save_tiny_vit, DEFAULT_ARCH),
         "tiny-cnn": (build_tiny_cnn_classifier, save_tiny_cnn, {})}


def _images(points: torch.Tensor) -> tuple[torch.Tensor, int]:
    images, _ = project_views(points, views=(0, 1, 2))
    images = images.flatten(0, 1).contiguous(memory_format=torch.channels_last)  # faster convolutions
    return images, images.shape[0] // points.shape[0]  # (B*V, 3, S, S), V


def _autocast(device: torch.device, dtype: torch.dtype | None):
    import contextlib

    return contextlib.nullcontext() if dtype in (None, torch.float32) else torch.autocast(device.type, dtype=dtype)


@torch.no_grad()
def _adamw_cosine(model: torch.nn.Module, lr: float, weight_decay: float, steps: int, warmup: int):
    """AdamW with a linear warm-up over ``warmup`` steps, then a cosine decay to 0 at ``steps``."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    return optimizer, schedule


def _train_step(model: torch.nn.Module, points: torch.Tensor, labels: torch.Tensor, optimizer, schedule,
                amp: torch.dtype | None = None) -> tuple[float, int, int]:
    """One supervised step on every view of ``points``: (mean loss, correct views, views); ``amp``: the
    autocast dtype (None = fp32)."""
    images, v = _images(points)
    target = labels.view(-1).repeat_interleave(v)
    with _autocast(points.device, amp):
        logits = model(images).float()
    loss = F.cross_entropy(logits, target, label_smoothing=0.1)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    schedule.step()
    return loss.item(), int((logits.argmax(-1) == target).sum()), len(target)


def evaluate(model: torch.nn.Module, loader: DataLoader, device: torch.device) -> dict[str, float]:
    """Per-view accuracy and multi-view accuracy (mean logits over the three views), in %."""
    model.eval()
    per_view = multi = total = 0
    for batch in loader:
        points, labels = batch["points"].to(device), batch["label"].view(-1).to(device)
        images, v = _images(points)
        logits = model(images).view(len(labels), v, -1)
        per_view += int((logits.argmax(-1) == labels[:, None]).sum())
        multi += int((logits.mean(1).argmax(-1) == labels).sum())
        total += len(labels)
    return {"view_acc": 100.0 * per_view / (total * 3), "multiview_acc": 100.0 * multi / total}


def train_tiny_teacher(data_root: str | Path, out: str | Path, epochs: int = 40, batch_size: int = 32,
                       lr: float = 2e-3, weight_decay: float = 0.05, seed: int = 0, device: str | None = None,
                       arch: dict[str, Any] | None = None, npoints: int = 2048) -> dict[str, Any]:
    """Fit the tiny ViT, write ``out`` (.safetensors + .json) and ``<out stem>.log.jsonl``; return the summary."""
    seed_everything(seed)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    data_cfg = {"format": "modelnet40_h5", "root": str(Path(data_root) / "modelnet40_ply_hdf5_2048"), "npoints": npoints}
    train_set, test_set = build_dataset(data_cfg, "train"), build_dataset(data_cfg, "test")
    classes = list(train_set.classes)
    arch = dict(DEFAULT_ARCH, **(arch or {}))
    model = build_tiny_vit_classifier(num_classes=len(classes), **arch).to(dev)
    g = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, drop_last=True, generator=g)
    test_loader = DataLoader(test_set, batch_size=64)
    optimizer, schedule = _adamw_cosine(model, lr, weight_decay, epochs * len(train_loader),
                                        warmup=max(1, len(train_loader)))
    augment = ScaleAndTranslate()
    out = Path(out)
    log_path = out.with_name(out.stem + ".log.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("")
    log.info("training tiny-vit teacher on %d shapes x 3 views (%d classes), testing on %d", len(train_set),
             len(classes), len(test_set))
    history = []
    start = time.time()
    for epoch in range(epochs):
        model.train()
        bar = progress_bar(total=len(train_loader), initial=0, desc=f"teacher {epoch + 1}/{epochs}", enabled=True)
        seen = correct = 0
        loss_sum = 0.0
        for batch in train_loader:
            points = augment(batch["points"].to(dev), generator=g)
            labels = batch["label"].view(-1).to(dev)
            loss, right, n = _train_step(model, points, labels, optimizer, schedule)
            loss_sum, correct, seen = loss_sum + loss * n, correct + right, seen + n
            bar.set_postfix(loss=f"{loss:.3f}")
            bar.update(1)
        bar.close()
        row = {"epoch": epoch, "train_loss": loss_sum / seen, "train_view_acc": 100.0 * correct / seen,
               **{f"test_{k}": val for k, val in evaluate(model, test_loader, dev).items()},
               "elapsed_s": round(time.time() - start, 1)}
        history.append(row)
        with log_path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        log.info("teacher epoch %d: loss %.3f, test view acc %.1f%%, multi-view acc %.1f%%", epoch,
                 row["train_loss"], row["test_view_acc"], row["test_multiview_acc"])
    final = history[-1]
    meta = {
        "trained_on": str(data_root), "train_shapes": len(train_set), "test_shapes": len(test_set),
        "epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay, "seed": seed,
        "test_view_acc": final["test_view_acc"], "test_multiview_acc": final["test_multiview_acc"],
        "command": (f"i2pmae teacher train --data {data_root} --out {out} --epochs {epochs} --lr {lr} "
                    f"--batch-size {batch_size} --seed {seed}"),
        "train_seconds": final["elapsed_s"], "device": str(dev),
    }
    save_tiny_vit(model.cpu(), out, classes=classes, meta=meta)
    return {"weights": str(out), "log": str(log_path), **meta}


def train_corpus_teacher(out: str | Path, steps: int = 4000, batch_size: int = 32, lr: float = 2e-3,
                         weight_decay: float = 0.05, seed: int = 0, device: str | None = None,
                         arch: dict[str, Any] | None = None, npoints: int = 1024, log_every: int = 250,
                         dev_root: str | Path | None = None, val_batches: int = 8, model_name: str = "tiny-vit",
                         amp: str = "auto") -> dict[str, Any]:
    """Fit ``model_name`` (``tiny-vit`` or ``tiny-cnn``) on the procedural *corpus*
    (:mod:`i2pmae.data.synth_corpus`): every step draws ``batch_size`` fresh shapes of 28 deformed,
    randomly rotated families (never the built-in draws), so ``steps * batch_size`` distinct shapes are
    seen. Every ``log_every`` steps it logs held-out corpus accuracy (stream ``seed + 1``) and, with
    ``dev_root``, accuracy on that draw's test split (first 15 families = the built-in classes), and
    writes ``out`` so a stopped run still leaves a teacher. ``amp``: ``auto`` = bf16 autocast on a CPU
    with native bf16 and on CUDA, else fp32; or ``bf16`` / ``fp32``."""
    from i2pmae.data.synth_corpus import FAMILIES, corpus_batch

    if model_name not in ARCHS:
        raise ValueError(f"unknown teacher architecture {model_name!r}; choose one of {sorted(ARCHS)}")
    build, save, default_arch = ARCHS[model_name]
    seed_everything(seed)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    amp_dtype = _training_dtype(amp, dev)
    arch = dict(default_arch, **(arch or {}))
    model = build(num_classes=len(FAMILIES), **arch).to(dev).to(memory_format=torch.channels_last)
    optimizer, schedule = _adamw_cosine(model, lr, weight_decay, steps, warmup=max(1, steps // 20))
    val = [corpus_batch(seed + 1, i, 64, npoints) for i in range(val_batches)]
    dev_loader = None
    if dev_root is not None:
        dev_cfg = {"format": "modelnet40_h5", "root": str(Path(dev_root) / "modelnet40_ply_hdf5_2048"),
                   "npoints": npoints}
        dev_loader = DataLoader(build_dataset(dev_cfg, "test"), batch_size=64)
    out = Path(out)
    log_path = out.with_name(out.stem + ".log.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("")
    start, loss_sum, correct, seen = time.time(), 0.0, 0, 0
    meta: dict[str, Any] = {}
    for step in range(steps):
        model.train()
        pts, labels = corpus_batch(seed, step, batch_size, npoints)
        loss, right, n = _train_step(model, torch.from_numpy(pts).to(dev), torch.from_numpy(labels).to(dev),
                                     optimizer, schedule, amp_dtype)
        loss_sum, correct, seen = loss_sum + loss * n, correct + right, seen + n
        if (step + 1) % log_every == 0 or step + 1 == steps:
            row = {"step": step + 1, "shapes_seen": (step + 1) * batch_size, "train_loss": loss_sum / seen,
                   "train_view_acc": 100.0 * correct / seen,
                   **{f"corpus_val_{k}": x for k, x in _corpus_eval(model, val, dev).items()}}
            if dev_loader is not None:
                row.update({f"dev_{k}": x for k, x in evaluate(model, dev_loader, dev).items()})
            row["elapsed_s"] = round(time.time() - start, 1)
            with log_path.open("a") as f:
                f.write(json.dumps(row) + "\n")
            log.info("teacher step %d: %s", step + 1, json.dumps(row))
            loss_sum, correct, seen = 0.0, 0, 0
            meta = {"trained_on": "procedural corpus (i2pmae.data.synth_corpus)", "families": len(FAMILIES),
                    "architecture": model_name, "amp": "fp32" if amp_dtype is None else str(amp_dtype).split(".")[-1],
                    "corpus_seed": seed, "steps": step + 1, "batch_size": batch_size,
                    "shapes_seen": (step + 1) * batch_size, "lr": lr, "weight_decay": weight_decay,
                    "npoints": npoints, "last_log": row, "device": str(dev),
                    "command": (f"i2pmae teacher train --corpus --arch {model_name} --steps {steps} "
                                f"--batch-size {batch_size} "
                                f"--lr {lr} --seed {seed} --out {out}"
                                + (f" --data {dev_root}" if dev_root is not None else ""))}
            save(model.cpu(), out, classes=FAMILIES, meta=meta)
            model.to(dev)
    return {"weights": str(out), "log": str(log_path), **meta}


def _training_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """``auto``: bf16 where the hardware computes it natively (the network's weights stay fp32 under
    autocast), else fp32 (None)."""
    from i2pmae.teachers import cpu_native_bf16
    from i2pmae.teachers.base import log_precision_choice

    if amp in ("fp32", "none", None):
        return None
    if amp == "bf16":
        return torch.bfloat16
    if amp != "auto":
        raise ValueError(f"teacher training precision must be auto, bf16 or fp32; received {amp!r}")
    if device.type == "cuda":
        choice, why = torch.bfloat16, "CUDA device"
    else:
        native, why = cpu_native_bf16()
        choice = torch.bfloat16 if native and device.type == "cpu" else None
    log_precision_choice("teacher training", choice, why)
    return choice


@torch.no_grad()
def _corpus_eval(model: torch.nn.Module, batches: list, device: torch.device) -> dict[str, float]:
    model.eval()
    per_view = multi = total = 0
    for pts, labels in batches:
        images, v = _images(torch.from_numpy(pts).to(device))
        y = torch.from_numpy(labels).to(device)
        logits = model(images).view(len(y), v, -1)
        per_view += int((logits.argmax(-1) == y[:, None]).sum())
        multi += int((logits.mean(1).argmax(-1) == y).sum())
        total += len(y)
    return {"view_acc": 100.0 * per_view / (total * v), "multiview_acc": 100.0 * multi / total}
