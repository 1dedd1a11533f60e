"""Run directories, configs and pretrained weights: what every command does first."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch

from i2pmae.engine import checkpoint as ckpt_io
from i2pmae.engine.config import load_config, save_config
from i2pmae.engine.distributed import DistInfo, init_distributed
from i2pmae.engine.logging import setup_logging
from i2pmae.engine.seeding import seed_everything

log = logging.getLogger("i2pmae")


def start_run(
    config: str | None,
    overrides: list[str],
    out: str | None,
    resume: str | None,
    kind: str,
    device: str | None = None,
) -> tuple[dict[str, Any], Path, DistInfo]:
    """Resolve the config, create (or reopen) the run directory, start logging and DDP.

    With ``resume`` the run's own saved config is used (overrides still apply),
    so a resumed run cannot silently change its recipe; its ``train.max_steps`` is dropped
    unless given again, so ``--resume`` finishes a run stopped early on purpose.
    """
    if resume:
        run_dir = Path(resume)
        saved = run_dir / "config.yaml"
        if not saved.is_file():
            raise FileNotFoundError(f"--resume {run_dir}: no config.yaml there; is it a run directory?")
        cfg = load_config(saved, overrides)
        # train.max_steps stops one invocation early (smoke runs); the resumed run goes on unless asked again.
        if not any(o.split("=", 1)[0].strip() == "train.max_steps" for o in overrides):
            cfg.get("train", {}).pop("max_steps", None)
    else:
        if config is None:
            raise ValueError(f"{kind}: give --config FILE (or a shipped name such as pretrain/i2p-mae)")
        cfg = load_config(config, overrides)
        stem = Path(str(config)).stem
        run_dir = Path(out) if out else Path("runs") / f"{kind}-{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    dist = init_distributed(device)
    seed_everything(int(cfg.get("train", {}).get("seed", 0)))  # same initial weights on every rank and rerun
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
    setup_logging(run_dir, dist.rank)
    log.info("%s run directory: %s (device %s, %d process%s)", kind, run_dir, dist.device, dist.world_size,
             "" if dist.world_size == 1 else "es")
    return cfg, run_dir, dist


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A model state dict from one of our checkpoints or the authors' (`base_model`), `module.` stripped."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        if not path.is_file():
            raise FileNotFoundError(f"weights file not found: {path}")
        return load_file(str(path))
    return ckpt_io.extract_model_state(ckpt_io.load_checkpoint(path, map_location="cpu"))


def build_teacher_from_config(cfg: dict, device: torch.device):
    """The frozen 2D model named in ``cfg['teacher']`` (None when the model needs none)."""
    from i2pmae.teachers import build_teacher

    model_cfg = cfg.get("model", {})
    tcfg = cfg.get("teacher") or {}
    # Random masking ("w/o 2D guidance") has no 2D loss; only feature fusion would still need 2D features.
    if model_cfg.get("masking", "2d_guided") == "random" and model_cfg.get("fusion", "none") in (None, "none"):
        return None
    dtype = tcfg.get("dtype", "auto")
    if dtype == "auto":
        dtype = torch.float16 if device.type == "cuda" else torch.float32
    elif isinstance(dtype, str):
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[dtype]
    extra = {"arch_overrides": dict(tcfg["arch_overrides"])} if tcfg.get("arch_overrides") else {}
    return build_teacher(tcfg.get("name", "clip-vit-b16"), weights=tcfg.get("weights"), device=device, dtype=dtype,
                         **extra)
