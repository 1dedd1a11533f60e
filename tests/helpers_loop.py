"""Tiny pre-training setups shared by the loop tests (not a test module)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_shapenet55(root: Path, n: int = 16, points: int = 512, seed: int = 0) -> Path:
    """A ShapeNet-55 folder in the published layout with n random clouds (half cubes, half spheres)."""
    rng = np.random.default_rng(seed)
    pc_dir = root / "ShapeNet55-34" / "shapenet_pc"
    split_dir = root / "ShapeNet55-34" / "ShapeNet-55"
    pc_dir.mkdir(parents=True)
    split_dir.mkdir(parents=True)
    names = []
    for i in range(n):
        x = rng.normal(size=(points, 3)).astype(np.float32)
        if i % 2:
            x /= np.linalg.norm(x, axis=1, keepdims=True)
        else:
            x = np.clip(x, -1, 1)
        name = f"0{2691156 + i % 2}-model{i:04d}.npy"
        np.save(pc_dir / name, x)
        names.append(name)
    (split_dir / "train.txt").write_text("\n".join(names) + "\n")
    (split_dir / "test.txt").write_text("\n".join(names[:2]) + "\n")
    return root / "ShapeNet55-34"


def tiny_pretrain_config(data_root: Path, **train: object) -> dict:
    cfg = {
        "model": {
            "name": "I2PMAE", "num_groups": [32, 16, 8], "group_sizes": [8, 4, 4],
            "encoder_dims": [16, 32, 64], "encoder_depths": [1, 1, 1], "num_heads": 2,
            "decoder_dims": [64, 32], "decoder_depths": [1, 1], "masking": "random", "drop_path_rate": 0.1,
        },
        "data": {"dataset": {"format": "shapenet55", "root": str(data_root), "npoints": 128}},
        "augment": {"train": ["scale_translate"]},
        "train": {"epochs": 1, "batch_size": 4, "lr": 1e-3, "weight_decay": 0.05, "warmup_epochs": 0,
                  "cosine_epochs": 1, "amp": "none", "seed": 0, "num_workers": 0},
    }
    cfg["train"].update(train)
    return cfg
