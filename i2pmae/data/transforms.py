"""Batch augmentations (docs/data.md §2) on (B, N, C>=3) tensors, on any device.

Only the xyz columns are changed. Random draws come from the optional
``torch.Generator`` (the engine passes a per-step seeded one, so augmentation
is reproducible and resumable); they are drawn on the generator's device and
moved to the points' device. Inputs are never modified in place.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import torch
from torch import Tensor


def _uniform(shape: tuple[int, ...], lo: float, hi: float, points: Tensor,
             generator: torch.Generator | None) -> Tensor:
    device = generator.device if generator is not None else points.device
    draw = torch.rand(shape, generator=generator, device=device, dtype=torch.float32)
    return (lo + (hi - lo) * draw).to(device=points.device, dtype=points.dtype)


def _check(points: Tensor) -> None:
    if points.dim() != 3 or points.shape[-1] < 3:
        raise ValueError(f"augmentations take a batch of clouds (B, N, >=3), got shape {tuple(points.shape)}")


def _with_xyz(points: Tensor, xyz: Tensor) -> Tensor:
    return xyz if points.shape[-1] == 3 else torch.cat([xyz, points[..., 3:]], dim=-1)


class ScaleAndTranslate:
    """p <- p * s + t per cloud, s ~ U(lo, hi) per axis (anisotropic), t ~ U(-translate, translate) per axis."""

    def __init__(self, lo: float = 2.0 / 3.0, hi: float = 3.0 / 2.0, translate: float = 0.2) -> None:
        if not 0 < lo <= hi or translate < 0:
            raise ValueError(f"need 0 < lo <= hi and translate >= 0, got lo={lo}, hi={hi}, translate={translate}")
        self.lo, self.hi, self.translate = float(lo), float(hi), float(translate)

    def __call__(self, points: Tensor, generator: torch.Generator | None = None) -> Tensor:
        _check(points)
        b = points.shape[0]
        scale = _uniform((b, 1, 3), self.lo, self.hi, points, generator)
        shift = _uniform((b, 1, 3), -self.translate, self.translate, points, generator)
        return _with_xyz(points, points[..., :3] * scale + shift)

    def __repr__(self) -> str:
        return f"ScaleAndTranslate(lo={self.lo:.4g}, hi={self.hi:.4g}, translate={self.translate:.4g})"


def rotation_y(theta: Tensor) -> Tensor:
    """Rotation matrices (..., 3, 3) about the y (up) axis."""
    c, s = torch.cos(theta), torch.sin(theta)
    zero, one = torch.zeros_like(theta), torch.ones_like(theta)
    return torch.stack([torch.stack([c, zero, s], -1), torch.stack([zero, one, zero], -1),
                        torch.stack([-s, zero, c], -1)], -2)


class RotateY:
    """p <- p R^T with R a rotation about y by theta ~ U(-max_angle, max_angle): ONE matrix for the whole batch.

    This is the authors' ScanObjectNN fine-tuning rotation (x/z angle bounds 0).
    """

    def __init__(self, max_angle: float = math.pi) -> None:
        self.max_angle = float(max_angle)

    def __call__(self, points: Tensor, generator: torch.Generator | None = None) -> Tensor:
        _check(points)
        theta = _uniform((), -self.max_angle, self.max_angle, points, generator)
        rot = rotation_y(theta)
        return _with_xyz(points, points[..., :3] @ rot.transpose(-1, -2))

    def __repr__(self) -> str:
        return f"RotateY(max_angle={self.max_angle:.4g})"


class SegScaleShift:
    """Part segmentation: isotropic scale U(lo, hi) per shape, then a shift U(-shift, shift) per axis."""

    def __init__(self, lo: float = 0.8, hi: float = 1.25, shift: float = 0.1) -> None:
        if not 0 < lo <= hi or shift < 0:
            raise ValueError(f"need 0 < lo <= hi and shift >= 0, got lo={lo}, hi={hi}, shift={shift}")
        self.lo, self.hi, self.shift = float(lo), float(hi), float(shift)

    def __call__(self, points: Tensor, generator: torch.Generator | None = None) -> Tensor:
        _check(points)
        b = points.shape[0]
        scale = _uniform((b, 1, 1), self.lo, self.hi, points, generator)
        shift = _uniform((b, 1, 3), -self.shift, self.shift, points, generator)
        return _with_xyz(points, points[..., :3] * scale + shift)

    def __repr__(self) -> str:
        return f"SegScaleShift(lo={self.lo:.4g}, hi={self.hi:.4g}, shift={self.shift:.4g})"


class Jitter:
    """Gaussian noise (sigma, clipped): defined by the authors but unused in their protocols."""

    def __init__(self, sigma: float = 0.01, clip: float = 0.05) -> None:
        self.sigma, self.clip = float(sigma), float(clip)

    def __call__(self, points: Tensor, generator: torch.Generator | None = None) -> Tensor:
        _check(points)
        device = generator.device if generator is not None else points.device
        noise = torch.randn(points.shape[:-1] + (3,), generator=generator, device=device)
        noise = (noise * self.sigma).clamp_(-self.clip, self.clip).to(points.device, points.dtype)
        return _with_xyz(points, points[..., :3] + noise)

    def __repr__(self) -> str:
        return f"Jitter(sigma={self.sigma:.4g}, clip={self.clip:.4g})"


class Compose:
    """Applies transforms in order, all drawing from the same generator."""

    def __init__(self, transforms: Iterable[Any] = ()) -> None:
        self.transforms = list(transforms)

    def __call__(self, points: Tensor, generator: torch.Generator | None = None) -> Tensor:
        for t in self.transforms:
            points = t(points, generator=generator)
        return points

    def __len__(self) -> int:
        return len(self.transforms)

    def __repr__(self) -> str:
        return f"Compose({self.transforms})"


REGISTRY: dict[str, Any] = {
    "scale_translate": ScaleAndTranslate,
    "scan_scale": lambda **kw: ScaleAndTranslate(**{"lo": 0.9, "hi": 1.1, "translate": 0.0, **kw}),
    "rotate_y": RotateY,
    "seg_scale_shift": SegScaleShift,
    "jitter": Jitter,
}
# Named recipes of the paper's protocols (docs/data.md §2).
PRESETS: dict[str, list[str]] = {
    "pretrain": ["scale_translate"],
    "modelnet40": ["scale_translate"],
    "fewshot": ["scale_translate"],
    "scanobjectnn": ["scan_scale", "rotate_y"],
    "segmentation": ["seg_scale_shift"],
    "none": [],
}


def build_transforms(names_or_cfg: Any = None) -> Compose:
    """A Compose from None, a name or preset, a list of names / {'name': ..., **kwargs}, or a {name: kwargs} map.

    Names: scale_translate, scan_scale (0.9-1.1, no shift), rotate_y, seg_scale_shift, jitter;
    presets: pretrain, modelnet40, fewshot, scanobjectnn, segmentation, none.
    """
    if names_or_cfg is None:
        return Compose()
    if isinstance(names_or_cfg, str):
        key = names_or_cfg.strip().lower()
        if key in PRESETS:
            return build_transforms(PRESETS[key])
        return Compose([_one(key, {})])
    if isinstance(names_or_cfg, Mapping):
        if "name" in names_or_cfg:
            return Compose([_one(names_or_cfg["name"], {k: v for k, v in names_or_cfg.items() if k != "name"})])
        return Compose([_one(k, v or {}) for k, v in names_or_cfg.items()])
    out: list[Any] = []
    for entry in names_or_cfg:
        if callable(entry):
            out.append(entry)
        else:
            out.extend(build_transforms(entry).transforms)
    return Compose(out)


def _one(name: str, kwargs: Mapping[str, Any]) -> Any:
    key = str(name).strip().lower()
    if key not in REGISTRY:
        raise ValueError(f"unknown augmentation {name!r}; choose from {sorted(REGISTRY)} or presets {sorted(PRESETS)}")
    try:
        return REGISTRY[key](**dict(kwargs))
    except TypeError as exc:
        raise ValueError(f"bad options for augmentation {name!r}: {dict(kwargs)} ({exc})") from None
