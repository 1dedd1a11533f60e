"""The frozen 2D teacher interface shared by every 2D model I2P-MAE can learn from.

A teacher looks at the projected depth maps (B, 3, S, S), already ImageNet-normalised by
:func:`i2pmae.projection.project_views`, and returns two maps per image (docs/method.md §3):

- ``features`` (B, C, h, w): the per-patch (per-position) semantics the 3D network regresses;
- ``attention`` (B, h, w): a non-negative importance map that drives 2D-guided masking.

Teachers are frozen: parameters never require grad, the module stays in eval mode even when a parent
module calls ``.train()``, and the forward pass runs under :func:`torch.no_grad`. We deliberately use
``no_grad`` rather than ``inference_mode``: tensors made under ``inference_mode`` cannot later enter an
autograd graph (not even as constants of a loss), and the 3D model uses the teacher outputs as
regression targets inside its autograd graph. Outputs are always float32, whatever the compute dtype.
"""

from __future__ import annotations

import contextlib
import logging
import torch
from torch import nn

__all__ = ["Teacher", "cpu_native_bf16", "log_precision_choice", "resolve_dtype", "saliency_attention"]

_log = logging.getLogger("i2pmae.precision")
_LOGGED: set[str] = set()

_DTYPE_NAMES = {
    "fp32": torch.float32, "float32": torch.float32, "float": torch.float32,
    "fp16": torch.float16, "float16": torch.float16, "half": torch.float16,
    "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
}


def cpu_native_bf16() -> tuple[bool, str]:
    """Whether this CPU computes bf16 natively (AMX tiles or AVX-512 BF16), and in which words.

    The one place ``auto`` precision asks the hardware. Without these instructions PyTorch emulates bf16
    matmuls through fp32 and bf16 is slower than fp32, so ``auto`` keeps fp32 there.
    """
    cpu = getattr(torch, "cpu", None)
    try:
        if cpu is not None and getattr(cpu, "_is_amx_tile_supported", lambda: False)():
            return True, "CPU has AMX tiles (native bf16)"
        if cpu is not None and getattr(cpu, "_is_avx512_bf16_supported", lambda: False)():
            return True, "CPU has AVX-512 BF16 (native bf16)"
    except Exception:  # pragma: no cover - a torch build without the probes
        pass
    return False, "CPU has neither AMX nor AVX-512 BF16 (bf16 would be emulated)"


def log_precision_choice(what: str, dtype: torch.dtype | None, why: str) -> None:
    """Log an ``auto`` precision choice once per process (which dtype and why)."""
    name = {None: "fp32", torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}.get(dtype, str(dtype))
    msg = f"{what}: auto -> {name} ({why}); set it explicitly to override"
    if msg not in _LOGGED:
        _LOGGED.add(msg)
        _log.info(msg)


def resolve_dtype(dtype: torch.dtype | str | None, device: torch.device) -> torch.dtype:
    """The compute dtype of a teacher: fp32 when None; ``"auto"`` = fp16 on CUDA, bf16 on a CPU with
    native bf16 (:func:`cpu_native_bf16`; the teacher is frozen and its outputs are targets, so bf16
    costs no training stability there), fp32 elsewhere. The choice is logged once."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, str):
        if dtype == "auto":
            if device.type == "cuda":
                choice, why = torch.float16, "CUDA device"
            elif device.type == "cpu":
                native, why = cpu_native_bf16()
                choice = torch.bfloat16 if native else torch.float32
            else:
                choice, why = torch.float32, f"{device.type} device"
            log_precision_choice("teacher.dtype", choice, why)
            return choice
        if dtype.lower() not in _DTYPE_NAMES:
            raise ValueError(f"teacher dtype {dtype!r} is not supported; use one of "
                             f"{sorted(_DTYPE_NAMES) + ['auto']} or a torch.dtype")
        return _DTYPE_NAMES[dtype.lower()]
    if dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(f"teacher dtype {dtype} is not supported; use float32, float16 or bfloat16")
    return dtype


def saliency_attention(features: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Attention map for networks without a CLS query: softmax over positions of the z-scored
    channel-L2 norm of a feature map (B, C, h, w) -> (B, h, w).

    Why z-scored: raw L2 norms of a last-stage CNN map are tens of units apart, so a plain softmax would
    be one-hot; standardising per image makes the map independent of the network's feature scale while
    keeping "stronger activation = more important". Rows are non-negative and sum to 1 like attention.
    """
    b, _, h, w = features.shape
    s = features.float().norm(dim=1).flatten(1)  # (B, h*w)
    s = (s - s.mean(dim=1, keepdim=True)) / (s.std(dim=1, keepdim=True, unbiased=False) + eps)
    return s.softmax(dim=1).reshape(b, h, w)


class Teacher(nn.Module):
    """A frozen 2D model mapping images (B,3,S,S) to (features (B,C,h,w), attention (B,h,w)).

    Subclasses implement :meth:`_forward` (called under ``no_grad`` and, for fp16/bf16, autocast) and
    set ``name``, ``feature_dim``, ``grid`` and ``image_size``.
    """

    def __init__(self, name: str, feature_dim: int, grid: tuple[int, int], image_size: int = 224,
                 compute_dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self._name = name
        self._feature_dim = int(feature_dim)
        self._grid = (int(grid[0]), int(grid[1]))
        self.image_size = int(image_size)
        self.compute_dtype = compute_dtype

    # -- the contract -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def feature_dim(self) -> int:
        return self._feature_dim

    @property
    def grid(self) -> tuple[int, int]:
        return self._grid

    def freeze(self) -> "Teacher":
        """Make the teacher frozen: no parameter requires grad, eval mode."""
        for p in self.parameters():
            p.requires_grad_(False)
        return super().train(False)

    def train(self, mode: bool = True) -> "Teacher":
        """Always eval: a parent's ``.train()`` must not switch on dropout/BN statistics updates."""
        return super().train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Teacher":
        """Teachers stay frozen: a parent's ``requires_grad_(True)`` leaves them untouched."""
        return super().requires_grad_(False)

    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        return torch.device("cpu")

    @property
    def param_dtype(self) -> torch.dtype:
        """dtype of the weights (float32 unless someone cast the module, e.g. a parent's ``.half()``)."""
        for t in self.parameters():
            return t.dtype
        return torch.float32

    def _autocast(self, device: torch.device):
        if self.compute_dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.compute_dtype)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One batched, gradient-free pass: (features (B,C,h,w), attention (B,h,w)), float32,
        on the device of ``images``."""
        if images.ndim != 4 or images.shape[1] != 3 or tuple(images.shape[2:]) != (self.image_size,) * 2:
            raise ValueError(f"teacher {self.name!r} expects images of shape (B, 3, {self.image_size}, "
                             f"{self.image_size}); received {tuple(images.shape)}")
        out_device = images.device
        device = self.device
        with torch.no_grad(), self._autocast(device):
            x = images.to(device=device, dtype=self.param_dtype)
            feats, attn = self._forward(x)
        return (feats.to(device=out_device, dtype=torch.float32).contiguous(),
                attn.to(device=out_device, dtype=torch.float32).contiguous())

    def _forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Subclass hook, images float32 on the teacher's device."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, feature_dim={self.feature_dim}, grid={self.grid}, "
                f"image_size={self.image_size}, compute_dtype={self.compute_dtype}")
