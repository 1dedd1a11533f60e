"""Teacher names -> timm architectures, weights sources and wrappers; :func:`build_teacher`.

| name | timm model (``arch.tag``) | wrapper |
|---|---|---|
| clip-vit-b16 (default) | vit_base_patch16_clip_quickgelu_224.openai | ViT, CLIP projection |
| clip-rn50 | resnet50_clip.openai | CLIP ResNet, attention-pool query |
| dino-vit-b16 | vit_base_patch16_224.dino | ViT |
| vit-b16-in1k | vit_base_patch16_224.augreg_in1k | ViT |
| swin-b | swin_base_patch4_window7_224.ms_in1k | Swin, saliency |
| resnet50 / resnet101 | resnet50.tv_in1k / resnet101.tv_in1k | CNN, saliency |
| simmim-vit-b16 | beit_base_patch16_224, SimMIM's layout | BEiT ViT (teachers/simmim.py) |
| tiny-vit | bundled i2pmae asset | ViT, projection |
| tiny-cnn | bundled i2pmae asset (teachers/tiny_cnn.py) | CNN, attention-pool query |

The CLIP ViT uses timm's QuickGELU variant: OpenAI's CLIP was trained with QuickGELU, and the
weights (the same hub files as ``vit_base_patch16_clip_224.openai``) give CLIP's own outputs only with it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from i2pmae.teachers.base import Teacher, resolve_dtype
from i2pmae.teachers.cnn import ClipResNetTeacher, ResNetTeacher
from i2pmae.teachers.simmim import (
    SIMMIM_ARCH,
    SIMMIM_TIMM_NAME,
    SimMIMTeacher,
    load_simmim_state_dict,
    simmim_default_state_dict,
)
from i2pmae.teachers.swin import SwinTeacher
from i2pmae.teachers.tiny import build_tiny_vit_teacher
from i2pmae.teachers.tiny_cnn import build_tiny_cnn_teacher
from i2pmae.teachers.vit import ViTTeacher
from i2pmae.teachers.weights import (
    TeacherWeightsError,
    load_hub_state_dict,
    load_state_dict_file,
    openai_clip_cache_dir,
)

__all__ = ["TeacherSpec", "available_teachers", "teacher_spec", "build_teacher", "load_teacher_state_dict"]


@dataclass(frozen=True)
class TeacherSpec:
    """How to build one named teacher.

    ``create_kwargs`` go to ``timm.create_model``; ``drop_prefixes`` are checkpoint keys the teacher
    does not use (ImageNet classifiers), removed before a strict load into a model built without them.
    """

    name: str
    timm_name: str | None
    wrap: Callable[[nn.Module, str, torch.dtype], Teacher] | None
    description: str
    create_kwargs: dict = field(default_factory=dict)
    drop_prefixes: tuple[str, ...] = ()
    openai_archive: str | None = None
    read_file: Callable[[Path], dict[str, torch.Tensor]] | None = None  # instead of load_state_dict_file
    default_weights: Callable[[], tuple[dict[str, torch.Tensor], str]] | None = None  # instead of the hub


def _vit(project: bool) -> Callable[..., Teacher]:
    return lambda model, name, dtype: ViTTeacher(model, name, project=project, compute_dtype=dtype)


def _cnn(model: nn.Module, name: str, dtype: torch.dtype) -> Teacher:
    return ResNetTeacher(model, name, image_size=int(model.pretrained_cfg["input_size"][-1]), compute_dtype=dtype)


def _clip_rn(model: nn.Module, name: str, dtype: torch.dtype) -> Teacher:
    return ClipResNetTeacher(model, name, image_size=int(model.pretrained_cfg["input_size"][-1]),
                             compute_dtype=dtype)


def _swin(model: nn.Module, name: str, dtype: torch.dtype) -> Teacher:
    return SwinTeacher(model, name, compute_dtype=dtype)


_SPECS = [
    TeacherSpec("clip-vit-b16", "vit_base_patch16_clip_quickgelu_224.openai", _vit(True),
                "CLIP ViT-B/16 (OpenAI): 512 x 14 x 14 projected patch tokens, CLS attention (paper default)",
                openai_archive="ViT-B-16.pt"),
    TeacherSpec("clip-rn50", "resnet50_clip.openai", _clip_rn,
                "CLIP ResNet-50 (OpenAI): 2048 x 7 x 7 last stage, attention-pool query weights",
                openai_archive="RN50.pt"),
    TeacherSpec("dino-vit-b16", "vit_base_patch16_224.dino", _vit(False),
                "DINO ViT-B/16: 768 x 14 x 14 patch tokens, CLS attention", create_kwargs={"num_classes": 0}),
    TeacherSpec("vit-b16-in1k", "vit_base_patch16_224.augreg_in1k", _vit(False),
                "supervised ImageNet-1K ViT-B/16: 768 x 14 x 14 patch tokens, CLS attention",
                create_kwargs={"num_classes": 0}, drop_prefixes=("head.",)),
    TeacherSpec("swin-b", "swin_base_patch4_window7_224.ms_in1k", _swin,
                "supervised ImageNet-1K Swin-B: 1024 x 7 x 7 last stage, saliency attention",
                create_kwargs={"num_classes": 0}, drop_prefixes=("head.",)),
    TeacherSpec("resnet50", "resnet50.tv_in1k", _cnn,
                "supervised ImageNet-1K ResNet-50: 2048 x 7 x 7 last stage, saliency attention",
                create_kwargs={"num_classes": 0}, drop_prefixes=("fc.",)),
    TeacherSpec("resnet101", "resnet101.tv_in1k", _cnn,
                "supervised ImageNet-1K ResNet-101: 2048 x 7 x 7 last stage, saliency attention",
                create_kwargs={"num_classes": 0}, drop_prefixes=("fc.",)),
    TeacherSpec("simmim-vit-b16", SIMMIM_TIMM_NAME, lambda model, name, dtype: SimMIMTeacher(model, name, dtype),
                "SimMIM ViT-B/16 (BEiT-style, shared relative position bias): 768 x 14 x 14 patch tokens, "
                "CLS attention",
                create_kwargs=SIMMIM_ARCH, read_file=load_simmim_state_dict, default_weights=simmim_default_state_dict),
    TeacherSpec("tiny-vit", None, None,  # built by i2pmae.teachers.tiny
                "small ViT trained by i2pmae on procedural-shape depth maps (bundled): 64 x 7 x 7, CLS attention"),
    TeacherSpec("tiny-cnn", None, None,  # built by i2pmae.teachers.tiny_cnn
                "small CNN trained by i2pmae on procedural-shape depth maps (bundled): 256 x 7 x 7 last stage, "
                "attention-pool query weights"),
]
_OWN_BUILDERS = {"tiny-vit": build_tiny_vit_teacher, "tiny-cnn": build_tiny_cnn_teacher}
_REGISTRY: dict[str, TeacherSpec] = {s.name: s for s in _SPECS}


def available_teachers() -> list[str]:
    """Names accepted by :func:`build_teacher` (``teacher.name`` in configs)."""
    return list(_REGISTRY)


def teacher_spec(name: str) -> TeacherSpec:
    if name not in _REGISTRY:
        raise ValueError(f"unknown 2D teacher {name!r}; available: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def _filter_fn(model: nn.Module) -> Callable | None:
    """timm's own checkpoint converter for the model's family (OpenAI CLIP names, old Swin layouts)."""
    return getattr(sys.modules[type(model).__module__], "checkpoint_filter_fn", None)


def load_teacher_state_dict(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str,
                            drop_prefixes: tuple[str, ...] = ()) -> None:
    """Load ``state_dict`` (timm or OpenAI names) into the timm ``model``: every parameter and buffer
    must come from the checkpoint and every checkpoint tensor must be used (except ``drop_prefixes``)."""
    fn = _filter_fn(model)
    if fn is not None:
        state_dict = fn(state_dict, model)
    state_dict = {k: v for k, v in state_dict.items() if not k.startswith(drop_prefixes)}
    _check_shapes(model, state_dict, source)
    missing, unexpected = model.load_state_dict(_cast_like(model, state_dict), strict=False)
    if missing or unexpected:
        raise ValueError(f"{source}: does not match the teacher architecture: missing {len(missing)} keys "
                         f"{missing[:5]}, unexpected {len(unexpected)} keys {unexpected[:5]}")


def _check_shapes(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    own = model.state_dict()
    bad = [f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
           for k, v in state_dict.items() if k in own and own[k].shape != v.shape]
    if bad:
        raise ValueError(f"{source}: tensor shapes do not match the teacher architecture: {bad[:5]}")


def _cast_like(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    own = model.state_dict()
    return {k: v.to(own[k].dtype) if k in own and v.is_floating_point() else v for k, v in state_dict.items()}


def _default_state_dict(spec: TeacherSpec, model: nn.Module) -> tuple[dict[str, torch.Tensor], str]:
    if spec.default_weights is not None:
        return spec.default_weights()
    looked = []
    if spec.openai_archive:
        archive = openai_clip_cache_dir() / spec.openai_archive
        if archive.is_file():
            return load_state_dict_file(archive), str(archive)
        looked.append(f"OpenAI's CLIP archive {archive}")
    hub_id = model.pretrained_cfg.get("hf_hub_id")
    if not hub_id:  # pragma: no cover - every registered timm tag has a hub id
        raise TeacherWeightsError(f"no weights for 2D teacher {spec.name!r}: timm knows no hub id for "
                                  f"{spec.timm_name!r}")
    return load_hub_state_dict(hub_id, spec.name, looked)


def build_teacher(name: str = "clip-vit-b16", weights: str | os.PathLike | None = None,
                  device: torch.device | str | None = None, dtype: torch.dtype | str | None = None,
                  *, arch_overrides: dict | None = None) -> Teacher:
    """A frozen, eval-mode teacher on ``device`` computing in ``dtype`` (fp16/bf16 via autocast).

    ``weights``: None = the default source (OpenAI CLIP archive in ``~/.cache/clip`` for CLIP, else the
    Hugging Face hub via its cache, downloading when online; the bundled asset for ``tiny-vit``), a path
    to a weights file, or ``"random"`` (untrained; smoke tests only). ``arch_overrides`` are extra
    ``timm.create_model`` (or tiny-vit config) arguments, for tests with tiny architectures.
    Raises :class:`TeacherWeightsError` when no weights can be found; never falls back to random.
    """
    spec = teacher_spec(name)
    device = torch.device(device) if device is not None else torch.device("cpu")
    compute_dtype = resolve_dtype(dtype, device)
    if isinstance(weights, os.PathLike):
        weights = str(weights)
    if weights == "":  # an empty config value means "not given"
        weights = None
    if weights is not None and not isinstance(weights, str):
        raise ValueError(f"teacher weights must be None, 'random' or a file path; received {type(weights).__name__}")
    if spec.timm_name is None:
        teacher = _OWN_BUILDERS[name](weights, compute_dtype, arch_overrides)
        return teacher.to(device)

    import timm

    model = timm.create_model(spec.timm_name, pretrained=False, **dict(spec.create_kwargs, **(arch_overrides or {})))
    if weights != "random":
        if weights is None:
            state_dict, source = _default_state_dict(spec, model)
        else:
            path = Path(weights).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"weights file for 2D teacher {name!r} not found: {path}")
            state_dict, source = (spec.read_file or load_state_dict_file)(path), str(path)
        load_teacher_state_dict(model, state_dict, source, spec.drop_prefixes)
    teacher = spec.wrap(model, spec.name, compute_dtype)
    return teacher.to(device)
