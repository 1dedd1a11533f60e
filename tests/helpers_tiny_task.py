"""A training task small enough to run dozens of optimiser steps in well under a second (not a test module)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.utils.data import Dataset

from i2pmae.engine.distributed import DistInfo
from i2pmae.engine.loop import Task, train


class Points(Dataset):
    """n fixed random 'clouds' of 4 points with a binary label."""

    def __init__(self, n: int = 16) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 4, 3, generator=g)
        self.y = (self.x.mean(dim=(1, 2)) > 0).long()

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        return {"points": self.x[i], "label": self.y[i]}


def tiny_cfg(**train: object) -> dict:
    cfg = {"train": {"epochs": 2, "batch_size": 4, "lr": 1e-2, "warmup_epochs": 0, "amp": "none", "seed": 0,
                     "num_workers": 0, "checkpoint_every_steps": 0}}
    cfg["train"].update(train)
    return cfg


def run_tiny(run_dir: Path, cfg: dict, resume: bool = False, n: int = 16,
             on_step: Callable[[int], None] | None = None) -> dict:
    """Train a linear classifier on :class:`Points`; ``on_step(k)`` runs inside the k-th loss call (1-based)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    calls = {"n": 0}

    def loss_fn(m: nn.Module, batch: dict, gen: torch.Generator):
        calls["n"] += 1
        if on_step is not None:
            on_step(calls["n"])
        return nn.functional.cross_entropy(m(batch["points"]), batch["label"]), {}

    return train(Task("tiny", model, Points(n), loss_fn), cfg, Path(run_dir), DistInfo(), resume=resume)
