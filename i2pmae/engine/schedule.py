"""Cosine learning-rate schedule with linear warm-up, as the authors run timm's ``CosineLRScheduler``.

The authors build ``CosineLRScheduler(t_initial, lr_min=1e-6, warmup_lr_init=1e-6,
warmup_t, cycle_limit=1)`` (no warmup_prefix) and call ``scheduler.step(epoch)``
at the *end* of every epoch (docs/data.md §5). timm's value at time t is

    t < warmup_t:    warmup_lr_init + t * (lr - warmup_lr_init) / warmup_t
    t < t_initial:   lr_min + (lr - lr_min) / 2 * (1 + cos(pi * t / t_initial))
    otherwise:       lr_min

and the constructor already sets warmup_lr_init, so epoch 0 runs at
warmup_lr_init and epoch e >= 1 at value(e - 1): epochs 0 and 1 both use
warmup_lr_init, and the cosine starts at t = warmup_t with no prefix shift.

``t_initial`` (``train.cosine_epochs``) is independent of the number of epochs
run: the authors pre-train 300 epochs of a 400-epoch cosine (docs/data.md §6.3).

The per-step variant evaluates the same curve at fractional epochs
t = epoch + step / steps_per_epoch without the one-epoch lag, for short runs
where a per-epoch staircase would be too coarse.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch


def timm_cosine_value(t: float, base_lr: float, t_initial: float, warmup_t: float = 0.0,
                      warmup_lr_init: float = 0.0, lr_min: float = 0.0) -> float:
    """timm ``CosineLRScheduler._get_lr(t)`` for one cycle (cycle_limit=1, no warmup_prefix, k_decay=1)."""
    if t < warmup_t:
        return warmup_lr_init + t * (base_lr - warmup_lr_init) / warmup_t
    if t >= t_initial:  # past the single cycle
        return lr_min
    return lr_min + 0.5 * (base_lr - lr_min) * (1.0 + math.cos(math.pi * t / t_initial))


class CosineSchedule:
    """Stateless: the lr is a function of (epoch, step in epoch), so resuming needs no state but the position."""

    MODES = ("epoch", "step")

    def __init__(self, base_lr: float, t_initial: float, warmup_t: float = 0.0, warmup_lr_init: float = 1e-6,
                 lr_min: float = 1e-6, steps_per_epoch: int = 1, mode: str = "epoch") -> None:
        self.base_lr = float(base_lr)
        self.t_initial = float(t_initial)
        self.warmup_t = float(warmup_t)
        self.warmup_lr_init = float(warmup_lr_init)
        self.lr_min = float(lr_min)
        self.steps_per_epoch = int(steps_per_epoch)
        self.mode = str(mode)
        self._check()

    def _check(self) -> None:
        if self.mode not in self.MODES:
            raise ValueError(f"lr schedule mode must be one of {self.MODES}, got {self.mode!r}")
        if not self.t_initial > 0:
            raise ValueError(f"cosine length (train.cosine_epochs) must be > 0, got {self.t_initial}")
        if self.warmup_t < 0:
            raise ValueError(f"train.warmup_epochs must be >= 0, got {self.warmup_t}")
        if min(self.base_lr, self.lr_min, self.warmup_lr_init) < 0:
            raise ValueError(
                f"learning rates must be >= 0, got lr={self.base_lr}, min_lr={self.lr_min}, "
                f"warmup_lr={self.warmup_lr_init}"
            )
        if self.steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {self.steps_per_epoch}")

    @classmethod
    def from_config(cls, tcfg: Mapping[str, Any], steps_per_epoch: int = 1) -> "CosineSchedule":
        """From ``cfg['train']``: ``lr`` (required), ``cosine_epochs`` (default ``epochs``),
        ``warmup_epochs`` (0), ``warmup_lr`` (1e-6), ``min_lr`` (1e-6), ``lr_schedule`` (epoch | step)."""
        if "lr" not in tcfg:
            raise ValueError("train.lr is required for the learning-rate schedule")
        t_initial = tcfg.get("cosine_epochs")
        if t_initial is None:
            if tcfg.get("epochs") is None:
                raise ValueError("give train.cosine_epochs (or train.epochs) for the cosine schedule")
            t_initial = tcfg["epochs"]
        return cls(
            base_lr=float(tcfg["lr"]),
            t_initial=float(t_initial),
            warmup_t=float(tcfg.get("warmup_epochs", 0) or 0),
            warmup_lr_init=float(tcfg.get("warmup_lr", 1e-6)),
            lr_min=float(tcfg.get("min_lr", 1e-6)),
            steps_per_epoch=int(steps_per_epoch),
            mode=str(tcfg.get("lr_schedule", "epoch")),
        )

    def value(self, t: float) -> float:
        """timm's curve at (possibly fractional) epoch time t."""
        return timm_cosine_value(t, self.base_lr, self.t_initial, self.warmup_t, self.warmup_lr_init, self.lr_min)

    def lr(self, epoch: int, step_in_epoch: int = 0) -> float:
        """The learning rate for optimiser step ``step_in_epoch`` of epoch ``epoch`` (both 0-based)."""
        if epoch < 0 or step_in_epoch < 0:
            raise ValueError(f"epoch and step must be >= 0, got {epoch}, {step_in_epoch}")
        if self.mode == "step":
            return self.value(epoch + step_in_epoch / self.steps_per_epoch)
        if epoch == 0:  # the value timm's constructor sets, before the first step(0)
            return self.warmup_lr_init if self.warmup_t > 0 else self.base_lr
        return self.value(epoch - 1)

    def apply(self, optimizer: torch.optim.Optimizer, epoch: int, step_in_epoch: int = 0) -> float:
        """Set every param group's lr (times its optional ``lr_scale``, as timm does); return the lr."""
        lr = self.lr(epoch, step_in_epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        return lr

    def state_dict(self) -> dict[str, Any]:
        return {
            "base_lr": self.base_lr, "t_initial": self.t_initial, "warmup_t": self.warmup_t,
            "warmup_lr_init": self.warmup_lr_init, "lr_min": self.lr_min,
            "steps_per_epoch": self.steps_per_epoch, "mode": self.mode,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        unknown = set(state) - set(self.state_dict())
        if unknown:
            raise ValueError(f"unknown schedule state keys {sorted(unknown)}")
        for key, value in state.items():
            setattr(self, key, value)
        self._check()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.state_dict().items())
        return f"CosineSchedule({args})"
