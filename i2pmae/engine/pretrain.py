"""I2P-MAE pre-training: masked autoencoding guided by a frozen 2D teacher.

Each batch is augmented (scale and translate, DATA.md 2) *before* the model
runs, so the teacher sees the augmented cloud's depth maps, as the authors do.
Each epoch the encoder is monitored with the linear SVM (C=0.01 by default),
which also picks ``best.pth``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from i2pmae.data import build_dataset
from i2pmae.data.transforms import build_transforms
from i2pmae.engine.distributed import DistInfo
from i2pmae.engine.loop import Task, train
from i2pmae.engine.runs import build_teacher_from_config
from i2pmae.engine.svm import parse_svm_c
from i2pmae.engine.svm_eval import svm_accuracy
from i2pmae.models import build_model

log = logging.getLogger("i2pmae")


def build_pretrain_model(cfg: dict, device: torch.device) -> nn.Module:
    teacher = build_teacher_from_config(cfg, device)
    return build_model(cfg["model"], teacher=teacher)


def run_pretrain(cfg: dict, run_dir: Path, dist: DistInfo, resume: bool = False) -> dict[str, Any]:
    model = build_pretrain_model(cfg, dist.device)
    data_cfg = cfg["data"]
    train_set = build_dataset(data_cfg["dataset"], "train")
    log.info("pre-training on %d clouds", len(train_set))
    augment = build_transforms(cfg.get("augment", {}).get("train", ["scale_translate"]))

    def loss_fn(m: nn.Module, batch: dict, gen: torch.Generator):
        points = augment(batch["points"], generator=gen)
        out = m(points)
        return out["loss"], {"loss_3d": float(out["loss_3d"].detach()), "loss_2d": float(out["loss_2d"].detach())}

    evaluate = None
    if data_cfg.get("svm"):
        svm_cfg = data_cfg["svm"]
        svm_train = build_dataset(svm_cfg, "train")
        svm_test = build_dataset(svm_cfg, "test")
        c = parse_svm_c(cfg.get("svm", {}).get("C", 0.01))

        def evaluate(m: nn.Module) -> dict[str, float]:
            return {"svm_acc": svm_accuracy(m, svm_train, svm_test, c, dist, cfg.get("svm", {}))}

    task = Task("pretrain", model, train_set, loss_fn, evaluate, best_metric="svm_acc" if evaluate else None)
    return train(task, cfg, run_dir, dist, resume=resume)
