"""Linear-SVM evaluation of a pre-trained encoder (docs/data.md §3): max-pooled scale-3 features."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from i2pmae.engine.distributed import DistInfo, all_reduce_mean
from i2pmae.tasks.svm import KNN_K, extract_features, linear_svm_probe, parse_svm_c


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
    """Overall accuracy (%) of sklearn's linear SVC on the encoder's features (``opts``: the ``svm`` section,
    whose ``grid`` and ``standardize`` apply)."""
    return probe_encoder(model, train_set, test_set, dict(opts or {}, C=c), dist)["svm_acc"]


def parse_flag(value: Any, key: str) -> bool:
    """A true/false config option (null = false, the authors' protocol)."""
    if value is None or isinstance(value, bool):
        return bool(value)
    raise ValueError(f"{key} must be true or false, got {value!r}")


def parse_standardize(value: Any) -> bool:
    """``svm.standardize``: true/false (null = false, the authors' protocol)."""
    return parse_flag(value, "svm.standardize")


@contextmanager
def batchnorm_restored(model: nn.Module) -> Iterator[None]:
    """Every BatchNorm's running statistics come back afterwards (a probe must not change the model)."""
    bns = _batchnorms(model)
    saved = [{k: v.clone() for k, v in bn.named_buffers()} for bn in bns]
    try:
        yield
    finally:
        with torch.no_grad():
            for bn, buffers in zip(bns, saved):
                for k, v in buffers.items():
                    getattr(bn, k).copy_(v)


BN_STATISTICS = ("debiased", "saved", "recalibrated")


def parse_bn_statistics(value: Any) -> str:
    """``svm.bn_statistics``: which BatchNorm running statistics the probes use (null = debiased)."""
    if value is None:
        return "debiased"
    if value not in BN_STATISTICS:
        raise ValueError(f"svm.bn_statistics must be one of {', '.join(BN_STATISTICS)}; received {value!r}")
    return str(value)


@torch.no_grad()
def debias_batchnorm(model: nn.Module) -> int:
    """Remove their initial values' share (mean 0, variance 1) from every BatchNorm's moving averages; returns
    how many layers changed.

    After n updates with momentum m a running statistic still holds (1 - m)^n of its initial value: 0.73
    after 3 updates, 5e-4 after 72.  When a layer's inputs vary less than that (the first token-embedding
    BatchNorm's do, ~5e-6, below eps), eval mode misreads a short run, and random weights that never learned
    probe at ~95% instead of ~79% (issue #15, ``benchmarks/bn_artefact.py``).  Dividing the rest by
    1 - (1 - m)^n leaves the moving average of the batches the layer actually saw, the same bias
    correction Adam applies; after a few hundred updates it changes nothing.  The float32 buffers stored the
    sum rounded to ~6e-8 of the residue, so a variance far below it comes back only approximately (a few
    percent at 3 updates and a variance of 5e-6; exact once the residue has shrunk).
    """
    changed = 0
    for bn in _batchnorms(model):
        if bn.momentum is None or bn.running_var is None:
            continue  # momentum None: a cumulative average, which holds no initial value
        residue = (1.0 - float(bn.momentum)) ** int(bn.num_batches_tracked)
        if int(bn.num_batches_tracked) == 0 or residue < 1e-12:
            continue
        mean, var = bn.running_mean.double(), bn.running_var.double()
        bn.running_mean.copy_(mean / (1.0 - residue))
        bn.running_var.copy_(((var - residue) / (1.0 - residue)).clamp_min(0.0))
        changed += 1
    return changed


def probe_encoder(model: nn.Module, train_set: Dataset, test_set: Dataset, opts: dict[str, Any] | None,
                  dist: DistInfo, name: str = "encoder") -> dict[str, Any]:
    """Linear-SVM and k-NN accuracy (%) of the encoder's features, and the SVM's C (see
    :func:`i2pmae.tasks.svm.linear_svm_probe`); ``opts`` is the config's ``svm`` section.

    ``bn_statistics`` (:data:`BN_STATISTICS`) says which BatchNorm running statistics features use: the
    saved ones without their initial value's share (``debiased``, default: equal to ``saved`` for any run
    longer than a few hundred steps, such as the authors'; a layer that never saw a batch, as at random
    init, is re-estimated on ``train_set``), as ``saved``, or all ``recalibrated`` on ``train_set``; the
    model is left unchanged.
    """
    opts = opts or {}
    how = parse_bn_statistics(opts.get("bn_statistics"))
    with batchnorm_restored(model):
        if how == "debiased":
            debias_batchnorm(model)
            unseen = [bn for bn in _batchnorms(model) if bn.track_running_stats and int(bn.num_batches_tracked) == 0]
            if unseen:  # never saw a batch (random init): statistics of data, not the placeholders (0, 1)
                recalibrate_batchnorm(model, train_set, dist, opts, layers=unseen)
        elif how == "recalibrated":
            recalibrate_batchnorm(model, train_set, dist, opts)
        tr_x, tr_y = encode_dataset(model, train_set, dist, opts)
        te_x, te_y = encode_dataset(model, test_set, dist, opts)
    result = linear_svm_probe(tr_x, tr_y, te_x, te_y, parse_svm_c(opts.get("C", 0.01)), opts.get("grid"),
                              parse_standardize(opts.get("standardize")), KNN_K, name)
    return {**result, "bn_statistics": how}


def features_need_train_set(model: nn.Module, opts: dict[str, Any] | None) -> bool:
    """Whether :func:`probe_encoder`'s features depend on its training split: they do when BatchNorm statistics
    get re-estimated on it (``recalibrated``, or ``debiased`` with a layer that never saw a batch, as at random
    init). When they do not, a cross-validation can encode a set once and probe every fold on slices of it."""
    how = parse_bn_statistics((opts or {}).get("bn_statistics"))
    if how == "recalibrated":
        return True
    return how == "debiased" and any(bn.track_running_stats and int(bn.num_batches_tracked) == 0
                                     for bn in _batchnorms(model))


def encode_with_statistics(model: nn.Module, dataset: Dataset, dist: DistInfo, opts: dict[str, Any] | None):
    """(features, labels) of ``dataset`` as :func:`probe_encoder` computes them, for a model whose features do
    not need a training split (:func:`features_need_train_set` is False); the model is left unchanged."""
    if features_need_train_set(model, opts):
        raise ValueError("these features re-estimate BatchNorm statistics on a training split; use probe_encoder")
    with batchnorm_restored(model):
        if parse_bn_statistics((opts or {}).get("bn_statistics")) == "debiased":
            debias_batchnorm(model)
        return encode_dataset(model, dataset, dist, opts)


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
    from i2pmae.models.point_m2ae import adapt_encoder_state  # Point-M2AE's checkpoints: their SVM pooling

    state = adapt_encoder_state(model, state, model_cfg, checkpoint)
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
    from i2pmae.data.paths import check_data_paths

    check_data_paths(cfg, optional=(), keys=("svm",))  # the SVM data are there, before any work

    model = build_encoder(cfg["model"], checkpoint).to(dist.device)
    svm_cfg = cfg["data"]["svm"]
    train_set, test_set = build_dataset(svm_cfg, "train"), build_dataset(svm_cfg, "test")
    opts = dict(cfg.get("svm") or {})
    requested = parse_svm_c(opts.get("C", 0.01))
    result = probe_encoder(model, train_set, test_set, opts, dist, name=checkpoint or "random init")
    return {**result, "C_setting": requested, "train_items": len(train_set), "test_items": len(test_set)}


def _batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [mod for mod in unwrap(model).modules() if isinstance(mod, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, dataset: Dataset, dist: DistInfo,
                          opts: dict[str, Any] | None = None, layers: list[nn.Module] | None = None) -> int:
    """Re-estimate the running statistics of ``layers`` (default every BatchNorm) from all-token feature
    extraction over ``dataset`` (cumulative average, every other layer in eval mode); returns how many
    BatchNorm layers were reset.

    Pre-training gathers them on augmented clouds whose upper-scale groups mix encoded and raw (masked) tokens,
    while the probes embed every token of clean clouds (``svm.bn_statistics: recalibrated``).
    """
    opts = opts or {}
    m = unwrap(model)
    bns = _batchnorms(m) if layers is None else list(layers)
    was_training = m.training
    m.eval()
    saved = [(bn.momentum, bn.training) for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
        bn.train()
    try:
        for batch in shard_loader(dataset, dist, int(opts.get("batch_size", 64)), int(opts.get("num_workers", 0))):
            m.extract_features(batch["points"].to(dist.device))
        if dist.distributed:  # every rank saw its own shard: one set of statistics for all (the mean over ranks)
            for bn in bns:
                bn.running_mean.copy_(all_reduce_mean(bn.running_mean))
                bn.running_var.copy_(all_reduce_mean(bn.running_var))
    finally:
        for bn, (momentum, training) in zip(bns, saved):
            bn.momentum = momentum
            bn.train(training)
        m.train(was_training)
    return len(bns)
