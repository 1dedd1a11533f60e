"""Linear-SVM evaluation of a pre-trained encoder (DATA.md 3): max-pooled scale-3 features."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from i2pmae.engine.distributed import DistInfo
from i2pmae.engine.svm import extract_features, linear_svm_accuracy, parse_svm_c


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") else model


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """The unwrapped (non-DDP) model in eval mode; its previous mode comes back afterwards, errors too."""
    m = unwrap(model)
    was_training = m.training
    m.eval()
    try:
        yield m
    finally:
        m.train(was_training)


def shard_loader(dataset: Dataset, dist: DistInfo, batch_size: int = 64, num_workers: int = 0) -> DataLoader:
    """A sequential loader over this rank's share of the items (all ranks' results get gathered)."""
    if dist.world_size > 1:
        dataset = Subset(dataset, list(range(dist.rank, len(dataset), dist.world_size)))
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      pin_memory=dist.device.type == "cuda")


@torch.no_grad()
def encode_dataset(model: nn.Module, dataset: Dataset, dist: DistInfo, opts: dict[str, Any] | None = None):
    """(features (n, D), labels (n,)) of a whole dataset, gathered from all ranks."""
    opts = opts or {}
    loader = shard_loader(dataset, dist, int(opts.get("batch_size", 64)), int(opts.get("num_workers", 0)))
    with evaluating(model) as m:
        return extract_features(lambda pts: m.extract_features(pts), loader, dist.device)


def svm_accuracy(model: nn.Module, train_set: Dataset, test_set: Dataset, c: float | str, dist: DistInfo,
                 opts: dict[str, Any] | None = None) -> float:
    """Overall accuracy (%) of sklearn's linear SVC on the encoder's features."""
    tr_x, tr_y = encode_dataset(model, train_set, dist, opts)
    te_x, te_y = encode_dataset(model, test_set, dist, opts)
    return linear_svm_accuracy(tr_x, tr_y, te_x, te_y, c)


def build_encoder(model_cfg: dict, checkpoint: str | None) -> nn.Module:
    """The pre-training network without a 2D teacher, loaded from ``checkpoint`` for feature extraction."""
    from i2pmae.engine.runs import load_weights
    from i2pmae.models import build_model

    name = model_cfg.get("name")
    if name != "I2PMAE":
        raise ValueError(f"features come from the pre-training network (model.name: I2PMAE), but the config's model "
                         f"is {name!r}; use a pre-training config (e.g. pretrain/i2p-mae, svm/modelnet40) or a "
                         "pre-training run's config.yaml")
    cfg = dict(model_cfg, masking="random", fusion="none")  # features need no teacher
    model = build_model(cfg)
    if checkpoint is None:
        return model  # a randomly initialised encoder (the 'no pre-training' baseline)
    state = load_weights(checkpoint)
    own = model.state_dict()
    missing = [k for k in own if k.startswith("h_encoder.") and k not in state]
    if missing:
        raise ValueError(
            f"{checkpoint}: not an I2P-MAE pre-training checkpoint for this model config; "
            f"{len(missing)} encoder weights missing, e.g. {missing[:3]}"
        )
    bad = [k for k in own if k in state and state[k].shape != own[k].shape]
    if bad:
        raise ValueError(f"{checkpoint}: shapes differ from the model config for {bad[:3]} "
                         f"(checkpoint {tuple(state[bad[0]].shape)} vs model {tuple(own[bad[0]].shape)})")
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    return model


def run_svm(cfg: dict, checkpoint: str | None, dist: DistInfo) -> dict[str, float]:
    """Linear-SVM accuracy of a pre-trained checkpoint on ``cfg['data']['svm']``."""
    from i2pmae.data import build_dataset

    model = build_encoder(cfg["model"], checkpoint).to(dist.device)
    svm_cfg = cfg["data"]["svm"]
    train_set, test_set = build_dataset(svm_cfg, "train"), build_dataset(svm_cfg, "test")
    c = parse_svm_c(cfg.get("svm", {}).get("C", 0.01))
    acc = svm_accuracy(model, train_set, test_set, c, dist, cfg.get("svm", {}))
    return {"svm_acc": acc, "C": c, "train_items": len(train_set), "test_items": len(test_set)}
