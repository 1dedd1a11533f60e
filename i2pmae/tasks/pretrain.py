"""I2P-MAE pre-training: masked autoencoding guided by a frozen 2D teacher.

Each batch is augmented (scale and translate, docs/data.md §2) *before* the model
runs, so the teacher sees the augmented cloud's depth maps, as the authors do.
With ``teacher.cache: DIR`` (a deviation from the paper, for speed) the teacher
is not run at all: its outputs for each shape's canonical, un-augmented cloud
come from the cache, attached to points by identity, and only the 3D network
sees the augmented cloud.
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
from i2pmae.data.paths import check_data_paths
from i2pmae.data.teacher_cache import CachedTeacherDataset, TeacherCache, teacher_maps
from i2pmae.data.transforms import build_transforms
from i2pmae.engine.distributed import DistInfo
from i2pmae.engine.loop import Task, train
from i2pmae.engine.runs import build_teacher_from_config
from i2pmae.tasks.svm import parse_svm_c
from i2pmae.tasks.svm_eval import svm_accuracy
from i2pmae.tasks.teacher_cache import open_cache_for_run
from i2pmae.models import build_model

log = logging.getLogger("i2pmae")


def build_pretrain_model(cfg: dict, device: torch.device, cache: TeacherCache | None = None) -> nn.Module:
    """The I2P-MAE network; with a teacher ``cache`` no 2D model is built (its feature width comes from the cache)."""
    if cache is None:
        return build_model(cfg["model"], teacher=build_teacher_from_config(cfg, device))
    model_cfg = dict(cfg["model"])
    model_cfg.setdefault("feature_dim_2d", cache.feature_dim)
    return build_model(model_cfg, teacher=None)


def uses_teacher_cache(cfg: dict) -> bool:
    """``teacher.cache`` is set and the model needs 2D outputs (random masking without fusion needs none)."""
    if not (cfg.get("teacher") or {}).get("cache"):
        return False
    model_cfg = cfg.get("model", {})
    needs = model_cfg.get("masking", "2d_guided") != "random" or model_cfg.get("fusion", "none") not in (None, "none")
    if not needs:
        log.info("teacher.cache ignored: this model needs no 2D teacher")
    return needs


def run_pretrain(cfg: dict, run_dir: Path, dist: DistInfo, resume: bool = False) -> dict[str, Any]:
    check_data_paths(cfg, optional=("svm",))  # every configured dataset is there, before any work
    data_cfg = cfg["data"]
    if uses_teacher_cache(cfg):
        train_set = build_dataset(data_cfg["dataset"], "train")
        cache = open_cache_for_run(cfg, train_set)
        train_set = CachedTeacherDataset(train_set, cache)
        log.info("2D teacher outputs from the cache %s (canonical clouds, no teacher in the loop)", cache.root)
        model = build_pretrain_model(cfg, dist.device, cache)
    else:  # the model first, as always: its initial weights come from the freshly seeded RNG
        model = build_pretrain_model(cfg, dist.device)
        train_set = build_dataset(data_cfg["dataset"], "train")
    log.info("pre-training on %d clouds", len(train_set))
    augment = build_transforms(cfg.get("augment", {}).get("train", ["scale_translate"]))

    def loss_fn(m: nn.Module, batch: dict, gen: torch.Generator):
        points = augment(batch["points"], generator=gen)
        maps = teacher_maps(batch)
        out = m(points) if maps is None else m(points, teacher_maps=maps)
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
