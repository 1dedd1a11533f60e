"""AdamW with the authors' weight-decay exemptions (docs/data.md §4-5).

The authors exempt from weight decay every 1-D parameter (norm scales, biases,
cls/mask tokens), every ``*.bias`` and every parameter whose name contains
``token`` -- which, because of the name, also covers all ``token_embed.*``
convolution weights. Frozen parameters (``requires_grad=False``, e.g. a 2D
teacher) are left out of the optimiser altogether.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import torch
from torch import nn


def is_no_decay(name: str, param: torch.Tensor, skip: Iterable[str] = ()) -> bool:
    """The authors' rule: 1-D, a bias, a name containing ``token``, or explicitly listed."""
    return param.ndim <= 1 or name == "bias" or name.endswith(".bias") or "token" in name or name in set(skip)


def param_groups(model: nn.Module, weight_decay: float, skip: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Two groups, ``no_decay`` (weight decay 0) then ``decay``; trainable parameters only, empty groups dropped."""
    skip = set(skip)
    no_decay: list[nn.Parameter] = []
    decay: list[nn.Parameter] = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if is_no_decay(name, param, skip) else decay).append(param)
    groups = [
        {"params": no_decay, "weight_decay": 0.0, "name": "no_decay"},
        {"params": decay, "weight_decay": float(weight_decay), "name": "decay"},
    ]
    return [g for g in groups if g["params"]]


def build_optimizer(model: nn.Module, cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    """AdamW from ``cfg['train']`` (or that section itself): ``lr`` (required), ``weight_decay`` (0.05),
    ``betas`` ([0.9, 0.999]), ``eps`` (1e-8), ``no_decay`` (extra names), ``optimizer``: ``adamw`` (the
    authors') or ``sgd`` (``momentum`` 0.9; its update is linear in the gradient, which makes numerical
    comparisons between runs meaningful where Adam's normalisation amplifies rounding noise). Both use
    PyTorch's multi-tensor kernels (fused AdamW on CUDA), see :func:`kernel_options`."""
    tcfg = cfg["train"] if "train" in cfg and "lr" not in cfg and isinstance(cfg["train"], Mapping) else cfg
    name = str(tcfg.get("optimizer", "adamw")).lower()
    if name not in ("adamw", "sgd"):
        raise ValueError(f"train.optimizer must be 'adamw' (the authors' optimiser) or 'sgd', got {name!r}")
    if "lr" not in tcfg:
        raise ValueError("train.lr is required to build the optimiser")
    lr = float(tcfg["lr"])
    weight_decay = float(tcfg.get("weight_decay", 0.05))
    betas = tuple(float(b) for b in tcfg.get("betas", (0.9, 0.999)))
    if len(betas) != 2:
        raise ValueError(f"train.betas must hold two numbers, got {tcfg.get('betas')!r}")
    groups = param_groups(model, weight_decay, tcfg.get("no_decay", ()) or ())
    if not groups:
        raise ValueError(f"{type(model).__name__} has no trainable parameters (all have requires_grad=False)")
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=float(tcfg.get("momentum", 0.9)), weight_decay=weight_decay,
                               foreach=True)
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=float(tcfg.get("eps", 1e-8)), weight_decay=weight_decay,
                             **kernel_options(groups))


def kernel_options(groups: list[dict[str, Any]]) -> dict[str, bool]:
    """AdamW's fastest exact implementation for these parameters: ``fused`` when every one is a floating
    CUDA tensor, else the multi-tensor ``foreach`` path (one kernel per op over all tensors instead of a
    Python loop over ~200 parameters). Both compute the single-tensor update, to float32 rounding."""
    params = [p for g in groups for p in g["params"]]
    if params and all(p.is_cuda and p.is_floating_point() for p in params):
        return {"fused": True}
    return {"foreach": True}
