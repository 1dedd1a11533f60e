"""Tiny pre-training set-ups with a 2D teacher, for the teacher-cache tests (not a test module)."""

from __future__ import annotations

import copy
from pathlib import Path

from helpers_loop import tiny_pretrain_config

# A random tiny-vit on 64 px depth maps (4 x 4 patch grid, 8-d features): fast, and a real teacher path.
TINY_TEACHER = {"name": "tiny-vit", "weights": "random",
                "arch_overrides": dict(img_size=64, patch_size=16, depth=1, embed_dim=32, num_heads=2,
                                       feature_dim=8, num_classes=2)}


def guided_config(data_root: Path, cache: Path | None = None, **train: object) -> dict:
    """``tiny_pretrain_config`` with 2D-guided masking, the 2D loss and the tiny teacher (``teacher.cache``)."""
    cfg = tiny_pretrain_config(data_root, **train)
    cfg["model"].update(masking="2d_guided", image_size=64)
    cfg["teacher"] = copy.deepcopy(TINY_TEACHER)
    cfg["teacher"]["cache"] = None if cache is None else str(cache)
    return cfg
