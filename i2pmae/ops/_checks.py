"""Input validation shared by the geometry ops.

Every public op validates its inputs so that a wrong shape or a corrupt cloud fails early with a
message that says what was received and what is needed, instead of a cryptic indexing error deep
inside a model.  The finiteness check costs one host sync on CUDA, negligible next to the ops.
"""

from __future__ import annotations

import torch
from torch import Tensor


def describe(t: Tensor) -> str:
    return f"shape {tuple(t.shape)}, dtype {t.dtype}"


def check_cloud(name: str, x: object, min_points: int = 1, dims: int = 3, finite: bool = True) -> Tensor:
    """Require a floating tensor (B, N, dims) with N >= min_points and finite values."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (B, N, {dims}); received {type(x).__name__}")
    if x.dim() != 3 or x.shape[-1] != dims:
        raise ValueError(f"{name} must have shape (B, N, {dims}); received {describe(x)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor; received {describe(x)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one cloud (B >= 1); received {describe(x)}")
    if x.shape[1] < min_points:
        raise ValueError(f"{name} must hold at least {min_points} point(s) per cloud; received {describe(x)}")
    if finite:
        check_finite(name, x)
    return x


def check_finite(name: str, x: Tensor) -> None:
    # Skipped inside torch.compile'd parts (train.compile): there the inputs are the network's own tensors,
    # checked where the cloud entered, and the bool() would break the graph and sync every call.
    if torch.compiler.is_compiling():
        return
    if x.numel() and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} contains {bad} NaN/Inf value(s) ({describe(x)}); all coordinates must be finite")


def check_same_batch(names: tuple[str, ...], *tensors: Tensor) -> None:
    sizes = [t.shape[0] for t in tensors]
    if len(set(sizes)) != 1:
        shown = ", ".join(f"{n} {tuple(t.shape)}" for n, t in zip(names, tensors))
        raise ValueError(f"batch sizes differ: {shown}; all inputs must share the first dimension B")
    devices = {t.device for t in tensors}
    if len(devices) != 1:
        shown = ", ".join(f"{n} on {t.device}" for n, t in zip(names, tensors))
        raise ValueError(f"inputs are on different devices: {shown}")


def check_count(name: str, value: object, low: int, high: int | None = None, what: str = "") -> int:
    """Require an int in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int; received {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be {bound}{what}; received {value}")
    return value
